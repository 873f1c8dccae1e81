#!/bin/bash
# Issue 15: offload = "stateless". A rule whose flows the kernel fast path
# forwards may opt out of conntrack: its flows are untracked (notrack at raw
# priority, both directions) and forwarded by the main chain. Asserted with
# real flows: a download through the stateless rule is byte-exact, leaves no
# conntrack entry in the router and never reaches vrouterd; the same rule
# with offload = true leaves a conntrack entry with the rule's mark; an
# earlier domain rule overlapping the stateless CIDR still captures (sniffed,
# routed by domain); the server's reply bytes are counted on the stateless
# rule's counters; routing_mark is set per packet; an ineligible stateless
# rule (bind_address) is refused at load naming FILE:LINE and the reason.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
vr_topo_up || exit 1
in_srv ip addr add 203.0.113.5/24 dev s0
in_srv ip addr add 198.51.100.5/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2
# a second path router -> server (rs2 - s1) that only the routing_mark 0xcb takes
ip link add rs2 netns "$NS_RTR" type veth peer name s1 netns "$NS_SRV"
in_rtr ip addr add 198.19.3.1/24 dev rs2; in_srv ip addr add 198.19.3.2/24 dev s1
in_rtr ip link set rs2 up; in_srv ip link set s1 up
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s1.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
in_rtr sysctl -qw net.ipv4.conf.rs2.rp_filter=0
# the server counts TCP SYNs to port 8081 arriving on s1 (the marked path)
in_srv nft -f - <<'NFT'
table inet vrtestcnt {
  chain input { type filter hook input priority 0; policy accept; iifname "s1" tcp dport 8081 tcp flags syn counter; }
}
NFT
s1_syns() { in_srv nft list chain inet vrtestcnt input | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=b.example" -addext "subjectAltName=DNS:b.example" \
    -keyout "$VR_TMP/key.pem" -out "$VR_TMP/cert.pem" 2>/dev/null
vr_http_server 80 || exit 1
vr_http_server 8081 || exit 1
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/http_server.py" --port 443 --tls "$VR_TMP/cert.pem" "$VR_TMP/key.pem"
vr_wait_port "$NS_SRV" 198.19.2.2 443 || exit 1

conf() { # $1 file, $2 the CIDR rule's offload, $3 the port 8081 rule's offload, $4 its outbound
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; offload = true; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["tls", "http"]; sniff_timeout_ms = 1000; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "wan-b"; module = "direct"; bind_address = "198.19.2.3"; },
              { tag = "path-b"; module = "direct"; routing_mark = 0xcb; } );
route = { rules = (
    { domain_suffix = "b.example"; ip_cidr = "203.0.113.0/24"; outbound = "wan-b"; },
    { ip_cidr = ["203.0.113.0/24", "198.51.100.0/24"]; outbound = "direct"; offload = $2; },
    { port = 8081; outbound = "$4"; offload = $3; }
  ); final = "direct"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; };
    tables = ( { table = 203; mark = 0xcb; routes = ( { dst = "default"; via = "198.19.3.2"; dev = "rs2"; } ); } ); },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF
}
conf "$VR_TMP/stateless.conf" '"stateless"' '"stateless"' path-b
conf "$VR_TMP/tracked.conf" true true path-b
conf "$VR_TMP/bad.conf" true '"stateless"' wan-b

# conntrack entries of the router for a destination (no conntrack CLI needed)
ct_of() { in_rtr cat /proc/net/nf_conntrack 2>/dev/null | grep -F "dst=$1 " | grep -F "dport=$2 "; }
ct_count() { ct_of "$@" | wc -l; }
# the kernel fast path's counters for a rule, as `vrouterctl`-less SIGUSR1 logs them
stats_bytes() { # RULE -> bytes (0 when no line)
    local before
    before=$(grep -c "stats: kernel fast path: $1:" "$VR_TMP/vrouterd.log")
    kill -USR1 "$VR_DAEMON_PID"
    local i
    for i in $(seq 1 60); do
        [ "$(grep -c "stats: kernel fast path: $1:" "$VR_TMP/vrouterd.log")" -gt "$before" ] && break
        sleep 0.05
    done
    grep "stats: kernel fast path: $1:" "$VR_TMP/vrouterd.log" | tail -1 | sed -n 's/.* \([0-9]*\) bytes.*/\1/p'
}
# the client address the server saw (GET /ip answers "ADDR PORT")
seen() { local out; out=$(in_cli curl -sk --max-time 4 "$@"); echo "${out%% *}"; }
SIZE=4000000
download() { # URL -> "sha256 seen-by" (the server's answer for /ip after the blob)
    in_cli curl -s --max-time 15 "$1/blob/$SIZE" | sha256sum | cut -d' ' -f1
}

