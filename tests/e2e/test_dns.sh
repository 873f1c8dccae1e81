#!/bin/bash
# Issue 16: vrouterd's DNS resolver, end to end. Real dnsmasq (UDP and TCP)
# and unbound (UDP, and DNS over TLS with a self-signed certificate pinned in
# the config) as upstreams in the server namespace, real dig as the client:
# A, AAAA, HTTPS, MX, TXT over UDP and TCP on IPv4 and IPv6 listeners; a
# large answer that dnsmasq truncates over UDP, asked again over TCP; the
# dns rules (reject, empty, fixed address, per-suffix upstream); the cache
# (positive and negative); the hijack (a client asking 192.0.2.53 gets
# vrouterd's answer, UDP and TCP); malformed queries (FORMERR, no crash); a
# flood from one client rate limited while another is answered; config
# errors with FILE:LINE, and a bad reload that keeps the old config.
source "$(dirname "$0")/lib.sh"
VR_TEST_MODULE_DIR=${VR_TEST_MODULE_DIR:-$VR_BUILD/testmodules}

PORT=7893
MPORT=19479
CTL=${VR_BUILD}/tools/vrouterctl
vr_topo_up || exit 1
vr_tproxy_capture $PORT
in_srv ip addr add 198.19.2.4/24 dev s0
in_cli ip addr add 198.18.1.3/24 dev c0
# the addresses the names resolve to, on the server
in_srv ip addr add 198.51.100.10/32 dev s0
in_srv ip addr add 198.51.100.20/32 dev s0
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2

# ---- dnsmasq on 198.19.2.2:53 (UDP and TCP)
big=()
for i in $(seq 1 12); do big+=("--txt-record=big.example,$(printf 'x%.0s' $(seq 1 250))"); done
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2 --listen-address=2001:db8:2::2 --bind-interfaces --user=root --pid-file= \
    --host-record=v6up.example,198.51.100.13 --host-record=a.example,198.51.100.10,2001:db8:5::10 --host-record=tcp.example,198.51.100.11 --host-record=fo.example,198.51.100.12 \
    --mx-host=a.example,mail.a.example,10 --txt-record=a.example,"hello vrouterd" \
    --dns-rr=a.example,65,00010000010003026832 --local=/example/ "${big[@]}" \
    --local-ttl=300 --log-queries=extra --log-facility="$VR_TMP/dnsmasq.log"
# ---- a slow upstream on 198.19.2.2:5353: answers 500 ms late, TTL 0 (the coalescing test)
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/dns_tool.py" slowserve 198.19.2.2 5353 500 "$VR_TMP/slowup.log"

# ---- unbound on 198.19.2.4: port 53, and 853 with TLS (self-signed, CN dns.test.example)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dns.test.example" \
    -addext "subjectAltName=DNS:dns.test.example" \
    -keyout "$VR_TMP/ub-key.pem" -out "$VR_TMP/ub-cert.pem" 2>/dev/null
cat >"$VR_TMP/unbound.conf" <<UB
server:
  interface: 198.19.2.4@53
  interface: 198.19.2.4@853
  tls-port: 853
  tls-service-key: "$VR_TMP/ub-key.pem"
  tls-service-pem: "$VR_TMP/ub-cert.pem"
  access-control: 0.0.0.0/0 allow
  username: ""
  chroot: ""
  directory: "$VR_TMP"
  pidfile: ""
  use-syslog: no
  logfile: "$VR_TMP/unbound.log"
  verbosity: 1
  log-queries: yes
  do-daemonize: no
  local-zone: "ub.example." static
  local-data: "ub.example. 3600 IN SOA ns.ub.example. host.ub.example. 1 3600 600 86400 30"
  local-data: "www.ub.example. 300 IN A 198.51.100.20"
  local-zone: "tls.example." static
  local-data: "tls.example. 3600 IN SOA ns.tls.example. host.tls.example. 1 3600 600 86400 30"
  local-data: "www.tls.example. 300 IN A 198.51.100.30"
  local-data: "www.badtls.example. 300 IN A 198.51.100.31"
remote-control:
  control-enable: no
