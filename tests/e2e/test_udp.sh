#!/bin/bash
# Issue 5 end to end: UDP through TPROXY. Echo at 1,400-byte datagrams over
# IPv4 and IPv6 with no loss, replies from the original destination, full
# cone only in endpoint-independent mode, DNS from real dig to a real
# dnsmasq routed by query name, idle expiry, max_sessions under a flood from
# one client while another keeps its mapping, and sessions surviving a
# reload.
source "$(dirname "$0")/lib.sh"

PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
in_cli ip addr add 198.18.1.3/24 dev c0   # a second client host
# a second router-server link, rb/sb, for an outbound with bind_interface
link_rb() {
    ip link add rb netns "$NS_RTR" type veth peer name sb netns "$NS_SRV"
    in_rtr ip addr add 198.19.3.1/24 dev rb
    in_srv ip addr add 198.19.3.2/24 dev sb
    in_rtr ip link set rb up
    in_srv ip link set sb up
}
link_rb
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001
vr_bg "$NS_SRV" $UT server --port 53001
vr_bg "$NS_SRV" $UT server --port 53002 --reply-from-dst   # rb reaches it on-link: answer from 198.19.2.2
# a QUIC "server" that only records who sent what (source, length)
vr_bg "$NS_SRV" $UT server --port 443 --silent --log "$VR_TMP/quic.log"
# dnsmasq answers from its config only, and logs each query with its source
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2,2001:db8:2::2 --bind-interfaces --user=root \
    --address=/a.example/203.0.113.10 --address=/b.example/203.0.113.20 --address=/c.example/2001:db8:99::1 \
    --log-queries --log-facility="$VR_TMP/dnsmasq.log" --pid-file=
sleep 0.5

conf() { # $1 = nat mode, $2 = extra udp settings
    cat <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["tls", "http", "quic", "dns"];
                udp = { nat = "$1"; idle_timeout_s = 3; dns_idle_timeout_s = 1; $2 }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; },
  { tag = "wan-c"; module = "direct"; bind_interface = "rb"; }
);
route = { rules = (
    { domain_suffix = "b.example"; protocol = "dns"; outbound = "wan-b"; },
    { domain_suffix = ["q.example", "example.com", "split.example.org"]; protocol = "quic"; outbound = "wan-b"; },
    { port = 53001; network = "udp"; outbound = "wan-b"; },
    { port = 53002; network = "udp"; outbound = "wan-c"; }
  ); final = "direct"; };
CONF
}
conf endpoint-independent "max_sessions = 64; max_sessions_per_client = 16;" >"$VR_TMP/u.conf"
"$VR_BIN" -t -f "$VR_TMP/u.conf" >/dev/null
vr_check "a config with network = [\"tcp\", \"udp\"] and a udp block validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/u.conf" || { vr_finish; exit 1; }

# --- replies come from the original destination; the server sees the outbound's address
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "IPv4: the server sees the gateway's address (direct)" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.19.2.1"
vr_check "IPv4: the reply comes from the original destination" vr_eq "$(echo "$w" | cut -d' ' -f3-)" "from 198.19.2.2 7001"
w=$(in_cli $UT whoami 2001:db8:2::2 7001)
vr_check "IPv6: the server sees the gateway's address" vr_eq "$(echo "$w" | cut -d' ' -f1)" "2001:db8:2::1"
vr_check "IPv6: the reply comes from the original destination" vr_eq "$(echo "$w" | cut -d' ' -f3-)" "from 2001:db8:2::2 7001"
w=$(in_cli $UT whoami 198.19.2.2 53001)
vr_check "a port rule with network udp sends UDP through wan-b" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.19.2.3"
vr_check "the session log line names rule and outbound" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:53001 .*rule=rule #3 outbound=wan-b"

# --- 1,400-byte echo, no loss at a moderate rate, both families
e4=$(in_cli $UT echo 198.19.2.2 7001 --count 2000 --size 1400 --rate 1000)
vr_check "IPv4 echo: 2000 x 1400 B at 1000/s, none lost or wrong ($e4)" vr_eq "$e4" "sent 2000 received 2000 bad 0"
e6=$(in_cli $UT echo 2001:db8:2::2 7001 --count 2000 --size 1400 --rate 1000)
vr_check "IPv6 echo: 2000 x 1400 B at 1000/s, none lost or wrong ($e6)" vr_eq "$e6" "sent 2000 received 2000 bad 0"

# --- full cone: a remote the client never sent to reaches it through the mapping
f=$(in_cli $UT fullcone 198.19.2.2 7001 7002)
vr_check "endpoint-independent: a second remote reaches the client's mapping ($f)" vr_eq "$f" "poked from 198.19.2.2 7002"
f=$(in_cli $UT fullcone 2001:db8:2::2 7001 7002)
vr_check "endpoint-independent over IPv6 ($f)" vr_eq "$f" "poked from 2001:db8:2::2 7002"

