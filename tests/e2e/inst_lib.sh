# Helpers for test_installers.sh: configs, expected kernel objects, and
# watching what a reload changes. Sourced after lib.sh.

# inst_conf FILE A|B|LOCAL
inst_conf() {
    local file=$1 variant=$2 tables dscp bypass local=false
    tables='{ table = 201; mark = 0xc9; routes = ( { dst = "default"; dev = "rs"; } ); }'
    dscp='dscp = ( { dscp = 46; table = 201; } );'
    bypass='"203.0.113.0/24", "2001:db8:ffff::/48"'
    case $variant in
    B)
        tables="$tables,
      { table = 202; mark = 0xca; multipath = ( { via = \"198.19.2.2\"; dev = \"rs\"; weight = 2; },
                                                { dev = \"rs\"; weight = 1; } ); }"
        dscp=''
        bypass='"2001:db8:ffff::/48"'
        ;;
    LOCAL) local=true ;;
    esac
    cat >"$file" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
installers = (
  { module = "policy-routing";
    tproxy = { mark = 0x1; table = 100; priority = 10000; };
    tables = ( $tables );
    $dscp },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1;
    interfaces = ["rc"]; bypass = [$bypass]; capture_local = $local; }
);
CONF
}

# Every rule and route carrying the installer's protocol (247 = 0xf7).
inst_owned() {
    { in_rtr ip -4 rule; in_rtr ip -6 rule
      in_rtr ip -4 route show table all; in_rtr ip -6 route show table all; } | grep "proto 247"
}

# The whole routing and firewall state of the router.
inst_snapshot() {
    in_rtr ip -4 rule; in_rtr ip -6 rule
    in_rtr ip -4 route show table all; in_rtr ip -6 route show table all
    in_rtr nft list ruleset
}

inst_norm() { tr -s ' \t' ' ' | sed 's/^ //; s/ $//'; }
inst_has() { case $1 in *"$2"*) return 0 ;; esac; echo "  [$2] not in output:" >&2; echo "$1" >&2; return 1; }
inst_nonempty() { [ -n "$1" ]; }

inst_expect_common() { # $1 label, $2 v4 rules, $3 v6 rules
    vr_check "$1: ip rule holds exactly our rules" \
        vr_eq "$(in_rtr ip -4 rule | grep 'proto 247' | inst_norm)" "$2"
    vr_check "$1: ip -6 rule holds exactly our rules" \
        vr_eq "$(in_rtr ip -6 rule | grep 'proto 247' | inst_norm)" "$3"
    vr_check "$1: table 100 (v4) is the tproxy local route" \
        vr_eq "$(in_rtr ip -4 route show table 100 | inst_norm)" "local default dev lo proto 247 scope host"
    vr_check "$1: table 100 (v6) is the tproxy local route" \
        vr_eq "$(in_rtr ip -6 route show table 100 | inst_norm)" "local default dev lo proto 247 metric 1024 pref medium"
    vr_check "$1: table 201 (v4)" vr_eq "$(in_rtr ip -4 route show table 201 | inst_norm)" "default dev rs proto 247 scope link"
    vr_check "$1: table 201 (v6)" \
        vr_eq "$(in_rtr ip -6 route show table 201 | inst_norm)" "default dev rs proto 247 metric 1024 pref medium"
    vr_check "$1: exactly one nft table, ours" vr_eq "$(in_rtr nft list tables)" "table inet vrouter"
    local t
    t=$(in_rtr nft list table inet vrouter)
    vr_check "$1: nft: owner comment" inst_has "$t" 'comment "vrouterd nftables installer"'
    vr_check "$1: nft: only interface rc" inst_has "$t" 'iifname != "rc" return'
    vr_check "$1: nft: the gateway's own addresses bypass" inst_has "$t" "fib daddr type local return"
    vr_check "$1: nft: the daemon's bypass mark bypasses" inst_has "$t" "meta mark 0x000000ff return"
    vr_check "$1: nft: socket match" inst_has "$t" "tcp flags != syn / fin,syn,rst,ack socket transparent 1 meta mark set 0x00000001 accept"
    vr_check "$1: nft: UDP socket match" inst_has "$t" "meta l4proto udp socket transparent 1 meta mark set 0x00000001 accept"
    vr_check "$1: nft: TPROXY to the listener (TCP and UDP)" \
        inst_has "$t" "meta l4proto { tcp, udp } tproxy to :$PORT meta mark set 0x00000001 accept"
    vr_check "$1: nft: IPv6 bypass" inst_has "$t" "ip6 daddr 2001:db8:ffff::/48 return"
}

