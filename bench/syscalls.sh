#!/bin/bash
# System calls per proxied short connection: vrouterd (sniffing off and on)
# and the reference relay (bench/refrelay.c), counted with `strace -c -f`
# attached to each daemon while a client makes N sequential connections
# (send a request, read the answer to EOF). Counts do not depend on the
# machine's noise, so this is the repeatable half of issue 12 §5's CPU
# comparison (the other half, CPU µs per connection, is bench/run.sh
# --metrics cps).
#
# usage: bench/syscalls.sh [--build DIR] [--conns N] [--workers N]
#   --build  a vrouterd build directory (default <repo>/build-bench)
#   --conns  connections per system (default 400, at most 5000)
# Needs root (namespaces), strace, python3. Uses the e2e topology helpers
# (tests/e2e/lib.sh: 198.18.0.0/15 and 2001:db8::/32 in namespaces of its own).
set -u
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
BUILD=$REPO/build-bench CONNS=400 WORKERS=1
while [ $# -gt 0 ]; do
    case $1 in
        --build) BUILD=${2:?}; shift ;;
        --conns) CONNS=${2:?}; shift ;;
        --workers) WORKERS=${2:?}; shift ;;
        *) echo "usage: $0 [--build DIR] [--conns N] [--workers N]" >&2; exit 2 ;;
    esac
    shift
done
case $CONNS in ''|*[!0-9]*) echo "--conns: a number" >&2; exit 2 ;; esac
[ "$CONNS" -ge 1 ] && [ "$CONNS" -le 5000 ] || { echo "--conns: 1..5000" >&2; exit 2; }
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 2; }
export VR_BUILD=$BUILD
source "$REPO/tests/e2e/lib.sh"
PORT=7893
REFRELAY=$VR_TMP/refrelay
cc -O2 -o "$REFRELAY" "$REPO/bench/refrelay.c" || exit 1

vr_topo_up || exit 1
vr_tproxy_capture $PORT
# A server that answers one line and closes, like a short HTTP exchange.
vr_bg "$NS_SRV" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.19.2.2", 80)); s.listen(512)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"); c.close()'
sleep 0.5

client() { # N connections, each sends a request (TLS-like first bytes when sniffing) and reads to EOF
    in_cli python3 -c '
import socket, sys
n = int(sys.argv[1]); bad = 0
for i in range(n):
    c = socket.create_connection(("198.19.2.2", 80), timeout=5)
    c.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
    data = b""
    while True:
        d = c.recv(4096)
        if not d: break
        data += d
    c.close()
    bad += not data.endswith(b"ok")
print(bad)' "$1"
}

measure() { # NAME PID
    local name=$1 pid=$2 out=$VR_TMP/$1.strace
    strace -c -f -p "$pid" -o "$out" 2>/dev/null &
    local st=$!
    sleep 1
    local bad; bad=$(client "$CONNS")
    sleep 0.5
    kill -INT $st; wait $st 2>/dev/null
    echo "== $name: $CONNS connections ($bad failed), system calls per connection"
    awk -v n="$CONNS" '$NF != "total" && $NF != "syscall" && $4 ~ /^[0-9]+$/ { printf "  %-14s %6.2f\n", $NF, $4 / n; t += $4 } END { printf "  %-14s %6.2f\n", "total", t / n }' "$out"
}

conf() { # SNIFF
    cat <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "warn"; bypass_mark = 0xff; workers = $WORKERS; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; $([ "$1" = 1 ] && echo 'sniff = ["http"];') } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
CONF
}

for sniff in 0 1; do
    conf $sniff >"$VR_TMP/s$sniff.conf"
    vr_daemon_start "$VR_TMP/s$sniff.conf" || { vr_finish; exit 1; }
    measure "vrouterd$([ $sniff = 1 ] && echo -sniff)" "$VR_DAEMON_PID"
    kill "$VR_DAEMON_PID"; wait "$VR_DAEMON_WRAPPER" 2>/dev/null; VR_DAEMON_PID=
done
in_rtr "$REFRELAY" $PORT 0xff >"$VR_TMP/refrelay.log" 2>&1 &
rp=$!
sleep 0.5
measure refrelay "$(pgrep -f "^$REFRELAY" | head -1)"
kill $rp 2>/dev/null; pkill -f "^$REFRELAY"; wait $rp 2>/dev/null
vr_finish >/dev/null
