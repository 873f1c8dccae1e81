#!/bin/bash
# Issue 11 end to end, socks5 hardening:
#  - a SOCKS5 server whose UDP replies claim 127.0.0.1, the gateway's own
#    address, multicast or a private address as their source: nothing of it
#    reaches the client, the datagrams are counted (udp_source_refused) and
#    logged once, and local UDP services bound there with SO_REUSEADDR keep
#    their own datagrams;
#  - the core's reply sockets do not share a port on a local address (a
#    full-cone reply "from" a local service through direct), and still
#    share one with a wildcard local service for a remote address;
#  - udp_associate_rate: a client opening many source ports through socks5
#    (each a TCP connection and a handshake upstream) is held to its rate,
#    and another client still gets through at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
HS="python3 $VR_SRC/tests/e2e/s5_hostile.py"
vr_topo_up || exit 1
vr_tproxy_capture $PORT

for p in 7001 7002 7003; do vr_bg "$NS_SRV" $UT server --port $p --lifetime 300; done
vr_bg "$NS_SRV" $HS server 198.19.2.2 1090 --log "$VR_TMP/hostile.log" \
    --claim 127.0.0.1:5353,198.18.1.1:5354,224.0.0.251:5353,10.9.9.9:53
# local services on the gateway, bound with SO_REUSEADDR
vr_bg "$NS_RTR" $HS service 127.0.0.1 5353 --log "$VR_TMP/svc-lo"
vr_bg "$NS_RTR" $HS service 198.18.1.1 5354 --log "$VR_TMP/svc-gw"
vr_bg "$NS_RTR" $HS service 198.18.1.1 5355 --log "$VR_TMP/svc-b"
vr_bg "$NS_RTR" $HS service 0.0.0.0 7003 --log "$VR_TMP/svc-wild"
# the same server without forged sources: it counts the associations asked of it
vr_bg "$NS_SRV" $HS server 198.19.2.2 1091 --log "$VR_TMP/limited.log"
outb_wait_port "$NS_SRV" 198.19.2.2 1090 || exit 1
outb_wait_port "$NS_SRV" 198.19.2.2 1091 || exit 1
in_cli ip addr add 198.18.1.3/24 dev c0   # a second client

cat >"$VR_TMP/h.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "debug"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                udp = { nat = "endpoint-independent"; idle_timeout_s = 10; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "hostile"; module = "socks5"; server = "198.19.2.2"; port = 1090; },
  { tag = "limited"; module = "socks5"; server = "198.19.2.2"; port = 1091; udp_associate_rate = 5; }
);
route = { rules = ( { port = 7001; network = "udp"; outbound = "hostile"; },
                    { port = 7004; network = "udp"; outbound = "limited"; } ); final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/h.conf" || { vr_finish; exit 1; }

# ======== forged reply sources through socks5
got=$(in_cli $HS collect 198.19.2.2 7001 --bind 40001 --wait 2 | sort | tr '\n' ';')
vr_check "only the reply naming the real remote reaches the client ($got)" \
    vr_eq "$got" "ok from 198.19.2.2 7001;"
kill -USR1 "$VR_DAEMON_PID"
vr_check "the four forged sources are counted as udp_source_refused" \
    vr_wait_log "stats: \[socks5/hostile\] udp_source_refused=4$"
vr_check "logged at debug: a loopback source" \
    vr_wait_log "relay 198\.19\.2\.2:[0-9]+: dropped a datagram claiming to come from 127\.0\.0\.1:5353, a loopback address"
vr_check "... logged once for the burst (rate-limited), not once per datagram" \
    vr_eq "$(grep -c 'dropped a datagram claiming to come from' "$VR_TMP/vrouterd.log")" "1"
sleep 1.1
in_cli $HS collect 198.19.2.2 7001 --bind 40001 --wait 1 >/dev/null
vr_check "... the next line, a second later, says how many were left out" \
    vr_wait_log "claiming to come from .* \(3 more since the last such line\)"

# the services bound where the server claimed to be still get their own datagrams
in_rtr $HS send 127.0.0.1:5353 mine-lo
in_cli $HS send 198.18.1.1:5354 mine-gw
vr_check "the service on 127.0.0.1:5353 (SO_REUSEADDR) still gets its datagrams" \
    outb_wait_file "$VR_TMP/svc-lo" "^mine-lo$"
vr_check "the service on the gateway's 198.18.1.1:5354 (SO_REUSEADDR) still gets its datagrams" \
    outb_wait_file "$VR_TMP/svc-gw" "^mine-gw$"

# ======== the core: a full-cone reply "from" a local service, through direct
w=$(in_cli $UT whoami 198.19.2.2 7002 --bind 40002)
mapped=$(echo "$w" | cut -d' ' -f2)
vr_check "direct: the client's mapping is known ($w)" bash -c "[[ '$mapped' =~ ^[0-9]+$ ]]"
in_rtr $HS poke 198.18.1.1:5355 "198.19.2.1:$mapped"
sleep 0.3
in_cli $HS send 198.18.1.1:5355 mine-b
vr_check "a reply from a local service's address:port does not take that service's datagrams" \
    outb_wait_file "$VR_TMP/svc-b" "^mine-b$"
w=$(in_cli $UT whoami 198.19.2.2 7003)
vr_check "a remote port that a wildcard local service also uses (0.0.0.0:7003) still answers ($w)" \
    bash -c "[[ '$w' == *' from 198.19.2.2 7003' ]]"

# ======== udp_associate_rate = 5 (bucket of 10) per client
got=$(in_cli $HS collect 198.19.2.2 7004 --wait 2)
vr_check "the rate-limited outbound relays a client's first session ($got)" vr_eq "$got" "ok from 198.19.2.2 7004"
n0=$(grep -c '^assoc ' "$VR_TMP/limited.log")
in_cli $UT flood 198.19.2.2 7004 --count 60 >/dev/null
got=$(in_cli $HS collect 198.19.2.2 7004 --src 198.18.1.3 --wait 2)
vr_check "right after client 198.18.1.2 opened 60 source ports, client 198.18.1.3 still gets through ($got)" \
    vr_eq "$got" "ok from 198.19.2.2 7004"
sleep 0.5
n=$(($(grep -c '^assoc ' "$VR_TMP/limited.log") - n0))
vr_check "60 source ports of one client made at most 30 associations upstream, not 60 ($n)" \
    bash -c "[ $n -ge 2 ] && [ $n -le 30 ]"
kill -USR1 "$VR_DAEMON_PID"
vr_check "the refused ones are counted as udp_rate_limited" \
    vr_wait_log "stats: \[socks5/limited\] udp_rate_limited=([3-5][0-9])$"
vr_check "... and logged, naming the client and the key" \
    vr_wait_log "client 198\.18\.1\.2:[0-9]+ opens UDP associations faster than udp_associate_rate \(5/s\): refused"

n=$(grep -c "cannot open a UDP association" "$VR_TMP/vrouterd.log")
vr_check "the refused associations are not a core warning per source port ($n lines for ~50 refusals)" \
    bash -c "[ $n -le 5 ]"
vr_check "the daemon is alive" outb_alive
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "SIGTERM: exits 0 (no leak under ASan)" vr_eq "$?" "0"
vr_finish
