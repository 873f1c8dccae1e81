#!/bin/bash
# Issue 15, the mixed scenario: one config with an ip_set of 10,000 CIDRs ->
# direct with bind_address, a port rule -> wireguard-bind through
# wireguard-go, domain rules (route, reject, drop) before an overlapping
# CIDR rule, reject and drop by CIDR, and final -> socks5 (Dante). The same
# real flows run with daemon.offload = true and = false and must give the
# same routing results; with the fast path, the address-decided flows are
# not in vrouterd's log while the overlapped ones are sniffed and routed by
# domain.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
vr_topo_up || exit 1
in_srv ip addr add 203.0.113.5/24 dev s0
in_srv ip addr add 198.51.100.5/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2
in_rtr ip route add 192.0.2.0/24 via 198.19.2.2
outb_wg_tunnel 1 || { vr_finish; exit 1; }
in_rtr sysctl -qw net.ipv4.conf.wg1.rp_filter=0
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=b.example" \
    -addext "subjectAltName=DNS:b.example,DNS:other.example,DNS:bad.example,DNS:silent.example" \
    -keyout "$VR_TMP/key.pem" -out "$VR_TMP/cert.pem" 2>/dev/null
vr_http_server 80 || exit 1
vr_http_server 8443 || exit 1
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/http_server.py" --port 443 --tls "$VR_TMP/cert.pem" "$VR_TMP/key.pem"
vr_wait_port "$NS_SRV" 198.19.2.2 443 || exit 1
outb_private_etc
cat >"$VR_TMP/dante.conf" <<CONF
logoutput: $VR_TMP/dante.log
internal: 198.19.2.2 port = 1080
external: 198.19.2.2
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 log: error }
socks pass { from: 0/0 to: 0/0 log: connect error }
CONF
outb_bg_etc "$NS_SRV" danted -f "$VR_TMP/dante.conf" -N 1
outb_wait_port "$NS_SRV" 198.19.2.2 1080 || { vr_finish; exit 1; }

# 9,998 /32s of 198.19.128.0/17 (routed nowhere here; every other address,
# so none merge into a range) and the two ranges the flows use
python3 -c '
for i in range(9998):
    print("198.19.%d.%d/32" % (128 + i // 120, 1 + 2 * (i % 120)))
print("198.51.100.0/24")
print("203.0.113.0/24")' >"$VR_TMP/set.txt"
vr_check "the ip_set has 10,000 CIDRs" vr_eq "$(wc -l <"$VR_TMP/set.txt")" "10000"

conf() { # $1 file, $2 daemon.offload
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; offload = $2; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["tls", "http"]; sniff_timeout_ms = 1000; } );
outbounds = ( { tag = "src"; module = "direct"; bind_address = "198.19.2.3"; },
              { tag = "wg"; module = "wireguard-bind"; interface = "wg1"; },
              { tag = "dante"; module = "socks5"; server = "198.19.2.2"; port = 1080; } );
route = { rules = (
    { domain = "bad.example"; ip_cidr = "203.0.113.0/24"; action = "reject"; },
    { domain = "silent.example"; ip_cidr = "203.0.113.0/24"; action = "drop"; },
    { domain_suffix = "b.example"; ip_cidr = "203.0.113.0/24"; outbound = "wg"; },
    { ip_set = "$VR_TMP/set.txt"; outbound = "src"; },
    { port = 8443; outbound = "wg"; },
    { ip_cidr = "192.0.2.0/25"; action = "reject"; },
    { ip_cidr = "192.0.2.128/25"; action = "drop"; }
  ); final = "dante"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; }; },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF
}
conf "$VR_TMP/on.conf" true
conf "$VR_TMP/off.conf" false

