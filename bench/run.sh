#!/bin/bash
# vrouterd benchmark: kernel forwarding vs vrouterd vs the Debian peers, side by side.
#
# usage: sudo bench/run.sh [--quick] [--only SYSTEM[,SYSTEM]] [--runs N] [--secs S]
#                          [--idle N] [--results FILE] [--build DIR] [--src DIR]
#                          [--build-b DIR --src-b DIR]
#                          [--metrics tput,tput8,cps,idle,udp,udp-down]
#
#   systems: kernel kernel-ct vrouterd vrouterd-offload vrouterd-offload-stateless ss-redir redsocks socat vrouterd-sniff
#            vrouterd-socks5 redsocks-dante kernel-wg vrouterd-wg
#            vrouterd-b, vrouterd-b-w1, vrouterd-b-sniff (only with --build-b:
#            the vrouterd, vrouterd-w1 and vrouterd-sniff configs run from it)
#            vrouterd-splice vrouterd-sockmap (the vrouterd config with
#            daemon.relay = "splice" / "sockmap", issue 17)
#            vrouterd-w1 vrouterd-w2 (the vrouterd config with
#            daemon.workers = 1 / 2; plain vrouterd runs the default,
#            one worker per online CPU)
#            refrelay (bench/refrelay.c, the CPU-per-connection yardstick;
#            compiled into the build directory)
#            refrelay-t2 (the same with 2 threads: the yardstick for
#            vrouterd-w2)
#            (kernel is always measured:
#            every figure is given as a ratio to it)
#   --quick  1 run of 3 s per figure, 2,000 idle connections
#   --build  vrouterd build directory (default: <repo>/build-bench; vrouterd
#            and the direct, tls, http, socks5 and wireguard-bind modules are (re)built there,
#            Release, when any vrouterd system is measured)
#   --src    source tree to build from (default: the repo). For a working
#            tree that others are editing, benchmark a snapshot of a commit:
#            git archive HEAD | tar -x -C /tmp/vr-src; --src /tmp/vr-src
#            --build /tmp/vr-src/build-bench
#   --build-b, --src-b  A/B: a second vrouterd build (same targets, from
#            SRC_B into BUILD_B), measured as system vrouterd-b (same config
#            as vrouterd, its own port and server address) interleaved with
#            the others; name it in --only
#   --metrics which figures to take (default all four: tput = single-stream
#            throughput, tput8 = 8-stream throughput (iperf3 -P 8; not in
#            the default), cps = short-connection rate and daemon CPU per
#            connection (x refrelay when it runs), idle = RSS per idle conn and
#            daemon CPU at 100 vs 9,900 idle conns,
#            udp = iperf3 -u throughput (1,400-byte datagrams) and packet rate
#            (64-byte) client -> server, and the download (iperf3 -u -R,
#            1,400-byte, server -> client), for the systems that relay UDP:
#            kernel, vrouterd (-b, -w1, -w2), ss-redir; udp-down = only the download)
#   --results markdown table (default /tmp/vrbench-DATE.md; raw data next to it
#            as .json)
#
# Needs root (network namespaces) and the Debian packages nftables iproute2
# iperf3 wrk nginx-light shadowsocks-libev redsocks microsocks dante-server wireguard-go wireguard-tools socat python3
# util-linux (prlimit). Everything runs in three namespaces created here
# (198.18.0.0/15, 2001:db8::/32 only), removed on every exit path.
set -u
BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RUNS=3 SECS=8 IDLE=10000 ONLY= RESULTS= SRC=$REPO BUILD=$REPO/build-bench METRICS=tput,cps,idle,udp
BUILD_B= SRC_B=

usage() { sed -n '2,48p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
        --quick) RUNS=1 SECS=3 IDLE=2000 ;;
        --only) ONLY=${2:?}; shift ;;
        --runs) RUNS=${2:?}; shift ;;
        --secs) SECS=${2:?}; shift ;;
        --idle) IDLE=${2:?}; shift ;;
        --results) RESULTS=${2:?}; shift ;;
        --build) BUILD=${2:?}; shift ;;
        --src) SRC=$(cd "${2:?}" && pwd) || exit 2; shift ;;
        --build-b) BUILD_B=${2:?}; shift ;;
        --src-b) SRC_B=$(cd "${2:?}" && pwd) || exit 2; shift ;;
        --metrics) METRICS=${2:?}; shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option $1" >&2; usage ;;
    esac
    shift
done
# Bound every loop: clamp the knobs to sane ranges.
case $RUNS in ''|*[!0-9]*) echo "--runs: a number" >&2; exit 2;; esac
case $SECS in ''|*[!0-9]*) echo "--secs: a number" >&2; exit 2;; esac
case $IDLE in ''|*[!0-9]*) echo "--idle: a number" >&2; exit 2;; esac
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 20 ] || { echo "--runs: 1..20" >&2; exit 2; }
[ "$SECS" -ge 1 ] && [ "$SECS" -le 60 ] || { echo "--secs: 1..60" >&2; exit 2; }
[ "$IDLE" -le 50000 ] || { echo "--idle: at most 50000" >&2; exit 2; }