# ---- a stateless rule that cannot be stateless: refused at load
bad_line=$(grep -n 'port = 8081' "$VR_TMP/bad.conf" | cut -d: -f1)
inst_log_rotate
vr_check "bind_address + stateless: vrouterd refuses the config" inst_start_fails "$VR_TMP/bad.conf"
vr_check "... naming FILE:LINE, the reason and the fix" \
    grep -qE "$VR_TMP/bad.conf:$bad_line: rule #3: offload = \"stateless\": its outbound \"wan-b\" changes the source address.*needs conntrack \(use offload = true" \
    "$VR_TMP/vrouterd.log"
vr_check "... and installed nothing" vr_eq "$(in_rtr nft list tables)" ""

# ---- --plan and --explain
plan=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/stateless.conf" 2>&1)
vr_check "--plan: a chain at raw priority sends the capture interface's packets to the stateless match" \
    bash -c 'grep -A3 "chain stateless {" <<<"$0" | grep -q "type filter hook prerouting priority raw" &&
             grep -A4 "chain stateless {" <<<"$0" | grep -q "iifname { \"rc\" } goto stateless_original"' "$plan"
vr_check "--plan: the earlier domain rule's CIDR returns (tracked, captured) before the stateless line" \
    bash -c 'grep -A4 "chain fastpath_notrack {" <<<"$0" | head -4 | tr "\n" "|" |
             grep -q "ip daddr @r1_d4 return|    ip daddr @r2_d4 fib daddr type local return|    ip daddr @r2_d4 counter notrack accept comment \"rule #2: stateless\""' "$plan"
vr_check "--plan: the reply direction matches the reversed keys, routed back out of the capture interface" \
    inst_has "$plan" 'ip saddr @r2_d4 fib daddr oifname != { "rc" } return
    ip saddr @r2_d4 counter notrack accept comment "rule #2: stateless"'
vr_check "--plan: the routing mark is set per packet" \
    inst_has "$plan" 'th dport { 8081 } counter meta mark set 0xcb notrack accept comment "rule #3: stateless, mark 0xcb"'
vr_check "--plan: the main chain forwards untracked packets by the stateless match" \
    inst_has "$plan" 'ct state untracked jump fastpath_untracked'
plan_t=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/tracked.conf" 2>&1)
vr_check "--plan with offload = true has no stateless chain" bash -c '! grep -qE "notrack|untracked" <<<"$0"' "$plan_t"
ex() { "$VR_BIN" -f "$1" --explain "$2" | grep '^kernel fast path'; }
vr_check "--explain says stateless" \
    inst_has "$(ex "$VR_TMP/stateless.conf" "198.51.100.5:80 from 198.18.1.2:40000")" \
    "kernel fast path: yes, rule #2: forwarded by the kernel (never enters vrouterd), stateless"
vr_check "--explain: offload = true is not stateless" \
    bash -c '! grep -q stateless <<<"$0"' "$(ex "$VR_TMP/tracked.conf" "198.51.100.5:80 from 198.18.1.2:40000")"

# ---- offload = "stateless"
cp "$VR_TMP/stateless.conf" "$VR_TMP/live.conf"
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
vr_check "stateless: the download is byte-exact" vr_eq "$(download http://198.51.100.5)" "$(vr_blob_sha256 $SIZE)"
vr_check "stateless: the server saw the client (forwarded by the kernel, not proxied)" \
    vr_eq "$(seen http://198.51.100.5/ip)" "198.18.1.2"
vr_check "stateless: no conntrack entry for it in the router (either direction)" \
    vr_eq "$(ct_count 198.51.100.5 80)$(in_rtr cat /proc/net/nf_conntrack | grep -c 'src=198.51.100.5 ')" "00"
vr_check "stateless: vrouterd never had the connection" \
    bash -c "! grep -qE -- '-> 198\.51\.100\.5:80 ' '$VR_TMP/vrouterd.log'"
nftc=$(in_rtr nft list table inet vrouter)
orig=$(grep -F 'ip daddr @r2_d4 counter' <<<"$nftc" | grep -F notrack | sed -n 's/.*bytes \([0-9]*\).*/\1/p')
reply=$(grep -F 'ip saddr @r2_d4 counter' <<<"$nftc" | grep -F notrack | sed -n 's/.*bytes \([0-9]*\).*/\1/p')
vr_check "stateless: the reply direction (server -> client, the download's bytes) is counted on rule #2's line (${reply:-none} bytes)" \
    test "${reply:-0}" -gt "$SIZE"
vr_check "stateless: the original direction too (${orig:-none} bytes), less than the reply" \
    test "${orig:-0}" -gt 0 -a "${orig:-0}" -lt "$SIZE"
sb=$(stats_bytes "rule #2")
vr_check "stateless: SIGUSR1 statistics show rule #2's kernel bytes, both directions (${sb:-none})" \
    test "${sb:-0}" -ge $((orig + reply))
# the domain rule before the stateless CIDR: its overlap is still captured
vr_check "stateless: b.example in the overlapped CIDR is sniffed and routed by domain (wan-b)" \
    vr_eq "$(seen https://b.example/ip --resolve b.example:443:203.0.113.5)" "198.19.2.3"
