# Namespace topology for the benchmark (sourced by run.sh).
#
#   cli  c0 198.18.1.2/24 2001:db8:1::2/64, default via rtr
#   rtr  rc 198.18.1.1/24 2001:db8:1::1/64  (client side, traffic is captured here)
#        rs 198.19.2.1/24 2001:db8:2::1/64  (server side)
#   srv  s0 198.19.2.2/24 2001:db8:2::2/64, default via rtr
#
# Names carry the PID so concurrent runs (and the e2e tests, which use vrc/vrr/vrs)
# never collide. Only 198.18.0.0/15 and 2001:db8::/32 are used; the root
# namespace is never touched.

BENCH_ID=${BENCH_ID:-$$}
NS_CLI=vbc$BENCH_ID NS_RTR=vbr$BENCH_ID NS_SRV=vbs$BENCH_ID
# Proxy listen ports; reserved so an outgoing connection never takes one first.
BENCH_PORTS="7893-7904,12345-12349"

bench_nsx() { ip netns exec "$@"; }

# Reachability without ping: a connect to a closed port on the server must be
# refused (RST came back) rather than time out.
BENCH_REACH='
import socket, sys
for h in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
    s.settimeout(1)
    try:
        s.connect((h, 9))
    except ConnectionRefusedError:
        continue
    except OSError:
        sys.exit(1)
    sys.exit(1)
'


bench_topo_up() {
    local n i
    for n in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        ip netns add "$n" || return 1
        bench_nsx "$n" ip link set lo up
    done
    ip link add c0 netns "$NS_CLI" type veth peer name rc netns "$NS_RTR" || return 1
    ip link add rs netns "$NS_RTR" type veth peer name s0 netns "$NS_SRV" || return 1
    bench_nsx "$NS_CLI" ip addr add 198.18.1.2/24 dev c0
    bench_nsx "$NS_CLI" ip -6 addr add 2001:db8:1::2/64 dev c0 nodad
    bench_nsx "$NS_RTR" ip addr add 198.18.1.1/24 dev rc
    bench_nsx "$NS_RTR" ip -6 addr add 2001:db8:1::1/64 dev rc nodad
    bench_nsx "$NS_RTR" ip addr add 198.19.2.1/24 dev rs
    bench_nsx "$NS_RTR" ip -6 addr add 2001:db8:2::1/64 dev rs nodad
    bench_nsx "$NS_SRV" ip addr add 198.19.2.2/24 dev s0
    bench_nsx "$NS_SRV" ip -6 addr add 2001:db8:2::2/64 dev s0 nodad
    # One server address per system under test (198.19.2.10 + index): a
    # proxy's transparent sockets leave TIME_WAIT entries in the router for the
    # client's 4-tuples, and the router drops forwarded packets that match a
    # local socket, so systems must never share 4-tuples within one run.
    # 10..40: one per entry of bench_systems.ALL (22 systems, room for more); a system
    # appended past 31 entries needs more addresses here.
    for i in $(seq 10 40); do
        bench_nsx "$NS_SRV" ip addr add 198.19.2.$i/24 dev s0
    done
    bench_nsx "$NS_CLI" ip link set c0 up
    bench_nsx "$NS_RTR" ip link set rc up
    bench_nsx "$NS_RTR" ip link set rs up
    bench_nsx "$NS_SRV" ip link set s0 up
    bench_nsx "$NS_CLI" ip route add default via 198.18.1.1
    bench_nsx "$NS_CLI" ip -6 route add default via 2001:db8:1::1
    bench_nsx "$NS_SRV" ip route add default via 198.19.2.1
    bench_nsx "$NS_SRV" ip -6 route add default via 2001:db8:2::1
    bench_nsx "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv4.conf.rc.rp_filter=0 net.ipv4.conf.rs.rp_filter=0 net.ipv4.conf.lo.rp_filter=0 \
        net.ipv4.ip_local_reserved_ports="$BENCH_PORTS" >/dev/null
    # Policy routing for TPROXY: marked packets are delivered locally. Harmless
    # while no nft rule sets the mark (kernel baseline, REDIRECT systems).
    bench_nsx "$NS_RTR" ip rule add fwmark 1 lookup 100
    bench_nsx "$NS_RTR" ip route add local default dev lo table 100
    bench_nsx "$NS_RTR" ip -6 rule add fwmark 1 lookup 100
    bench_nsx "$NS_RTR" ip -6 route add local default dev lo table 100
    # Short-connection load makes many sockets: wide port range, reuse of
    # TIME_WAIT for outgoing connections, deep accept queues.
    for n in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        bench_nsx "$n" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
            net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 >/dev/null 2>&1 || true
    done
    for i in $(seq 1 50); do
        if bench_nsx "$NS_CLI" python3 -c "$BENCH_REACH" 198.19.2.2 2001:db8:2::2 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: topology ping check failed" >&2
    return 1
}