UB
vr_bg "$NS_SRV" unbound -d -c "$VR_TMP/unbound.conf"
vr_wait_port "$NS_SRV" 198.19.2.2 53 || exit 1
vr_wait_port "$NS_SRV" 198.19.2.4 853 || exit 1

cat >"$VR_TMP/a.conf" <<CONF
daemon = { module_path = ["$VR_MODULE_DIR", "$VR_TEST_MODULE_DIR"]; log_level = "debug"; control = { path = "$VR_TMP/ctl.sock"; }; metrics = { address = "127.0.0.1"; port = $MPORT; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; }, { tag = "byname"; module = "resolve_probe"; name = "www.ub.example"; family = "ipv4"; }, { tag = "byname-any"; module = "resolve_probe"; name = "a.example"; }, { tag = "byname-rej"; module = "resolve_probe"; name = "x.ads.example"; }, { tag = "byname-fixed"; module = "resolve_probe"; name = "fixed.example"; family = "ipv4"; } );
route = { rules = ( { port = 53; action = "dns"; }, { port = 8080; outbound = "byname"; }, { port = 8081; outbound = "byname-any"; }, { port = 8082; outbound = "byname-rej"; }, { port = 8083; outbound = "byname-fixed"; } ); final = "direct"; };
dns = {
  listen = ["198.18.1.1:53", "[2001:db8:1::1]:53"];
  upstreams = (
    { tag = "lan"; address = "udp://198.19.2.2:53"; outbound = "direct"; timeout_ms = 1500; },
    { tag = "lantcp"; address = "tcp://198.19.2.2:53"; },
    { tag = "ub"; address = "udp://198.19.2.4:53"; },
    { tag = "dot"; address = "tls://198.19.2.4:853"; tls_name = "dns.test.example"; tls_ca = "ub-cert.pem"; },
    { tag = "dotbad"; address = "tls://198.19.2.4:853"; tls_name = "wrong.example"; tls_ca = "ub-cert.pem";
      timeout_ms = 1000; }, { tag = "dead"; address = "udp://198.19.2.9:53"; timeout_ms = 300; }, { tag = "lan6"; address = "udp://[2001:db8:2::2]:53"; }, { tag = "slowup"; address = "udp://198.19.2.2:5353"; timeout_ms = 3000; }
  );
  rules = (
    { domain_suffix = ["ads.example"]; action = "reject"; },
    { domain = ["empty.example"]; reject = "empty"; },
    { domain = ["fixed.example"]; address = "203.0.113.7"; },
    { domain_suffix = ["tcp.example"]; upstream = "lantcp"; },
    { domain_suffix = ["ub.example"]; upstream = "ub"; },
    { domain_suffix = ["tls.example"]; upstream = "dot"; },
    { domain_suffix = ["badtls.example"]; upstream = "dotbad"; },
    { domain_suffix = ["a.example"]; query_type = ["TXT"]; upstream = "lantcp"; }, { domain_suffix = ["fo.example"]; upstream = ["dead", "lan"]; }, { domain_suffix = ["slow.example"]; upstream = "dead"; }, { domain = ["v6up.example"]; upstream = "lan6"; }, { domain_suffix = ["burst.example"]; upstream = "slowup"; }
  );
  final = "lan";
  attempts = 1;
  cache = { size = 1000; };
  rate_limit = { qps = 20; burst = 60; };
};
CONF
cp "$VR_TMP/ub-cert.pem" "$VR_TMP/ub-cert.pem.keep"

# ---- config errors, FILE:LINE
bad() { # sed expression; prints vrouterd -t's output
    sed "$1" "$VR_TMP/a.conf" >"$VR_TMP/bad.conf"
    "$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1
}
"$VR_BIN" -t -f "$VR_TMP/a.conf" >/dev/null 2>&1
vr_check "the config validates" vr_eq "$?" "0"
out=$(bad 's|address = "udp://198.19.2.2:53"|address = "udp:/198.19.2.2"|')
vr_check "a bad upstream address: FILE:LINE error" grep -q 'bad.conf:8: .*is not an upstream address' <<<"$out"
out=$(bad 's|{ domain = \["fixed.example"\]; address = "203.0.113.7"; }|{ domain = ["fixed.example"]; fakeip = true; }|')
vr_check "a fakeip rule without a pool: 'fakeip needs dns.fakeip' at FILE:LINE" \
    grep -q 'bad.conf:18: .*fakeip needs dns.fakeip' <<<"$out"
