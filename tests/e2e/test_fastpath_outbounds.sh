#!/bin/bash
# Issue 15: outbounds the kernel fast path does without vrouterd. With
# daemon.offload = true, flows to these outbounds are forwarded by the
# kernel: direct with bind_address (SNAT: the server sees that address),
# direct with bind_interface and wireguard-bind (a policy route into the
# interface, installed by the policy-routing installer; the source is the
# interface's, or source_address), ecmp over those (a multipath route). The
# same flows run with offload = false (through vrouterd) and must reach the
# server with the same source through the same interface. Offloaded flows,
# held open, are not among `vrouterctl connections` and not in the log;
# with offload = false they are (so the check can fail). Per-rule nft
# counters in vrouterctl rules, the metrics and SIGUSR1; daemon.log_offloaded
# logs the offloaded flows at their end from conntrack events (path=kernel).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
MPORT=19481
CTL_BIN=$VR_BUILD/tools/vrouterctl
SOCK=$VR_TMP/run/vrouterd/control.sock
mkdir -p "$VR_TMP/run"
vr_topo_up || exit 1
# the destination, behind the server's s0 in the main table
in_srv ip addr add 203.0.113.5/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
# a second link router (rb) - server (sb) that only bind_interface takes
ip link add rb netns "$NS_RTR" type veth peer name sb netns "$NS_SRV"
in_rtr ip addr add 198.19.4.1/24 dev rb; in_srv ip addr add 198.19.4.2/24 dev sb
in_rtr ip link set rb up; in_srv ip link set sb up
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.sb.rp_filter=0
in_rtr sysctl -qw net.ipv4.conf.rb.rp_filter=0
outb_wg_tunnel 1 || { vr_finish; exit 1; }
in_rtr ip addr add 198.18.201.9/24 dev wg1
in_rtr sysctl -qw net.ipv4.conf.wg1.rp_filter=0
# the router's multipath route hashes the 5-tuple (as ecmp's hash = "flow")
in_rtr sysctl -qw net.ipv4.fib_multipath_hash_policy=1
for p in 80 81 82 83 84 85; do vr_http_server $p || exit 1; done
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/udp_tool.py" server --port 7001 --reply-from-dst
# the server counts the SYNs of each port per interface they arrive on
{
    echo "table inet vrtestcnt { chain input { type filter hook input priority 0; policy accept;"
    for i in s0 sb wg1; do for p in 81 82 83 84 85; do
        echo "iifname \"$i\" tcp dport $p tcp flags syn counter comment \"$i-$p\""
    done; done
    echo "}"; echo "}"
} | in_srv nft -f - || exit 1
syns() { # IFACE PORT
    in_srv nft list chain inet vrtestcnt input | grep "comment \"$1-$2\"" | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}
# the interface that carried a port's SYNs since the counters were last reset
iface_of() { # PORT
    local i out=
    for i in s0 sb wg1; do [ "$(syns $i "$1")" -gt 0 ] && out="$out$i "; done
    echo "${out% }"
}
reset_syns() { in_srv nft reset counters table inet vrtestcnt >/dev/null; }

conf() { # $1 file, $2 daemon.offload
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; offload = $2; log_offloaded = true;
           max_connections_per_client = 0; control = { path = "$SOCK"; };
           metrics = { address = "127.0.0.1"; port = $MPORT; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "src"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; },
              { tag = "eth-b"; module = "direct"; bind_interface = "rb"; },
              { tag = "wg"; module = "wireguard-bind"; interface = "wg1"; },
              { tag = "wg-src"; module = "wireguard-bind"; interface = "wg1"; source_address = "198.18.201.9"; },
              { tag = "both"; module = "ecmp"; members = ["eth-b", "wg"]; hash = "flow"; } );
route = { rules = (
    { port = 81; outbound = "src"; },
    { port = 82; outbound = "eth-b"; },
    { port = 83; outbound = "wg"; },
    { port = 84; outbound = "wg-src"; },
    { port = 85; outbound = "both"; }
  ); final = "direct"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; }; },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF
}
conf "$VR_TMP/on.conf" true
conf "$VR_TMP/off.conf" false

sed 's/log_offloaded = true;/log_offloaded = "yes";/' "$VR_TMP/on.conf" >"$VR_TMP/bad.conf"
vr_check "daemon.log_offloaded = \"yes\" is refused with FILE:LINE" \
    bash -c "'$VR_BIN' -t -f '$VR_TMP/bad.conf' 2>&1 | grep -qE 'bad\.conf:[0-9]+:.*log_offloaded.*expected true or false'"

