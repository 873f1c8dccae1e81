# Shared helpers for end-to-end tests: a three-namespace topology
#   cli (198.18.1.2, 2001:db8:1::2) -> rtr (vrouterd) -> srv (198.19.2.2, 2001:db8:2::2)
# with unique namespace names per run, and teardown on every exit path.
#
#   cli: c0 198.18.1.2/24 2001:db8:1::2/64, default via rtr
#   rtr: rc 198.18.1.1/24 2001:db8:1::1/64 (client side)
#        rs 198.19.2.1/24 198.19.2.3/24 2001:db8:2::1/64 2001:db8:2::3/64 (server side)
#   srv: s0 198.19.2.2/24 2001:db8:2::2/64 (+ any extra addresses a test adds)
#
# Usage in a test:
#   source "$(dirname "$0")/lib.sh"
#   vr_topo_up; vr_tproxy_capture 7893
#   vr_check "what is asserted" command args...
#   vr_finish          # prints "N passed, N failed", exit status
set -u
VR_SRC=${VR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VR_BUILD=${VR_BUILD:-$VR_SRC/build}
VR_BIN=${VR_BIN:-$VR_BUILD/core/vrouterd}
VR_MODULE_DIR=${VR_MODULE_DIR:-$VR_BUILD/modules}
VR_ID=${VR_ID:-$$}
NS_CLI=vrc$VR_ID NS_RTR=vrr$VR_ID NS_SRV=vrs$VR_ID
VR_TMP=$(mktemp -d /tmp/vr-e2e.XXXXXX)
VR_PASS=0 VR_FAIL=0
VR_PIDS=()
VR_DAEMON_PID=
VR_DAEMON_WRAPPER=

in_cli() { ip netns exec "$NS_CLI" "$@"; }
in_rtr() { ip netns exec "$NS_RTR" "$@"; }
in_srv() { ip netns exec "$NS_SRV" "$@"; }

vr_log() { echo "[$(date +%T)] $*" >&2; }

vr_cleanup() {
    local p
    if [ -n "$VR_DAEMON_PID" ]; then kill -TERM "$VR_DAEMON_PID" 2>/dev/null; fi
    for p in "${VR_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${VR_PIDS[@]}" $VR_DAEMON_PID; do kill -KILL "$p" 2>/dev/null; done
    for n in $NS_CLI $NS_RTR $NS_SRV; do
        # kill anything still running inside, then drop the namespace
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$n" 2>/dev/null
    done
    if [ "${VR_KEEP_TMP:-0}" = 1 ] || [ "$VR_FAIL" -gt 0 ]; then
        echo "test files kept in $VR_TMP" >&2
    else
        rm -rf "$VR_TMP"
    fi
}
trap vr_cleanup EXIT
trap 'exit 130' INT TERM

vr_topo_up() {
    local n
    for n in $NS_CLI $NS_RTR $NS_SRV; do ip netns add "$n"; ip netns exec "$n" ip link set lo up; done
    ip link add c0 netns "$NS_CLI" type veth peer name rc netns "$NS_RTR"
    ip link add rs netns "$NS_RTR" type veth peer name s0 netns "$NS_SRV"
    in_cli ip addr add 198.18.1.2/24 dev c0
    in_cli ip -6 addr add 2001:db8:1::2/64 dev c0 nodad
    in_rtr ip addr add 198.18.1.1/24 dev rc
    in_rtr ip -6 addr add 2001:db8:1::1/64 dev rc nodad
    in_rtr ip addr add 198.19.2.1/24 dev rs
    in_rtr ip addr add 198.19.2.3/24 dev rs
    in_rtr ip -6 addr add 2001:db8:2::1/64 dev rs nodad
    # deprecated: never picked as a default source, only when bound explicitly
    in_rtr ip -6 addr add 2001:db8:2::3/64 dev rs nodad preferred_lft 0
    in_srv ip addr add 198.19.2.2/24 dev s0
    in_srv ip -6 addr add 2001:db8:2::2/64 dev s0 nodad
    in_cli ip link set c0 up; in_rtr ip link set rc up; in_rtr ip link set rs up; in_srv ip link set s0 up
    in_cli ip route add default via 198.18.1.1
    in_cli ip -6 route add default via 2001:db8:1::1
    in_srv ip route add default via 198.19.2.1
    in_srv ip -6 route add default via 2001:db8:2::1
    in_rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.rc.rp_filter=0 net.ipv4.conf.rs.rp_filter=0
    for n in $NS_CLI $NS_RTR $NS_SRV; do
        ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="20000 65000" >/dev/null 2>&1 || true
    done
    local i
    for i in $(seq 1 50); do
        if in_cli ping -c1 -W1 198.19.2.2 >/dev/null 2>&1 && in_cli ping -6 -c1 -W1 2001:db8:2::2 >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    vr_log "topology: ping check failed"; return 1
}

# Capture TCP (and UDP) arriving from the client side with TPROXY to PORT.
# Stand-in for the installer modules in tests that are not about them.
vr_tproxy_capture() {
    local port=$1 mark=${2:-1} table=${3:-100}
    in_rtr ip rule add fwmark "$mark" lookup "$table"
    in_rtr ip route add local default dev lo table "$table"
    in_rtr ip -6 rule add fwmark "$mark" lookup "$table"
    in_rtr ip -6 route add local default dev lo table "$table"
    in_rtr nft -f - <<NFT
table inet vrtest {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname != "rc" return
    fib daddr type local return
    # a bare SYN must reach TPROXY even when a TIME_WAIT socket holds its 4-tuple
    tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 meta mark set $mark accept
    meta l4proto udp socket transparent 1 meta mark set $mark accept
    meta l4proto { tcp, udp } tproxy to :$port meta mark set $mark accept
  }
}
NFT
}

