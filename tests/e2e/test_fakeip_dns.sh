#!/bin/bash
# Issue 16, FakeIP end to end with vrouterd's own resolver: the client asks
# vrouterd's DNS listener (dig), gets a fake address, and ssh/curl to it
# leave through the outbound the DOMAIN rule names:
#   - A in dns.fakeip.range (UDP and TCP), AAAA in range6; HTTPS and SVCB for a fake name
#     get an empty answer (dnsmasq has an HTTPS record for it: not leaked);
#   - ssh to ssh.example's fake address through microsocks (socks5: the
#     CONNECT carries the name, microsocks logs it; sshd sees microsocks);
#   - ssh to direct.example's fake address through direct (host->resolve
#     asks dnsmasq; sshd sees the router's address);
#   - the IPv6 fake address of an IPv4-only name: TCP and UDP through
#     direct reach the IPv4 server, UDP answers come from the fake address;
#   - hijack: a client asking 192.0.2.53 (TPROXY, route action "dns") gets
#     a fake answer too;
#   - restart with persist: a client that asked once connects again after
#     the restart without asking;
#   - --explain (offline) for a fake name's query types and for a flow to
#     a fake address (routed by the persisted name, or said to be unknown);
#   - pool exhaustion: 16 mappings (max_mappings), 116 names asked: LRU
#     recycling is counted (SIGUSR1, /metrics); a live ssh session pins its
#     address (never handed to another name, the session keeps working); a
#     NEW flow to a recycled address is routed by its new name's rule;
#     with all 16 addresses held by live TCP flows, a new name takes the
#     least recently used one anyway: the flow on it keeps its connection
#     and its route, a new flow to it follows the new name.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
MPORT=19481
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
outb_private_etc "198.19.2.2 ssh.example old.example late.example"

# ---- sshd in the server namespace, own config, key login only
outb_sshd_start
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/udp_tool.py" server --port 9999 --reply-from-dst --lifetime 60
vr_bg "$NS_SRV" socat -T 40 TCP-LISTEN:7000,bind=198.19.2.2,fork,reuseaddr PIPE
outb_bg_etc "$NS_SRV" microsocks -i 198.19.2.2 -p 1082 -b 198.19.2.2 >"$VR_TMP/micro.log" 2>&1
# the upstream: the real addresses, and an HTTPS record for ssh.example
# that must not reach the client
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2 --bind-interfaces --user=root --pid-file= \
    --host-record=ssh.example,198.19.2.2 --host-record=direct.example,198.19.2.2 \
    --host-record=persist.example,198.19.2.2 --address=/pool.example/198.19.2.2 --address=/pin.example/198.19.2.2 \
    --host-record=real.example,198.19.2.2 --host-record=hj.example,198.19.2.2 --dns-rr=ssh.example,65,00010000010003026832 \
    --local=/example/ --local-ttl=60 --log-queries --log-facility="$VR_TMP/dnsmasq.log" 2>>"$VR_TMP/dnsmasq.err"
for p in 22 53 1082 7000; do outb_wait_port "$NS_SRV" 198.19.2.2 $p || exit 1; done

cat >"$VR_TMP/a.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; metrics = { address = "127.0.0.1"; port = $MPORT; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "micro"; module = "socks5"; server = "198.19.2.2"; port = 1082; send_domain = false; }
);
dns = {
  listen = ["198.18.1.1:53"];
  upstreams = ( { tag = "lan"; address = "udp://198.19.2.2:53"; } );
  rules = ( { domain_suffix = ["ssh.example", "direct.example", "persist.example", "hj.example",
                               "pool.example", "old.example", "pin.example", "late.example"]; fakeip = true; } );
  final = "lan";
  fakeip = { range = "198.51.100.0/27"; range6 = "2001:db8:fa::/64"; ttl = 1; max_mappings = 16;
             persist = "fakeip.db"; persist_interval_s = 1; };
};
route = { rules = (
    { port = 53; network = "udp"; action = "dns"; },
    { domain_suffix = ["ssh.example", "old.example", "late.example"]; outbound = "micro"; }
  ); final = "direct"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/a.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }

