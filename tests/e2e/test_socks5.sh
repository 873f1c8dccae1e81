#!/bin/bash
# Issue 4 end to end: the socks5 outbound against Dante (danted, with and
# without RFC 1929 username/password, IPv4 and IPv6 server) and microsocks
# in the server namespace; sniffed domains sent as ATYP 3 (Dante's own log
# shows them); servers that refuse, lie, stall or are not there cost only
# their connection, with a log line naming which, and the daemon survives.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
# one extra server address per outbound under test; the rules pick by it
for i in $(seq 11 21); do in_srv ip addr add 198.19.2.$i/24 dev s0; done
in_srv ip -6 addr add 2001:db8:2::11/64 dev s0 nodad
vr_http_server 80 || exit 1
vr_http_server 81 || exit 1
outb_private_etc "198.19.2.2 www.example.test plain.example.test"

dante_conf() { # $1 file, $2 port, $3 method, $4 log
    cat >"$1" <<CONF
logoutput: $4
internal: 198.19.2.2 port = $2
internal: 2001:db8:2::2 port = $2
external: 198.19.2.2
external: 2001:db8:2::2
socksmethod: $3
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 log: error }
socks block { from: 0/0 to: 0/0 port = 81 log: connect error }
socks pass { from: 0/0 to: 0/0 log: connect disconnect error }
CONF
}
dante_conf "$VR_TMP/dante.conf" 1080 none "$VR_TMP/dante.log"
dante_conf "$VR_TMP/dante-auth.conf" 1081 username "$VR_TMP/dante-auth.log"
outb_bg_etc "$NS_SRV" danted -f "$VR_TMP/dante.conf" -N 2
outb_bg_etc "$NS_SRV" danted -f "$VR_TMP/dante-auth.conf" -N 2
outb_bg_etc "$NS_SRV" microsocks -i 198.19.2.2 -p 1082 -b 198.19.2.2 >"$VR_TMP/micro.log" 2>&1
outb_bg_etc "$NS_SRV" microsocks -i 198.19.2.2 -p 1083 -b 198.19.2.2 -u vrsocks -P s3cret >"$VR_TMP/micro-auth.log" 2>&1
# misbehaving servers: one that answers with a bad address type, one that
# accepts and never answers
vr_bg "$NS_SRV" python3 -c '
import socket, threading
def liar(c):
    try:
        c.recv(16); c.sendall(b"\x05\x00"); c.recv(300)
        c.sendall(b"\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00"); c.recv(16)
    except OSError:
        pass
    c.close()
def mute(c):
    c.recv(16); threading.Event().wait(30)
