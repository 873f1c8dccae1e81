#!/bin/bash
# Issue 17, the XDP source allow-list (xdp = { interfaces; allow; mode; }):
# an allowed source reaches vrouterd through the capture interface and
# another is dropped before the stack, both counted (SIGUSR1 statistics and
# the metrics endpoint); ARP and IPv6 neighbour discovery still pass; a
# reload swaps the list, a failed reload keeps the old program; a SIGKILLed
# daemon's program is found and replaced at the next start (one program on
# the interface), or removed when the new config has no xdp group; SIGTERM
# leaves none.
source "$(dirname "$0")/lib.sh"

PORT=7893
MPORT=19479
write_conf() { # $1 = file, $2 = xdp group (or empty)
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; metrics = { address = "127.0.0.1"; port = $MPORT; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
$2
CONF
}
ALLOW1='xdp = { interfaces = ["rc"]; allow = ["198.18.1.2/32", "2001:db8:1::/126"]; mode = "native"; };'
ALLOW2='xdp = { interfaces = ["rc"]; allow = ["198.18.1.0/30", "2001:db8:1::/126"]; mode = "native"; };'
GENERIC='xdp = { interfaces = ["rc"]; allow = ["198.18.1.0/30", "2001:db8:1::/126"]; mode = "generic"; };'

# "prog/xdp id N" lines on rc: one per attached program.
xdp_progs() { in_rtr ip -d link show dev rc | grep -oE 'prog/xdp id [0-9]+' | awk '{print $3}'; }
xdp_count() { xdp_progs | grep -c .; }
# The HTTP server's answer for a client source address (empty: no answer).
fetch_from() { in_cli curl -s --connect-timeout 2 --max-time 4 --interface "$1" "${2:-http://198.19.2.2/ip}"; }
stat_line() {
    local before
    before=$(grep -c "stats: xdp:" "$VR_TMP/vrouterd.log")
    kill -USR1 "$VR_DAEMON_PID"
    local i
    for i in $(seq 1 100); do
        [ "$(grep -c "stats: xdp:" "$VR_TMP/vrouterd.log")" -gt "$before" ] && break
        sleep 0.05
    done
    grep "stats: xdp:" "$VR_TMP/vrouterd.log" | tail -1
}
stat_passed() { stat_line | sed -E 's/.*xdp: ([0-9]+) packets passed.*/\1/'; }
stat_dropped() { stat_line | sed -E 's/.* ([0-9]+) dropped.*/\1/'; }
metric() { in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v k="vrouter_xdp_packets_total{verdict=\"$1\"}" '$1 == k {print $2}'; }
gt0() { [ "${1:-0}" -gt 0 ] 2>/dev/null || { echo "  expected a count > 0, got [$1]" >&2; return 1; }; }
gt() { [ "${1:-0}" -gt "${2:-0}" ] 2>/dev/null || { echo "  expected [$1] > [$2]" >&2; return 1; }; }

# A build without eBPF (cmake -DVR_BPF=OFF, or clang/bpftool/libbpf missing)
# refuses the option: nothing to test there (test_bpf_config checks the refusal).
printf '%s\nlisteners = ( { tag = "tp"; port = 7893; } );\n' "xdp = { interfaces = [\"lo\"]; allow = [\"192.0.2.0/24\"]; };" >"$VR_TMP/probe.conf"
if "$VR_BIN" -t -f "$VR_TMP/probe.conf" 2>&1 | grep -q "built without eBPF support"; then
    echo "skipped: this vrouterd was built without eBPF"; exit 0
fi
vr_topo_up || exit 1
# A second client address: 198.18.1.3 (in ALLOW2's /30, not in ALLOW1's /32).
in_cli ip addr add 198.18.1.3/24 dev c0
in_cli ip -6 addr add 2001:db8:1::9/64 dev c0 nodad
vr_tproxy_capture $PORT
vr_http_server || exit 1

# ---- a config error names FILE:LINE
write_conf "$VR_TMP/bad.conf" 'xdp = { interfaces = ["rc"]; allow = ["198.18.1.2/33"]; };'
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1)
vr_check "a bad prefix in xdp.allow is refused with FILE:LINE" \
    grep -qE "bad\.conf:5: .*allow.*\"198\.18\.1\.2/33\" is not a prefix" <<<"$out"

# ---- allowed and dropped sources, counted
write_conf "$VR_TMP/a.conf" "$ALLOW1"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "one program attached to rc" vr_eq "$(xdp_count)" 1
vr_check "native mode: ip link shows xdpdrv" bash -c "ip netns exec $NS_RTR ip -d link show dev rc | grep -q 'xdp\(drv\)\? '"
# Neighbour caches emptied both ways: the allowed flow needs ARP / ND through rc.
in_cli ip neigh flush dev c0; in_rtr ip neigh flush dev rc
vr_check "allowed source 198.18.1.2 gets through (ARP passes the filter)" \
    vr_eq "$(fetch_from 198.18.1.2 | cut -d' ' -f1)" "198.19.2.1"
vr_check "allowed source 2001:db8:1::2 gets through (neighbour discovery passes)" \
    vr_eq "$(fetch_from 2001:db8:1::2 'http://[2001:db8:2::2]/ip' | cut -d' ' -f1)" "2001:db8:2::1"
