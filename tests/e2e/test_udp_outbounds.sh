#!/bin/bash
# Issue 5 end to end: a client's UDP, captured with TPROXY, through every
# outbound with a UDP path:
#   socks5         UDP ASSOCIATE to Dante (IPv4 and IPv6 server address,
#                  IPv4 and IPv6 original destinations); servers that refuse
#                  UDP, name a relay that cannot be reached or is not there,
#                  or close the control connection cost their session only
#   wireguard-bind out through a real WireGuard tunnel (wireguard-go)
#   ecmp           over two tunnels: sessions spread, one session keeps one
#                  member (and one mapping) for all its datagrams and remotes
# The server answers from the address each datagram was sent to, so "from"
# is checked against the client's original destination every time.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_topo_up || exit 1
vr_tproxy_capture $PORT
in_srv ip addr add 198.19.2.11/24 dev s0   # a second remote host for the ecmp sessions
# one UDP server per port; the rules pick the outbound by destination port
for p in 7001 7011 7012 7016 7021 7022 7031 7032; do
    vr_bg "$NS_SRV" $UT server --port $p --reply-from-dst --lifetime 300
done

# ---- Dante with UDP ASSOCIATE (udpassociate and udpreply are allowed by "socks pass")
cat >"$VR_TMP/dante.conf" <<CONF
logoutput: $VR_TMP/dante.log
internal: 198.19.2.2 port = 1080
internal: 2001:db8:2::2 port = 1080
external: 198.19.2.2
external: 2001:db8:2::2
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 log: error }
socks pass { from: 0/0 to: 0/0 log: connect disconnect error }
CONF
vr_bg "$NS_SRV" danted -f "$VR_TMP/dante.conf" -N 2
# microsocks answers UDP ASSOCIATE with "command not supported"
vr_bg "$NS_SRV" microsocks -i 198.19.2.2 -p 1082 -b 198.19.2.2 >"$VR_TMP/micro.log" 2>&1
# Misbehaving SOCKS5 servers for UDP (method "none", then one reply to the request):
#   1093 names an unreachable relay (BND 198.18.250.99:9: no route from the router)
#   1094 names a relay port where nothing listens (ICMP port unreachable)
#   1095 names a working relay (it answers every datagram with itself, header
#        included, as if the remote echoed), then closes the control
#        connection 1.5 s later
vr_bg "$NS_SRV" python3 -c '
import socket, struct, threading, time
def relay():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("198.19.2.2", 0))
    def loop():
        while True:
            d, a = u.recvfrom(65535)
            u.sendto(d, a)
    threading.Thread(target=loop, daemon=True).start()
    return u.getsockname()[1]
echo_port = relay()
def serve(c, bnd, close_after):
    try:
        c.recv(16); c.sendall(b"\x05\x00"); c.recv(300)
        ip, port = bnd
        c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(ip) + struct.pack(">H", port))
        if close_after is None:
            c.recv(16)
        else:
            time.sleep(close_after)
    except OSError:
        pass
    c.close()
for port, bnd, close_after in ((1093, ("198.18.250.99", 9), None), (1094, ("198.19.2.2", 9), None),
                               (1095, ("198.19.2.2", echo_port), 1.5)):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.19.2.2", port)); s.listen(16)
    def loop(s=s, bnd=bnd, close_after=close_after):
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c, bnd, close_after), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
threading.Event().wait(300)'
for p in 1080 1082 1093 1094 1095; do outb_wait_port "$NS_SRV" 198.19.2.2 $p || exit 1; done
outb_wait_port "$NS_SRV" 2001:db8:2::2 1080 || exit 1

# ---- two WireGuard tunnels; wg1 also carries IPv6
outb_wg_tunnel 1 || { vr_finish; exit 1; }
outb_wg_tunnel 2 || { vr_finish; exit 1; }
outb_wg "$NS_RTR" wg set wg1 peer "$(cat "$VR_TMP/wg1.srv.pub")" allowed-ips 0.0.0.0/0,::/0
outb_wg "$NS_SRV" wg set wg1 peer "$(cat "$VR_TMP/wg1.rtr.pub")" allowed-ips 198.18.201.0/24,2001:db8:201::/64
in_rtr ip -6 addr add 2001:db8:201::2/64 dev wg1 nodad
in_srv ip -6 addr add 2001:db8:201::1/64 dev wg1 nodad
# A socket bound to wg1 finds only routes through wg1; IPv4 falls back to
# "on link", IPv6 needs one: the usual table selected by routing_mark.
in_rtr ip -6 rule add fwmark 0x501 lookup 201
in_rtr ip -6 route add default dev wg1 table 201