out=$(bad 's|upstream = "lantcp"; }|upstream = "nope"; }|')
vr_check "a rule naming an unknown upstream: FILE:LINE error" grep -q 'bad.conf:19: .*no upstream has tag "nope"' <<<"$out"
out=$(bad 's|query_type = \["TXT"\]|query_type = ["TXTX"]|')
vr_check "an unknown query_type: FILE:LINE error" grep -q 'bad.conf:.*"TXTX" is not a query type' <<<"$out"
out=$(bad 's|tls_name = "dns.test.example"; ||')
vr_check "a tls:// upstream without tls_name: FILE:LINE error" grep -q "bad.conf:11: .*needs 'tls_name'" <<<"$out"
out=$(bad 's|fakeip|fakeip|; s|  final = "lan";|  final = "lan"; fakeip = { range = "198.51.100.0/24"; };|')
vr_check "a dns.fakeip group is accepted (its keys are the FakeIP code's)" bash -c '! grep -q "fakeip" <<<"$0"' "$out"

# ---- --explain for a query
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "query git.tls.example AAAA" 2>&1)
vr_check "--explain query: the rule and its DoT upstream" \
    bash -c 'grep -q "^match: dns rule #6 (.*a.conf:21)" <<<"$0" && grep -q "^upstream: dot (tls://198.19.2.4:853), through outbound direct, TLS name checked" <<<"$0"' "$expl"
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "query fo.example" 2>&1)
vr_check "--explain query: a failover list" \
    bash -c 'grep -q "^upstream: dead" <<<"$0" && grep -q "^  then: lan" <<<"$0"' "$expl"
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "query x.ads.example" 2>&1)
vr_check "--explain query: a reject" grep -q "^answer: NXDOMAIN" <<<"$expl"
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "query other.example MX from 198.18.1.2" 2>&1)
vr_check "--explain query: final" bash -c 'grep -q "^match: no dns rule; final" <<<"$0" && grep -q "^upstream: lan" <<<"$0"' "$expl"

vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
sleep 0.2

DIG="dig +time=3 +tries=1"
q() { in_cli $DIG "$@"; }

# ---- record types over UDP and TCP, IPv4 and IPv6 listeners
vr_check "A over UDP" vr_eq "$(q @198.18.1.1 a.example A +short)" "198.51.100.10"
vr_check "AAAA over TCP" vr_eq "$(q @198.18.1.1 a.example AAAA +tcp +short)" "2001:db8:5::10"
vr_check "MX over UDP" vr_eq "$(q @198.18.1.1 a.example MX +short)" "10 mail.a.example."
vr_check "TXT over TCP (its rule sends TXT to the TCP upstream)" \
    vr_eq "$(q @198.18.1.1 a.example TXT +tcp +short)" '"hello vrouterd"'
vr_check "HTTPS (type 65) over UDP" bash -c 'grep -q "alpn=\"\?h2" <<<"$0"' "$(q @198.18.1.1 a.example HTTPS +short)"
vr_check "A on the IPv6 listener" vr_eq "$(q @2001:db8:1::1 a.example A +short)" "198.51.100.10"
vr_check "A on the IPv6 listener over TCP" vr_eq "$(q @2001:db8:1::1 a.example A +tcp +short)" "198.51.100.10"
vr_check "a TCP upstream (rule upstream = lantcp)" vr_eq "$(q @198.18.1.1 tcp.example A +short)" "198.51.100.11"
vr_check "unbound over UDP (rule upstream = ub)" vr_eq "$(q @198.18.1.1 www.ub.example A +short)" "198.51.100.20"

vr_check "an IPv6 upstream" vr_eq "$(q @198.18.1.1 v6up.example A +short)" "198.51.100.13"
vr_check "... asked over IPv6" vr_wait_log "v6up.example A rule=dns rule #11 from=lan6 NOERROR"