for port, fn in ((1097, liar), (1098, mute)):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.19.2.2", port)); s.listen(16)
    def loop(s=s, fn=fn):
        while True:
            c, _ = s.accept(); threading.Thread(target=fn, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
threading.Event().wait(600)'
for p in 1080 1081 1082 1083 1097 1098; do outb_wait_port "$NS_SRV" 198.19.2.2 $p || exit 1; done
outb_wait_port "$NS_SRV" 2001:db8:2::2 1080 || exit 1

cat >"$VR_TMP/s.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT;
                sniff = ["http"]; sniff_timeout_ms = 300; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "dante"; module = "socks5"; server = "198.19.2.2"; port = 1080; },
  { tag = "dante6"; module = "socks5"; server = "2001:db8:2::2"; port = 1080; },
  { tag = "dante-auth"; module = "socks5"; server = "198.19.2.2"; port = 1081;
    username = "vrsocks"; password = "s3cret"; },
  { tag = "dante-badauth"; module = "socks5"; server = "198.19.2.2"; port = 1081;
    username = "vrsocks"; password = "wrong"; },
  { tag = "micro"; module = "socks5"; server = "198.19.2.2"; port = 1082; },
  { tag = "micro-auth"; module = "socks5"; server = "198.19.2.2"; port = 1083;
    username = "vrsocks"; password = "s3cret"; },
  { tag = "nodomain"; module = "socks5"; server = "198.19.2.2"; port = 1080; send_domain = false; },
  { tag = "absent"; module = "socks5"; server = "198.19.2.2"; port = 1099; connect_timeout_ms = 1000; },
  { tag = "liar"; module = "socks5"; server = "198.19.2.2"; port = 1097; },
  { tag = "mute"; module = "socks5"; server = "198.19.2.2"; port = 1098; handshake_timeout_ms = 500; }
);
route = { rules = (
    { ip_cidr = ["198.19.2.11/32", "2001:db8:2::11/128"]; outbound = "dante"; },
    { ip_cidr = "198.19.2.12/32"; outbound = "dante6"; },
    { ip_cidr = "198.19.2.13/32"; outbound = "dante-auth"; },
    { ip_cidr = "198.19.2.14/32"; outbound = "dante-badauth"; },
    { ip_cidr = "198.19.2.15/32"; outbound = "micro"; },
    { ip_cidr = "198.19.2.16/32"; outbound = "micro-auth"; },
    { ip_cidr = "198.19.2.17/32"; outbound = "nodomain"; },
    { ip_cidr = "198.19.2.18/32"; outbound = "absent"; },
    { ip_cidr = "198.19.2.19/32"; outbound = "liar"; },
    { ip_cidr = "198.19.2.20/32"; outbound = "mute"; }
  ); final = "direct"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/s.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the socks5 config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/s.conf" || { vr_finish; exit 1; }

vr_check "direct flow leaves from the router (baseline)" vr_eq "$(outb_ip http://198.19.2.2/ip)" "198.19.2.1"
vr_check "IPv4 target through Dante: the server sees Dante's external address" \
    vr_eq "$(outb_ip http://198.19.2.11/ip)" "198.19.2.2"
vr_check "IPv6 target (ATYP 4) through Dante" vr_eq "$(outb_ip 'http://[2001:db8:2::11]/ip')" "2001:db8:2::2"
vr_check "Dante over an IPv6 server address" vr_eq "$(outb_ip http://198.19.2.12/ip)" "198.19.2.2"
vr_check "Dante with username/password (RFC 1929)" vr_eq "$(outb_ip http://198.19.2.13/ip)" "198.19.2.2"
vr_check "Dante saw the authenticated user" outb_wait_file "$VR_TMP/dante-auth.log" "vrsocks"
vr_check "microsocks without auth" vr_eq "$(outb_ip http://198.19.2.15/ip)" "198.19.2.2"
vr_check "microsocks with username/password" vr_eq "$(outb_ip http://198.19.2.16/ip)" "198.19.2.2"

# sniffed domain -> ATYP 3: the server resolves it (its private /etc/hosts
# maps www.example.test to 198.19.2.2, not to the client's destination)
d=$(outb_ip --resolve www.example.test:80:198.19.2.11 http://www.example.test/ip)
vr_check "a sniffed domain is sent to Dante and the flow works" vr_eq "$d" "198.19.2.2"
vr_check "Dante's log: it connected to the name's address, not the client's destination" \
    outb_wait_file "$VR_TMP/dante.log" "tcp/connect \[: 198\.19\.2\.1\.[0-9]+ 198\.19\.2\.2\.1080 -> 198\.19\.2\.2\.[0-9]+ 198\.19\.2\.2\.80$"
d=$(outb_ip --resolve www.example.test:80:198.19.2.15 http://www.example.test/ip)
vr_check "a sniffed domain is sent to microsocks and the flow works" vr_eq "$d" "198.19.2.2"
vr_check "microsocks' own log shows the domain it was asked for" \
    outb_wait_file "$VR_TMP/micro.log" "connected to www\.example\.test:80"
d=$(outb_ip --resolve plain.example.test:80:198.19.2.17 http://plain.example.test/ip)
vr_check "send_domain = false: the flow works" vr_eq "$d" "198.19.2.2"
sleep 0.3
vr_check "send_domain = false: Dante was asked for the address, not the name" \
    bash -c "! grep -q 'plain\.example\.test' '$VR_TMP/dante.log' && grep -q '198\.19\.2\.17\.80' '$VR_TMP/dante.log'"

# byte-exact bulk through Dante (splice after the handshake), both ways
N=$((32 * 1024 * 1024))
want=$(vr_blob_sha256 "$N")
got=$(in_cli curl -s --max-time 60 http://198.19.2.11/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "32 MiB through Dante arrives byte-exact" vr_eq "$got" "$want"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$VR_TMP/upload"
up_want=$(sha256sum <"$VR_TMP/upload" | cut -d' ' -f1)
up_got=$(in_cli curl -s --max-time 60 --data-binary @"$VR_TMP/upload" http://198.19.2.16/echo | sha256sum | cut -d' ' -f1)
vr_check "8 MiB upload through microsocks (auth) echoed byte-exact" vr_eq "$up_got" "$up_want"

# failures: each costs its own connection, with a log line naming it
fail_fast() { # $1 url: the client gets no HTTP answer within the time
    local t0 t1 code
    t0=$(date +%s%N)
    code=$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 4 "$1")
    t1=$(date +%s%N)
    [ "$code" = "000" ] && [ $(((t1 - t0) / 1000000)) -lt "${2:-3000}" ]
}
vr_check "Dante refuses port 81: the flow fails" fail_fast http://198.19.2.11:81/ip
vr_check "... logged as the server's refusal with the REP meaning" \
    vr_wait_log "server refused: connection not allowed by ruleset \(0x02\)"
vr_check "wrong password: the flow fails" fail_fast http://198.19.2.14/ip
vr_check "... logged as an authentication failure" vr_wait_log "authentication failed"
vr_check "no server on the port: the flow fails" fail_fast http://198.19.2.18/ip
vr_check "... logged as a failed connect to the server" vr_wait_log "1099: connect to server failed"
vr_check "a server answering a bad address type: the flow fails" fail_fast http://198.19.2.19/ip
vr_check "... logged as a lie (bad address type)" vr_wait_log "reply: bad address type \(0x09\)"
vr_check "a server that never answers: the flow fails after handshake_timeout_ms" fail_fast http://198.19.2.20/ip 2500
vr_check "... logged as a stalled server" vr_wait_log "server stalled: no method selection within 500 ms"

vr_check "the daemon survived every misbehaving server" outb_alive
vr_check "and still serves through Dante" vr_eq "$(outb_ip http://198.19.2.11/ip)" "198.19.2.2"

# concurrency: 40 parallel flows through Dante all succeed
pids=()
for i in $(seq 1 40); do outb_ip http://198.19.2.11/ip >"$VR_TMP/par.$i" & pids+=($!); done
wait "${pids[@]}"
ok=$(cat "$VR_TMP"/par.* | grep -c '^198\.19\.2\.2$')
vr_check "40 parallel flows through Dante all succeed" vr_eq "$ok" "40"

vr_finish