cat >"$VR_TMP/u.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                udp = { nat = "endpoint-independent"; idle_timeout_s = 3; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "dante"; module = "socks5"; server = "198.19.2.2"; port = 1080; },
  { tag = "dante6"; module = "socks5"; server = "2001:db8:2::2"; port = 1080; },
  { tag = "nounreach"; module = "socks5"; server = "198.19.2.2"; port = 1093; },
  { tag = "noport"; module = "socks5"; server = "198.19.2.2"; port = 1094; },
  { tag = "closer"; module = "socks5"; server = "198.19.2.2"; port = 1095; },
  { tag = "micro"; module = "socks5"; server = "198.19.2.2"; port = 1082; },
  { tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; routing_mark = 0x501; },
  { tag = "wg1-nomark"; module = "wireguard-bind"; interface = "wg1"; },
  { tag = "wg2"; module = "wireguard-bind"; interface = "wg2"; },
  { tag = "lb"; module = "ecmp"; members = ["wg1", "wg2"]; hash = "flow"; }
);
route = { rules = (
    { port = 7011; network = "udp"; outbound = "dante"; },
    { port = 7012; network = "udp"; outbound = "dante6"; },
    { port = 7013; network = "udp"; outbound = "nounreach"; },
    { port = 7014; network = "udp"; outbound = "noport"; },
    { port = 7015; network = "udp"; outbound = "closer"; },
    { port = 7016; network = "udp"; outbound = "micro"; },
    { port = 7021; network = "udp"; outbound = "wg1"; },
    { port = 7022; network = "udp"; outbound = "wg1-nomark"; },
    { port = [7031, 7032]; network = "udp"; outbound = "lb"; }
  ); final = "direct"; };
CONF
"$VR_BIN" -t -f "$VR_TMP/u.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/u.conf" || { vr_finish; exit 1; }

# field helpers: "<seen ip> <seen port> from <ip> <port>"
seen() { cut -d' ' -f1 <<<"$1"; }
from() { cut -d' ' -f3- <<<"$1"; }
# LABEL DST PORT: 500 datagrams of 1,400 B at 500/s must all come back intact
echo_check() {
    local e
    e=$(in_cli $UT echo "$2" "$3" --count 500 --size 1400 --rate 500)
    vr_check "$1 echo: 500 x 1400 B at 500/s, none lost or wrong ($e)" vr_eq "$e" "sent 500 received 500 bad 0"
}

w=$(in_cli $UT whoami 198.19.2.2 7001)
vr_check "baseline: direct UDP, the server sees the router ($w)" vr_eq "$(seen "$w")" "198.19.2.1"

# ======== socks5 (UDP ASSOCIATE)
w=$(in_cli $UT whoami 198.19.2.2 7011)
vr_check "socks5/Dante, IPv4 destination: the server sees Dante's address ($w)" vr_eq "$(seen "$w")" "198.19.2.2"
vr_check "... and the reply comes from the original destination" vr_eq "$(from "$w")" "from 198.19.2.2 7011"
w=$(in_cli $UT whoami 2001:db8:2::2 7011)
vr_check "socks5/Dante, IPv6 destination (ATYP 4 header): the server sees Dante's IPv6 address ($w)" \
    vr_eq "$(seen "$w")" "2001:db8:2::2"
vr_check "... and the reply comes from the original destination" vr_eq "$(from "$w")" "from 2001:db8:2::2 7011"
w=$(in_cli $UT whoami 198.19.2.2 7012)
vr_check "socks5/Dante over an IPv6 server address, IPv4 destination ($w)" vr_eq "$(seen "$w")" "198.19.2.2"
vr_check "... reply from the original destination" vr_eq "$(from "$w")" "from 198.19.2.2 7012"
echo_check "socks5/Dante IPv4" 198.19.2.2 7011
echo_check "socks5/Dante IPv6" 2001:db8:2::2 7011
w=$(in_cli $UT whoami 198.19.2.2 7011 --repeat 5 | sort -u)
vr_check "socks5: five whoamis of one session share one mapping ($w)" \
    bash -c "[ \$(wc -l <<<'$w') = 1 ] && [ '$(seen "$w")' = 198.19.2.2 ]"

