#!/bin/bash
# Issue 15, slice 2: the kernel fast path. vrouterd's first-match rules are
# compiled into the nftables installer's table (chain fastpath): flows
# decided by address and port alone are forwarded, rejected or dropped by
# the kernel and never reach vrouterd; a domain rule before an overlapping
# CIDR rule keeps the overlap captured and routed by domain; offload = false
# (per rule, and daemon-wide) keeps flows captured. The same flows run with
# daemon.offload = true and = false and their routing results are compared.
# Also: --plan, --explain, a reload that switches the fast path off and on,
# SIGTERM leaves no table, SIGKILL + restart leaves exactly one chain.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/inst_lib.sh"

PORT=7893
vr_topo_up || exit 1
# destinations behind the server
in_srv ip addr add 203.0.113.5/24 dev s0
in_srv ip addr add 198.51.100.5/24 dev s0
in_srv ip addr add 198.51.100.130/24 dev s0
in_rtr ip route add 203.0.113.0/24 via 198.19.2.2
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2
# a second path router -> server (rs2 - s1) that only the routing_mark 0xcb takes
ip link add rs2 netns "$NS_RTR" type veth peer name s1 netns "$NS_SRV"
in_rtr ip addr add 198.19.3.1/24 dev rs2; in_srv ip addr add 198.19.3.2/24 dev s1
in_rtr ip link set rs2 up; in_srv ip link set s1 up
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s1.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
in_rtr sysctl -qw net.ipv4.conf.rs2.rp_filter=0
# the server counts TCP SYNs to port 8081 arriving on s1
in_srv nft -f - <<'NFT'
table inet vrtestcnt {
  chain input { type filter hook input priority 0; policy accept; iifname "s1" tcp dport 8081 tcp flags syn counter
    iifname "s0" tcp dport 8081 counter comment "off-path"; }
}
NFT
s1_syns() { in_srv nft list chain inet vrtestcnt input | grep -v off-path | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
# packets of the marked flow that arrived the other way (s0): none may
off_path() { in_srv nft list chain inet vrtestcnt input | grep off-path | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
# 192.0.2.0/24 is routed (toward the server, which has no such address): only the rules answer for it
in_rtr ip route add 192.0.2.0/24 via 198.19.2.2
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=b.example" \
    -addext "subjectAltName=DNS:b.example,DNS:other.example,DNS:bad.example" \
    -keyout "$VR_TMP/key.pem" -out "$VR_TMP/cert.pem" 2>/dev/null
vr_http_server 80 || exit 1
vr_http_server 8080 || exit 1
vr_http_server 8081 || exit 1
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/http_server.py" --port 443 --tls "$VR_TMP/cert.pem" "$VR_TMP/key.pem"
vr_wait_port "$NS_SRV" 198.19.2.2 443 || exit 1

conf() { # $1 file, $2 daemon.offload
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; offload = $2; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["tls", "http", "dns"]; sniff_timeout_ms = 1000; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "wan-b"; module = "direct"; bind_address = "198.19.2.3"; },
              { tag = "path-b"; module = "direct"; routing_mark = 0xcb; } );
route = { rules = (
    { domain = "bad.example"; ip_cidr = "203.0.113.0/24"; action = "reject"; },
    { domain_suffix = "b.example"; ip_cidr = "203.0.113.0/24"; outbound = "wan-b"; },
    { ip_cidr = "198.51.100.128/25"; outbound = "direct"; offload = false; },
    { ip_cidr = ["203.0.113.0/24", "198.51.100.0/24"]; outbound = "direct"; },
    { ip_cidr = "192.0.2.0/25"; action = "reject"; },
    { ip_cidr = "192.0.2.128/25"; action = "drop"; },
    { port = 8080; outbound = "wan-b"; },
    { port = 8081; outbound = "path-b"; }
  ); final = "direct"; };
installers = (
  { module = "policy-routing"; tproxy = { mark = 0x1; table = 100; priority = 10000; };
    tables = ( { table = 203; mark = 0xcb; routes = ( { dst = "default"; via = "198.19.3.2"; dev = "rs2"; } ); } ); },
  { module = "nftables"; table = "vrouter"; listener = "tp"; mark = 0x1; interfaces = ["rc"]; }
);
CONF
}
conf "$VR_TMP/on.conf" true
conf "$VR_TMP/off.conf" false
# the CIDR -> direct rule flipped to captured, the rest of the fast path kept
sed 's|{ ip_cidr = \["203.0.113.0/24", "198.51.100.0/24"\]; outbound = "direct"; }|{ ip_cidr = ["203.0.113.0/24", "198.51.100.0/24"]; outbound = "direct"; offload = false; }|' \
    "$VR_TMP/on.conf" >"$VR_TMP/flip.conf"