# --- DNS by query name: real dig to a real dnsmasq, told apart by the source dnsmasq logs
d=$(in_cli dig +short +tries=1 +time=2 @198.19.2.2 a.example A)
vr_check "dig a.example over IPv4 gets dnsmasq's answer" vr_eq "$d" "203.0.113.10"
d=$(in_cli dig +short +tries=1 +time=2 @198.19.2.2 www.b.example A)
vr_check "dig www.b.example over IPv4 gets dnsmasq's answer" vr_eq "$d" "203.0.113.20"
d=$(in_cli dig +short +tries=1 +time=2 @2001:db8:2::2 www.b.example A)
vr_check "dig www.b.example over IPv6 gets dnsmasq's answer" vr_eq "$d" "203.0.113.20"
d=$(in_cli dig +short +tries=1 +time=2 @2001:db8:2::2 c.example AAAA)
vr_check "dig c.example AAAA over IPv6 gets dnsmasq's answer" vr_eq "$d" "2001:db8:99::1"
sleep 0.3
vr_check "dnsmasq saw a.example from the direct address" grep -q "query\[A\] a.example from 198.19.2.1$" "$VR_TMP/dnsmasq.log"
vr_check "dnsmasq saw www.b.example from wan-b (IPv4)" grep -q "query\[A\] www.b.example from 198.19.2.3$" "$VR_TMP/dnsmasq.log"
vr_check "dnsmasq saw www.b.example from wan-b (IPv6)" grep -q "query\[A\] www.b.example from 2001:db8:2::3$" "$VR_TMP/dnsmasq.log"
vr_check "dnsmasq saw c.example from the direct IPv6 address" grep -q "query\[AAAA\] c.example from 2001:db8:2::1$" "$VR_TMP/dnsmasq.log"
vr_check "the DNS session is logged with the name and protocol dns" \
    vr_wait_log "-> 198\.19\.2\.2:53 www\.b\.example dns rule=rule #1 outbound=wan-b"
d=$(in_cli dig +short +tcp +tries=1 +time=2 @198.19.2.2 www.b.example A)
vr_check "dig +tcp www.b.example (DNS over TCP, sniffed the same way)" vr_eq "$d" "203.0.113.20"
vr_check "the TCP DNS connection is routed by name" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:53 www\.b\.example dns rule=rule #1"

# --- QUIC: a real client's Initial (ngtcp2's gtlsclient) is routed by its SNI
# gtlsclient sends the host name it is given as the SNI (its --sni is
# ignored), so the names resolve through a private /etc/hosts, bind-mounted
# in a mount namespace of the client's command only.
cat >"$VR_TMP/hosts" <<HOSTS
198.19.2.2 www.q.example other.example
2001:db8:2::2 v6.q.example
HOSTS
quic() { # $1 = name; the handshake cannot finish (no server): only the Initials matter
    in_cli unshare -m sh -c 'mount --bind "$1" /etc/hosts && exec timeout 5 gtlsclient --quiet --handshake-timeout=1s "$2" 443' \
        sh "$VR_TMP/hosts" "$1" >/dev/null 2>&1
    sleep 0.2
}
quic www.q.example
vr_check "QUIC SNI www.q.example over IPv4 leaves through wan-b (its Initials reach the server from 198.19.2.3)" \
    grep -qE "^198\.19\.2\.3 [0-9]+ 1[2-9][0-9][0-9]$" "$VR_TMP/quic.log"
quic other.example
vr_check "QUIC SNI other.example leaves direct" grep -qE "^198\.19\.2\.1 [0-9]+ 1[2-9][0-9][0-9]$" "$VR_TMP/quic.log"
quic v6.q.example
vr_check "QUIC SNI v6.q.example over IPv6 leaves through wan-b" \
    grep -qE "^2001:db8:2::3 [0-9]+ 1[2-9][0-9][0-9]$" "$VR_TMP/quic.log"
vr_check "the QUIC session's log line names the SNI and protocol quic" \
    vr_wait_log "-> 198\.19\.2\.2:443 www\.q\.example quic rule=rule #2 outbound=wan-b"

# --- QUIC from Chromium, whose ClientHello (with its post-quantum key
# share) spans two Initial packets: held until both arrived, then routed
chrome() { # $1 = name, $2 = address it resolves to
    in_cli timeout 4 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$VR_TMP/chromium" --enable-quic --origin-to-force-quic-on="$1:443" \
        --host-resolver-rules="MAP $1 $2" "https://$1/" >/dev/null 2>&1
}
chrome chrome.q.example 198.19.2.2
vr_check "Chromium's QUIC (IPv4) to chrome.q.example: its split ClientHello is sniffed and routed through wan-b" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:443 chrome\.q\.example quic rule=rule #2 outbound=wan-b up=([2-9]|[1-9][0-9]+)/" 10
chrome chrome6.q.example "[2001:db8:2::2]"
vr_check "Chromium's QUIC (IPv6) to chrome6.q.example: routed through wan-b" \
    vr_wait_log "udp [0-9]+ tp \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:443 chrome6\.q\.example quic rule=rule #2 outbound=wan-b up=([2-9]|[1-9][0-9]+)/" 10