vr_check "... through vrouterd (its log has the sniffed flow)" \
    grep -qE -- "-> 203\.0\.113\.5:443 b\.example tls rule=rule #1 outbound=wan-b" "$VR_TMP/vrouterd.log"
vr_check "... and that captured flow is tracked (vrouterd's own connection out)" \
    test "$(ct_count 203.0.113.5 443)" -ge 1
# the domain rule covers 203.0.113.0/24: plain HTTP there is captured too
# (sniffed, no name matches, rule #2 routes it direct through vrouterd)
vr_check "stateless: plain HTTP in the overlapped CIDR is captured, not untracked" \
    vr_eq "$(seen http://203.0.113.5/ip)" "198.19.2.1"
# routing_mark 0xcb, set per packet before routing
before=$(s1_syns)
vr_check "stateless + routing_mark: the flow is forwarded by the kernel" \
    vr_eq "$(seen http://198.19.2.2:8081/ip)" "198.18.1.2"
vr_check "... over the marked path (rs2)" vr_eq "$(( $(s1_syns) - before ))" "1"
vr_check "... untracked" vr_eq "$(ct_count 198.19.2.2 8081)" "0"
vr_check "a flow of no stateless rule (final) is still forwarded by the kernel" vr_eq "$(seen http://198.19.2.2/ip)" "198.18.1.2"
vr_check "... tracked" test "$(ct_count 198.19.2.2 80)" -ge 1
# the router's own flows stay tracked: its connection to the stateless CIDR
# (the reply comes back to a local address) and a client's to the router
# itself on the stateless port (a server of the router's answers there)
vr_check "the router's own connection into the stateless CIDR works" \
    vr_eq "$(out=$(in_rtr curl -s --max-time 4 http://198.51.100.5/ip); echo "${out%% *}")" "198.19.2.1"
vr_check "... and is tracked, its replies seen by conntrack (not UNREPLIED)" \
    bash -c 'l=$(grep -F "src=198.19.2.1 dst=198.51.100.5 " <<<"$0") && [ -n "$l" ] && ! grep -q UNREPLIED <<<"$l"' \
    "$(in_rtr cat /proc/net/nf_conntrack)"
vr_bg "$NS_RTR" python3 "$VR_SRC/tests/e2e/http_server.py" --port 8081 --dir "$VR_TMP"
vr_wait_port "$NS_RTR" 198.18.1.1 8081
vr_check "a client's connection to the router itself on the stateless port is served by the router" \
    vr_eq "$(seen http://198.18.1.1:8081/ip)" "198.18.1.2"
vr_check "... and tracked from its SYN, replies seen (not UNREPLIED)" \
    bash -c 'l=$(grep -E "tcp +6 .* src=198\.18\.1\.2 dst=198\.18\.1\.1 sport=[0-9]+ dport=8081 " <<<"$0") && [ -n "$l" ] &&
             ! grep -q UNREPLIED <<<"$l"' "$(in_rtr cat /proc/net/nf_conntrack)"
# ---- a reload to an ineligible stateless rule fails and keeps the running table
cp "$VR_TMP/bad.conf" "$VR_TMP/live.conf"; vr_reload
vr_check "reload to bind_address + stateless: refused, naming the rule's line" \
    grep -qE "live.conf:$bad_line: rule #3: offload = \"stateless\": its outbound \"wan-b\"" "$VR_TMP/vrouterd.log"
vr_check "... the stateless chains stay in place" \
    bash -c 'grep -q "chain stateless {" <<<"$0"' "$(in_rtr nft list table inet vrouter)"
# ---- a reload to the same rules with offload = true removes the stateless chains
cp "$VR_TMP/tracked.conf" "$VR_TMP/live.conf"; vr_reload
vr_check "reload to offload = true: no stateless chain left, the fast path stays" \
    bash -c '! grep -qE "notrack|untracked|chain stateless" <<<"$0" && grep -q "chain fastpath {" <<<"$0"' \
    "$(in_rtr nft list table inet vrouter)"
# the same rule with offload = true: the download is tracked, with the rule's conntrack mark
vr_check "tracked: the download is byte-exact" vr_eq "$(download http://198.51.100.5)" "$(vr_blob_sha256 $SIZE)"
vr_check "tracked: the router has a conntrack entry for it with rule #2's mark 0x76720002" \
    bash -c 'grep -q "mark=1987182594 " <<<"$0"' "$(ct_of 198.51.100.5 80)"
inst_stop TERM
vr_check "SIGTERM left no table" vr_eq "$(in_rtr nft list tables)" ""

vr_check "no sanitizer report in any run's log" \
    bash -c "! cat '$VR_TMP/vrouterd.all.log' '$VR_TMP/vrouterd.log' 2>/dev/null | grep -q Sanitizer"
vr_finish
