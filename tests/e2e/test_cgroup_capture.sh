#!/bin/bash
# Issue 17, cgroup capture of local programs (daemon.capture_cgroup): a curl
# run inside the capture cgroup on the router is routed by vrouterd's rules
# (the server sees the outbound's bind_address), IPv4 and IPv6; a curl
# outside the cgroup, or in the cgroup but another network namespace, is
# not captured; vrouterd itself runs inside the cgroup and its own sockets
# (the outbound's, the loop self-test's marked and unmarked probes) are not
# captured; SIGKILL and SIGTERM leave no program attached to the cgroup.
# UDP to IPv4 and IPv6 destinations (unconnected and connected sockets) is
# captured too; IPv6 through stand-ins in capture_cgroup_udp_prefix_v6,
# whose local route vrouterd adds, removes at SIGTERM or a reload without
# capture, and finds again (one route, not two) after a SIGKILL.
# This machine mounts cgroup v1: the test mounts cgroup2 at a private path.
source "$(dirname "$0")/lib.sh"

PORT=7893
CG_MNT=/tmp/vr-cg2-$$
CG=$CG_MNT/vrcap$$
cg_cleanup() {
    vr_cleanup
    local i
    for i in $(seq 1 50); do
        rmdir "$CG" 2>/dev/null && break
        [ -d "$CG" ] || break
        sleep 0.1
    done
    umount "$CG_MNT" 2>/dev/null
    rmdir "$CG_MNT" 2>/dev/null
}
trap cg_cleanup EXIT

STANDIN6=2001:db8:ffff::/112
write_conf() { # $1 = file, $2 = capture_cgroup, $3 = final outbound, $4 = capture_cgroup_udp_prefix_v6
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; ${2:+capture_cgroup = \"$2\";}
  capture_cgroup_udp_prefix_v6 = "${4:-$STANDIN6}"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
    udp = { idle_timeout_s = 1; }; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "via3"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; }
);
route = { final = "${3:-via3}"; };
CONF
}
# Runs a command inside the capture cgroup (cgroup.procs takes the caller's pid).
in_cg() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }
# Programs attached to the cgroup, by vrouterd's program names.
attached() { bpftool cgroup show "$CG" 2>>"$VR_TMP/bpftool.err" | tee -a "$VR_TMP/bpftool.out" | grep -cE 'vrouterd_(conn4|conn6|sockops)'; }
conns() { grep -cE "conn [0-9]+ tp " "$VR_TMP/vrouterd.log"; }
# Local routes for the IPv6 stand-in prefix in the router's namespace.
standin_routes() { in_rtr ip -6 route show table all | grep -c "^local $STANDIN6 "; }
# Waits (up to 5 s) for the log to count N flows: a flow's line is written
# when vrouterd closes it, which may be just after curl returned.
conns_reach() {
    local i
    for i in $(seq 1 100); do [ "$(conns)" -ge "$1" ] && break; sleep 0.05; done
    vr_eq "$(conns)" "$1"
}

# A build without eBPF (cmake -DVR_BPF=OFF, or clang/bpftool/libbpf missing)
# refuses the option: nothing to test there (test_bpf_config checks the refusal).
printf '%s\nlisteners = ( { tag = "tp"; port = 7893; } );\n' "daemon = { capture_cgroup = \"/\"; };" >"$VR_TMP/probe.conf"
if "$VR_BIN" -t -f "$VR_TMP/probe.conf" 2>&1 | grep -q "built without eBPF support"; then
    echo "skipped: this vrouterd was built without eBPF"; exit 0
fi
vr_topo_up || exit 1
mkdir -p "$CG_MNT" && mount -t cgroup2 none "$CG_MNT" && mkdir "$CG" || { vr_log "cannot mount cgroup2"; exit 1; }
vr_http_server || exit 1
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/udp_tool.py" server --port 5300 --lifetime 120 >>"$VR_TMP/udp.log" 2>&1
# Routes for the loop self-test's probes (192.0.2.1, 2001:db8::1): their
# connects must really start for the test to see where they go.
in_rtr ip route add 192.0.2.0/24 via 198.19.2.2
in_rtr ip -6 route add 2001:db8::/64 via 2001:db8:2::2