# --- QUIC Initials from the RFC test vectors and split ClientHellos (the
# unit test's corpus), replayed from fixed client ports
QC=$VR_SRC/modules/quic/corpus
in_cli $UT replay 198.19.2.2 443 "$QC/rfc9001_client_initial.bin" --bind 41001 >/dev/null
in_cli $UT replay 198.19.2.2 443 "$QC/rfc9369_v2_client_initial.bin" --bind 41002 >/dev/null
in_cli $UT replay 198.19.2.2 443 "$QC/quic_v2_split_reversed.bin" --bind 41003 >/dev/null
in_cli $UT replay 2001:db8:2::2 443 "$QC/quic_v1_split.bin" --bind 41004 >/dev/null
vr_check "RFC 9001 A.2 (QUIC v1) Initial: routed by its SNI example.com" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:41001 -> 198\.19\.2\.2:443 example\.com quic rule=rule #2 outbound=wan-b up=1/1200 " 10
vr_check "RFC 9369 A.2 (QUIC v2) Initial: routed by its SNI example.com" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:41002 -> 198\.19\.2\.2:443 example\.com quic rule=rule #2 outbound=wan-b up=1/1200 " 10
vr_check "a v2 ClientHello split over two Initials, second half first: held, routed by SNI, both sent" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:41003 -> 198\.19\.2\.2:443 split\.example\.org quic rule=rule #2 outbound=wan-b up=2/" 10
vr_check "a v1 split ClientHello over IPv6: routed by SNI, both sent" \
    vr_wait_log "udp [0-9]+ tp \[2001:db8:1::2\]:41004 -> \[2001:db8:2::2\]:443 split\.example\.org quic rule=rule #2 outbound=wan-b up=2/" 10

# --- sessions expire on time: DNS after 1 s, others after 3 s
vr_check "a DNS session ends by idle timeout after about 1 s" \
    vr_wait_log "-> 198\.19\.2\.2:53 a\.example dns .* time=1\.[0-9]+s end=idle timeout"
vr_check "an echo session ends by idle timeout after about 3 s" \
    vr_wait_log "-> 198\.19\.2\.2:7001 .* time=3\.[0-9]+s end=idle timeout"

# --- the bind_interface of an outbound is deleted and created again (a
# PPPoE or tunnel interface coming back has a new index) while a client
# keeps talking: the same session goes on through the new interface
in_cli $UT session 198.19.2.2:53002 --repeat 12 --interval 0.25 >"$VR_TMP/rb-restart" 2>&1 &
talker=$!
sleep 1
in_rtr ip link del rb
sleep 2.5
link_rb
wait $talker
vr_check "bind_interface: the client was answered through rb before ($(head -n1 "$VR_TMP/rb-restart"))" \
    grep -qE "^198\.19\.2\.2:53002 198\.19\.3\.1 " <(head -n1 "$VR_TMP/rb-restart")
vr_check "... saw the outage ($(grep -c 'no answer' "$VR_TMP/rb-restart") rounds unanswered)" grep -q "no answer" "$VR_TMP/rb-restart"
vr_check "... and is answered through the new rb, in the same session ($(tail -n1 "$VR_TMP/rb-restart"))" \
    grep -qE "^198\.19\.2\.2:53002 198\.19\.3\.1 [0-9]+ from 198\.19\.2\.2 53002$" <(tail -n1 "$VR_TMP/rb-restart")
n=$(grep -c -- "-> 198\.19\.2\.2:53002 " "$VR_TMP/vrouterd.log")
vr_check "... (no session of it has ended yet: $n)" vr_eq "$n" "0"

# --- max_sessions: client 1 floods new sessions, client 2 keeps its mapping
keep=$(in_cli $UT whoami 198.19.2.2 7001 --src 198.18.1.3 --bind 40001)
fl=$(in_cli $UT flood 198.19.2.2 7001 --count 1500)
keep2=$(in_cli $UT whoami 198.19.2.2 7001 --src 198.18.1.3 --bind 40001)
vr_check "the flood ran ($fl)" vr_eq "$fl" "flooded 1500"
vr_check "client 2 keeps its session (same mapping) through client 1's flood" vr_eq "$keep2" "$keep"
kill -USR1 "$VR_DAEMON_PID"
vr_check "the flood was bounded by the per-client share" \
    vr_wait_log "stats: udp tp: ([0-9]|[1-5][0-9]|6[0-4]) sessions open .*, [0-9]{3,} evicted \(client over its share\)"
