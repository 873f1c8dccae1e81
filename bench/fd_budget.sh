#!/bin/bash
# File descriptors per stalled connection (issue 11 §5): N connections whose
# server never reads (a zero-window server) through vrouterd; reports the
# daemon's fds per connection while the stalled pipes are held and after
# vrouterd gives them back (VR_RELAY_STALL_MS, 2 s, plus the 1 s sweep).
#
# usage: sudo bench/fd_budget.sh [N (default 2000)] [BUILD_DIR (default <repo>/build-test)]
#
# Runs in the e2e topology of tests/e2e/lib.sh (three namespaces, 198.18.0.0/15
# and 2001:db8::/32 only, removed on every exit path). Bounded: N <= 9000.
set -u
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
N=${1:-2000}
BUILD=${2:-$REPO/build-test}
[ "$N" -ge 1 ] && [ "$N" -le 9000 ] || { echo "N must be 1 to 9000" >&2; exit 2; }
export VR_SRC=$REPO VR_BUILD=$BUILD VR_BIN=$BUILD/core/vrouterd VR_MODULE_DIR=$BUILD/modules
source "$REPO/tests/e2e/lib.sh"
LT="python3 $REPO/tests/e2e/limits_tool.py"
PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_bg "$NS_SRV" $LT zerowin --port 7100
vr_wait_port "$NS_SRV" 198.19.2.2 7100 || exit 1
cat >"$VR_TMP/b.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "warn"; max_connections_per_client = 0; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/b.conf" || exit 1
fds() { ls "/proc/$VR_DAEMON_PID/fd" | wc -l; }
base=$(fds)
in_cli $LT stall 198.19.2.2 7100 --count "$N" --bytes 131072 --hold 120 >"$VR_TMP/stall.out" 2>&1 &
for _ in $(seq 1 1200); do [ -s "$VR_TMP/stall.out" ] && break; sleep 0.1; done
held=$(fds)
sleep 4
released=$(fds)
python3 - "$N" "$base" "$held" "$released" "$(cat "$VR_TMP/stall.out")" <<'PY'
import sys
n, base, held, rel, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print(f"stalled connections: {n} ({out})")
print(f"daemon fds: {base} idle, {held} just after sending ({(held - base) / n:.2f} per connection),"
      f" {rel} 4 s later ({(rel - base) / n:.2f} per connection; includes up to 512 fds of pooled pipes)")
PY
VR_FAIL=0