DIG="dig +time=3 +tries=1"
q() { in_cli $DIG "$@"; }
in_range() { # ADDRESS CIDR
    python3 -c 'import ipaddress, sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
ssh_to() { # ADDRESS [COMMAND]: what sshd saw as the client ("<ip> <port> <ip> <port>")
    in_cli timeout 25 ssh -F /dev/null -i "$VR_TMP/id" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR root@"$1" "${2:-echo \$SSH_CONNECTION}"
}

# ---- the answers
a=$(q @198.18.1.1 ssh.example A +short)
vr_check "A for ssh.example: an address of the fake range [$a]" in_range "$a" 198.51.100.0/27
a6=$(q @198.18.1.1 ssh.example AAAA +short)
vr_check "AAAA for ssh.example: an address of range6 [$a6]" in_range "$a6" 2001:db8:fa::/64
vr_check "the same name asked again: the same address" vr_eq "$(q @198.18.1.1 ssh.example A +short)" "$a"
vr_check "... and over TCP" vr_eq "$(q @198.18.1.1 ssh.example A +tcp +short)" "$a"
for t in HTTPS TYPE64; do
    out=$(q @198.18.1.1 ssh.example $t)
    vr_check "$t for a fake name: NOERROR, no records (dnsmasq's record is not leaked)" \
        bash -c 'grep -q "status: NOERROR" <<<"$0" && grep -q "ANSWER: 0," <<<"$0"' "$out"
done
vr_check "a name no fakeip rule matches gets the real address" \
    vr_eq "$(q @198.18.1.1 real.example A +short)" "198.19.2.2"
vr_check "dnsmasq was never asked about ssh.example" bash -c "! grep -q 'query.* ssh\.example' '$VR_TMP/dnsmasq.log'"

# ---- (a) ssh by name through socks5 (microsocks): the CONNECT carries the name
s=$(ssh_to "$a")
vr_check "ssh to ssh.example's fake address reaches sshd through microsocks [$s]" \
    bash -c "[[ '$s' == '198.19.2.2 '*' 198.19.2.2 22' ]]"
vr_check "... microsocks was asked for ssh.example:22, not the fake address" \
    outb_wait_file "$VR_TMP/micro.log" "connected to ssh\.example:22"
vr_check "... the close line names the domain and the rule's outbound" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${a//./\\.}:22 ssh\.example rule=rule #2 outbound=micro .*end=closed"

# ---- (b) ssh by name through direct: host->resolve asks dnsmasq
d=$(q @198.18.1.1 direct.example A +short)
vr_check "A for direct.example: a fake address [$d]" in_range "$d" 198.51.100.0/27
s=$(ssh_to "$d")
vr_check "ssh to direct.example's fake address reaches sshd from the router's address (direct) [$s]" \
    bash -c "[[ '$s' =~ ^198\.19\.2\.[13]\ [0-9]+\ 198\.19\.2\.2\ 22$ ]]"
vr_check "... direct resolved the name through dnsmasq" \
    outb_wait_file "$VR_TMP/dnsmasq.log" "query\[A\] direct\.example from 198\.19\.2\.[13]"
vr_check "... the close line: direct.example, rule=final, outbound=direct" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${d//./\\.}:22 direct\.example rule=final outbound=direct .*end=closed"

# ---- the IPv6 fake address of a name with only an IPv4 address: direct
# connects (TCP) and sends (UDP) to the IPv4 one
d6=$(q @198.18.1.1 direct.example AAAA +short)
vr_check "AAAA for direct.example: an address of range6 [$d6]" in_range "$d6" 2001:db8:fa::/64
got=$(in_cli curl -s --max-time 5 "http://[$d6]/ip" | cut -d' ' -f1)
vr_check "HTTP to the IPv6 fake address reaches the IPv4-only server through direct [$got]" \
    bash -c "[[ '$got' =~ ^198\.19\.2\.[13]$ ]]"
w=$(in_cli python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami "$d6" 9999)
vr_check "UDP to the IPv6 fake address: answered from it, the server saw the router [$w]" \
    bash -c "[[ '$w' =~ ^198\.19\.2\.[13]\ [0-9]+\ from\ ${d6//:/\\:}\ 9999$ ]]"

# ---- hijack: the client asks 192.0.2.53; TPROXY hands the query to vrouterd
h=$(q @192.0.2.53 hj.example A +short)
vr_check "hijack: 192.0.2.53 answers a fake address for hj.example [$h]" in_range "$h" 198.51.100.0/27
got=$(in_cli curl -s --max-time 5 "http://$h/ip" | cut -d' ' -f1)
vr_check "... and HTTP to it reaches the real server through direct [$got]" bash -c "[[ '$got' =~ ^198\.19\.2\.[13]$ ]]"

# ---- restart with persist: asked once, connected to after the restart
p=$(q @198.18.1.1 persist.example A +short)
vr_check "A for persist.example: a fake address [$p]" in_range "$p" 198.51.100.0/27
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "run 1 exited cleanly" vr_eq "$?" "0"
vr_check "... without a sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error' '$VR_TMP/vrouterd.log'"
vr_check "the pool was saved with persist.example" grep -qx "$p persist.example" "$VR_TMP/fakeip.db"
mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.1.log"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
got=$(in_cli curl -s --max-time 5 "http://$p/ip" | cut -d' ' -f1)
vr_check "after the restart, HTTP to the held address works without asking again [$got]" \
    bash -c "[[ '$got' =~ ^198\.19\.2\.[13]$ ]]"
vr_check "... routed by persist.example" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${p//./\\.}:80 persist\.example rule=final outbound=direct"

# ---- --explain, offline: what a fake answer is, and the route of a flow to
# a fake address (by the persisted name; no ip_cidr rule matches it)
expl() { "$VR_BIN" -f "$VR_TMP/a.conf" --explain "$1" 2>&1; }
out=$(expl "query ssh.example")
vr_check "--explain query: A from the FakeIP range" \
    grep -q "^answer: an address of the FakeIP range 198\.51\.100\.0/27 (TTL 1)" <<<"$out"
out=$(expl "query ssh.example HTTPS")
vr_check "--explain query HTTPS: no records" grep -q "^answer: NOERROR with no records (a FakeIP name's other types" <<<"$out"
out=$(expl "$p:80")
vr_check "--explain flow to a fake address: the persisted name routes it" \
    bash -c 'grep -q "^fakeip: .* standing for persist\.example ($1)" <<<"$0" && grep -q "^outbound: direct" <<<"$0"' \
    "$out" "$VR_TMP/fakeip.db"
out=$(expl "$p:22 ssh.example")
vr_check "--explain flow to a fake address with the name given: the name's rule" grep -q "^match: rule #2" <<<"$out"
out=$(expl "198.51.100.30:22")
vr_check "--explain flow to a fake address no mapping names: says so, no route by address" \
    bash -c 'grep -q "^fakeip: .* maps to no name known here" <<<"$0" && ! grep -q "^outbound:" <<<"$0"' "$out"

# ---- pool exhaustion: 16 mappings, 116 names
# A live ssh session to ssh.example's address holds its mapping: it runs
# until $VR_TMP/go appears (bounded: 20 s), then prints again.
a=$(q @198.18.1.1 ssh.example A +short)
ssh_to "$a" "echo first \$SSH_CONNECTION; i=0; while [ ! -e '$VR_TMP/go' ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i+1)); done; echo still \$SSH_CONNECTION" \
    >"$VR_TMP/held.out" 2>&1 &
held=$!
wait_file() { # FILE PATTERN SECONDS
    local i
    for i in $(seq 1 $(($3 * 20))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
wait_file "$VR_TMP/held.out" "^first " 20
vr_check "a live ssh session to ssh.example's address [$a]" grep -q "^first 198\.19\.2\.2 " "$VR_TMP/held.out"
# 16 names under old.example (routed to micro), then 100 under pool.example
# (routed to direct): the first ones' addresses go to the later names
for i in $(seq 1 16); do echo "o$i.old.example A"; done >"$VR_TMP/old.q"
for i in $(seq 1 100); do echo "n$i.pool.example A"; done >"$VR_TMP/pool.q"
in_cli $DIG @198.18.1.1 -f "$VR_TMP/old.q" +noall +answer >"$VR_TMP/old.ans"
in_cli $DIG @198.18.1.1 -f "$VR_TMP/pool.q" +noall +answer >"$VR_TMP/pool.ans"
answered() { awk '$4 == "A" && $5 ~ /^198\.51\.100\./' "$1" | wc -l; }
vr_check "16 old names answered" vr_eq "$(answered "$VR_TMP/old.ans")" "16"
vr_check "100 new names answered" vr_eq "$(answered "$VR_TMP/pool.ans")" "100"
n=$(awk '{print $5}' "$VR_TMP/old.ans" "$VR_TMP/pool.ans" | sort -u | wc -l)
vr_check "116 names shared at most 16 addresses ($n)" test "$n" -le 16
vr_check "the live session's address was never handed to another name" \
    bash -c "! awk '{print \$5}' '$VR_TMP/old.ans' '$VR_TMP/pool.ans' | grep -qx '$a'"
touch "$VR_TMP/go"
wait "$held"
vr_check "the live session kept its connection through the recycling" grep -q "^still 198\.19\.2\.2 " "$VR_TMP/held.out"
vr_check "ssh.example still has its address" vr_eq "$(q @198.18.1.1 ssh.example A +short)" "$a"
# the session's end unpins the address (its close line is written then)
vr_check "... the session's connection closed in the daemon" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${a//./\\.}:22 ssh\.example .*end=closed" 10

# o1's address now belongs to a pool.example name: a NEW flow to it goes
# where that name's rule says (direct), not to micro (old.example's rule)
o1=$(awk '$1 == "o1.old.example." {print $5}' "$VR_TMP/old.ans")
holder=$(awk -v a="$o1" '$5 == a {n = $1} END {sub(/\.$/, "", n); print n}' "$VR_TMP/pool.ans")
vr_check "o1.old.example's address $o1 was recycled to a pool.example name [$holder]" \
    bash -c "[[ '$holder' == n*.pool.example ]]"
got=$(in_cli curl -s --max-time 5 "http://$o1/ip" | cut -d' ' -f1)
vr_check "a new flow to the recycled address reaches the server through direct [$got]" \
    bash -c "[[ '$got' =~ ^198\.19\.2\.[13]$ ]]"
vr_check "... routed by the new name" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${o1//./\\.}:80 ${holder//./\\.} rule=final outbound=direct"
vr_check "... microsocks was never asked for an old.example name" bash -c "! grep -q 'old\.example' '$VR_TMP/micro.log'"

# every address held by a live TCP flow: 16 names under pin.example,
# a connection to each (through direct, to socat's echo), held open
for i in $(seq 1 16); do echo "p$i.pin.example A"; done >"$VR_TMP/pin.q"
in_cli $DIG @198.18.1.1 -f "$VR_TMP/pin.q" +noall +answer >"$VR_TMP/pin.ans"
vr_check "16 pin.example names answered" vr_eq "$(answered "$VR_TMP/pin.ans")" "16"
cat >"$VR_TMP/hold.py" <<'PY'
import os, socket, sys, time
go, addrs = sys.argv[1], sys.argv[2:]
conns = []
for a in addrs:
    s = socket.create_connection((a, 7000), timeout=5)
    s.sendall(b"one\n")
    if s.recv(16) == b"one\n":
        conns.append(s)
print("open", len(conns), flush=True)
deadline = time.time() + 20
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
alive = 0
for s in conns:
    try:
        s.sendall(b"two\n")
        alive += s.recv(16) == b"two\n"
    except OSError:
        pass
print("alive", alive, flush=True)
PY
in_cli python3 "$VR_TMP/hold.py" "$VR_TMP/go2" $(awk '$4 == "A" {print $5}' "$VR_TMP/pin.ans") >"$VR_TMP/hold.out" 2>&1 &
holder_pid=$!
wait_file "$VR_TMP/hold.out" "^open " 20
vr_check "16 live TCP flows, one on each address" grep -qx "open 16" "$VR_TMP/hold.out"
late=$(q @198.18.1.1 late.example A +short)
p1=$(awk '$1 == "p1.pin.example." {print $5}' "$VR_TMP/pin.ans")
vr_check "all pinned: late.example takes the least recently used address anyway (p1's) [$late]" vr_eq "$late" "$p1"
got=$(in_cli python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7000), timeout=5); s.sendall(b"new\n"); print(s.recv(16).decode().strip())' "$late")
vr_check "a new flow to it echoes [$got]" vr_eq "$got" "new"
vr_check "... routed by late.example to micro (microsocks asked for late.example)" \
    outb_wait_file "$VR_TMP/micro.log" "connected to late\.example:7000"
touch "$VR_TMP/go2"
wait "$holder_pid"
vr_check "the 16 live flows all kept their connections" grep -qx "alive 16" "$VR_TMP/hold.out"
vr_check "p1's flow kept its route (closed as p1.pin.example through direct)" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${p1//./\\.}:7000 p1\.pin\.example rule=final outbound=direct .*end=closed"
vr_check "the new flow: late.example through micro" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> ${late//./\\.}:7000 late\.example rule=rule #2 outbound=micro .*end=closed"

kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1: 16 IPv4 mappings, recycling counted" \
    vr_wait_log "stats: fakeip: 16/16 IPv4 and [0-9]+/16 IPv6 mappings, [0-9]+ assigned \([1-9][0-9]+ recycled\)"
m=$(in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")
r=$(awk '$1 == "vrouter_fakeip_recycled_total" {print $2}' <<<"$m")
vr_check "/metrics: vrouter_fakeip_recycled_total >= 100 [$r]" test "${r:-0}" -ge 100
vr_check "/metrics: capacity 16" grep -qx 'vrouter_fakeip_capacity{family="ipv4"} 16' <<<"$m"

kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "run 2 exited cleanly" vr_eq "$?" "0"
vr_check "... without a sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error' '$VR_TMP/vrouterd.log'"
vr_finish
