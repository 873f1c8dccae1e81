#!/bin/bash
# Issue 12 end to end: several workers (daemon.workers = 2), each with its
# own SO_REUSEPORT sockets, loop and module instances.
#  - 2,000 back-to-back connections while 8 SIGHUPs flip the rules: none
#    refused, reset or unanswered, and after each reload every new connection
#    follows the new rules (whichever worker takes it);
#  - both workers take connections;
#  - UDP full cone with 2 workers. Each client port first talks to a remote
#    of its own (the TPROXY listener group spreads new client endpoints over
#    the workers), then to two remotes they all share: each worker holding
#    sessions for those has its own reply socket bound to them, and the
#    capture rule's "socket transparent" match hands a client's datagram to
#    whichever socket of that SO_REUSEPORT group the kernel picks, often the
#    other worker's. Each client port must keep one mapping over all its
#    remotes, every answer must come from the remote asked, and the
#    statistics must show datagrams handed over to the session's owner;
#  - SIGUSR1 and the control socket sum over workers.
# It sets the worker count itself, whatever VR_WORKERS says.
source "$(dirname "$0")/lib.sh"
VR_WORKERS=

PORT=7893
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
write_conf() { # $1 = final outbound
    cat >"$VR_TMP/w.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; workers = 2;
           control = { path = "$VR_TMP/ctl.sock"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                udp = { nat = "endpoint-independent"; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; }
);
route = { final = "$1"; };
CONF
}

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1
for p in 7001 7003 7101 7102 7103 7104 7105 7106 7107 7108; do vr_bg "$NS_SRV" $UT server --port $p; done
sleep 0.3
write_conf direct
vr_daemon_start "$VR_TMP/w.conf" || { vr_finish; exit 1; }
vr_check "the daemon runs 2 workers" vr_wait_log "vrouterd ready: generation 1 from .*, 2 workers"
vr_check "... each with its own thread" \
    bash -c "grep -l '^vr-worker-' /proc/$VR_DAEMON_PID/task/*/comm | wc -l | grep -qx 2"

# --- 2,000 connections, 8 reloads flipping the final outbound
in_cli python3 "$VR_SRC/tests/e2e/client.py" burst 198.19.2.2 80 60 2000 >"$VR_TMP/burst.out" 2>&1 &
burst_pid=$!
sleep 0.3
wrong=0
for i in 1 2 3 4 5 6 7 8; do
    if [ $((i % 2)) = 1 ]; then final=wan-b; want=198.19.2.3; else final=direct; want=198.19.2.1; fi
    write_conf "$final"
    vr_reload
    # every connection opened after the reload returned takes the new rule,
    # on whichever worker the kernel hands it to
    for _ in 1 2 3 4 5 6; do
        got=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
        [ "$got" = "$want" ] || { wrong=$((wrong + 1)); echo "reload $i: want $want, got [$got]" >&2; }
    done
    sleep 0.2
done
wait $burst_pid
gens=$(grep -c "reload: generation [0-9]* active" "$VR_TMP/vrouterd.log")
vr_check "8 reloads took effect ($gens)" vr_eq "$gens" "8"
vr_check "... every connection after each reload followed the new rules (48 checked, $wrong wrong)" vr_eq "$wrong" "0"
vr_check "... 2,000 connections of the stream: none refused, reset or unanswered ($(cat "$VR_TMP/burst.out"))" \
    grep -qE "^ok 2000 failed 0 " "$VR_TMP/burst.out"
vr_check "... and the stream saw both outbounds" \
    bash -c "grep -q '198\.19\.2\.1=' '$VR_TMP/burst.out' && grep -q '198\.19\.2\.3=' '$VR_TMP/burst.out'"
st=$("$VR_BUILD/tools/vrouterctl" -s "$VR_TMP/ctl.sock" status --json)
per=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["workers"], *[w["accepted"] for w in d["per_worker"]], d["connections"]["total"])' "$st")
vr_check "status: 2 workers, each took connections, totals summed ($per)" \
    python3 -c 'import sys; n,a,b,t=map(int,sys.argv[1].split()); sys.exit(0 if n==2 and a>50 and b>50 and a+b==t else 1)' "$per"

# --- UDP full cone across workers
cones=0; split=0; bad_from=0
for c in 1 2 3 4 5 6 7 8; do
    out=$(in_cli $UT session 198.19.2.2:710$c 198.19.2.2:7001 198.19.2.2:7003 --repeat 4 --interval 0.05)
    maps=$(echo "$out" | awk '{print $2, $3}' | sort -u | wc -l)
    [ "$maps" = 1 ] && cones=$((cones + 1)) || { split=$((split + 1)); echo "client $c: $out" >&2; }
    # "<remote> <ip> <port> from <ip> <port>": the answer comes from the remote asked
    bad_from=$((bad_from + $(echo "$out" | awk '{split($1, r, ":"); if ($5 != r[1] || $6 != r[2]) n++} END {print n + 0}')))
done
vr_check "UDP: each of 8 client ports kept one mapping over its 3 remotes ($cones kept, $split split)" vr_eq "$cones" "8"
ws=$("$VR_BUILD/tools/vrouterctl" -s "$VR_TMP/ctl.sock" sessions --json | python3 -c 'import json,sys
print(" ".join(sorted({str(json.loads(l).get("worker")) for l in sys.stdin if "worker" in l})))')
vr_check "... the sessions live on both workers ($ws)" vr_eq "$ws" "0 1"
vr_check "... every answer came from the remote it was sent to ($bad_from wrong)" vr_eq "$bad_from" "0"
f=$(in_cli $UT fullcone 198.19.2.2 7001 7003)
vr_check "... a remote the client never sent to reaches its mapping ($f)" vr_eq "$f" "poked from 198.19.2.2 7003"
kill -USR1 "$VR_DAEMON_PID"
vr_check "... one line for the listener, summed over workers: 9 sessions, none dropped" \
    vr_wait_log "stats: udp tp: [0-9]+ sessions open .*, 9 created, .*; 0 dropped, 0 filtered, 0 loops"
vr_check "... datagrams that reached the other worker's reply socket were handed to the session's owner" \
    vr_wait_log "stats: udp tp: .* [1-9][0-9]* handed over to the worker owning the session"
vr_check "SIGUSR1 sums over workers and lists each" \
    bash -c "grep -q 'stats: generation 9, 2 workers' '$VR_TMP/vrouterd.log' && grep -q 'stats: worker 1: ' '$VR_TMP/vrouterd.log'"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "the daemon drains and exits cleanly with 2 workers" vr_eq "$?" "0"
vr_finish
