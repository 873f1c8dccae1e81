#!/bin/bash
# Issue 16, the FakeIP flow side: vrouterd starts with a persist file the
# test pre-wrote (the restart case: the client still holds 198.51.100.7 for
# ssh.example) and
#   - ssh to 198.51.100.7 leaves through the outbound the DOMAIN rule names
#     (socks5 to Dante: sshd sees Dante's address), with no sniffer (port 22
#     is not sniffed), and the CONNECT carries the name (microsocks logs it);
#   - an ip_cidr rule over the fake range standing first does not catch it;
#   - a fake address that maps to nothing is refused (RST) with the reason
#     logged, never connected to;
#   - direct by name through the resolver (dnsmasq in the server namespace
#     answers direct.example): TCP and UDP to the fake address reach the
#     real server from the router's address; a name dnsmasq answers
#     NXDOMAIN for fails the flow with the reason, and nothing at all is
#     sent to the fake range (an nft counter on the router's output);
#   - the same by name through wireguard-bind over a wireguard-go tunnel
#     (TCP and UDP: the server sees the tunnel's address);
#   - UDP to a fake address is routed by its name too (Dante UDP ASSOCIATE
#     with ATYP 3; the answer comes back from the fake address);
#   - listener sniff_override: a sniffed domain that matched a domain rule
#     is connected to by name even by an outbound with send_domain = false;
#   - restart with persist keeps the mapping (saved at exit), without
#     persist the flow is refused with the reason; a corrupt file is set
#     aside, logged, and the pool starts empty.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/outb_lib.sh"

PORT=7893
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
# The SOCKS servers resolve the test names through their private /etc/hosts.
outb_private_etc "198.19.2.2 ssh.example micro.example echo.example sniffed.example"

# ---- sshd in the server namespace, own config, key login only
outb_sshd_start

cat >"$VR_TMP/dante.conf" <<CONF
logoutput: $VR_TMP/dante.log
internal: 198.19.2.2 port = 1080
external: 198.19.2.2
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 log: error }
socks pass { from: 0/0 to: 0/0 log: connect disconnect error }
CONF
outb_bg_etc "$NS_SRV" danted -f "$VR_TMP/dante.conf" -N 2
outb_bg_etc "$NS_SRV" microsocks -i 198.19.2.2 -p 1082 -b 198.19.2.2 >"$VR_TMP/micro.log" 2>&1
vr_bg "$NS_SRV" $UT server --port 9999 --reply-from-dst --lifetime 120
# the resolver's upstream: direct.example is the real server, any other
# name under example. is NXDOMAIN
vr_bg "$NS_SRV" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --port=53 \
    --listen-address=198.19.2.2 --bind-interfaces --user=root --pid-file= \
    --host-record=direct.example,198.19.2.2 --host-record=wg.example,198.19.2.2 --local=/example/ --local-ttl=60 \
    --log-queries --log-facility="$VR_TMP/dnsmasq.log"
for p in 22 53 1080 1082; do outb_wait_port "$NS_SRV" 198.19.2.2 $p || exit 1; done
# Were anything ever sent toward a fake address, it would leave by this
# route and be counted here.
in_rtr ip route add 198.51.100.0/24 via 198.19.2.2
in_rtr nft -f - <<NFT
table inet vrfakecount {
  chain output { type filter hook output priority 0; policy accept; ip daddr 198.51.100.0/24 counter; }
}
NFT
outb_wg_tunnel 1 || { vr_finish; exit 1; }
sent_to_fake() { in_rtr nft list chain inet vrfakecount output | grep -oE 'packets [0-9]+' | cut -d' ' -f2; }

# ---- the persisted pool a previous run left (the client still holds these)
cat >"$VR_TMP/fakeip.db" <<DB
# vrouterd fakeip v1
198.51.100.7 ssh.example
198.51.100.8 echo.example
198.51.100.10 direct.example
198.51.100.11 micro.example
198.51.100.13 nx.example
198.51.100.14 wg.example
DB