# misbehaving servers, while a long echo runs through Dante: each costs its
# own session only
in_cli $UT echo 198.19.2.2 7011 --count 3000 --size 1400 --rate 500 >"$VR_TMP/long-echo" &
long=$!
w=$(in_cli $UT whoami 198.19.2.2 7016)
vr_check "socks5/microsocks (no UDP support): no answer ($w)" vr_eq "$w" "no answer"
vr_check "... the module logs the server's refusal" \
    vr_wait_log "flow [0-9]+: UDP ASSOCIATE: socks5 198\.19\.2\.2:1082: server refused: command not supported"
vr_check "... the core ends that session" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:7016 rule=rule #6 outbound=micro .*end=outbound ended the association"
# a client that keeps sending to the refusing server: its session holds 1 s
# after the failure, so 20 datagrams in 0.4 s cost one UDP ASSOCIATE, not 20
n0=$(grep -c "UDP ASSOCIATE: socks5 198.19.2.2:1082: server refused" "$VR_TMP/vrouterd.log")
in_cli $UT echo 198.19.2.2 7016 --count 20 --size 100 --rate 50 >/dev/null
vr_check "... a burst of 20 datagrams from one client port makes one UDP ASSOCIATE attempt" \
    vr_eq "$(($(grep -c "UDP ASSOCIATE: socks5 198.19.2.2:1082: server refused" "$VR_TMP/vrouterd.log") - n0))" "1"
vr_check "... and its session end counts the datagrams it dropped meanwhile" \
    vr_wait_log "-> 198\.19\.2\.2:7016 rule=rule #6 outbound=micro up=[0-9]+/[0-9]+ down=0/0 dropped=[1-9][0-9]* .*end=outbound ended the association"
kill -USR1 "$VR_DAEMON_PID"
vr_check "... the datagrams it had queued during the failed handshake count as the module's udp_dropped" \
    vr_wait_log "stats: \[socks5/micro\] udp_dropped=[1-9][0-9]*$"
w=$(in_cli $UT whoami 198.19.2.2 7013)
vr_check "socks5, relay BND address unreachable: no answer ($w)" vr_eq "$w" "no answer"
vr_check "... logged by the module" vr_wait_log "UDP association ended: cannot reach the UDP relay 198\.18\.250\.99:9"
vr_check "... the core ends that session" \
    vr_wait_log "-> 198\.19\.2\.2:7013 rule=rule #3 outbound=nounreach .*end=outbound ended the association"
w=$(in_cli $UT whoami 198.19.2.2 7014)
vr_check "socks5, nothing listens on the relay port: no answer ($w)" vr_eq "$w" "no answer"
vr_check "... the module reports the refused relay" \
    vr_wait_log "UDP association ended: the UDP relay 198\.19\.2\.2:9 refused datagrams"
vr_check "... the core ends that session" \
    vr_wait_log "-> 198\.19\.2\.2:7014 rule=rule #4 outbound=noport .*end=outbound ended the association"
w=$(in_cli $UT whoami 198.19.2.2 7015 --bind 40015)
vr_check "socks5, a server that will close the control connection: works at first ($w)" \
    vr_eq "$w" "whoami from 198.19.2.2 7015"
vr_check "... its closing ends that session" \
    vr_wait_log "-> 198\.19\.2\.2:7015 rule=rule #5 outbound=closer .*end=outbound ended the association: Connection reset by peer"
vr_check "... logged by the module" vr_wait_log "UDP association ended: server closed the control connection"
w=$(in_cli $UT whoami 198.19.2.2 7015 --bind 40015)
vr_check "... the next datagram from the same client port gets a new session that works ($w)" \
    vr_eq "$w" "whoami from 198.19.2.2 7015"
wait $long
e=$(cat "$VR_TMP/long-echo")
vr_check "the Dante session running meanwhile lost nothing: 3000 x 1400 B ($e)" vr_eq "$e" "sent 3000 received 3000 bad 0"
w=$(in_cli $UT whoami 198.19.2.2 7011)
vr_check "a new Dante session after all that works ($w)" vr_eq "$w" "198.19.2.2 $(cut -d' ' -f2 <<<"$w") from 198.19.2.2 7011"
vr_check "the daemon is alive" outb_alive

