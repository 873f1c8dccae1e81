#!/bin/bash
# Issue 13 benchmark (not a test): N idle connections held through vrouterd
# while `vrouterctl connections --json` lists them all, several times; a
# paced transfer (4 KiB each 5 ms) runs through the daemon meanwhile and its
# worst gap between received chunks is reported during listings and during
# quiet windows of the same length, interleaved in one run. Real TPROXY path
# in namespaces (tests/e2e/lib.sh: 198.18.0.0/15 only, torn down on exit).
#
# usage: sudo bench/control_listing.sh BUILD_DIR [N (default 9900)] [ROUNDS (default 5)]
#   BUILD_DIR holds core/vrouterd, tools/vrouterctl and modules/direct.so;
#   for figures build Release:
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-bench --target vrouterd vrouterctl vrmod_direct
# The open-file limit lowers daemon.max_connections (2 fds per connection,
# plus spare pipes): N is capped at that maximum less 2 (the transfer and a
# margin), and the number really held is reported.
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR [N] [ROUNDS]}" && pwd) || exit 2
N=${2:-9900} ROUNDS=${3:-5}
[ "$N" -ge 1 ] && [ "$N" -le 20000 ] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 50 ] ||
    { echo "N must be 1 to 20000, ROUNDS 1 to 50" >&2; exit 2; }
export VR_SRC=$(cd "$(dirname "$0")/.." && pwd)
export VR_BUILD=$build VR_BIN=$build/core/vrouterd VR_MODULE_DIR=$build/modules
source "$VR_SRC/tests/e2e/lib.sh"
CL="python3 $VR_SRC/bench/control_listing.py"
LT="python3 $VR_SRC/tests/e2e/limits_tool.py"
CTL=$build/tools/vrouterctl
SOCK=$VR_TMP/control.sock
PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_bg "$NS_SRV" $CL paced-server --port 7200 --lifetime 900
vr_bg "$NS_SRV" $LT zerowin --port 7100 --lifetime 900
vr_wait_port "$NS_SRV" 198.19.2.2 7100 || exit 1
# one client may hold everything; TCP only (no UDP sockets in the fd budget)
cat >"$VR_TMP/b.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "warn"; max_connections_per_client = 0;
           control = { path = "$SOCK"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/b.conf" || exit 1
max=$("$CTL" -s "$SOCK" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"]["max"])')
want=$N
[ "$N" -gt $((max - 2)) ] && N=$((max - 2))
# the transfer first: once the daemon is at its maximum, new connections wait
vr_bg "$NS_CLI" $CL paced-client 198.19.2.2 7200 --out "$VR_TMP/arrivals" --seconds 900
for _ in $(seq 1 100); do [ -s "$VR_TMP/arrivals" ] && break; sleep 0.1; done
vr_bg "$NS_CLI" $LT stall 198.19.2.2 7100 --count "$N" --bytes 1 --hold 900 >"$VR_TMP/stall.out" 2>&1
active() { "$CTL" -s "$SOCK" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"]["active"])'; }
t0=$(date +%s)
for _ in $(seq 1 600); do
    [ -s "$VR_TMP/stall.out" ] && [ "$(active)" -ge $((N + 1)) ] && break
    sleep 0.5
done
held=$(($(active) - 1))
echo "vrouterd $(cat /proc/loadavg | cut -d' ' -f1-3) load; max_connections (after the fd budget) $max;" \
    "asked $want idle connections, opened $N, held $held (+ the transfer) after $(($(date +%s) - t0)) s; $(cat "$VR_TMP/stall.out")"
echo "daemon: $(ls /proc/$VR_DAEMON_PID/fd | wc -l) fds, RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$VR_DAEMON_PID/status)"
sleep 2 # the transfer settles after the connection storm
$CL measure --ctl "$CTL" --sock "$SOCK" --arrivals "$VR_TMP/arrivals" --pid "$VR_DAEMON_PID" --rounds "$ROUNDS"
# the trap stops the daemon and the peers (a drain would wait for the held connections)
VR_FAIL=0
vr_finish >/dev/null