conf() { # $1 file, $2 persist line (or empty)
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; metrics = { address = "127.0.0.1"; port = 9479; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["http"]; sniff_timeout_ms = 300; sniff_override = true;
                udp = { idle_timeout_s = 2; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "dante"; module = "socks5"; server = "198.19.2.2"; port = 1080; send_domain = false; },
  { tag = "micro"; module = "socks5"; server = "198.19.2.2"; port = 1082; send_domain = false; },
  { tag = "wg1"; module = "wireguard-bind"; interface = "wg1"; }
);
dns = { upstreams = ( { tag = "lan"; address = "udp://198.19.2.2:53"; } ); fakeip = { range = "198.51.100.0/24"; range6 = "2001:db8:fa::/64"; ttl = 1; $2 }; };
route = { rules = (
    { ip_cidr = ["198.51.100.0/24"]; action = "reject"; },
    { domain = ["ssh.example", "echo.example"]; outbound = "dante"; },
    { domain = ["micro.example", "sniffed.example"]; outbound = "micro"; },
    { domain = ["wg.example"]; outbound = "wg1"; }
  ); final = "direct"; };
CONF
}
conf "$VR_TMP/persist.conf" 'persist = "fakeip.db"; persist_interval_s = 1;'
conf "$VR_TMP/nopersist.conf" ''
"$VR_BIN" -t -f "$VR_TMP/persist.conf" >"$VR_TMP/check.out" 2>&1
vr_check "the dns.fakeip config validates" vr_eq "$?" "0"
vr_daemon_start "$VR_TMP/persist.conf" || { vr_finish; exit 1; }
vr_check "the persisted mappings were loaded" vr_wait_log "fakeip: 6 mappings loaded from $VR_TMP/fakeip.db"

# After a daemon stopped: its log shows no ASan/UBSan report (leaks at exit
# included); the next run gets a fresh log.
RUN=1
next_run() {
    vr_check "run $RUN ended without a sanitizer report" \
        bash -c "! grep -qE 'Sanitizer|runtime error' '$VR_TMP/vrouterd.log'"
    mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.$RUN.log"
    RUN=$((RUN + 1))
}

ssh_to() { # $1 address: what sshd saw as the client ("<ip> <port> <ip> <port>")
    in_cli timeout 15 ssh -F /dev/null -i "$VR_TMP/id" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR root@"$1" 'echo $SSH_CONNECTION'
}
refused_fast() { # $1 address $2 port: the connection ends at once (reset or closed), no byte comes
    in_cli python3 -c '
import socket, sys, time
s = socket.socket(); s.settimeout(5); t = time.time()
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); s.settimeout(3)
    d = s.recv(10)
    if d == b"":
        sys.exit(0 if time.time() - t < 3 else 1)
    print("got", d); sys.exit(1)
except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
    sys.exit(0 if time.time() - t < 3 else 1)
except Exception as e:
    print(e); sys.exit(1)' "$1" "$2"
}

# (a) ssh by name through the domain rule's outbound; (c) past the ip_cidr rule
s=$(ssh_to 198.51.100.7)
vr_check "ssh to the fake address reaches sshd through Dante (sshd sees Dante's address) [$s]" \
    bash -c "[[ '$s' == '198.19.2.2 '*' 198.19.2.2 22' ]]"
vr_check "the connection's log line: routed by the domain rule to dante, domain ssh.example" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.51\.100\.7:22 ssh\.example rule=rule #2 outbound=dante .*end=closed"
vr_check "no sniffer ran for it (no protocol on the line)" \
    bash -c "! grep -E '198\.51\.100\.7:22 ssh\.example (http|unknown)' '$VR_TMP/vrouterd.log'"
vr_check "Dante connected to the name's address (198.19.2.2:22), though send_domain = false" \
    outb_wait_file "$VR_TMP/dante.log" "tcp/connect .* -> 198\.19\.2\.2\.[0-9]+ 198\.19\.2\.2\.22$"