# ======== wireguard-bind
w=$(in_cli $UT whoami 198.19.2.2 7021)
vr_check "wireguard-bind, IPv4: the server sees the tunnel address ($w)" vr_eq "$(seen "$w")" "198.18.201.2"
vr_check "... reply from the original destination" vr_eq "$(from "$w")" "from 198.19.2.2 7021"
w=$(in_cli $UT whoami 2001:db8:2::2 7021)
vr_check "wireguard-bind, IPv6: the server sees the tunnel's IPv6 address ($w)" vr_eq "$(seen "$w")" "2001:db8:201::2"
vr_check "... reply from the original destination" vr_eq "$(from "$w")" "from 2001:db8:2::2 7021"
echo_check "wireguard-bind IPv4" 198.19.2.2 7021
echo_check "wireguard-bind IPv6" 2001:db8:2::2 7021

w=$(in_cli $UT whoami 198.19.2.2 7022)
vr_check "wireguard-bind without a route through the tunnel, IPv4: works (on-link fallback) ($w)" \
    vr_eq "$(seen "$w")" "198.18.201.2"
w=$(in_cli $UT whoami 2001:db8:2::2 7022)
vr_check "wireguard-bind without a route through the tunnel, IPv6: no answer ($w)" vr_eq "$w" "no answer"
vr_check "... and the module says why, once per association" \
    vr_wait_log "\[wireguard-bind/wg1-nomark\] flow [0-9]+: UDP through wg1: send failed: Network is unreachable \(IPv6 needs a route"
n=$(grep -c "wg1-nomark\] flow [0-9]*: UDP through wg1: send failed" "$VR_TMP/vrouterd.log")
vr_check "... (3 datagrams of one session, $n warning)" vr_eq "$n" "1"

# ---- wg1 is deleted and created again (wireguard-go restarted, new
# ifindex) while a client keeps talking from one port: the association bound
# to the old interface ends with it, and the same client endpoint comes back
# through the new wg1 (a socket bound to the old ifindex never would)
in_cli $UT session 198.19.2.2:7021 --repeat 16 --interval 0.25 >"$VR_TMP/wg-restart" 2>&1 &
talker=$!
sleep 1
in_rtr ip link del wg1
vr_check "wg1 deleted: the module ends the UDP association bound to it" \
    vr_wait_log "\[wireguard-bind/wg1\] flow [0-9]+: UDP association ended: interface wg1 (is down|does not exist)"
outb_wg "$NS_RTR" wireguard-go -f wg1 >>"$VR_TMP/wireguard-go.log" 2>&1 &
VR_PIDS+=($!)
for i in $(seq 1 100); do in_rtr ip link show wg1 >/dev/null 2>&1 && break; sleep 0.05; done
outb_wg "$NS_RTR" wg set wg1 private-key "$VR_TMP/wg1.rtr.key" listen-port 51821 \
    peer "$(cat "$VR_TMP/wg1.srv.pub")" allowed-ips 0.0.0.0/0,::/0 endpoint 198.19.2.2:51821
in_rtr ip addr add 198.18.201.2/24 dev wg1
in_rtr ip -6 addr add 2001:db8:201::2/64 dev wg1 nodad
in_rtr ip link set wg1 up
in_rtr ip -6 route add default dev wg1 table 201
wait $talker
vr_check "... the client saw the outage ($(grep -c 'no answer' "$VR_TMP/wg-restart") rounds unanswered)" \
    grep -q "no answer" "$VR_TMP/wg-restart"
vr_check "... and the same client port is answered through the new wg1 ($(tail -n1 "$VR_TMP/wg-restart"))" \
    grep -qE "^198\.19\.2\.2:7021 198\.18\.201\.2 [0-9]+ from 198\.19\.2\.2 7021$" <(tail -n1 "$VR_TMP/wg-restart")
vr_check "the daemon is alive" outb_alive

