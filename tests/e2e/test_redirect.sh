#!/bin/bash
# Listener mode "redirect": flows captured by an nftables `redirect` (NAT)
# rule instead of TPROXY. The original destination comes from conntrack
# (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST), IPv4 and IPv6: rules match on it,
# the outbound connects to it, bytes arrive exact, a flow addressed to the
# listener itself is refused as a loop.
source "$(dirname "$0")/lib.sh"

PORT=7894
cat >"$VR_TMP/r.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; };
listeners = ( { tag = "rd"; mode = "redirect"; address = "::"; port = $PORT; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; }
);
route = {
  rules = ( { port = 8080; outbound = "wan-b"; } );
  final = "direct";
};
CONF

vr_topo_up || exit 1
# NAT capture of the client's TCP (not to the router itself)
in_rtr nft -f - <<NFT
table inet vrredir {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "rc" fib daddr type != local meta l4proto tcp redirect to :$PORT
  }
}
NFT
vr_http_server || exit 1
vr_http_server 8080 || exit 1
vr_daemon_start "$VR_TMP/r.conf" || { vr_finish; exit 1; }
vr_check "the listener starts in redirect mode" vr_wait_log "listener rd: redirect on "

ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "IPv4: the flow is proxied (the server sees the router, not the client)" vr_eq "$ip4" "198.19.2.1"
vr_check "IPv4: the log names the original destination from conntrack" \
    vr_wait_log "conn [0-9]+ rd 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*outbound=direct"
ip6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]/ip" | cut -d' ' -f1)
vr_check "IPv6: the flow is proxied" vr_eq "$ip6" "2001:db8:2::1"
vr_check "IPv6: the log names the original destination (IP6T_SO_ORIGINAL_DST)" \
    vr_wait_log "conn [0-9]+ rd \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:80 .*outbound=direct"

b4=$(in_cli curl -s --max-time 5 http://198.19.2.2:8080/ip | cut -d' ' -f1)
vr_check "rules see the original port: 8080 leaves through wan-b (198.19.2.3)" vr_eq "$b4" "198.19.2.3"
b6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]:8080/ip" | cut -d' ' -f1)
vr_check "... over IPv6 too (2001:db8:2::3)" vr_eq "$b6" "2001:db8:2::3"

N=$((16 * 1024 * 1024))
want=$(vr_blob_sha256 "$N")
got=$(in_cli curl -s --max-time 60 http://198.19.2.2/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "16 MiB over IPv4 arrives byte-exact" vr_eq "$got" "$want"
got6=$(in_cli curl -s --max-time 60 "http://[2001:db8:2::2]/blob/$N" | sha256sum | cut -d' ' -f1)
vr_check "16 MiB over IPv6 arrives byte-exact" vr_eq "$got6" "$want"
hc=$(in_cli python3 "$VR_SRC/tests/e2e/client.py" halfclose 198.19.2.2 80 /blob/3000000 | cut -d' ' -f1)
vr_check "half-close through a redirected flow" vr_eq "$hc" "3000000"

# addressed to the listener itself (not NATed): its original destination is
# the listener, so relaying it would loop
in_cli curl -s --max-time 3 -o /dev/null http://198.18.1.1:$PORT/ip
vr_check "a flow to the listener's own address is refused as a loop" \
    vr_wait_log "refused: destination 198\.18\.1\.1:$PORT is vrouterd's own listener"
in_cli curl -s --max-time 3 -o /dev/null "http://[2001:db8:1::1]:$PORT/ip"
vr_check "... over IPv6 too" vr_wait_log "refused: destination \[2001:db8:1::1\]:$PORT is vrouterd's own listener"
ok=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "the daemon serves on after the refusals" vr_eq "$ok" "198.19.2.1"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait; rc=$?
vr_check "SIGTERM: exits 0 (no leak under ASan)" vr_eq "$rc" "0"
vr_finish