# VR_RELAY=splice|sockmap|auto (ctest's *.sockmap variants): the relay every
# config this test writes uses, set as daemon.relay unless the config sets it.
vr_relay_conf() {
    local conf=$1
    [ -n "${VR_RELAY:-}" ] && [ -f "$conf" ] || return 0
    grep -qE '^[^#]*\brelay[[:space:]]*=' "$conf" && return 0
    if grep -qE '^[[:space:]]*daemon[[:space:]]*[=:][[:space:]]*\{' "$conf"; then
        sed -i -E "0,/^([[:space:]]*daemon[[:space:]]*[=:][[:space:]]*\{)/s//\1 relay = \"$VR_RELAY\";/" "$conf"
    else
        printf 'daemon = { relay = "%s"; };\n' "$VR_RELAY" >>"$conf"
    fi
}

# Start vrouterd in the router namespace with CONF; waits until it listens.
# Extra arguments go to vrouterd.
vr_daemon_start() {
    local conf=$1; shift
    local log=$VR_TMP/vrouterd.log
    local pidf=$VR_TMP/vrouterd.pid
    vr_relay_conf "$conf"
    VR_DAEMON_CONF=$conf
    rm -f "$pidf"
    # The log is appended across restarts: wait for a NEW ready line (an
    # earlier run's would let a test signal a daemon still starting up).
    local ready_before
    ready_before=$(grep -c "vrouterd ready" "$log" 2>/dev/null)
    ready_before=${ready_before:-0}
    # `ip netns exec` forks: record the daemon's own pid for signals.
    # VR_WORKERS (run.sh runs the suite with 2 and with 1) sets -w.
    in_rtr sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$VR_BIN" -f "$conf" ${VR_WORKERS:+-w "$VR_WORKERS"} "$@" >>"$log" 2>&1 &
    VR_DAEMON_WRAPPER=$!
    local i
    for i in $(seq 1 100); do
        [ -s "$pidf" ] && break
        sleep 0.02
    done
    VR_DAEMON_PID=$(cat "$pidf" 2>/dev/null)
    for i in $(seq 1 200); do
        local ready_now
        ready_now=$(grep -c "vrouterd ready" "$log" 2>/dev/null)
        if [ "${ready_now:-0}" -gt "$ready_before" ]; then return 0; fi
        if ! kill -0 "$VR_DAEMON_PID" 2>/dev/null; then vr_log "vrouterd exited:"; cat "$log" >&2; VR_DAEMON_PID=; VR_FAIL=$((VR_FAIL + 1)); return 1; fi
        sleep 0.05
    done
    vr_log "vrouterd did not become ready"; cat "$log" >&2; VR_FAIL=$((VR_FAIL + 1)); return 1
}

