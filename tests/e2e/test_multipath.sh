#!/bin/bash
# Issue 6: a policy-routing `multipath` table spreads flows by weight,
# measured at the server. Two router->server paths (rs/s0 and rs2/s1); the
# outbound `direct` carries routing_mark 0xca, which the installer's rule
# `fwmark 0xca lookup 202` steers into the kernel ECMP route of table 202
# (weight 2 via rs, weight 1 via rs2). The server counts, per ingress
# interface, the SYNs of 200 proxied flows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
FLOWS=200
vr_topo_up || exit 1
ip link add rs2 netns "$NS_RTR" type veth peer name s1 netns "$NS_SRV"
in_rtr ip addr add 198.19.3.1/24 dev rs2
in_srv ip addr add 198.19.3.2/24 dev s1
in_rtr ip link set rs2 up; in_srv ip link set s1 up
# the target lives on the server's loopback: reachable over either path; the
# router has no route to it except through table 202
in_srv ip addr add 203.0.113.10/32 dev lo
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s1.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
# Linux hashes multipath by L3 by default: one router source and one target
# would all take one path. L4 hashing spreads by the source port.
in_rtr sysctl -qw net.ipv4.fib_multipath_hash_policy=1
vr_http_server || exit 1

in_srv nft -f - <<'NFT'
table inet count {
  counter via_s0 { }
  counter via_s1 { }
  chain input {
    type filter hook input priority 0; policy accept;
    tcp flags & (syn | ack) == syn ip daddr 203.0.113.10 iifname "s0" counter name "via_s0"
    tcp flags & (syn | ack) == syn ip daddr 203.0.113.10 iifname "s1" counter name "via_s1"
  }
}
NFT

cat >"$VR_TMP/mp.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "direct"; module = "direct"; routing_mark = 0xca; } );
route = { final = "direct"; };
installers = (
  { module = "policy-routing";
    tproxy = { mark = 0x1; table = 100; priority = 10000; };
    tables = ( { table = 202; mark = 0xca;
                 multipath = ( { via = "198.19.2.2"; dev = "rs"; weight = 2; },
                               { via = "198.19.3.2"; dev = "rs2"; weight = 1; } ); } ); },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF

inst_start "$VR_TMP/mp.conf" || { vr_finish; exit 1; }
vr_check "table 202 is the installed multipath route" \
    vr_eq "$(in_rtr ip -4 route show table 202 | inst_norm | tr '\n' '|')" \
    "default proto 247|nexthop via 198.19.2.2 dev rs weight 2|nexthop via 198.19.3.2 dev rs2 weight 1|"
vr_check "the router itself has no other route to the target" \
    vr_eq "$(in_rtr ip route get 203.0.113.10 2>/dev/null | wc -l)" "0"

ok=0
for i in $(seq 1 $FLOWS); do
    r=$(in_cli curl -s --max-time 3 http://203.0.113.10/ip | cut -d' ' -f1)
    case $r in 198.19.2.1 | 198.19.3.1) ok=$((ok + 1)) ;; esac
done
vr_check "all $FLOWS flows reached the server through vrouterd" vr_eq "$ok" "$FLOWS"
vr_wait_log "conn [0-9]+ tp .* -> 203\.0\.113\.10:80 .*end=" >/dev/null
sleep 0.5
nconn=$(grep -cE "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 203\.0\.113\.10:80 .*end=" "$VR_TMP/vrouterd.log")
vr_check "vrouterd logged one finished connection per flow" vr_eq "$nconn" "$FLOWS"

s0=$(in_srv nft list counter inet count via_s0 | grep -o 'packets [0-9]*' | cut -d' ' -f2)
s1=$(in_srv nft list counter inet count via_s1 | grep -o 'packets [0-9]*' | cut -d' ' -f2)
echo "# SYNs at the server: via rs/s0 (weight 2) $s0, via rs2/s1 (weight 1) $s1"
vr_check "the server saw one SYN per flow over both paths" vr_eq "$((s0 + s1))" "$FLOWS"
# weight 2:1 over 200 flows: 133 expected on the first path, sd 6.7;
# [105, 165] is > 4 sd wide and excludes an even (100) or reversed (67) split
vr_check "path rs (weight 2) carries ~2/3 of the flows ($s0)" test "$s0" -ge 105 -a "$s0" -le 165
vr_check "path rs2 (weight 1) carries ~1/3 of the flows ($s1)" test "$s1" -ge 35 -a "$s1" -le 95

inst_stop TERM
vr_check "clean after SIGTERM" vr_eq "$(inst_owned)$(in_rtr nft list tables)" ""
vr_finish