inst_expect_a() {
    inst_expect_common "$1" \
        "$(printf '10000: from all fwmark 0x1 lookup 100 proto 247\n10001: from all fwmark 0xc9 lookup 201 proto 247\n10050: from all lookup 201 proto 247')" \
        "$(printf '10000: from all fwmark 0x1 lookup 100 proto 247\n10001: from all fwmark 0xc9 lookup 201 proto 247\n10050: from all tos EF lookup 201 proto 247')"
    vr_check "$1: no table 202" vr_eq "$(in_rtr ip -4 route show table 202 2>/dev/null)" ""
    vr_check "$1: nft: IPv4 bypass" inst_has "$(in_rtr nft list table inet vrouter)" "ip daddr 203.0.113.0/24 return"
    vr_check "$1: exactly 10 objects of ours" vr_eq "$(inst_owned | wc -l)" "10"
}

inst_expect_b() {
    local r
    r=$(printf '10000: from all fwmark 0x1 lookup 100 proto 247\n10001: from all fwmark 0xc9 lookup 201 proto 247\n10002: from all fwmark 0xca lookup 202 proto 247')
    inst_expect_common "$1" "$r" "$r"
    vr_check "$1: table 202 is the multipath route" \
        vr_eq "$(in_rtr ip -4 route show table 202 | inst_norm | tr '\n' '|')" \
        "default proto 247|nexthop via 198.19.2.2 dev rs weight 2|nexthop dev rs weight 1|"
    vr_check "$1: nft: no IPv4 bypass any more" \
        vr_eq "$(in_rtr nft list table inet vrouter | grep -c 'ip daddr')" "0"
    vr_check "$1: exactly 11 objects of ours" vr_eq "$(inst_owned | wc -l)" "11"
}

inst_monitor_start() {
    : >"$VR_TMP/monitor.log"
    # not through in_rtr: $! must be ip itself, not a subshell
    ip netns exec "$NS_RTR" ip monitor rule route >"$VR_TMP/monitor.log" 2>&1 &
    INST_MON_PID=$!
    VR_PIDS+=("$INST_MON_PID")
    sleep 0.3
}
inst_monitor_stop() { kill "$INST_MON_PID" 2>/dev/null; wait "$INST_MON_PID" 2>/dev/null; }
inst_monitor_has() {
    grep -qE "$1" "$VR_TMP/monitor.log" && return 0
    echo "  [$1] not in ip monitor output:" >&2; cat "$VR_TMP/monitor.log" >&2; return 1
}
inst_monitor_lacks() {
    grep -qE "$1" "$VR_TMP/monitor.log" || return 0
    echo "  [$1] unexpectedly in ip monitor output:" >&2; cat "$VR_TMP/monitor.log" >&2; return 1
}

# Stop the daemon with a signal and wait (up to 10 s) until it is gone.
inst_stop() {
    local i
    kill -"$1" "$VR_DAEMON_PID" 2>/dev/null
    for i in $(seq 1 200); do
        kill -0 "$VR_DAEMON_PID" 2>/dev/null || break
        sleep 0.05
    done
    wait "$VR_DAEMON_PID" 2>/dev/null
    VR_DAEMON_PID=
}

# Start the daemon expecting it to refuse: true if it exits non-zero by
# itself within 10 s (a daemon that runs is stopped by timeout: 124).
inst_start_fails() {
    local rc
    in_rtr timeout 10 "$VR_BIN" -f "$1" >>"$VR_TMP/vrouterd.log" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
}

# Start the daemon on a fresh log (vr_daemon_start waits for "vrouterd
# ready" in it, which an earlier run's log would already contain); the old
# log goes to vrouterd.all.log.
inst_start() {
    inst_log_rotate
    vr_daemon_start "$@"
}
inst_log_rotate() {
    cat "$VR_TMP/vrouterd.log" >>"$VR_TMP/vrouterd.all.log" 2>/dev/null
    : >"$VR_TMP/vrouterd.log"
}