# ---- --explain and --plan
ex() { in_rtr "$VR_BIN" -f "$VR_TMP/on.conf" --explain "$1" | grep '^kernel fast path'; }
vr_check "--explain: bind_address is SNAT in the kernel" \
    inst_has "$(ex "203.0.113.5:81")" "kernel fast path: yes, rule #1: forwarded by the kernel (never enters vrouterd), source 198.19.2.3"
vr_check "--explain: wireguard-bind is a route into wg1" \
    inst_has "$(ex "203.0.113.5:83")" "kernel fast path: yes, rule #3: forwarded by the kernel (never enters vrouterd), out of wg1"
vr_check "--explain: ecmp is a multipath route" \
    inst_has "$(ex "203.0.113.5:85")" "out of rb, wg1 (policy route table 7605, mark 0x76720005; IPv4 only: IPv6 flows are captured)"
plan=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/on.conf" 2>&1)
vr_check "--plan: the SNAT of bind_address" inst_has "$plan" 'meta mark 0x76720001 meta nfproto ipv4 snat ip to 198.19.2.3'
vr_check "--plan: the policy route of the ecmp outbound" \
    bash -c "grep -q 'fwmark 0x76720005 lookup 7605' <<<\"\$0\" && grep -q 'nexthop dev rb' <<<\"\$0\"" "$plan"

ctl() { "$CTL_BIN" -s "$SOCK" "$@"; }
rows() { ctl connections --json | python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if l.strip() and "end" not in json.loads(l)))'; }