# Wait (up to 5 s) until the daemon log has a line matching a pattern.
vr_wait_log() { # PATTERN [SECONDS, default 5]
    local pat=$1 i
    for i in $(seq 1 $((${2:-5} * 20))); do
        grep -qE -e "$pat" "$VR_TMP/vrouterd.log" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# Waits for the daemon to exit; returns its exit status.
vr_daemon_wait() {
    wait "$VR_DAEMON_WRAPPER"
    local rc=$?
    VR_DAEMON_PID=
    return $rc
}

VR_DAEMON_CONF=
vr_reload() {
    [ -n "$VR_DAEMON_CONF" ] && vr_relay_conf "$VR_DAEMON_CONF"
    local before
    before=$(grep -cE "reload: (generation [0-9]+ active|failed)" "$VR_TMP/vrouterd.log" 2>/dev/null)
    kill -HUP "$VR_DAEMON_PID"
    local i
    for i in $(seq 1 100); do
        local now
        now=$(grep -cE "reload: (generation [0-9]+ active|failed)" "$VR_TMP/vrouterd.log" 2>/dev/null)
        [ "$now" -gt "$before" ] && return 0
        sleep 0.05
    done
    return 1
}

# Wait (up to 5 s) until something listens on TCP ADDR PORT inside namespace NS.
vr_wait_port() {
    local ns=$1 addr=$2 port=$3 i
    for i in $(seq 1 100); do
        ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null && return 0
        sleep 0.05
    done
    vr_log "nothing listens on $addr:$port in $ns"; return 1
}

# Run a background process in a namespace and remember it for teardown.
vr_bg() { local ns=$1; shift; ip netns exec "$ns" "$@" & VR_PIDS+=($!); }

# A small HTTP server in srv that answers GET /ip with the client address it
# saw, and serves files from $VR_TMP/www. Listens on PORT (default 80), both families.
vr_http_server() {
    local port=${1:-80} dir=$VR_TMP/www
    mkdir -p "$dir"
    vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/http_server.py" --dir "$dir" --port "$port" >>"$VR_TMP/http.log" 2>&1
    local i
    for i in $(seq 1 100); do
        in_srv bash -c "exec 3<>/dev/tcp/198.19.2.2/$port" 2>/dev/null && return 0
        sleep 0.05
    done
    vr_log "http server did not start"; return 1
}

# The sha256 of the first N bytes that http_server.py serves at /blob/N.
vr_blob_sha256() {
    python3 -c "
import hashlib, sys
block, n, h = bytes(range(256)) * 4096, int(sys.argv[1]), hashlib.sha256()
while n > 0:
    h.update(block[:min(n, len(block))]); n -= len(block)
print(h.hexdigest())" "$1"
}

vr_check() {
    local what=$1; shift
    if "$@"; then
        VR_PASS=$((VR_PASS + 1)); echo "ok - $what"
    else
        VR_FAIL=$((VR_FAIL + 1)); echo "FAIL - $what"
    fi
}

# Compare two values; used as vr_check "..." vr_eq "$a" "$b"
vr_eq() { if [ "$1" = "$2" ]; then return 0; fi; echo "  expected [$2], got [$1]" >&2; return 1; }

vr_finish() {
    if [ "$VR_FAIL" -gt 0 ] && [ -f "$VR_TMP/vrouterd.log" ]; then
        echo "---- vrouterd log (last 60 lines)"; tail -n 60 "$VR_TMP/vrouterd.log"
    fi
    echo "$VR_PASS passed, $VR_FAIL failed"
    [ "$VR_FAIL" -eq 0 ]
}