# Kill whatever still runs inside our namespaces (only processes this run
# started live there), then delete them.
bench_topo_down() {
    local n
    for n in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
    done
    sleep 0.3
    for n in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$n" 2>/dev/null
    done
    return 0
}

# WireGuard tunnel wg1 rtr (198.18.201.2) <-> srv (198.18.201.1) over rs/s0,
# built by wireguard-go + wg, each namespace with a private /var/run/wireguard
# (bind-mounted from $1) so names never collide with other runs or tests.
# KDST is the server address of kernel forwarding into the tunnel: the router
# routes it into wg1, and the server routes its replies to the client subnet
# back into the tunnel (symmetric, like the proxied case).
bench_wgx() { # NS DIR CMD...
    local ns=$1 dir=$2; shift 2
    mkdir -p "$dir/wgsock-$ns" /var/run/wireguard
    ip netns exec "$ns" unshare -m sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' "$dir/wgsock-$ns" "$@"
}

bench_wg_up() { # TMPDIR KDST
    local dir=$1 kdst=$2 side i
    for side in rtr srv; do
        (umask 077; wg genkey >"$dir/wg.$side.key")
        wg pubkey <"$dir/wg.$side.key" >"$dir/wg.$side.pub"
    done
    export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
    bench_wgx "$NS_RTR" "$dir" wireguard-go -f wg1 >>"$dir/wireguard-go.log" 2>&1 &
    bench_wgx "$NS_SRV" "$dir" wireguard-go -f wg1 >>"$dir/wireguard-go.log" 2>&1 &
    for i in $(seq 1 100); do
        bench_nsx "$NS_RTR" ip link show wg1 >/dev/null 2>&1 && bench_nsx "$NS_SRV" ip link show wg1 >/dev/null 2>&1 && break
        sleep 0.05
    done
    bench_wgx "$NS_RTR" "$dir" wg set wg1 private-key "$dir/wg.rtr.key" listen-port 51821 \
        peer "$(cat "$dir/wg.srv.pub")" allowed-ips 0.0.0.0/0 endpoint 198.19.2.2:51821 || return 1
    bench_wgx "$NS_SRV" "$dir" wg set wg1 private-key "$dir/wg.srv.key" listen-port 51821 \
        peer "$(cat "$dir/wg.rtr.pub")" allowed-ips 198.18.201.0/24,198.18.1.0/24 endpoint 198.19.2.1:51821 || return 1
    bench_nsx "$NS_RTR" ip addr add 198.18.201.2/24 dev wg1
    bench_nsx "$NS_SRV" ip addr add 198.18.201.1/24 dev wg1
    bench_nsx "$NS_RTR" ip link set wg1 up
    bench_nsx "$NS_SRV" ip link set wg1 up
    bench_nsx "$NS_SRV" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.wg1.rp_filter=0
    bench_nsx "$NS_RTR" sysctl -qw net.ipv4.conf.wg1.rp_filter=0
    bench_nsx "$NS_SRV" ip route add 198.18.1.0/24 dev wg1 table 201
    bench_nsx "$NS_SRV" ip rule add from "$kdst" lookup 201
    bench_nsx "$NS_RTR" ip route add "$kdst"/32 dev wg1
    for i in $(seq 1 50); do
        bench_nsx "$NS_RTR" ping -c1 -W1 -I wg1 198.18.201.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: wireguard tunnel wg1 does not pass traffic" >&2
    return 1
}