for t in ${ONLY//,/ }; do
    case $t in kernel|kernel-ct|vrouterd|vrouterd-offload|ss-redir|redsocks|socat|vrouterd-sniff|vrouterd-socks5|redsocks-dante|kernel-wg|vrouterd-wg|vrouterd-b|refrelay|refrelay-t2|vrouterd-w1|vrouterd-w2|vrouterd-splice|vrouterd-sockmap|vrouterd-b-w1|vrouterd-b-sniff|vrouterd-offload-stateless) ;;
        *) echo "--only: unknown system $t (kernel kernel-ct vrouterd vrouterd-offload ss-redir redsocks socat vrouterd-sniff vrouterd-socks5 redsocks-dante kernel-wg vrouterd-wg vrouterd-b refrelay refrelay-t2 vrouterd-w1 vrouterd-w2 vrouterd-splice vrouterd-sockmap vrouterd-b-w1 vrouterd-b-sniff vrouterd-offload-stateless)" >&2; exit 2 ;;
    esac
done
if [[ ,$ONLY, == *,vrouterd-b* ]]; then
    [ -n "$BUILD_B" ] || { echo "--only vrouterd-b: needs --build-b DIR" >&2; exit 2; }
    [ -n "$SRC_B" ] || { echo "--only vrouterd-b: needs --src-b DIR" >&2; exit 2; }
fi
[ -z "$BUILD_B" ] || [[ ,$ONLY, == *,vrouterd-b* ]] || { echo "--build-b: add vrouterd-b (or vrouterd-b-w1, vrouterd-b-sniff) to --only" >&2; exit 2; }

for m in ${METRICS//,/ }; do
    case $m in tput|tput8|cps|idle|udp|udp-down) ;; *) echo "--metrics: unknown figure $m (tput tput8 cps idle udp udp-down)" >&2; exit 2 ;; esac
done

[ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
missing=
for t in ip nft iperf3 wrk nginx ss-redir ss-server redsocks microsocks danted socat python3 prlimit ss wg wireguard-go; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -z "$missing" ] || { echo "bench: missing tools:$missing" >&2; exit 1; }

mkdir -p "$BUILD" && BUILD=$(cd "$BUILD" && pwd)   # absolute: the config's module_path needs it
VRBIN=$BUILD/core/vrouterd
# (Re)build vrouterd and its modules (incremental, so cheap when nothing changed).
build_vrouterd() {  # SRC BUILD
    echo "bench: building vrouterd from $1 in $2" >&2
    local blog btype
    blog=$(mktemp /tmp/vrbench-build.XXXXXX)
    # Configure every time (cheap): a new source file is only seen by a configure.
    btype=Release
    [ -f "$2/CMakeCache.txt" ] && btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$2/CMakeCache.txt")
    if cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE="${btype:-Release}" >"$blog" 2>&1 &&
       cmake --build "$2" -j"$(nproc)" --target vrouterd vrmod_direct vrmod_tls vrmod_http vrmod_socks5 vrmod_wireguard-bind vrmod_nftables >>"$blog" 2>&1; then
        rm -f "$blog"
    else
        tail -n 20 "$blog" >&2; rm -f "$blog"
        echo "bench: vrouterd build failed; it will be reported as not started" >&2
    fi
}
if [ -z "$ONLY" ] || [[ ,$ONLY, == *,vrouterd* ]]; then
    build_vrouterd "$SRC" "$BUILD"
fi
# The reference relay (issue 12 §5): one file, libc only, warnings are errors.
REFRELAY=
if [ -z "$ONLY" ] || [[ ,$ONLY, == *,refrelay,* ]] || [[ ,$ONLY, == *,refrelay-t2,* ]]; then
    REFRELAY=$BUILD/refrelay
    cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -o "$REFRELAY" "$BENCH_DIR/refrelay.c" ||
        { echo "bench: refrelay build failed; it will be reported as not started" >&2; REFRELAY=; }
fi
VRBIN_B= MODDIR_B=
if [ -n "$BUILD_B" ]; then
    mkdir -p "$BUILD_B" && BUILD_B=$(cd "$BUILD_B" && pwd)
    build_vrouterd "$SRC_B" "$BUILD_B"
    VRBIN_B=$BUILD_B/core/vrouterd MODDIR_B=$BUILD_B/modules
fi

TMP=$(mktemp -d /tmp/vrbench.XXXXXX)
[ -n "$RESULTS" ] || RESULTS=/tmp/vrbench-$(date +%Y%m%d-%H%M%S).md
# shellcheck source=topo.sh
. "$BENCH_DIR/topo.sh"

DRIVER_PID=
cleanup() {
    trap - EXIT INT TERM
    [ -n "$DRIVER_PID" ] && kill -TERM "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
    bench_topo_down
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then echo "bench: files kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_topo_up || exit 1
if [ -z "$ONLY" ] || [[ ,$ONLY, == *-wg,* ]]; then
    bench_wg_up "$TMP" 198.19.2.18 || exit 1   # 198.19.2.18: kernel-wg's server address
fi
echo "bench: namespaces $NS_CLI $NS_RTR $NS_SRV; runs=$RUNS secs=$SECS idle=$IDLE" >&2
python3 "$BENCH_DIR/vrbench.py" --ns-cli "$NS_CLI" --ns-rtr "$NS_RTR" --ns-srv "$NS_SRV" \
    --tmp "$TMP" --vrouterd "$VRBIN" --module-dir "$BUILD/modules" --results "$(readlink -f "$RESULTS")" \
    --vrouterd-b "$VRBIN_B" --module-dir-b "$MODDIR_B" --refrelay "$REFRELAY" --only "$ONLY" --runs "$RUNS" --secs "$SECS" --idle "$IDLE" --metrics "$METRICS" &
DRIVER_PID=$!
wait "$DRIVER_PID"
rc=$?
DRIVER_PID=
exit $rc