# ---- --plan and --explain (change nothing)
plan=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/on.conf" 2>&1)
vr_check "--plan shows the compiled chain" inst_has "$plan" "chain fastpath {"
vr_check "--plan: the domain rules capture their CIDR" \
    inst_has "$plan" 'ip daddr @r2_d4 counter return comment "rule #2: captured"'
vr_check "--plan: the CIDR rule forwards in the kernel" \
    inst_has "$plan" 'ip daddr @r4_d4 counter ct mark set 0x76720004 accept comment "rule #4: forwarded"'
vr_check "--plan: reject is a tcp reset and an ICMP reject" \
    inst_has "$plan" 'ip daddr @r5_d4 meta l4proto tcp counter reject with tcp reset comment "rule #5: reject"'
vr_check "--plan: the jump sits before the tproxy statement" \
    bash -c "grep -A1 'jump fastpath' <<<\"\$0\" | grep -q 'tproxy to :$PORT'" "$plan"
plan_off=$(in_rtr "$VR_BIN" --plan -f "$VR_TMP/off.conf" 2>&1)
vr_check "--plan with daemon.offload = false has no fast path" \
    bash -c "! grep -q fastpath <<<\"\$0\"" "$plan_off"
vr_check "--plan installed nothing" vr_eq "$(in_rtr nft list tables)" ""
bad_line=$(grep -n 'domain = "bad.example"' "$VR_TMP/on.conf" | cut -d: -f1)
ex() { "$VR_BIN" -f "$VR_TMP/on.conf" --explain "$1" | grep '^kernel fast path'; }
vr_check "--explain: an address-only flow takes the kernel path" \
    inst_has "$(ex "198.51.100.5:80 from 198.18.1.2:40000")" "kernel fast path: yes, rule #4: forwarded by the kernel"
vr_check "--explain: the overlapped part is captured, naming the domain rule" \
    inst_has "$(ex "203.0.113.5:443 from 198.18.1.2:40000")" "kernel fast path: no, rule #1 (${VR_TMP}/on.conf:${bad_line}) could match first and forces a sniff"
vr_check "--explain: offload = false keeps a rule's flows captured" \
    inst_has "$(ex "198.51.100.130:80")" "kernel fast path: no, rule #3 decides: the rule says offload = false"
vr_check "--explain: UDP reject in the kernel is ICMP port unreachable" \
    inst_has "$(ex "udp 192.0.2.53:53")" "rule #5: rejected by the kernel (nft reject: ICMP port unreachable)"
vr_check "--explain: direct with bind_address is SNAT in the kernel" \
    inst_has "$(ex "198.19.2.2:8080")" "kernel fast path: yes, rule #7: forwarded by the kernel (never enters vrouterd), source 198.19.2.3"
vr_check "--explain: routing_mark is set by the kernel" \
    inst_has "$(ex "198.19.2.2:8081")" "kernel fast path: yes, rule #8: forwarded by the kernel (never enters vrouterd), with mark 0xcb"
vr_check "--explain: daemon.offload = false" \
    inst_has "$("$VR_BIN" -f "$VR_TMP/off.conf" --explain "198.51.100.5:80")" "kernel fast path: no (daemon.offload is false)"

# ---- the same flows in both configurations
# how a flow ended, as the client sees it: the outbound by the address the
# server saw (direct: the router 198.19.2.1, or the client itself when the
# kernel forwarded it; wan-b: 198.19.2.3), "reset" (refused or reset at
# once), "timeout" (nothing came back)
http_outcome() { # URL [curl args]
    local url=$1; shift
    local t0 t1 out rc
    t0=$(date +%s%N)
    out=$(in_cli curl -sk --max-time 4 "$@" "$url" 2>/dev/null); rc=$?
    t1=$(date +%s%N)
    case $rc in
    0) echo "${out%% *}" ;;
    7 | 35 | 52 | 56) [ $(((t1 - t0) / 1000000)) -lt 2500 ] && echo reset || echo "slow-reset" ;;
    28) echo timeout ;;
    *) echo "curl-$rc" ;;
    esac
}
dig_outcome() { # SERVER
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(in_cli dig +tries=1 +time=3 @"$1" example.test A 2>&1)
    t1=$(date +%s%N)
    if grep -q "timed out" <<<"$out"; then echo timeout
    elif grep -qiE "refused|unreachable" <<<"$out" && [ $(((t1 - t0) / 1000000)) -lt 2000 ]; then echo "failed-at-once"
    else echo "other: $out"; fi
}
direct_of() { case $1 in 198.19.2.1 | 198.18.1.2) echo direct ;; 198.19.2.3) echo wan-b ;; *) echo "$1" ;; esac; }