vr_check "source 198.18.1.3 is dropped" vr_eq "$(fetch_from 198.18.1.3)" ""
vr_check "source 2001:db8:1::9 is dropped" vr_eq "$(fetch_from 2001:db8:1::9 'http://[2001:db8:2::2]/ip')" ""
vr_check "a dropped source never reached the daemon" bash -c "! grep -qE 'conn [0-9]+ tp (198\.18\.1\.3|\[2001:db8:1::9\])' $VR_TMP/vrouterd.log"
passed=$(stat_passed); dropped=$(stat_dropped)
vr_check "SIGUSR1 statistics count passed packets ($passed)" gt0 "$passed"
vr_check "SIGUSR1 statistics count dropped packets ($dropped)" gt0 "$dropped"
vr_check "metrics: vrouter_xdp_packets_total{verdict=\"passed\"}" gt0 "$(metric passed)"
vr_check "metrics: vrouter_xdp_packets_total{verdict=\"dropped\"}" gt0 "$(metric dropped)"
vr_check "metrics: ARP / ND counted as unchecked" gt0 "$(metric unchecked)"

# ---- a reload that widens the list swaps the program; counts carry over
id1=$(xdp_progs)
write_conf "$VR_TMP/a.conf" "$ALLOW2"
vr_reload
vr_check "reload with a new allow list succeeded" vr_wait_log "generation 2 active"
id2=$(xdp_progs)
vr_check "the program was swapped ($id1 -> $id2), still one attached" bash -c "[ '$(xdp_count)' = 1 ] && [ '$id1' != '$id2' ]"
vr_check "198.18.1.3 gets through after the reload" vr_eq "$(fetch_from 198.18.1.3 | cut -d' ' -f1)" "198.19.2.1"
vr_check "counts survive the swap" gt "$(stat_dropped)" $((dropped - 1))

# ---- a reload that fails keeps the program
write_conf "$VR_TMP/a.conf" 'xdp = { interfaces = ["rc", "nosuch0"]; allow = ["198.18.1.2/32"]; };'
vr_reload
vr_check "a reload naming a missing interface fails with FILE:LINE" \
    vr_wait_log "a\.conf:5: xdp: no interface \"nosuch0\""
vr_check "the failed reload kept the program" vr_eq "$(xdp_progs)" "$id2"
vr_check "and its allow list (198.18.1.3 still passes)" vr_eq "$(fetch_from 198.18.1.3 | cut -d' ' -f1)" "198.19.2.1"

# ---- a mode change: generic
write_conf "$VR_TMP/a.conf" "$GENERIC"
vr_reload
vr_check "reload to generic mode" bash -c "ip netns exec $NS_RTR ip -d link show dev rc | grep -q 'xdpgeneric'"
vr_check "one program after the mode change" vr_eq "$(xdp_count)" 1
vr_check "filtering in generic mode" bash -c "[ -z \"\$(ip netns exec $NS_CLI curl -s --connect-timeout 2 --max-time 3 --interface 2001:db8:1::9 'http://[2001:db8:2::2]/ip')\" ]"

# ---- SIGKILL: the program stays (the interface stays filtered), a restart replaces it
kill -KILL "$VR_DAEMON_PID"; vr_daemon_wait
stale=$(xdp_progs)
vr_check "after SIGKILL the program stays attached" vr_eq "$(xdp_count)" 1
vr_check "and keeps dropping" vr_eq "$(fetch_from 2001:db8:1::9 'http://[2001:db8:2::2]/ip')" ""
write_conf "$VR_TMP/a.conf" "$ALLOW1"
mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.1.log" # vr_daemon_start waits for a "ready" line
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "the restart found the stale program" vr_wait_log "xdp: replacing the allow-list a previous vrouterd left on rc"
vr_check "exactly one program attached after the restart" vr_eq "$(xdp_count)" 1
vr_check "and it is the new one" bash -c "[ '$(xdp_progs)' != '$stale' ]"
vr_check "the new list applies (198.18.1.3 dropped again)" vr_eq "$(fetch_from 198.18.1.3)" ""
vr_check "the new list applies (198.18.1.2 passes)" vr_eq "$(fetch_from 198.18.1.2 | cut -d' ' -f1)" "198.19.2.1"

# ---- SIGKILL, then a start without xdp removes the stale program
kill -KILL "$VR_DAEMON_PID"; vr_daemon_wait
write_conf "$VR_TMP/a.conf" ""
mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.2.log"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "a start without xdp removed the stale program" vr_eq "$(xdp_count)" 0
vr_check "and said so" vr_wait_log "xdp: removed the allow-list a previous vrouterd left on rc"
vr_check "198.18.1.3 passes with no filter" vr_eq "$(fetch_from 198.18.1.3 | cut -d' ' -f1)" "198.19.2.1"

# ---- SIGTERM leaves none
write_conf "$VR_TMP/a.conf" "$ALLOW1"
vr_reload
vr_check "a reload attaches the list again" vr_eq "$(xdp_count)" 1
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "SIGTERM: vrouterd exits 0" vr_eq "$?" 0
vr_check "SIGTERM leaves no program on rc" vr_eq "$(xdp_count)" 0

# ---- after daemon.user's privilege drop (no CAP_SYS_ADMIN or CAP_BPF left),
# an unchanged reload keeps the program and SIGTERM still removes it
if id nobody >/dev/null 2>&1; then
    write_conf "$VR_TMP/a.conf" "$ALLOW1"
    sed -i 's/^daemon = { /daemon = { user = "nobody"; /' "$VR_TMP/a.conf"
    chmod 755 "$VR_TMP"; chmod 644 "$VR_TMP/a.conf"
    mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.3.log"
    vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
    vr_check "running as nobody with the program attached" \
        bash -c "[ \"\$(ps -o user= -p $VR_DAEMON_PID)\" = nobody ] && [ '$(xdp_count)' = 1 ]"
    vr_reload
    vr_check "an unchanged reload after the drop succeeds" vr_wait_log "generation 2 active"
    vr_check "and keeps the program" vr_eq "$(xdp_count)" 1
    kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
    vr_check "SIGTERM after the drop leaves no program on rc" vr_eq "$(xdp_count)" 0
fi
vr_finish