# ======== ecmp over wg1 and wg2
: >"$VR_TMP/spread"
for i in $(seq 1 16); do in_cli $UT whoami 198.19.2.2 7031 >>"$VR_TMP/spread"; done
n1=$(grep -c '^198\.18\.201\.2 .* from 198\.19\.2\.2 7031$' "$VR_TMP/spread")
n2=$(grep -c '^198\.18\.202\.2 .* from 198\.19\.2\.2 7031$' "$VR_TMP/spread")
vr_check "ecmp: 16 sessions all answered through a member, replies from the destination (wg1=$n1 wg2=$n2)" \
    vr_eq "$((n1 + n2))" "16"
vr_check "ecmp: the sessions spread over both members" test "$n1" -ge 1 -a "$n2" -ge 1
# one session, two remotes (full cone), 5 rounds each: one member, one mapping
bad=0 members=
for i in $(seq 1 8); do
    out=$(in_cli $UT session 198.19.2.2:7031 198.19.2.11:7032 --repeat 5)
    echo "$out" >>"$VR_TMP/sessions"
    n=$(grep -c ' from ' <<<"$out")
    maps=$(awk '{print $2, $3}' <<<"$out" | sort -u | wc -l)
    f1=$(grep -c '^198\.19\.2\.2:7031 .* from 198\.19\.2\.2 7031$' <<<"$out")
    f2=$(grep -c '^198\.19\.2\.11:7032 .* from 198\.19\.2\.11 7032$' <<<"$out")
    if [ "$n" != 10 ] || [ "$maps" != 1 ] || [ "$f1" != 5 ] || [ "$f2" != 5 ]; then
        bad=$((bad + 1)); echo "  session $i: $out" >&2
    fi
    members="$members $(awk 'NR == 1 {print $2}' <<<"$out")"
done
vr_check "ecmp: 8 sessions x 2 remotes x 5 rounds: each session keeps one member and one mapping, replies from each remote ($bad bad)" \
    vr_eq "$bad" "0"
nt=$(tr ' ' '\n' <<<"$members" | grep -cE '^198\.18\.20[12]\.2$')
vr_check "ecmp: each of those sessions went through a tunnel ($members)" vr_eq "$nt" "8"
# the member follows the client endpoint, not the remote it reached first:
# once its session expired, a client port starting over with the other
# remote comes out through the same tunnel
: >"$VR_TMP/first"
for i in $(seq 1 8); do in_cli $UT whoami 198.19.2.2 7031 --bind $((41000 + i)) >>"$VR_TMP/first"; done
sleep 5   # idle_timeout_s = 3, swept every second
: >"$VR_TMP/again"
for i in $(seq 1 8); do in_cli $UT whoami 198.19.2.11 7032 --bind $((41000 + i)) >>"$VR_TMP/again"; done
a=$(cut -d' ' -f1 "$VR_TMP/first" | tr '\n' ' ')
b=$(cut -d' ' -f1 "$VR_TMP/again" | tr '\n' ' ')
vr_check "ecmp: 8 client ports keep their tunnel in a new session that starts with another remote ($a/ $b)" \
    bash -c "[ '$a' = '$b' ] && [ \$(grep -c '^198\.18\.20[12]\.2 ' '$VR_TMP/again') = 8 ]"
vr_check "... those were new sessions (the first ones ended idle)" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:41008 -> 198\.19\.2\.2:7031 .*end=idle timeout"
echo_check "ecmp" 198.19.2.2 7031

# ======== counters
kill -USR1 "$VR_DAEMON_PID"
vr_check "stats: socks5 counts its UDP associations" vr_wait_log "stats: \[socks5/dante\] udp_associations=[1-9]"
vr_check "stats: ecmp counts sessions on wg1" vr_wait_log "stats: \[ecmp/lb\] member\.wg1\.flows=[1-9]"
vr_check "stats: ecmp counts sessions on wg2" vr_wait_log "stats: \[ecmp/lb\] member\.wg2\.flows=[1-9]"
vr_check "the daemon is alive" outb_alive
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "SIGTERM: exits 0 (no leak under ASan)" vr_eq "$?" "0"
# Dante logs an association when it ends: the router's sessions closed their
# control connections, and Dante relayed to an IPv6 destination for them
vr_check "Dante's log: an association of the router relayed to the IPv6 destination, closed by us" \
    outb_wait_file "$VR_TMP/dante.log" \
    "udpassociate \]: [0-9]+/[0-9]+ -> 198\.19\.2\.1\.[0-9]+ .* -> 2001:db8:2::2\.[0-9]+ 2001:db8:2::2\.7011 .*local client closed"
vr_finish