# the CONNECT carries ATYP 3: microsocks logs the name it was asked for
got=$(in_cli curl -s --max-time 5 http://198.51.100.11/ip | cut -d' ' -f1)
vr_check "HTTP to micro.example's fake address through microsocks works" vr_eq "$got" "198.19.2.2"
vr_check "microsocks was asked for micro.example:80 (ATYP 3), not the fake address" \
    outb_wait_file "$VR_TMP/micro.log" "connected to micro\.example:80"
vr_check "... and never for 198.51.100.11" bash -c "! grep -q '198\.51\.100\.11' '$VR_TMP/micro.log'"

# (b) a fake address with no mapping: refused, logged, never connected to
vr_check "a fake address that maps to nothing is refused at once" refused_fast 198.51.100.9 22
vr_check "... with the reason logged" \
    vr_wait_log "conn [0-9]+ tp .* -> 198\.51\.100\.9:22 .*end=refused: fakeip 198\.51\.100\.9:22 maps to no name"
vr_check "the network address of the range is refused too" refused_fast 198.51.100.0 22

# direct by name: host->resolve asks dnsmasq, direct connects to the real
# address; the server sees the router, the log line names the domain
got=$(in_cli curl -s --max-time 5 http://198.51.100.10/ip | cut -d' ' -f1)
vr_check "TCP to direct.example's fake address reaches the real server through direct (it sees the router) [$got]" \
    bash -c "[[ '$got' =~ ^198\.19\.2\.[13]$ ]]"
vr_check "... the close line: routed to direct, domain direct.example, closed normally" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.51\.100\.10:80 direct\.example rule=final outbound=direct .*end=closed"
vr_check "... dnsmasq was asked for direct.example" outb_wait_file "$VR_TMP/dnsmasq.log" "query\[A\] direct\.example from 198\.19\.2\.[13]"

w=$(in_cli $UT whoami 198.51.100.10 9999)
vr_check "UDP by name through direct: the real server sees the router, the answer comes from the fake address [$w]" \
    bash -c "[[ '$w' =~ ^198\.19\.2\.[13]\ [0-9]+\ from\ 198\.51\.100\.10\ 9999$ ]]"
vr_check "... the UDP session's line names the domain and direct, and no protocol (no sniffer ran)" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.51\.100\.10:9999 direct\.example rule=final outbound=direct .*end=idle timeout" 15

# a name the resolver cannot resolve (dnsmasq: NXDOMAIN): the flow fails
# with the reason, and nothing goes to the fake address
vr_check "direct by name, NXDOMAIN: the connection fails at once" refused_fast 198.51.100.13 80
vr_check "... with the reason on the close line" \
    vr_wait_log "198\.51\.100\.13:80 nx\.example rule=final outbound=direct .*end=connect failed: direct: cannot resolve nx\.example: no such name or no address"
w=$(in_cli $UT whoami 198.51.100.13 9999)
vr_check "UDP by name, NXDOMAIN: no answer" vr_eq "$w" "no answer"
vr_check "... the session's line ends with the reason in words" \
    vr_wait_log "udp [0-9]+ tp .* -> 198\.51\.100\.13:9999 nx\.example .*end=outbound ended the association: cannot resolve nx\.example: no such name or no address"
vr_check "... and direct says why (in words, not ENOENT's \"No such file or directory\")" \
    vr_wait_log "direct: UDP: cannot resolve nx\.example: no such name or no address"
# wireguard-bind by name: resolved through the resolver, connected and
# sent through the tunnel; the server sees the tunnel's address
got=$(in_cli curl -s --max-time 5 http://198.51.100.14/ip | cut -d' ' -f1)
vr_check "TCP to wg.example's fake address goes through the tunnel (the server sees 198.18.201.2) [$got]" \
    vr_eq "$got" "198.18.201.2"
vr_check "... the close line: wg.example, its rule, outbound wg1" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.51\.100\.14:80 wg\.example rule=rule #4 outbound=wg1 .*end=closed"
w=$(in_cli $UT whoami 198.51.100.14 9999)
vr_check "UDP by name through wireguard-bind: seen from the tunnel, answered from the fake address [$w]" \
    bash -c "[[ '$w' =~ ^198\.18\.201\.2\ [0-9]+\ from\ 198\.51\.100\.14\ 9999$ ]]"

vr_check "nothing was ever sent toward the fake range (router output counter)" vr_eq "$(sent_to_fake)" "0"

# UDP to a fake address: routed by the name, ATYP 3 through Dante's UDP relay
w=$(in_cli $UT whoami 198.51.100.8 9999)
vr_check "UDP to echo.example's fake address is answered from the fake address [$w]" \
    bash -c "[[ '$w' == '198.19.2.2 '*' from 198.51.100.8 9999' ]]"
vr_check "the UDP session's log line: routed by its domain rule" \
    vr_wait_log "udp [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.51\.100\.8:9999 echo\.example .*rule=rule #2 outbound=dante" 15
w=$(in_cli $UT whoami 198.51.100.12 9999)
vr_check "UDP to an unmapped fake address gets nothing" vr_eq "$w" "no answer"
vr_check "... and its session ends with the reason" \
    vr_wait_log "udp [0-9]+ tp .* -> 198\.51\.100\.12:9999 .*end=refused: fakeip 198\.51\.100\.12:9999 maps to no name" 15

# sniff_override: the client's DNS was poisoned (198.19.2.40 serves
# nothing); the sniffed Host matched a domain rule, so the name is sent
got=$(in_cli curl -s --max-time 5 --resolve sniffed.example:80:198.19.2.40 http://sniffed.example/ip | cut -d' ' -f1)
vr_check "sniff_override: a poisoned address with a sniffed domain reaches the real server" vr_eq "$got" "198.19.2.2"
vr_check "... microsocks was asked for the name though send_domain = false" \
    outb_wait_file "$VR_TMP/micro.log" "connected to sniffed\.example:80"

# a reload keeps the pool: the same fake address still reaches ssh.example
vr_reload
vr_check "reload (SIGHUP) succeeded" vr_wait_log "reload: generation 2 active"
s=$(ssh_to 198.51.100.7)
vr_check "after a reload, ssh to the fake address still works [$s]" bash -c "[[ '$s' == '198.19.2.2 '*' 198.19.2.2 22' ]]"

# the pool's use is counted: SIGUSR1's stats line and /metrics
kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1 logs the pool's use" \
    vr_wait_log "stats: fakeip: 6/254 IPv4 and 0/[0-9]+ IPv6 mappings, 0 assigned \(0 recycled\), flows [1-9][0-9]* routed by name, [1-9][0-9]* refused \(no mapping\), persist "
m=$(in_rtr curl -s --max-time 5 http://127.0.0.1:9479/metrics)
vr_check "/metrics: vrouter_fakeip_mappings{family=\"ipv4\"} 6" grep -qx 'vrouter_fakeip_mappings{family="ipv4"} 6' <<<"$m"
vr_check "/metrics: refused lookups counted" grep -qE '^vrouter_fakeip_lookups_total\{result="gone"\} [1-9]' <<<"$m"
vr_check "/metrics: the refused connections are end=refused" \
    grep -qE '^vrouter_connections_total\{listener="tp",outbound="none",end="refused"\} [1-9]' <<<"$m"

# (d) restart with persist: the mapping survives (saved at exit, loaded again)
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "the pool was saved at exit, still holding ssh.example" grep -qx "198.51.100.7 ssh.example" "$VR_TMP/fakeip.db"
vr_check "no temp file left beside it" bash -c "[ ! -e '$VR_TMP/fakeip.db.tmp' ]"
next_run
vr_daemon_start "$VR_TMP/persist.conf" || { vr_finish; exit 1; }
s=$(ssh_to 198.51.100.7)
vr_check "after a restart with persist, ssh to the same fake address still works [$s]" \
    bash -c "[[ '$s' == '198.19.2.2 '*' 198.19.2.2 22' ]]"

# without persist: the mapping is gone; the client's connection is refused
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
next_run
vr_daemon_start "$VR_TMP/nopersist.conf" || { vr_finish; exit 1; }
vr_check "after a restart without persist, the held fake address is refused" refused_fast 198.51.100.7 22
vr_check "... with the reason logged" \
    vr_wait_log "-> 198\.51\.100\.7:22 .*end=refused: fakeip 198\.51\.100\.7:22 maps to no name \(recycled, or lost in a restart without dns\.fakeip\.persist\)"

# a corrupt persist file: logged, set aside, the pool starts empty
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
printf '# vrouterd fakeip v1\n198.51.100.7 ssh.example\n198.51.100.x broken\n' >"$VR_TMP/fakeip.db"
next_run
vr_daemon_start "$VR_TMP/persist.conf" || { vr_finish; exit 1; }
vr_check "a corrupt persist file is reported with FILE:LINE and an empty pool" \
    vr_wait_log "fakeip: $VR_TMP/fakeip.db:3: not an IPv4 or IPv6 address: the file is corrupt; starting with an EMPTY FakeIP pool"
vr_check "... and moved aside for a look" test -s "$VR_TMP/fakeip.db.corrupt"
vr_check "... and its mappings are not used" refused_fast 198.51.100.7 22

# a reload that changes the range: the old range is retired, so a client
# still holding 198.51.100.7 is refused with the reason, not routed as an
# ordinary address (which the ip_cidr rule would reject as "rule #1")
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
printf '# vrouterd fakeip v1\n198.51.100.7 ssh.example\n' >"$VR_TMP/fakeip.db"
next_run
vr_daemon_start "$VR_TMP/persist.conf" || { vr_finish; exit 1; }
s=$(ssh_to 198.51.100.7)
vr_check "started again on a good file: ssh works [$s]" bash -c "[[ '$s' == '198.19.2.2 '*' 198.19.2.2 22' ]]"
sed 's|range = "198.51.100.0/24"|range = "203.0.113.0/24"|' "$VR_TMP/persist.conf" >"$VR_TMP/moved.conf"
cp "$VR_TMP/moved.conf" "$VR_TMP/persist.conf"
vr_reload
vr_check "reload with another range succeeded" vr_wait_log "reload: generation 2 active"
vr_check "the old range's address is refused after the reload" refused_fast 198.51.100.7 22
vr_check "... as a fake address that maps to nothing, not by the ip_cidr rule" \
    vr_wait_log "-> 198\.51\.100\.7:22 .*end=refused: fakeip 198\.51\.100\.7:22 maps to no name"
vr_check "the daemon is still running" outb_alive
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
next_run

vr_finish