declare -A R
run_flows() { # $1 = on|off
    local m=$1
    R[$m,cidr]=$(http_outcome http://198.51.100.5/ip)
    R[$m,sni_b]=$(http_outcome https://b.example/ip --resolve b.example:443:203.0.113.5)
    R[$m,sni_bad]=$(http_outcome https://bad.example/ip --resolve bad.example:443:203.0.113.5)
    R[$m,sni_other]=$(http_outcome https://other.example/ip --resolve other.example:443:203.0.113.5)
    R[$m,nooffload]=$(http_outcome http://198.51.100.130/ip)
    R[$m,port8080]=$(http_outcome http://198.19.2.2:8080/ip)
    R[$m,final]=$(http_outcome http://198.19.2.2/ip)
    local before=$(s1_syns) off_before=$(off_path)
    R[$m,mark_src]=$(http_outcome http://198.19.2.2:8081/ip)
    R[$m,mark]="$(( $(s1_syns) - before )) SYN on the marked path, $(( $(off_path) - off_before )) packets off it"
    R[$m,reject]=$(http_outcome http://192.0.2.1/)
    R[$m,drop]=$(http_outcome http://192.0.2.200/)
    R[$m,dig_reject]=$(dig_outcome 192.0.2.53)
    R[$m,dig_drop]=$(dig_outcome 192.0.2.153)
}

for m in on off; do
    inst_start "$VR_TMP/$m.conf" || { vr_finish; exit 1; }
    run_flows $m
    sleep 0.3
    cp "$VR_TMP/vrouterd.log" "$VR_TMP/run-$m.log"
    if [ $m = on ]; then
        nftc=$(in_rtr nft list chain inet vrouter fastpath 2>&1)
        vr_check "on: the fast path chain is installed" inst_has "$nftc" "chain fastpath"
        vr_check "on: nft counted the forwarded CIDR flow" \
            bash -c "grep 'rule #4: forwarded' <<<\"\$0\" | grep -qv 'packets 0 '" "$nftc"
        vr_check "on: nft counted the rejected flows" \
            bash -c "grep 'rule #5: reject' <<<\"\$0\" | grep -qv 'packets 0 '" "$nftc"
    fi
    inst_stop TERM
done

for k in cidr sni_b sni_bad sni_other nooffload port8080 final reject drop mark; do
    vr_check "same routing result with and without the fast path: $k (on: ${R[on,$k]}, off: ${R[off,$k]})" \
        vr_eq "$(direct_of "${R[on,$k]}")" "$(direct_of "${R[off,$k]}")"
done
# what the kernel path changes, and what it must not
vr_check "on: the CIDR flow was forwarded by the kernel (the server saw the client)" vr_eq "${R[on,cidr]}" "198.18.1.2"
vr_check "off: the CIDR flow went through vrouterd (the server saw the router)" vr_eq "${R[off,cidr]}" "198.19.2.1"
vr_check "on: the final (direct) flow was forwarded by the kernel" vr_eq "${R[on,final]}" "198.18.1.2"
vr_check "on: b.example in the overlapped CIDR was sniffed and routed by domain (wan-b)" vr_eq "${R[on,sni_b]}" "198.19.2.3"
vr_check "on: another name in the overlapped CIDR was captured and went direct through vrouterd" \
    vr_eq "${R[on,sni_other]}" "198.19.2.1"
vr_check "on: a rejected name in the overlapped CIDR was sniffed and reset by its domain rule" \
    vr_eq "${R[on,sni_bad]}" "reset"
vr_check "on: offload = false kept its rule's flow in vrouterd" vr_eq "${R[on,nooffload]}" "198.19.2.1"
vr_check "on: direct with bind_address: the kernel SNATs the forwarded flow to it" vr_eq "${R[on,port8080]}" "198.19.2.3"
vr_check "on: routing_mark 0xcb: the kernel marked the forwarded flow and the policy route took it over rs2" \
    vr_eq "${R[on,mark]}/${R[on,mark_src]}" "1 SYN on the marked path, 0 packets off it/198.18.1.2"
vr_check "off: routing_mark 0xcb: vrouterd's marked socket took rs2" \
    vr_eq "${R[off,mark]}/${R[off,mark_src]}" "1 SYN on the marked path, 0 packets off it/198.19.3.1"
vr_check "on: reject: curl fails at once with a reset" vr_eq "${R[on,reject]}" "reset"
vr_check "off: reject: curl fails at once with a reset" vr_eq "${R[off,reject]}" "reset"
vr_check "on: drop: curl times out" vr_eq "${R[on,drop]}" "timeout"
vr_check "on: UDP reject in the kernel: dig fails at once (ICMP port unreachable)" vr_eq "${R[on,dig_reject]}" "failed-at-once"
vr_check "off: UDP reject in userspace drops (documented): dig times out" vr_eq "${R[off,dig_reject]}" "timeout"
vr_check "on: UDP drop: dig times out" vr_eq "${R[on,dig_drop]}" "timeout"
vr_check "on: kernel-path flows are not in vrouterd's log" \
    bash -c "! grep -qE -- '-> (198\.51\.100\.5:80|198\.19\.2\.2:80|198\.19\.2\.2:808[01]|192\.0\.2\.[0-9]+:[0-9]+) ' '$VR_TMP/run-on.log'"
vr_check "on: captured flows are in vrouterd's log (sniffed b.example)" \
    grep -qE -- "-> 203\.0\.113\.5:443 b\.example tls rule=rule #2 outbound=wan-b" "$VR_TMP/run-on.log"
vr_check "off: the same flows are all in vrouterd's log, reject and drop by their rules" \
    bash -c 'grep -q -- "-> 198\.51\.100\.5:80 .*rule=rule #4 outbound=direct" "$1" && grep -q -- "-> 192\.0\.2\.1:80 .*end=rejected by rule #5" "$1" && grep -q -- "-> 192\.0\.2\.200:80 .*end=dropped by rule #6" "$1"' _ "$VR_TMP/run-off.log"
vr_check "SIGTERM left no table" vr_eq "$(in_rtr nft list tables)" ""

# ---- reload switches the fast path off and on; SIGKILL + restart
cp "$VR_TMP/on.conf" "$VR_TMP/live.conf"
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
vr_check "live: the CIDR flow takes the kernel path" vr_eq "$(http_outcome http://198.51.100.5/ip)" "198.18.1.2"
# a forwarded download (about 4 s, far more than the socket buffers hold, so
# most of it is still on the wire) while a reload makes its rule captured:
# it must finish intact; new connections follow the new rule
( in_cli curl -s --max-time 30 --limit-rate 8M http://198.51.100.5/blob/32000000 | sha256sum | cut -d' ' -f1 >"$VR_TMP/long.sha"
  exit "${PIPESTATUS[0]}" ) &
long_pid=$!
sleep 1
cp "$VR_TMP/flip.conf" "$VR_TMP/live.conf"; vr_reload
vr_check "flip: the next connection to the CIDR goes through vrouterd" \
    vr_eq "$(http_outcome http://198.51.100.5/ip)" "198.19.2.1"
wait $long_pid
vr_check "flip: the forwarded download running across the reload finished (curl exit 0)" vr_eq "$?" "0"
vr_check "... intact" vr_eq "$(cat "$VR_TMP/long.sha")" "$(vr_blob_sha256 32000000)"
cp "$VR_TMP/on.conf" "$VR_TMP/live.conf"; vr_reload
# the same across a reload that turns the fast path off altogether: the
# table keeps forwarding the connection by its conntrack mark
( in_cli curl -s --max-time 30 --limit-rate 8M http://198.51.100.5/blob/32000000 | sha256sum | cut -d' ' -f1 >"$VR_TMP/long2.sha"
  exit "${PIPESTATUS[0]}" ) &
long_pid=$!
sleep 1
cp "$VR_TMP/off.conf" "$VR_TMP/live.conf"; vr_reload
vr_check "reload to offload = false removes the chain" \
    bash -c "! ip netns exec $NS_RTR nft list table inet vrouter | grep -q fastpath"
wait $long_pid
vr_check "... a forwarded download running across it finished (curl exit 0)" vr_eq "$?" "0"
vr_check "... intact" vr_eq "$(cat "$VR_TMP/long2.sha")" "$(vr_blob_sha256 32000000)"
vr_check "... and vrouterd never carried it (no 32 MB connection in its log)" \
    bash -c "! grep -qE -- '-> 198\.51\.100\.5:80 .* down=[0-9]{8}' '$VR_TMP/vrouterd.log'"
vr_check "... and the next flow goes through vrouterd" vr_eq "$(http_outcome http://198.51.100.5/ip)" "198.19.2.1"
cp "$VR_TMP/on.conf" "$VR_TMP/live.conf"; vr_reload
vr_check "reload back on: the next flow takes the kernel path again" vr_eq "$(http_outcome http://198.51.100.5/ip)" "198.18.1.2"
kill -KILL "$VR_DAEMON_PID"; inst_stop KILL
inst_start "$VR_TMP/live.conf" || { vr_finish; exit 1; }
vr_check "SIGKILL + restart: exactly one fast path chain" \
    vr_eq "$(in_rtr nft list ruleset | grep -c 'chain fastpath {')" "1"
inst_stop TERM
vr_check "SIGTERM: nothing of ours left" vr_eq "$(in_rtr nft list tables)$(inst_owned)" ""
vr_check "no sanitizer report in any run's log" \
    bash -c "! cat '$VR_TMP/vrouterd.all.log' '$VR_TMP/vrouterd.log' 2>/dev/null | grep -q Sanitizer"
vr_finish
