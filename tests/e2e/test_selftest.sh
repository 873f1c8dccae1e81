#!/bin/bash
# Issue 6, loop self-test: at start, with installers on, vrouterd sends a
# probe carrying daemon.bypass_mark towards 192.0.2.1 / 2001:db8::1 and
# refuses to run when it comes back to one of its own listeners. With the
# installers' own rules (bypass mark honoured, also with capture_local) start
# succeeds; with a foreign nft table that re-marks the daemon's output into
# the capture, start is refused with the explanation and nothing is left.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
vr_topo_up || exit 1
# The probe targets need a route (a real gateway has a default route): via
# the server, which has no such address and drops or refuses the probe.
in_rtr ip route add 192.0.2.0/24 via 198.19.2.2
in_rtr ip -6 route add 2001:db8::/64 via 2001:db8:2::2
vr_http_server || exit 1

inst_conf "$VR_TMP/a.conf" A
inst_conf "$VR_TMP/local.conf" LOCAL

# ---- the installers' own rules: the marked probe is not captured
inst_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "normal rules: start succeeds after the self-test" \
    vr_wait_log "loop self-test: 2 marked probe\(s\) did not reach a listener: no loop"
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "normal rules: capture still works" vr_eq "$ip4" "198.19.2.1"
inst_stop TERM

inst_start "$VR_TMP/local.conf" || { vr_finish; exit 1; }
vr_check "capture_local: the output chain honours the bypass mark (no loop)" \
    vr_wait_log "loop self-test: 2 marked probe\(s\) did not reach a listener: no loop"
loc=$(in_rtr curl -s --max-time 5 --interface 198.18.1.1 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "capture_local: the router's own curl is still proxied" vr_eq "$loc" "198.19.2.1"
inst_stop TERM
vr_check "clean after SIGTERM" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

# ---- a foreign table re-marks the daemon's own marked output into the
# capture (output route chain before ours, ignoring the bypass mark)
in_rtr nft -f - <<'NFT'
table inet loopy {
  chain output {
    type route hook output priority mangle - 1; policy accept;
    meta l4proto tcp ip daddr 192.0.2.0/24 meta mark set 0x1
    meta l4proto tcp ip6 daddr 2001:db8::/64 meta mark set 0x1
  }
}
NFT
before=$(inst_snapshot)
inst_log_rotate
inst_start_fails "$VR_TMP/local.conf"
vr_check "broken capture: start is refused (non-zero exit)" vr_eq "$?" "0"
log=$(cat "$VR_TMP/vrouterd.log")
vr_check "broken capture: the log says the self-test failed" inst_has "$log" "not started: loop self-test failed"
vr_check "broken capture: ... naming the listener and the bypass mark" \
    inst_has "$log" "carrying daemon.bypass_mark 0xff arrived at listener tp"
vr_check "broken capture: ... and what to check" inst_has "$log" "captured back into itself"
vr_check "broken capture: refused cleanly (no sanitizer or leak report)" \
    vr_eq "$(grep -c "Sanitizer" "$VR_TMP/vrouterd.log")" "0"
vr_check "broken capture: nothing of ours is left installed" vr_eq "$(inst_owned)" ""
vr_check "broken capture: only the foreign table remains" vr_eq "$(in_rtr nft list tables)" "table inet loopy"
vr_check "broken capture: the whole kernel state is as before" vr_eq "$(inst_snapshot)" "$before"
vr_check "broken capture: no listener left open" \
    vr_eq "$(in_rtr ss -Htln "sport = :$PORT" | wc -l)" "0"

# ---- the same foreign table, limited to IPv6: the IPv6 probe detects it
in_rtr nft delete table inet loopy
in_rtr nft -f - <<'NFT'
table inet loopy {
  chain output {
    type route hook output priority mangle - 1; policy accept;
    meta l4proto tcp ip6 daddr 2001:db8::/64 meta mark set 0x1
  }
}
NFT
inst_log_rotate
inst_start_fails "$VR_TMP/local.conf"
vr_check "IPv6-only loop: start is refused" vr_eq "$?" "0"
vr_check "IPv6-only loop: the IPv6 probe is named" \
    inst_has "$(cat "$VR_TMP/vrouterd.log")" "to [2001:db8::1]:$PORT carrying"
vr_check "IPv6-only loop: nothing of ours is left installed" vr_eq "$(inst_owned)" ""
in_rtr nft delete table inet loopy

# ---- without the foreign table the same config starts again
inst_start "$VR_TMP/local.conf" || { vr_finish; exit 1; }
vr_check "after removing the foreign table: start succeeds" vr_wait_log "no loop"
inst_stop TERM
vr_check "clean at the end" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""

vr_finish
