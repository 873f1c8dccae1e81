#!/bin/bash
# Issue 15 bench: the time to compile a large ip_set into the kernel fast
# path and swap it into nftables, at start and on reload (SIGHUP), next to
# the same config with daemon.offload = false (the set is parsed, not
# installed). Runs in a network namespace of its own; the set holds
# 2001:db8::/32 /64 prefixes, every other one, so none merge into a range.
#
# usage: sudo bench/offload_swap.sh [--entries N] [--reloads R] [--build DIR]
#   --entries  CIDRs in the ip_set (default 1000000)
#   --reloads  reloads timed per mode (default 3)
#   --build    a Release build directory (default <repo>/build-rel; build it
#              with cmake -DCMAKE_BUILD_TYPE=Release -DVR_SANITIZE=OFF and
#              the targets vrouterd vrmod_nftables vrmod_direct;
#              -DVR_WERROR=OFF: a Release build warns in vr_privdrop.c)
# Prints a markdown table: per mode, vrouterd --plan (parse + compile +
# print), start to ready, reload to active (median and range), the daemon's
# RSS after the reloads, and nft's view of the set (elements).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=1000000 RELOADS=3 BUILD=$SRC/build-rel
while [ $# -gt 0 ]; do
    case $1 in
    --entries) N=$2; shift 2 ;;
    --reloads) RELOADS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
BIN=$BUILD/core/vrouterd
[ -x "$BIN" ] || { echo "no $BIN (see --build)" >&2; exit 2; }
NS=vrbo$$
TMP=$(mktemp -d /tmp/vr-bench-offload.XXXXXX)
DPID=
cleanup() {
    [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && sleep 1 && kill -KILL "$DPID" 2>/dev/null
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link add vrbo0 type veth peer name vrbo1
ip netns exec "$NS" ip link set vrbo0 up

python3 -c '
import sys
n = int(sys.argv[1])
for i in range(n):
    print("2001:db8:%x:%x::/64" % (i >> 15, 2 * (i & 0x7fff)))' "$N" >"$TMP/set.txt"

conf() { # $1 file, $2 offload
    cat >"$1" <<CONF
daemon = { module_path = "$BUILD/modules"; log_level = "info"; offload = $2; workers = 1; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = 17893; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { rules = ( { ip_set = "$TMP/set.txt"; outbound = "direct"; } ); final = "direct"; };
installers = ( { module = "nftables"; table = "vrbench"; listener = "tp"; mark = 0x1; interfaces = ["vrbo0"]; } );
CONF
}
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
wait_log() { # PATTERN COUNT: until the log has COUNT lines matching (up to 600 s)
    local i
    for i in $(seq 1 12000); do
        [ "$(grep -cE "$1" "$TMP/d.log")" -ge "$2" ] && return 0
        kill -0 "$DPID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (" a[1] "-" a[NR] ")"}'; }

echo "| mode | --plan (parse, compile, print) ms | start to ready ms | reload to active ms, median (range) of $RELOADS | RSS after MB | set elements in nft |"
echo "|---|---|---|---|---|---|"
for mode in true false; do
    conf "$TMP/c.conf" $mode
    t=$(date +%s%N); ip netns exec "$NS" "$BIN" --plan -f "$TMP/c.conf" >/dev/null 2>&1; plan=$(ms $t)
    : >"$TMP/d.log"
    t=$(date +%s%N)
    ip netns exec "$NS" "$BIN" -f "$TMP/c.conf" >>"$TMP/d.log" 2>&1 &
    DPID=$!
    wait_log "vrouterd ready" 1 || { echo "did not start:" >&2; tail "$TMP/d.log" >&2; exit 1; }
    start=$(ms $t)
    times=()
    for r in $(seq 1 "$RELOADS"); do
        echo "2001:db8:ffff:$r::/64" >>"$TMP/set.txt" # a changed set each time
        t=$(date +%s%N)
        kill -HUP "$DPID"
        wait_log "reload: generation [0-9]+ active" "$r" || { echo "reload failed:" >&2; tail "$TMP/d.log" >&2; exit 1; }
        times+=("$(ms $t)")
    done
    rss=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' /proc/$DPID/status)
    elems=$(ip netns exec "$NS" nft list table inet vrbench 2>/dev/null | grep -oE '2001:db8:[0-9a-f:]*/64' | wc -l)
    kill -TERM "$DPID"; wait "$DPID" 2>/dev/null; DPID=
    echo "| offload = $mode | $plan | $start | $(printf '%s\n' "${times[@]}" | median) | $rss | $elems |"
done
