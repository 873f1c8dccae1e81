#!/bin/bash
# Issue 15: the kernel fast path for the gateway's own traffic. With the
# nftables installer's capture_local = true, the router's own connections
# are marked in the output chain and rerouted to vrouterd. The fast path
# must decide them too: a flow its rules forward leaves the router directly
# (with the outbound's SNAT), a rejected one is refused at once, a captured
# one reaches vrouterd. The same flows with daemon.offload = false give the
# same results at the server, all through vrouterd.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
vr_topo_up || exit 1
in_srv ip addr add 198.51.100.5/24 dev s0
in_srv ip addr add 198.51.100.130/24 dev s0
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2
in_rtr ip route add 192.0.2.0/24 via 198.19.2.2
vr_http_server 80 || exit 1
vr_http_server 8080 || exit 1

conf() { # $1 file, $2 daemon.offload
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; offload = $2; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "wan-b"; module = "direct"; bind_address = "198.19.2.3"; } );
route = { rules = (
    { ip_cidr = "198.51.100.128/25"; outbound = "direct"; offload = false; },
    { ip_cidr = "192.0.2.0/24"; action = "reject"; },
    { port = 8080; outbound = "wan-b"; }
  ); final = "direct"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; }; },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; capture_local = true; }
);
CONF
}
conf "$VR_TMP/on.conf" true
conf "$VR_TMP/off.conf" false

# what the server saw for a local curl from the router: the address in its /ip answer, or "refused", "timeout"
local_ip() {
    local out rc
    out=$(in_rtr curl -s --max-time 4 "$1" 2>/dev/null); rc=$?
    case $rc in 0) echo "${out%% *}" ;; 7) echo refused ;; 28) echo timeout ;; *) echo "error $rc" ;; esac
}

declare -A R
for m in on off; do
    inst_start "$VR_TMP/$m.conf" || { vr_finish; exit 1; }
    R[$m,final]=$(local_ip http://198.51.100.5/ip)
    R[$m,snat]=$(local_ip http://198.51.100.5:8080/ip)
    R[$m,captured]=$(local_ip http://198.51.100.130/ip)
    R[$m,reject]=$(local_ip http://192.0.2.1/ip)
    # a longer forwarded transfer: every segment, not only the first, leaves directly
    R[$m,blob]=$(in_rtr curl -s --max-time 20 http://198.51.100.5/blob/4000000 | sha256sum | cut -d' ' -f1)
    sleep 0.3
    cp "$VR_TMP/vrouterd.log" "$VR_TMP/run-$m.log"
    inst_stop TERM
done

for k in final snat captured blob; do
    vr_check "local $k: the same at the server with and without the fast path (on: ${R[on,$k]}, off: ${R[off,$k]})" \
        vr_eq "${R[on,$k]}" "${R[off,$k]}"
done
vr_check "local final -> direct: the server saw the router's address" vr_eq "${R[on,final]}" "198.19.2.1"
vr_check "local port 8080 -> wan-b: the server saw bind_address 198.19.2.3 (kernel SNAT)" vr_eq "${R[on,snat]}" "198.19.2.3"
vr_check "local offload = false rule: captured, the server saw the router's address" vr_eq "${R[on,captured]}" "198.19.2.1"
vr_check "local 4 MB download forwarded intact" vr_eq "${R[on,blob]}" "$(vr_blob_sha256 4000000)"
vr_check "on: the local forwarded flows are not in vrouterd's log" \
    bash -c "! grep -qE -- '-> 198\.51\.100\.5:(80|8080) ' '$VR_TMP/run-on.log'"
vr_check "on: the local captured flow is in vrouterd's log" \
    grep -qE -- "-> 198\.51\.100\.130:80 .*rule=rule #1 outbound=direct" "$VR_TMP/run-on.log"
vr_check "off: every local flow is in vrouterd's log" \
    bash -c 'grep -qE -- "-> 198\.51\.100\.5:80 " "$1" && grep -qE -- "-> 198\.51\.100\.5:8080 .*outbound=wan-b" "$1"' _ "$VR_TMP/run-off.log"
vr_check "on: a local connection to a rejected address is refused at once" vr_eq "${R[on,reject]}" "refused"
vr_check "no sanitizer report" bash -c "! cat '$VR_TMP'/run-*.log | grep -q Sanitizer"
vr_finish