# ---- a large answer: dnsmasq truncates it over UDP, vrouterd asks again over TCP
out=$(q @198.18.1.1 big.example TXT +bufsize=4096 +ignore)
echo "$out" >"$VR_TMP/big.out"
vr_check "a 3 kB TXT answer arrives whole over UDP (the upstream's TC retried over TCP)" \
    bash -c '! grep -q "flags:[a-z ]* tc" <<<"$0" && [ "$(grep -c "^big.example.*TXT" <<<"$0")" = 12 ]' "$out"
vr_check "the log names the TCP retry" vr_wait_log "big.example TXT rule=final from=lan/tcp NOERROR"
out=$(q @198.18.1.1 big.example TXT +ignore +noedns)
echo "$out" >"$VR_TMP/big-noedns.out"
vr_check "the same answer to a client without EDNS0 over UDP: TC set, no records" \
    bash -c 'grep -q "flags:[a-z ]* tc" <<<"$0" && ! grep -q "^big.example.*TXT" <<<"$0"' "$out"
vr_check "... and dig's own retry over TCP gets it whole" \
    vr_eq "$(q @198.18.1.1 big.example TXT +noedns +short | wc -l)" "12"

# ---- failover: an upstream that never answers, then the next of the rule's list
vr_check "failover: the dead upstream times out, the next one answers" \
    vr_eq "$(q @198.18.1.1 fo.example A +short)" "198.51.100.12"
vr_check "... the log names the timeout" vr_wait_log "fo.example A rule=dns rule #9: upstream dead \(udp://198.19.2.9:53\): timeout"
for i in 1 2 3 4 5 6; do q @198.18.1.1 x$i.fo.example A >/dev/null; done
n=$(grep -cE "x[1-6].fo.example A rule=dns rule #9: upstream dead" "$VR_TMP/vrouterd.log")
vr_check "a dead upstream is asked after the others for a while: at most one more timeout in 6 queries (one per worker)" \
    test "$n" -le 1

# ---- DNS over TLS
vr_check "DoT to unbound, self-signed certificate pinned" vr_eq "$(q @198.18.1.1 www.tls.example A +short)" "198.51.100.30"
out=$(q @198.18.1.1 www.badtls.example A)
vr_check "DoT with a name the certificate does not carry: SERVFAIL" grep -q "status: SERVFAIL" <<<"$out"
vr_check "... and the log says why" vr_wait_log "upstream dotbad .*TLS handshake failed.*certificate"

# ---- rules
vr_check "reject: NXDOMAIN" grep -q "status: NXDOMAIN" <<<"$(q @198.18.1.1 x.ads.example A)"
out=$(q @198.18.1.1 empty.example A)
vr_check "reject = \"empty\": NOERROR with no answer" \
    bash -c 'grep -q "status: NOERROR" <<<"$0" && grep -q "ANSWER: 0" <<<"$0"' "$out"
vr_check "address: the fixed answer" vr_eq "$(q @198.18.1.1 fixed.example A +short)" "203.0.113.7"
out=$(q @198.18.1.1 fixed.example AAAA)
vr_check "address (IPv4) asked for AAAA: NODATA" \
    bash -c 'grep -q "status: NOERROR" <<<"$0" && grep -q "ANSWER: 0" <<<"$0"' "$out"

# ---- cache: a second ask is answered from the cache, TTL counting down; negative answers too
q @198.18.1.1 www.ub.example A +short >/dev/null
vr_check "a repeated query is answered from the cache" vr_wait_log "www.ub.example A rule=dns rule #5 from=cache NOERROR"
vr_check "nxdomain from unbound (with its SOA)" grep -q "status: NXDOMAIN" <<<"$(q @198.18.1.1 nx.ub.example A)"
q @198.18.1.1 nx.ub.example A >/dev/null
vr_check "a negative answer is cached (RFC 2308)" vr_wait_log "nx.ub.example A rule=dns rule #5 from=cache NXDOMAIN"
n_ub=$(grep -c "nx.ub.example" "$VR_TMP/unbound.log" 2>/dev/null)
vr_check "... unbound was asked once" vr_eq "$n_ub" "1"
q @198.18.1.1 a.example A +dnssec +short >/dev/null
vr_check "the DO bit is part of the cache key (a DO query is not served the non-DO entry)" \
    vr_wait_log "a.example A rule=final from=lan NOERROR"