# ---- config errors name FILE:LINE
write_conf "$VR_TMP/bad.conf" "$CG_MNT/nosuch$$"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1)
vr_check "a missing cgroup directory is refused with FILE:LINE" \
    grep -qE "bad\.conf:1: daemon: capture_cgroup: .*is not a directory" <<<"$out"
write_conf "$VR_TMP/bad2.conf" "/tmp"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad2.conf" 2>&1)
vr_check "a directory outside cgroup2 is refused" grep -qE "bad2\.conf:1: .*is not on a cgroup v2 file system" <<<"$out"
write_conf "$VR_TMP/bad3.conf" "$CG" "" "2001:db8:ffff::/120"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad3.conf" 2>&1)
vr_check "a stand-in prefix too long for the slots is refused with FILE:LINE" \
    grep -qE "bad3\.conf:2: daemon: capture_cgroup_udp_prefix_v6: /120 is not a usable length" <<<"$out"
write_conf "$VR_TMP/bad4.conf" "$CG" "" "198.18.0.0/16"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/bad4.conf" 2>&1)
vr_check "an IPv4 stand-in prefix is refused" grep -qE "bad4\.conf:2: .*capture_cgroup_udp_prefix_v6: .*is not an IPv6 prefix" <<<"$out"

# ---- vrouterd itself runs in the capture cgroup (wrapper moves it first)
cat >"$VR_TMP/in_cg_vrouterd.sh" <<SH
#!/bin/sh
echo \$\$ >"$CG/cgroup.procs" || exit 99
exec "$VR_BIN" "\$@"
SH
chmod +x "$VR_TMP/in_cg_vrouterd.sh"
REAL_BIN=$VR_BIN
write_conf "$VR_TMP/a.conf" "$CG"
VR_BIN=$VR_TMP/in_cg_vrouterd.sh vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
VR_BIN=$REAL_BIN
vr_check "vrouterd runs inside the capture cgroup" grep -qx "$VR_DAEMON_PID" "$CG/cgroup.procs"
vr_check "the capture is attached (connect4, connect6, sockops)" vr_eq "$(attached)" 3
vr_check "the IPv6 stand-in prefix is routed as local, once" vr_eq "$(standin_routes)" 1
vr_check "the loop self-test ran with marked probes and passed" vr_wait_log "loop self-test: [0-9]+ marked probe"
vr_check "and with unmarked probes from vrouterd's own process" vr_wait_log "loop self-test: [0-9]+ unmarked probe"

c4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "IPv4 curl in the cgroup is routed by vrouterd: the server sees via3's 198.19.2.3" vr_eq "$c4" "198.19.2.3"
c6=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 "http://[2001:db8:2::2]/ip" | cut -d' ' -f1)
vr_check "IPv6 curl in the cgroup: the server sees 2001:db8:2::3" vr_eq "$c6" "2001:db8:2::3"
vr_check "the daemon logged the captured flow with its original destination" \
    vr_wait_log "conn [0-9]+ tp 127\.0\.0\.1:[0-9]+ -> 198\.19\.2\.2:80 .*outbound=via3"
vr_check "and the IPv6 one" vr_wait_log "conn [0-9]+ tp \[::1\]:[0-9]+ -> \[2001:db8:2::2\]:80 .*outbound=via3"
vr_check "vrouterd's own outbound sockets were not captured (one flow per curl, no loop)" conns_reach 2
vr_check "no loop refusal in the log" bash -c "! grep -q 'refused: loop\|is vrouterd.s own listener' $VR_TMP/vrouterd.log"