# how a flow ended for the client: the address the server saw, "reset"
# (refused or reset at once), "timeout" (nothing came back)
outcome() { # URL [curl args]
    local url=$1; shift
    local t0 t1 out rc
    t0=$(date +%s%N)
    out=$(in_cli curl -sk --max-time 2 "$@" "$url" 2>/dev/null); rc=$?
    t1=$(date +%s%N)
    case $rc in
    0) echo "${out%% *}" ;;
    7 | 35 | 52 | 56) [ $(((t1 - t0) / 1000000)) -lt 1500 ] && echo reset || echo "slow-reset" ;;
    28) echo timeout ;;
    *) echo "curl-$rc" ;;
    esac
}
declare -A R
FLOWS="set sni_b sni_other sni_bad sni_silent port_wg reject drop final"
run_flows() { # $1 = on|off
    local m=$1
    R[$m,set]=$(outcome http://198.51.100.5/ip)
    R[$m,sni_b]=$(outcome https://b.example/ip --resolve b.example:443:203.0.113.5)
    R[$m,sni_other]=$(outcome https://other.example/ip --resolve other.example:443:203.0.113.5)
    R[$m,sni_bad]=$(outcome https://bad.example/ip --resolve bad.example:443:203.0.113.5)
    R[$m,sni_silent]=$(outcome https://silent.example/ip --resolve silent.example:443:203.0.113.5)
    R[$m,port_wg]=$(outcome http://198.19.2.2:8443/ip)
    R[$m,reject]=$(outcome http://192.0.2.1/)
    R[$m,drop]=$(outcome http://192.0.2.200/)
    R[$m,final]=$(outcome http://198.19.2.2/ip)
    local t0=$(date +%s%N) out
    out=$(in_cli dig +tries=1 +time=2 @192.0.2.53 example.test A 2>&1)
    if grep -qiE "refused|unreachable" <<<"$out" && [ $((($(date +%s%N) - t0) / 1000000)) -lt 1500 ]; then
        R[$m,dig_reject]=failed-at-once
    else R[$m,dig_reject]=timeout; fi
}

t_start=$(date +%s)
for m in on off; do
    t0=$(date +%s%N)
    inst_start "$VR_TMP/$m.conf" || { vr_finish; exit 1; }
    R[$m,start_ms]=$((($(date +%s%N) - t0) / 1000000))
    run_flows $m
    sleep 0.3
    cp "$VR_TMP/vrouterd.log" "$VR_TMP/run-$m.log"
    [ $m = on ] && in_rtr nft list table inet vrouter >"$VR_TMP/nft-on.txt"
    inst_stop TERM
done
vr_log "start with the 10,000-CIDR set: on ${R[on,start_ms]} ms, off ${R[off,start_ms]} ms"

for k in $FLOWS; do
    vr_check "same routing result with and without the fast path: $k (on: ${R[on,$k]}, off: ${R[off,$k]})" \
        vr_eq "${R[on,$k]}" "${R[off,$k]}"
done
vr_check "ip_set -> direct with bind_address: the server saw 198.19.2.3" vr_eq "${R[on,set]}" "198.19.2.3"
vr_check "b.example in the overlapped CIDR: sniffed, through the tunnel" vr_eq "${R[on,sni_b]}" "198.18.201.2"
vr_check "another name in the overlapped CIDR: sniffed, then the ip_set rule" vr_eq "${R[on,sni_other]}" "198.19.2.3"
vr_check "reject by domain: reset at once" vr_eq "${R[on,sni_bad]}" "reset"
vr_check "drop by domain: times out" vr_eq "${R[on,sni_silent]}" "timeout"
vr_check "port -> wireguard-bind: the tunnel address" vr_eq "${R[on,port_wg]}" "198.18.201.2"
vr_check "reject by CIDR: reset at once" vr_eq "${R[on,reject]}" "reset"
vr_check "drop by CIDR: times out" vr_eq "${R[on,drop]}" "timeout"
vr_check "final -> Dante: the server saw Dante's address" vr_eq "${R[on,final]}" "198.19.2.2"
vr_check "on: UDP reject by CIDR: dig fails at once" vr_eq "${R[on,dig_reject]}" "failed-at-once"
n_set=$(grep -oE '198\.19\.(1[2-9][0-9]|2[0-9][0-9])\.[0-9]+' "$VR_TMP/nft-on.txt" | sort -u | wc -l)
vr_check "on: the 10,000-CIDR set is in the kernel table, rule #4 forwards it ($n_set /32s listed)" \
    bash -c '[ "$1" = 9998 ] && grep -q "rule #4: forwarded" "$2"' _ "$n_set" "$VR_TMP/nft-on.txt"
vr_check "on: the address-decided flows never reached vrouterd" \
    bash -c "! grep -qE -- '-> (198\.51\.100\.5:80|198\.19\.2\.2:8443|192\.0\.2\.[0-9]+:80) ' '$VR_TMP/run-on.log'"
vr_check "on: the overlapped flows were sniffed and routed by domain in vrouterd" \
    bash -c 'grep -qE -- "-> 203\.0\.113\.5:443 b\.example tls rule=rule #3 outbound=wg" "$1" &&
             grep -qE -- "-> 203\.0\.113\.5:443 other\.example tls rule=rule #4 outbound=src" "$1"' _ "$VR_TMP/run-on.log"
vr_check "on: the final flow went through vrouterd to Dante" \
    grep -qE -- "-> 198\.19\.2\.2:80 .*rule=final outbound=dante" "$VR_TMP/run-on.log"
vr_check "off: every flow is in vrouterd's log" \
    bash -c 'for p in "198\.51\.100\.5:80 .*rule=rule #4 outbound=src" "198\.19\.2\.2:8443 .*rule=rule #5 outbound=wg" \
             "192\.0\.2\.1:80 .*end=rejected by rule #6" "192\.0\.2\.200:80 .*end=dropped by rule #7"; do
             grep -qE -- "-> $p" "$1" || { echo "  missing: $p" >&2; exit 1; }; done' _ "$VR_TMP/run-off.log"
vr_check "the whole scenario, both modes, took under 60 s ($(($(date +%s) - t_start)) s)" test $(($(date +%s) - t_start)) -lt 60
vr_check "no sanitizer report in any run's log" \
    bash -c "! cat '$VR_TMP/vrouterd.all.log' '$VR_TMP/vrouterd.log' 2>/dev/null | grep -q Sanitizer"
vr_finish
