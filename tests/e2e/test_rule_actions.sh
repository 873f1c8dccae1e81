#!/bin/bash
# Issue 15, slice 1: a rule's action = "reject" / "drop" in userspace, after
# a sniff (domain rules), with real curl (TLS SNI) and real dig (DNS query
# name) through TPROXY: reject resets the client's connection at once, drop
# gives it nothing; UDP datagrams of either are dropped and counted. Both
# show in the log line, the rule hit counts, the metrics and --explain.
source "$(dirname "$0")/lib.sh"

PORT=7893
MPORT=19478
vr_topo_up || exit 1
vr_tproxy_capture $PORT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ok.example" \
    -addext "subjectAltName=DNS:ok.example,DNS:rej.example,DNS:drop.example" \
    -keyout "$VR_TMP/key.pem" -out "$VR_TMP/cert.pem" 2>/dev/null
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/http_server.py" --port 443 --tls "$VR_TMP/cert.pem" "$VR_TMP/key.pem"
vr_wait_port "$NS_SRV" 198.19.2.2 443 || exit 1
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2 --bind-interfaces --user=root \
    --address=/ok.example/203.0.113.10 --address=/rej.example/203.0.113.20 --address=/drop.example/203.0.113.30 \
    --log-queries --log-facility="$VR_TMP/dnsmasq.log" --pid-file=
sleep 0.5

cat >"$VR_TMP/a.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; tcp_idle_timeout_s = 20;
           metrics = { address = "127.0.0.1"; port = $MPORT; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["tls", "dns"]; sniff_timeout_ms = 1000;
                udp = { dns_idle_timeout_s = 1; }; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { rules = (
    { domain_suffix = "rej.example"; action = "reject"; },
    { domain_suffix = "drop.example"; action = "drop"; }
  ); final = "direct"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/a.conf" >/dev/null
vr_check "a config with reject and drop rules validates" vr_eq "$?" "0"

# ---- config errors: FILE:LINE, the fix named
bad_rule() { # $1 = rule body; prints vrouterd -t's output
    sed "s|{ domain_suffix = \"drop.example\"; action = \"drop\"; }|$1|" "$VR_TMP/a.conf" >"$VR_TMP/bad.conf"
    "$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1
}
out=$(bad_rule '{ port = 1; action = "drop"; outbound = "direct"; }')
vr_check "outbound and action together: FILE:LINE error" \
    grep -q "bad.conf:9: .*either 'outbound' or 'action', not both" <<<"$out"
out=$(bad_rule '{ port = 1; }')
vr_check "neither outbound nor action: FILE:LINE error" \
    grep -q "bad.conf:9: .*missing 'outbound' (the tag of an outbound) or 'action' (\"reject\" or \"drop\")" <<<"$out"
out=$(bad_rule '{ port = 1; action = "deny"; }')
vr_check "an unknown action: FILE:LINE error" \
    grep -q "bad.conf:9: .*\"deny\" is not an action (expected \"reject\" or \"drop\"" <<<"$out"

# ---- --explain
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "tls www.rej.example 198.19.2.2:443 from 198.18.1.2:40000")
vr_check "--explain: a reject rule resets a TCP client" \
    bash -c "grep -q 'match: rule #1' <<<\"\$0\" && grep -q '^action: reject (the client.s connection is reset)' <<<\"\$0\"" "$expl"
expl=$("$VR_BIN" -f "$VR_TMP/a.conf" --explain "udp dns drop.example 198.19.2.2:53")
vr_check "--explain: a drop rule for UDP" \
    bash -c "grep -q 'match: rule #2' <<<\"\$0\" && grep -q '^action: drop' <<<\"\$0\"" "$expl"

vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }

