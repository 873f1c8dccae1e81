#!/bin/bash
# Issue 4 end to end: the wireguard-bind outbound over a real WireGuard
# tunnel (wireguard-go + wg) between the router and the server namespace.
# The server sees the tunnel's address (or source_address); pulling the
# interface down fails new flows fast and the daemon survives; bringing it
# back up recovers without a reload.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
for i in 11 12; do in_srv ip addr add 198.19.2.$i/24 dev s0; done
vr_http_server 80 || exit 1
outb_wg_tunnel 1 || { vr_finish; exit 1; }
in_rtr ip addr add 198.18.201.9/24 dev wg1

cat >"$VR_TMP/w.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; routing_mark = 0x501; },
  { tag = "wg1-src"; module = "wireguard-bind"; interface = "wg1"; source_address = "198.18.201.9"; },
  { tag = "wg9"; module = "wireguard-bind"; interface = "wg9"; }
);
route = { rules = (
    { ip_cidr = "198.19.2.11/32"; outbound = "wg1"; },
    { ip_cidr = "198.19.2.12/32"; outbound = "wg1-src"; },
    { port = 8099; outbound = "wg9"; }
  ); final = "direct"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/w.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the wireguard-bind config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/w.conf" || { vr_finish; exit 1; }

vr_check "direct flow leaves from the router (baseline)" vr_eq "$(outb_ip http://198.19.2.2/ip)" "198.19.2.1"
vr_check "through wg1 the server sees the tunnel address" vr_eq "$(outb_ip http://198.19.2.11/ip)" "198.18.201.2"
vr_check "with source_address the server sees that address" vr_eq "$(outb_ip http://198.19.2.12/ip)" "198.18.201.9"
vr_check "a missing interface is reported at start" vr_wait_log "interface wg9 does not exist"
vr_check "a flow to a missing interface fails" bash -c \
    "[ \"\$(ip netns exec $NS_CLI curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://198.19.2.2:8099/)\" = 000 ]"

N=$((16 * 1024 * 1024))
want=$(vr_blob_sha256 "$N")
got=$(in_cli curl -s --max-time 60 http://198.19.2.11/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "16 MiB through the tunnel arrives byte-exact" vr_eq "$got" "$want"

# pull the interface down: new flows fail fast, the daemon survives
in_rtr ip link set wg1 down
vr_check "the module sees the interface go down (netlink)" vr_wait_log "interface wg1 is down"
t0=$(date +%s%N)
code=$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://198.19.2.11/ip)
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
vr_check "a new flow through the downed tunnel fails" vr_eq "$code" "000"
vr_check "... fast (${ms} ms < 1000 ms)" test "$ms" -lt 1000
vr_check "... with the reason on the connection's close line (ABI 1.1 connect_fail_reason)" \
    vr_wait_log "conn [0-9]+ tp .* -> 198\.19\.2\.11:80 .*outbound=wg1 .*end=connect failed: wireguard-bind wg1: interface wg1 is down"
vr_check "the daemon survives" outb_alive
vr_check "direct flows still work" vr_eq "$(outb_ip http://198.19.2.2/ip)" "198.19.2.1"

# and back up: no reload needed
in_rtr ip link set wg1 up
vr_check "the module sees the interface come back" vr_wait_log "interface wg1 is up"
ok=
for i in $(seq 1 30); do
    [ "$(outb_ip http://198.19.2.11/ip)" = 198.18.201.2 ] && { ok=1; break; }
    sleep 0.2
done
vr_check "flows go through the tunnel again without a reload" test -n "$ok"

# address removed: fails fast with that reason
in_rtr ip addr flush dev wg1
vr_check "an interface without address is reported" vr_wait_log "interface wg1 has no address"
code=$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://198.19.2.11/ip)
vr_check "a flow through it fails" vr_eq "$code" "000"
vr_check "... with that reason on its close line" \
    vr_wait_log "outbound=wg1 .*end=connect failed: wireguard-bind wg1: .*has no address"
vr_check "the daemon survives" outb_alive

vr_finish