# ---- hijack: a client asking 192.0.2.53 (UDP and TCP) gets vrouterd's answer
vr_check "hijack over UDP: 192.0.2.53 answers by vrouterd's rules" \
    vr_eq "$(q @192.0.2.53 fixed.example A +short)" "203.0.113.7"
vr_check "hijack over TCP" vr_eq "$(q @192.0.2.53 fixed.example A +tcp +short)" "203.0.113.7"
vr_check "hijack forwards to the upstreams too" vr_eq "$(q @192.0.2.53 a.example A +short)" "198.51.100.10"

# ---- host->resolve (ABI 1.1): an outbound module resolving through the resolver
vr_http_server 8080 || exit 1
vr_http_server 8081 || exit 1
code=$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://203.0.113.99:8080/ip)
vr_check "an outbound connects by name via host->resolve (rule upstream = ub): HTTP 200" vr_eq "$code" "200"
vr_check "... it got unbound's address with its TTL" vr_wait_log "resolve_probe: www.ub.example -> 198.51.100.20 \(ttl [0-9]+\)"
code=$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://203.0.113.99:8081/ip)
vr_check "host->resolve with AF_UNSPEC: HTTP 200" vr_eq "$code" "200"
vr_check "... IPv4 first, then IPv6" vr_wait_log "resolve_probe: a.example -> 198.51.100.10 2001:db8:5::10 \(ttl"
in_cli curl -s -o /dev/null --max-time 5 http://203.0.113.99:8082/ip
vr_check "host->resolve of a name a rule rejects: -ECONNREFUSED" vr_wait_log "resolve_probe: x.ads.example: refused at once: -111|resolve_probe: x.ads.example: error -111"
in_cli curl -s -o /dev/null --max-time 3 http://203.0.113.99:8083/ip
vr_check "host->resolve of a name with a fixed address rule gets it" vr_wait_log "resolve_probe: fixed.example -> 203.0.113.7 \(ttl 60\)"

# ---- malformed queries: FORMERR where RFC 1035 wants one, nothing for garbage, no crash
out=$(in_cli python3 "$VR_SRC/tests/e2e/dns_tool.py" malformed 198.18.1.1 53)
echo "$out" | sed 's/^/  /'
for p in pointer-loop pointer-forward label-overrun two-questions trailing long-name; do
    vr_check "malformed ($p): FORMERR" grep -q "^$p rcode=1 id=0x1234" <<<"$out"
done
vr_check "a 5-byte message: no answer" grep -q "^short none" <<<"$out"
vr_check "a response sent to the server: no answer" grep -q "^response none" <<<"$out"
vr_check "the daemon is still answering" vr_eq "$(q @198.18.1.1 a.example A +short)" "198.51.100.10"
n=$(in_cli python3 "$VR_SRC/tests/e2e/dns_tool.py" pipeline 198.18.1.1 53 3000 fixed.example 198.18.1.3)
vr_check "3000 queries pipelined on one TCP connection: all answered (REFUSED past the rate limit), in a loop" vr_eq "$n" "3000"

# ---- SIGUSR1 shows the counters
kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1 stats show the cache" vr_wait_log "dns: cache .*hits [1-9]"
vr_check "SIGUSR1 stats show per-upstream counters with the TCP retry" vr_wait_log "dns: upstream lan .*tcp_retries [1-9]"
vr_check "SIGUSR1 stats show the timeout" vr_wait_log "dns: upstream dead .*timeouts [12],"
vr_check "SIGUSR1 stats show the failover" vr_wait_log "dns: upstream lan .*failovers [12]$"
vr_check "SIGUSR1 stats count the malformed queries" vr_wait_log "dns: .*formerr [1-9]"

