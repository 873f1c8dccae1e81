#!/bin/bash
# Issue 16 benchmark (not a test): vrouterd's resolver against dnsmasq and
# unbound, all three as caching forwarders on the router to the same
# upstream (dnsmasq answering every name under bench.example, in the server
# namespace), measured with dnsperf from the client namespace in one run,
# side by side:
#   - cached QPS: 100 names asked over and over (after one warm-up pass);
#   - uncached QPS: N distinct names, each asked once (every query a miss);
#   - CPU: the forwarder's user+system seconds per 100k queries of each phase;
#   - memory per cache entry: the forwarder's RSS growth over the uncached
#     phase divided by the entries it then holds (each forwarder's cache is
#     sized to hold them all).
# Real sockets, namespaces from tests/e2e/lib.sh (198.18.0.0/15 only, torn
# down on exit). Every phase is bounded in time (-l) and count (-n 1).
#
# usage: sudo bench/dns_forwarders.sh BUILD_DIR [N uncached names (default 100000)] [SECONDS (default 10)]
#   for figures build Release:
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-bench --target vrouterd vrmod_direct
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR [N] [SECONDS]}" && pwd) || exit 2
N=${2:-100000} SECS=${3:-10}
[ "$N" -ge 1000 ] && [ "$N" -le 1000000 ] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] ||
    { echo "N must be 1000 to 1000000, SECONDS 1 to 120" >&2; exit 2; }
export VR_SRC=$(cd "$(dirname "$0")/.." && pwd)
export VR_BUILD=$build VR_BIN=$build/core/vrouterd VR_MODULE_DIR=$build/modules
source "$VR_SRC/tests/e2e/lib.sh"
command -v dnsperf >/dev/null || { echo "dnsperf is missing (apt-get install dnsperf)" >&2; exit 2; }
vr_topo_up || exit 1
in_rtr ip addr add 198.18.1.11/24 dev rc
in_rtr ip addr add 198.18.1.12/24 dev rc

# ---- the upstream: every name under bench.example is 198.51.100.1 (TTL 3600)
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2 --bind-interfaces --user=root --pid-file= --cache-size=0 \
    --address=/bench.example/198.51.100.1 --local-ttl=3600 --dns-forward-max=10000
vr_wait_port "$NS_SRV" 198.19.2.2 53 || exit 1
CACHE=$((N + 1000))

# ---- the three forwarders
cat >"$VR_TMP/v.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "warn"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = 7893; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
dns = { listen = ["198.18.1.1:53"]; upstreams = ( { tag = "up"; address = "udp://198.19.2.2:53"; } );
        cache = { size = $CACHE; }; };
CONF
vr_daemon_start "$VR_TMP/v.conf" || exit 1
vr_bg "$NS_RTR" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.18.1.11 --bind-interfaces --user=root --pid-file= --server=198.19.2.2 \
    --cache-size=$CACHE --dns-forward-max=10000
DNSMASQ_PID=$!
cat >"$VR_TMP/unbound.conf" <<UB
server:
  interface: 198.18.1.12
  access-control: 0.0.0.0/0 allow
  username: ""
  chroot: ""
  directory: "$VR_TMP"
  pidfile: ""
  use-syslog: no
  do-daemonize: no
  do-not-query-localhost: no
  module-config: "iterator"
  msg-cache-size: 256m
  rrset-cache-size: 256m
  num-threads: 2
  num-queries-per-thread: 4096
forward-zone:
  name: "."
  forward-addr: 198.19.2.2
remote-control:
  control-enable: no
UB
vr_bg "$NS_RTR" unbound -d -c "$VR_TMP/unbound.conf"
UNBOUND_PID=$!
sleep 1
# ip netns exec execs: the pids above are the programs themselves
VR_PID=$VR_DAEMON_PID

# ---- query files
python3 - "$VR_TMP" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/hot.txt", "w") as f:
    for i in range(100):
        f.write(f"hot{i}.bench.example A\n")
for who in ("vrouterd", "dnsmasq", "unbound"):
    with open(f"{d}/cold-{who}.txt", "w") as f:
        for i in range(n):
            f.write(f"c{i}.{who}.bench.example A\n")
PY

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
tck=$(getconf CLK_TCK)
perf() { # SERVER PORT FILE ARGS...: prints "qps lost"
    local out
    out=$(in_cli dnsperf -s "$1" -p "$2" -d "$3" -c 20 -q 200 -t 2 "${@:4}" 2>&1)
    echo "$(awk '/Queries per second/ {print $4}' <<<"$out") $(awk '/Queries lost/ {print $3}' <<<"$out")"
}

printf "%-9s %12s %10s %14s %12s %10s %14s %14s\n" forwarder cached_qps lost cpu_s/100k uncached_qps lost cpu_s/100k bytes/entry
for who in vrouterd dnsmasq unbound; do
    case $who in
        vrouterd) addr=198.18.1.1 pid=$VR_PID ;;
        dnsmasq) addr=198.18.1.11 pid=$DNSMASQ_PID ;;
        unbound) addr=198.18.1.12 pid=$UNBOUND_PID ;;
    esac
    perf $addr 53 "$VR_TMP/hot.txt" -n 1 >/dev/null # warm the 100 names
    c0=$(cpu $pid)
    read -r hq hl <<<"$(perf $addr 53 "$VR_TMP/hot.txt" -l "$SECS")"
    c1=$(cpu $pid)
    hcpu=$(python3 -c "print(f'{($c1-$c0)/$tck / max(1.0, $hq*$SECS) * 1e5:.3f}')")
    r0=$(rss $pid)
    c0=$(cpu $pid)
    t0=$(date +%s.%N)
    read -r cq cl <<<"$(perf $addr 53 "$VR_TMP/cold-$who.txt" -n 1 -l 120)"
    c1=$(cpu $pid)
    r1=$(rss $pid)
    ccpu=$(python3 -c "print(f'{($c1-$c0)/$tck / $N * 1e5:.3f}')")
    per=$(python3 -c "print(int(($r1-$r0)*1024/$N))")
    printf "%-9s %12s %10s %14s %12s %10s %14s %14s\n" $who "$hq" "$hl" "$hcpu" "$cq" "$cl" "$ccpu" "$per"
done
echo "(bytes/entry: RSS growth over the uncached phase / $N names; includes allocator overhead)"