kill -0 "$VR_DAEMON_PID"
vr_check "the daemon is alive after the flood" vr_eq "$?" "0"

# --- out of file descriptors: new sessions' datagrams are dropped, counted
# and warned about; the daemon lives on and recovers when fds are free again
soft=$(prlimit --pid "$VR_DAEMON_PID" --nofile --output SOFT --noheadings | tr -d ' ')
nfd=$(ls "/proc/$VR_DAEMON_PID/fd" | wc -l)
prlimit --pid "$VR_DAEMON_PID" --nofile=$((nfd + 6)):
in_cli $UT flood 198.19.2.2 7001 --count 40 >/dev/null
vr_check "out of file descriptors: UDP drops are logged with what to do" \
    vr_wait_log "udp [0-9]+: out of file descriptors: datagrams are dropped .* raise the open-file limit"
prlimit --pid "$VR_DAEMON_PID" --nofile="$soft":
kill -USR1 "$VR_DAEMON_PID"
vr_check "... and counted in the stats" vr_wait_log "reply sockets, [1-9][0-9]* dropped for want of file descriptors"
w=$(in_cli $UT whoami 198.19.2.2 7001 --src 198.18.1.3)
vr_check "... the daemon serves again once the limit allows ($w)" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.19.2.1"

# --- reload: a session keeps its generation; new ones follow the new rules
old=$(in_cli $UT whoami 198.19.2.2 53001 --bind 40003)
sed -i 's/{ port = 53001; network = "udp"; outbound = "wan-b"; }/{ port = 53001; network = "udp"; outbound = "direct"; }/' "$VR_TMP/u.conf"
vr_reload
old2=$(in_cli $UT whoami 198.19.2.2 53001 --bind 40003)
new=$(in_cli $UT whoami 198.19.2.2 53001 --bind 40004)
vr_check "a session from before the reload keeps wan-b and its mapping" vr_eq "$old2" "$old"
vr_check "a new session follows the new rule (direct)" vr_eq "$(echo "$new" | cut -d' ' -f1)" "198.19.2.1"

# --- address-and-port-dependent: the second remote is filtered
conf address-and-port-dependent "" >"$VR_TMP/u.conf"
vr_reload
f=$(in_cli $UT fullcone 198.19.2.2 7001 7002)
vr_check "address-and-port-dependent: the second remote does not get through ($f)" vr_eq "$f" "no poke"
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "address-and-port-dependent: the remote itself still answers" vr_eq "$(echo "$w" | cut -d' ' -f3-)" "from 198.19.2.2 7001"
conf address-dependent "" >"$VR_TMP/u.conf"
vr_reload
f=$(in_cli $UT fullcone 198.19.2.2 7001 7002)
vr_check "address-dependent: another port of the same remote gets through ($f)" vr_eq "$f" "poked from 198.19.2.2 7002"

# --- reload turns UDP off and on again: the UDP socket goes and comes back,
# the TCP listener keeps serving throughout
vr_http_server || exit 1
conf address-dependent "" | sed -e 's/network = \["tcp", "udp"\];/network = "tcp";/' -e 's/udp = {[^}]*};//' >"$VR_TMP/u.conf"
vr_reload
vr_check "reload to network = \"tcp\": the UDP socket is closed" \
    vr_wait_log "listener tp: UDP on \[::\]:$PORT closed|UDP .*closed"
w=$(in_cli $UT whoami 198.19.2.2 7001)
# with no socket on the port the tproxy rule does not match, so the kernel
# forwards the datagram itself: the server sees the client's own address
vr_check "... UDP is not proxied any more: forwarded by the kernel ($w)" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.18.1.2"
t=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "... TCP still is" vr_eq "$t" "198.19.2.1"
conf endpoint-independent "" >"$VR_TMP/u.conf"
vr_reload
w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "reload back to [\"tcp\", \"udp\"]: UDP is proxied again ($w)" vr_eq "$(echo "$w" | cut -d' ' -f1)" "198.19.2.1"
vr_check "... and the reload logged the UDP socket it opened" vr_wait_log "listener tp: tproxy UDP on \[::\]:$PORT opened"

# --- a broken udp block is FILE:LINE and keeps the running config
printf 'listeners = ( { tag = "tp"; port = %s; network = ["udp"]; udp = { nat = "cone"; }; } );\n' $PORT >"$VR_TMP/bad.conf"
out=$("$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1)
vr_check "a bad nat mode names file, line and the choices" \
    grep -q "bad.conf:1: .*nat.*\"cone\" is not a NAT mode (expected \"endpoint-independent\"" <<<"$out"
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "SIGTERM: exits 0 (no leak under ASan)" vr_eq "$?" "0"
vr_finish