# ---- the control socket and the metrics endpoint
out=$(in_rtr "$CTL" -s "$VR_TMP/ctl.sock" dns)
echo "$out" | sed 's/^/  /'
vr_check "vrouterctl dns: per-upstream counters" grep -qE "^upstream lan .*answers [1-9][0-9]* .*tcp_retries [1-9]" <<<"$out"
vr_check "vrouterctl dns: cache hits" grep -qE "^cache [0-9]+ of 1000 entries: hits [1-9]" <<<"$out"
met=$(in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")
vr_check "metrics: vrouter_dns_upstream_total with the TCP retry" \
    grep -qE '^vrouter_dns_upstream_total\{upstream="lan",event="tcp_retry"\} [1-9]' <<<"$met"
vr_check "metrics: DNS cache hits" grep -qE '^vrouter_dns_cache_lookups_total\{result="hit"\} [1-9]' <<<"$met"
vr_check "metrics: DoT errors counted" grep -qE '^vrouter_dns_upstream_total\{upstream="dotbad",event="error"\} [1-9]' <<<"$met"

# ---- a bad reload keeps the old config
cp "$VR_TMP/a.conf" "$VR_TMP/a.conf.good"
sed -i 's|upstream = "ub"; }|upstream = "nope"; }|' "$VR_TMP/a.conf"
vr_reload
vr_check "a bad dns block fails the reload with FILE:LINE" vr_wait_log 'a.conf:20: .*no upstream has tag "nope"'
vr_check "... and the old config still answers" vr_eq "$(q @198.18.1.1 www.ub.example A +short)" "198.51.100.20"
cp "$VR_TMP/a.conf.good" "$VR_TMP/a.conf"
sed -i 's|address = "203.0.113.7"|address = "203.0.113.8"|' "$VR_TMP/a.conf"
vr_reload
vr_check "a good reload takes the new dns rules" vr_eq "$(q @198.18.1.1 fixed.example A +short)" "203.0.113.8"

# ---- a burst of 40 queries for one uncached name: one upstream query per worker (the rest wait for it).
# The upstream answers 500 ms late with TTL 0, so the burst is certainly in flight together and
# nothing is served from the cache, however slowly the daemon runs (TSan).
sleep 3 # the rate limit's bucket of 198.18.1.3 refills
answered=$(in_cli python3 "$VR_SRC/tests/e2e/dns_tool.py" flood 198.18.1.1 53 40 burst.example 198.18.1.3)
n=$(grep -c "query burst.example" "$VR_TMP/slowup.log")
vr_log "burst: $answered of 40 answered, the slow upstream was asked $n times"
vr_check "a burst for one name: all 40 answered" vr_eq "$answered" "40"
vr_check "... with at most one upstream query per worker (coalesced)" test "$n" -ge 1 -a "$n" -le 2
vr_check "... the log says which waited" vr_wait_log "burst.example A rule=.* from=coalesced"

# ---- a flood from one client is rate limited; another client is still answered
sleep 3 # the bucket refills
answered=$(in_cli python3 "$VR_SRC/tests/e2e/dns_tool.py" flood 198.18.1.1 53 600 a.example 198.18.1.2)
vr_log "flood: $answered of 600 answered"
vr_check "a flood of 600 queries from one client is cut by the rate limit (burst 60, 20 qps)" \
    bash -c '[ "$0" -ge 30 ] && [ "$0" -lt 300 ]' "$answered"
vr_check "another client is still answered" vr_eq "$(q -b 198.18.1.3 @198.18.1.1 a.example A +short)" "198.51.100.10"
kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1 stats show the rate limit" vr_wait_log "dns: .*rate_limited [1-9]"

# exit with hijacked queries (UDP and TCP) still waiting for an upstream (the dead one, alone: 300 ms each attempt)
sleep 3 # the rate limit's bucket refills
in_cli dig +time=2 +tries=1 @192.0.2.53 w1.slow.example A >/dev/null 2>&1 &
in_cli dig +time=2 +tries=1 +tcp @192.0.2.53 w2.slow.example A >/dev/null 2>&1 &
sleep 0.15
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "clean exit (ASan: no leak, no use after free with hijacked queries in flight)" vr_eq "$?" "0"
vr_finish