o4=$(in_rtr curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "a curl outside the cgroup is not captured (the router's own 198.19.2.1)" vr_eq "$o4" "198.19.2.1"
oc=$(in_cg ip netns exec "$NS_CLI" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "a curl in the cgroup but another network namespace is not captured" vr_eq "$oc" "198.18.1.2"
vr_check "neither reached vrouterd" vr_eq "$(conns)" 2
# An IPv6 socket connecting to an IPv4-mapped address (Java, dual-stack programs).
mapped=$(in_cg ip netns exec "$NS_RTR" python3 -c '
import socket
s = socket.socket(socket.AF_INET6)
s.settimeout(5)
s.connect(("::ffff:198.19.2.2", 80))
s.sendall(b"GET /ip HTTP/1.0\r\nHost: x\r\n\r\n")
d = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    d += b
print(d.split(b"\r\n\r\n", 1)[1].decode().split()[0])' 2>&1)
vr_check "an IPv6 socket's IPv4-mapped connect is captured too (server sees 198.19.2.3)" vr_eq "$mapped" "198.19.2.3"
vr_check "captured as one more flow" conns_reach 3
vr_check "logged as an IPv4 flow" bash -c "grep -E 'conn [0-9]+ tp ' $VR_TMP/vrouterd.log | tail -1 | grep -qE 'tp 127\.0\.0\.1:[0-9]+ -> 198\.19\.2\.2:80 '"

# ---- UDP (IPv4): unconnected and connected sockets; the program sees the
# original destination as the source of the answer and as its peer.
u1=$(in_cg ip netns exec "$NS_RTR" python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 198.19.2.2 5300)
vr_check "UDP sendto in the cgroup is routed by vrouterd (server sees 198.19.2.3), answer from 198.19.2.2:5300" \
    bash -c "grep -qE '^198\.19\.2\.3 [0-9]+ from 198\.19\.2\.2 5300$' <<<'$u1'"
u2=$(in_cg ip netns exec "$NS_RTR" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("198.19.2.2", 5300))
s.send(b"whoami")
d = s.recv(2048).decode()
print(d.split()[0], "peer %s %d" % s.getpeername())' 2>&1)
vr_check "connected UDP in the cgroup: captured, the reply accepted, getpeername shows the original" \
    vr_eq "$u2" "198.19.2.3 peer 198.19.2.2 5300"
u4=$(in_cg ip netns exec "$NS_RTR" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"whoami", ("::ffff:198.19.2.2", 5300))
d, a = s.recvfrom(2048)
print(d.decode().split()[0], "from %s %d" % a[:2])' 2>&1)
vr_check "UDP from an IPv6 socket to an IPv4-mapped address: captured, answer from the original" \
    vr_eq "$u4" "198.19.2.3 from ::ffff:198.19.2.2 5300"
vr_check "the UDP sessions are logged with their original destination (at their end)" \
    vr_wait_log "udp [0-9]+ tp 127\.0\.0\.1:[0-9]+ -> 198\.19\.2\.2:5300 .*outbound=via3" 10
# ---- UDP to IPv6 destinations: the same, through the IPv6 stand-ins.
u6=$(in_cg ip netns exec "$NS_RTR" python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 2001:db8:2::2 5300)
vr_check "IPv6 UDP sendto in the cgroup is routed by vrouterd (server sees 2001:db8:2::3), answer from 2001:db8:2::2 5300" \
    bash -c "grep -qE '^2001:db8:2::3 [0-9]+ from 2001:db8:2::2 5300$' <<<'$u6'"
u7=$(in_cg ip netns exec "$NS_RTR" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("2001:db8:2::2", 5300))
s.send(b"whoami")
d = s.recv(2048).decode()
print(d.split()[0], "peer %s %d" % s.getpeername()[:2])' 2>&1)
vr_check "connected IPv6 UDP in the cgroup: captured, the reply accepted, getpeername shows the original" \
    vr_eq "$u7" "2001:db8:2::3 peer 2001:db8:2::2 5300"
vr_check "the IPv6 UDP sessions are logged with their original destination" \
    vr_wait_log "udp [0-9]+ tp \[[0-9a-f:]+\]:[0-9]+ -> \[2001:db8:2::2\]:5300 .*outbound=via3" 10
u8=$(in_rtr python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 2001:db8:2::2 5300)
vr_check "IPv6 UDP outside the cgroup is not captured (the router's own 2001:db8:2::1)" \
    bash -c "grep -qE '^2001:db8:2::1 [0-9]+ from 2001:db8:2::2 5300$' <<<'$u8'"
u3=$(in_rtr python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 198.19.2.2 5300)
vr_check "UDP outside the cgroup is not captured" bash -c "grep -qE '^198\.19\.2\.1 [0-9]+ from 198\.19\.2\.2 5300$' <<<'$u3'"
t1=$(in_cg ip netns exec "$NS_RTR" python3 -c '
import socket
s = socket.create_connection(("198.19.2.2", 80), timeout=5)
print("peer %s %d" % s.getpeername())' 2>&1)
vr_check "a captured TCP socket's getpeername shows its original destination" vr_eq "$t1" "peer 198.19.2.2 80"
vr_check "(that connection was captured)" conns_reach 4

# ---- a reload re-routes captured flows by the new rules
write_conf "$VR_TMP/a.conf" "$CG" direct
vr_reload
vr_check "reload succeeded" vr_wait_log "generation 2 active"
r4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "after the reload the captured curl leaves by the new final outbound (direct: 198.19.2.1)" vr_eq "$r4" "198.19.2.1"
vr_check "and it was captured" conns_reach 5
vr_check "still one attachment" vr_eq "$(attached)" 3

# ---- a reload that moves the IPv6 stand-in prefix replaces the route
write_conf "$VR_TMP/a.conf" "$CG" direct 2001:db8:fffe::/112
vr_reload
vr_check "reload with another stand-in prefix succeeded" vr_wait_log "generation 3 active"
vr_check "the new prefix is routed as local" \
    vr_eq "$(in_rtr ip -6 route show table all | grep -c '^local 2001:db8:fffe::/112 ')" 1
vr_check "and the old prefix's route is gone" vr_eq "$(standin_routes)" 0
m6=$(in_cg ip netns exec "$NS_RTR" python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 2001:db8:2::2 5300)
vr_check "IPv6 UDP is captured through the new prefix (direct: the server sees 2001:db8:2::1)" \
    bash -c "grep -qE '^2001:db8:2::1 [0-9]+ from 2001:db8:2::2 5300$' <<<'$m6'"
vr_check "(that datagram went through vrouterd)" \
    vr_wait_log "udp [0-9]+ tp \[[0-9a-f:]+\]:[0-9]+ -> \[2001:db8:2::2\]:5300 .*outbound=direct" 10

# ---- a reload without capture_cgroup detaches; one with it attaches again
write_conf "$VR_TMP/a.conf" "" direct
vr_reload
vr_check "reload without capture_cgroup: nothing attached" vr_eq "$(attached)" 0
vr_check "and the stand-in route is gone" vr_eq "$(standin_routes)" 0
n4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "and the cgroup's curl connects directly" vr_eq "$n4" "198.19.2.1"
write_conf "$VR_TMP/a.conf" "$CG"
vr_reload
vr_check "reload with capture_cgroup again: attached" vr_eq "$(attached)" 3
vr_check "and the stand-in route is back" vr_eq "$(standin_routes)" 1
a4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "and captured again" vr_eq "$a4" "198.19.2.3"

# ---- SIGKILL: the kernel detaches the links with the process
kill -KILL "$VR_DAEMON_PID"; vr_daemon_wait
for i in $(seq 1 50); do [ "$(attached)" = 0 ] && break; sleep 0.1; done
vr_check "after SIGKILL no capture program is left on the cgroup" vr_eq "$(attached)" 0
k4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "and programs in the cgroup connect directly again" vr_eq "$k4" "198.19.2.1"
vr_check "SIGKILL leaves the stand-in route behind (nothing could remove it)" vr_eq "$(standin_routes)" 1

# ---- restart (outside the cgroup this time), then SIGTERM
write_conf "$VR_TMP/a.conf" "$CG"
mv "$VR_TMP/vrouterd.log" "$VR_TMP/vrouterd.1.log" # vr_daemon_start waits for a "ready" line
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "restart: attached once" vr_eq "$(attached)" 3
s4=$(in_cg ip netns exec "$NS_RTR" curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "restart: captured again" vr_eq "$s4" "198.19.2.3"
vr_check "restart: the killed run's stand-in route was found and removed" \
    vr_wait_log "removed the stand-in route local 2001:db8:ffff::/112 left by an earlier run"
vr_check "restart: exactly one stand-in route" vr_eq "$(standin_routes)" 1
s6=$(in_cg ip netns exec "$NS_RTR" python3 "$VR_SRC/tests/e2e/udp_tool.py" whoami 2001:db8:2::2 5300)
vr_check "restart: IPv6 UDP captured again" bash -c "grep -qE '^2001:db8:2::3 [0-9]+ from 2001:db8:2::2 5300$' <<<'$s6'"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_check "SIGTERM: vrouterd exits 0" vr_eq "$?" 0
vr_check "SIGTERM leaves no program on the cgroup" vr_eq "$(attached)" 0
vr_check "SIGTERM removes the stand-in route" vr_eq "$(standin_routes)" 0
vr_finish