# ---- TCP
ok=$(in_cli curl -sk --max-time 5 --resolve "ok.example:443:198.19.2.2" https://ok.example/ip | cut -d' ' -f1)
vr_check "a domain no rule names is routed (final)" vr_eq "$ok" "198.19.2.1"

t0=$(date +%s.%N)
err=$(in_cli curl -sSk --max-time 10 --resolve "rej.example:443:198.19.2.2" https://rej.example/ip 2>&1 >/dev/null)
rc=$?
t1=$(date +%s.%N)
vr_check "curl to a rejected domain fails (exit $rc)" bash -c "[ $rc -ne 0 ] && [ $rc -ne 28 ]"
vr_check "... with 'connection reset' ($err)" grep -qi "reset" <<<"$err"
# the reset follows the ClientHello, not a timeout: far below curl's 10 s
vr_check "... at once ($(python3 -c "print(round($t1 - $t0, 2))")s)" python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 3 else 1)"
vr_check "the log line: no outbound, ended by the rule" \
    vr_wait_log "-> 198\.19\.2\.2:443 rej\.example tls rule=rule #1 outbound=- up=0 down=0 .* end=rejected by rule #1$"

t0=$(date +%s.%N)
in_cli curl -sSk --max-time 3 --resolve "drop.example:443:198.19.2.2" https://drop.example/ip >/dev/null 2>"$VR_TMP/drop.err"
rc=$?
t1=$(date +%s.%N)
vr_check "curl to a dropped domain gets nothing and times out (exit $rc: $(cat "$VR_TMP/drop.err"))" vr_eq "$rc" "28"
vr_check "the dropped connection is logged when the client gives up" \
    vr_wait_log "-> 198\.19\.2\.2:443 drop\.example tls rule=rule #2 outbound=- up=0 down=0 .* end=dropped by rule #2$"
vr_check "the server never saw the rejected or dropped names" \
    bash -c "! grep -qE 'rej\.example|drop\.example' '$VR_TMP/http.log' 2>/dev/null"

# a dropped client that keeps sending is still held (never answered, never reset) until it closes
held=$(in_cli python3 - <<'PY'
import socket, ssl, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(("198.19.2.2", 443), timeout=5)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="drop.example")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
raw.sendall(out.read())
raw.settimeout(0.5)
got = "nothing"
for _ in range(4):
    try:
        raw.sendall(b"x" * 1000)
        d = raw.recv(100)
        got = "eof" if d == b"" else "data"
        break
    except socket.timeout:
        pass
    except ConnectionResetError:
        got = "reset"; break
print(got)
PY
)
vr_check "a dropped client sending more for 2 s gets no data, no FIN, no RST" vr_eq "$held" "nothing"

# ---- UDP (DNS): reject and drop both drop the datagrams, counted
d=$(in_cli dig +short +tries=1 +time=2 @198.19.2.2 ok.example A)
vr_check "dig ok.example is answered" vr_eq "$d" "203.0.113.10"
in_cli dig +tries=1 +time=2 @198.19.2.2 www.rej.example A >"$VR_TMP/dig1" 2>&1
vr_check "dig www.rej.example (reject after a sniff) gets no answer" grep -q "timed out" "$VR_TMP/dig1"
in_cli dig +tries=1 +time=2 @198.19.2.2 drop.example A >"$VR_TMP/dig2" 2>&1
vr_check "dig drop.example gets no answer" grep -q "timed out" "$VR_TMP/dig2"
vr_check "dnsmasq never saw the rejected or dropped queries" \
    bash -c "! grep -qE 'rej\.example|drop\.example' '$VR_TMP/dnsmasq.log'"
vr_check "the UDP session log line names the rule" \
    vr_wait_log "^.*udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:53 www\.rej\.example dns rule=- outbound=- up=0/0 .*dropped=1 .*end=rejected by rule #1$"
vr_check "... and for drop" \
    vr_wait_log "-> 198\.19\.2\.2:53 drop\.example dns rule=- outbound=- up=0/0 .*dropped=1 .*end=dropped by rule #2$"

# ---- counters
m=$(in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")
vr_check "metrics: a TCP connection ended rejected" \
    grep -qE '^vrouter_connections_total\{listener="tp",outbound="none",end="rejected"\} 1$' <<<"$m"
vr_check "metrics: a TCP connection ended dropped (and the held one is still open)" \
    grep -qE '^vrouter_connections_total\{listener="tp",outbound="none",end="dropped"\} [12]$' <<<"$m"
vr_check "metrics: UDP datagrams dropped by a rule" grep -qE '^vrouter_udp_dropped_total\{reason="rule"\} 2$' <<<"$m"
vr_check "metrics: rule #1 hit twice (curl, dig)" grep -qE '^vrouter_rule_hits_total\{rule="1"\} 2$' <<<"$m"
vr_check "metrics: rule #2 hit three times (curl, python, dig)" grep -qE '^vrouter_rule_hits_total\{rule="2"\} 3$' <<<"$m"

# SIGTERM while a dropped connection is held: it is closed at once, the
# exit does not wait drain_timeout_s (30 s) for it
in_cli python3 - <<'PY' &
import socket, ssl, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="drop.example")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
raw = socket.create_connection(("198.19.2.2", 443), timeout=5)
raw.sendall(out.read())
time.sleep(40)
PY
holder=$!
sleep 1.5
t0=$(date +%s)
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
rc=$?
t1=$(date +%s)
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
vr_check "vrouterd exits 0" vr_eq "$rc" "0"
vr_check "SIGTERM closed the held connection at once (exit after $((t1 - t0)) s, drain_timeout_s is 30)" \
    bash -c "[ $((t1 - t0)) -lt 10 ]"
vr_check "... and logged it as dropped" \
    bash -c "[ \$(grep -c 'drop\.example tls rule=rule #2 outbound=- up=0 down=0 .* end=dropped by rule #2\$' '$VR_TMP/vrouterd.log') -eq 3 ]"
vr_finish