declare -A R
run_flows() { # $1 = on|off
    local m=$1 p
    R[$m,udp]=$(in_cli python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 203.0.113.5 7001 --bind 40001 | cut -d' ' -f1)
    for p in 81 82 83 84; do
        reset_syns
        R[$m,$p]="$(outb_ip http://203.0.113.5:$p/ip) via $(iface_of $p)"
    done
    # ecmp: 16 connections, each with the source of the interface it took
    reset_syns
    local srcs=() bad=0 s
    for i in $(seq 1 16); do
        s=$(outb_ip http://203.0.113.5:85/ip)
        srcs+=("$s")
        case $s in 198.19.4.1 | 198.18.201.2) ;; *) bad=1 ;; esac
    done
    R[$m,final]=$(outb_ip http://203.0.113.5/ip)
    R[$m,v6]=$(outb_ip "http://[2001:db8:2::2]:81/ip")
    R[$m,85]="bad=$bad sources=$(printf '%s\n' "${srcs[@]}" | sort -u | tr '\n' ' ')via $(iface_of 85)"
    # flows held open, then the connections vrouterd holds
    local pids=()
    for p in 81 82 83 84 85; do
        # not through in_cli: $! must be curl itself
        ip netns exec "$NS_CLI" curl -s -o /dev/null --limit-rate 20k --max-time 20 "http://203.0.113.5:$p/blob/100000000" &
        pids+=($!)
    done
    sleep 1.5
    R[$m,held]=$(rows)
    R[$m,alive]=$(for x in "${pids[@]}"; do kill -0 "$x" 2>/dev/null && echo y; done | wc -l)
    # the same UDP 4-tuple again, after the first flow's conntrack entry
    # expired: the lookup reaps it at once (DESTROY), not the conntrack GC
    # (which may come a minute later)
    in_cli python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 203.0.113.5 7001 --bind 40001 >/dev/null
    kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
    # the per-rule nft counters: vrouterctl rules, metrics, SIGUSR1
    R[$m,ctl]=$(ctl rules --json | python3 -c 'import json,sys
o=json.loads(sys.stdin.readline())
print(", ".join("%s:%s/%s" % (r["name"], r.get("offloaded_packets", "-"), r.get("offloaded_bytes", "-")) for r in o["rules"]))')
    R[$m,ctl_human]=$(ctl rules | awk '$1 == "5" {print $(NF-1)}; NR == 1 && /KERNEL_PKTS/ {print "header"}' | tr '\n' ' ')
    R[$m,metrics]=$(in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | grep '^vrouter_rule_offloaded_packets_total{rule="5"}')
    kill -USR1 "$VR_DAEMON_PID"
    [ $m = on ] && vr_wait_log "stats: kernel fast path: rule #5" 3
    sleep 0.3
}

for m in on off; do
    inst_start "$VR_TMP/$m.conf" || { vr_finish; exit 1; }
    if [ $m = on ]; then
        # conntrack forgets closed and UDP flows within a second or two, so
        # their end is reported to log_offloaded soon (defaults: 120 s, 30 s)
        in_rtr sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
            net.netfilter.nf_conntrack_tcp_timeout_close=1 net.netfilter.nf_conntrack_udp_timeout=1 \
            net.netfilter.nf_conntrack_udp_timeout_stream=1
        vr_check "on: log_offloaded listens to conntrack" vr_wait_log "log_offloaded: logging kernel fast path flows"
        vr_check "on: the policy rule for the wireguard-bind outbound is in place" \
            bash -c "ip netns exec $NS_RTR ip rule | grep -q 'fwmark 0x76720003 lookup 7603'"
        vr_check "on: its table routes into wg1" \
            bash -c "ip netns exec $NS_RTR ip route show table 7603 | grep -q 'default dev wg1'"
    fi
    run_flows $m
    if [ $m = on ]; then
        vr_check "log_offloaded: the wireguard-bind flow's line, from conntrack, with bytes both ways" vr_wait_log \
            "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 203\.0\.113\.5:83 rule=rule #3 outbound=wg up=[1-9][0-9]* down=[1-9][0-9]* time=[0-9]+\.[0-9]{3}s end=closed path=kernel" 15
        vr_check "log_offloaded: a plain forwarded flow (final, direct)" vr_wait_log \
            "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 203\.0\.113\.5:80 rule=final outbound=direct up=[1-9][0-9]* down=[1-9][0-9]* .*end=closed path=kernel" 10
        vr_check "log_offloaded: the UDP flow, with datagrams and bytes" vr_wait_log \
            "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 203\.0\.113\.5:7001 rule=final outbound=direct up=1/[0-9]+ down=1/[0-9]+ dropped=0 time=.* end=timeout path=kernel" 10
        vr_check "log_offloaded: the ecmp flows, 17 lines" \
            bash -c "for i in \$(seq 1 100); do [ \$(grep -c -- '-> 203\.0\.113\.5:85 rule=rule #5 outbound=both .*path=kernel' '$VR_TMP/vrouterd.log') -ge 17 ] && exit 0; sleep 0.1; done; exit 1"
    fi
    sleep 0.3
    cp "$VR_TMP/vrouterd.log" "$VR_TMP/run-$m.log"
    inst_stop TERM
done

# ---- a reload that flips rule #1 (bind_address SNAT) from the kernel to
# vrouterd under a steady stream of connections: none is refused or reset,
# the ones after the reload are vrouterd's
sed 's|{ port = 81; outbound = "src"; }|{ port = 81; outbound = "src"; offload = false; }|' "$VR_TMP/on.conf" >"$VR_TMP/flip.conf"
cp "$VR_TMP/on.conf" "$VR_TMP/live.conf"
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
for i in $(seq 1 30); do outb_ip http://203.0.113.5:81/ip; sleep 0.05; done >"$VR_TMP/stream.out" &
stream_pid=$!
sleep 0.8
cp "$VR_TMP/flip.conf" "$VR_TMP/live.conf"; vr_reload
wait $stream_pid
sleep 0.3
stream_log=$(grep -cE -- "-> 203\.0\.113\.5:81 .*rule=rule #1 outbound=src .*end=closed$" "$VR_TMP/vrouterd.log")
vr_check "flip under a stream: all 30 connections reached the server from 198.19.2.3" \
    vr_eq "$(grep -c '^198\.19\.2\.3$' "$VR_TMP/stream.out")/$(wc -l <"$VR_TMP/stream.out")" "30/30"
vr_check "... those after the reload went through vrouterd, those before did not ($stream_log of 30 in its log)" \
    bash -c '[ "$1" -gt 0 ] && [ "$1" -lt 30 ]' _ "$stream_log"
inst_stop TERM

for p in 81 82 83 84; do
    vr_check "port $p: same source and interface at the server with and without the fast path (on: ${R[on,$p]}, off: ${R[off,$p]})" \
        vr_eq "${R[on,$p]}" "${R[off,$p]}"
done
vr_check "bind_address: the server saw 198.19.2.3 on s0" vr_eq "${R[on,81]}" "198.19.2.3 via s0"
vr_check "bind_address over IPv6: the server saw 2001:db8:2::3, with and without the fast path (on: ${R[on,v6]}, off: ${R[off,v6]})" \
    vr_eq "${R[on,v6]}/${R[off,v6]}" "2001:db8:2::3/2001:db8:2::3"
vr_check "bind_interface: the server saw the router's rb address on sb" vr_eq "${R[on,82]}" "198.19.4.1 via sb"
vr_check "wireguard-bind: the server saw the tunnel address on wg1" vr_eq "${R[on,83]}" "198.18.201.2 via wg1"
vr_check "wireguard-bind with source_address: that address on wg1" vr_eq "${R[on,84]}" "198.18.201.9 via wg1"
vr_check "ecmp in the kernel: 16 flows over both members, each with its member's source" \
    vr_eq "${R[on,85]}" "bad=0 sources=198.18.201.2 198.19.4.1 via sb wg1"
vr_check "ecmp in userspace: the same members, the same sources" \
    bash -c "case '${R[off,85]}' in 'bad=0 sources='*) exit 0;; *) exit 1;; esac"
vr_check "on: the 5 offloaded downloads ran (${R[on,alive]} alive) and none is among vrouterd's connections" \
    vr_eq "${R[on,alive]}/${R[on,held]}" "5/0"
vr_check "off: the same 5 downloads are vrouterd's connections" vr_eq "${R[off,alive]}/${R[off,held]}" "5/5"
vr_check "on: offloaded flows are in vrouterd's log only as path=kernel lines" \
    bash -c "! grep -E -- '-> (203\.0\.113\.5:(8[0-5]|7001)|\[2001:db8:2::2\]:81) ' '$VR_TMP/run-on.log' | grep -qv 'path=kernel'"
vr_check "the server saw the client itself for the plain forwarded flows (on: ${R[on,final]}/${R[on,udp]}; off, through vrouterd: ${R[off,final]}/${R[off,udp]})" \
    vr_eq "${R[on,final]}/${R[on,udp]}/${R[off,final]}/${R[off,udp]}" "198.18.1.2/198.18.1.2/198.19.2.1/198.19.2.1"
vr_check "off: the flows are in vrouterd's log" grep -qE -- "-> 203\.0\.113\.5:83 .*outbound=wg" "$VR_TMP/run-off.log"
vr_check "off: the IPv6 flow too (so its absence with the fast path means something)" \
    grep -qE -- "-> \[2001:db8:2::2\]:81 .*outbound=src" "$VR_TMP/run-off.log"
# rule #5 (ecmp) took 17 TCP connections: nft counts each one's first packet
ctl_ok() { python3 - "$1" <<'PY'
import sys
rules = dict(x.rsplit(":", 1) for x in sys.argv[1].split(", "))
for i in range(1, 6):
    p, b = rules["rule #%d" % i].split("/")
    assert int(p) >= (17 if i == 5 else 2) and int(b) >= 40 * int(p), (i, p, b)
assert int(rules["final"].split("/")[0]) >= 2, rules["final"]  # a TCP SYN and a UDP datagram
PY
}
vr_check "on: vrouterctl rules shows each rule's kernel packets and bytes (${R[on,ctl]})" ctl_ok "${R[on,ctl]}"
# every segment of a forwarded TCP connection, both ways, counts for its rule
# (not only the SYN): the held 20 kB/s download of rule #1 alone is > 20 kB
rule1_bytes() { local b=${1#rule #1:*/}; b=${b%%,*}; [ "$b" -ge 20000 ]; }
vr_check "on: rule #1's kernel bytes include its held download's data, both directions (${R[on,ctl]})" \
    rule1_bytes "${R[on,ctl]}"
vrouter_human_ok() { set -- $1; [ "$1" = header ] && [ "$2" -ge 17 ]; }
vr_check "on: vrouterctl rules (table) has KERNEL_PKTS, rule 5's counts its 17 connections (${R[on,ctl_human]})" \
    vrouter_human_ok "${R[on,ctl_human]}"
vr_check "off: vrouterctl rules has no kernel counters (${R[off,ctl]})" \
    vr_eq "${R[off,ctl]}" "rule #1:-/-, rule #2:-/-, rule #3:-/-, rule #4:-/-, rule #5:-/-, final:-/-"
vr_check "on: metrics: vrouter_rule_offloaded_packets_total{rule=\"5\"} counts the 17 ecmp connections (${R[on,metrics]})" \
    bash -c '[ "${1##* }" -ge 17 ]' _ "${R[on,metrics]}"
vr_check "off: no offloaded counters in the metrics" vr_eq "${R[off,metrics]}" ""
vr_check "on: SIGUSR1 statistics list the kernel counters per rule" \
    grep -qE "stats: kernel fast path: rule #5: (1[7-9]|[2-9][0-9]|[0-9]{3,}) packets, [0-9]+ bytes" "$VR_TMP/run-on.log"
vr_check "SIGTERM: no policy rule or table of the fast path left" \
    bash -c "! ip netns exec $NS_RTR ip rule | grep -q 0x7672 && [ -z \"\$(ip netns exec $NS_RTR ip route show table 7603 2>/dev/null)\" ]"
vr_check "SIGTERM: no nft table left" vr_eq "$(in_rtr nft list tables)" ""
vr_check "no sanitizer report in any run's log" \
    bash -c "! cat '$VR_TMP/vrouterd.all.log' '$VR_TMP/vrouterd.log' 2>/dev/null | grep -q Sanitizer"
vr_finish
