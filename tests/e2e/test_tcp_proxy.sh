#!/bin/bash
# Issue 2 end to end: TPROXY'd TCP through vrouterd's `direct` outbounds,
# IPv4 and IPv6, bind_address and bind_interface, connect timeout,
# byte-exact bulk data, source-address routing, half-close,
# loop refusal, hitless reload, reloads under a connection stream, failed
# reload, idle timeout, fd exhaustion,
# max_connections, drain and its deadline.
source "$(dirname "$0")/lib.sh"

PORT=7893
write_conf() { # $1 = file, $2 = final outbound, $3 = extra daemon keys
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; ${3:-} };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; connect_timeout_ms = 2000; },
  { tag = "wan-c"; module = "direct"; bind_interface = "rb"; }
);
route = {
  rules = ( { port = [8080, 9999]; outbound = "wan-b"; }, { port = 8081; outbound = "wan-c"; } );
  final = "$2";
};
CONF
}

vr_topo_up || exit 1
# a second router-server link, rb/sb, for the outbound with bind_interface
ip link add rb netns "$NS_RTR" type veth peer name sb netns "$NS_SRV"
in_rtr ip addr add 198.19.3.1/24 dev rb
in_srv ip addr add 198.19.3.2/24 dev sb
in_rtr ip link set rb up
in_srv ip link set sb up
# the server silently drops SYNs to port 9999 (for connect_timeout_ms)
in_srv nft -f - <<NFT || { vr_log "nft: cannot load the server's drop rule"; vr_finish; exit 1; }
table inet blackhole {
  chain input { type filter hook input priority 0; tcp dport 9999 drop; }
}
NFT
vr_tproxy_capture $PORT
vr_http_server || exit 1
# more ports on the server, same handler
vr_http_server 8080 || exit 1
vr_http_server 8081 || exit 1
write_conf "$VR_TMP/a.conf" direct
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
sleep 0.3

ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "IPv4 flow proxied, leaves from the router's address" vr_eq "$ip4" "198.19.2.1"
ip6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]/ip" | cut -d' ' -f1)
vr_check "IPv6 flow proxied, leaves from the router's address" vr_eq "$ip6" "2001:db8:2::1"
vr_check "the daemon logged the IPv4 flow with its original destination" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*outbound=direct"
vr_check "the daemon logged the IPv6 flow" vr_wait_log "conn [0-9]+ tp \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:80"

b4=$(in_cli curl -s --max-time 5 http://198.19.2.2:8080/ip | cut -d' ' -f1)
vr_check "rule port=8080 picks wan-b: server sees bind_address 198.19.2.3" vr_eq "$b4" "198.19.2.3"
b6=$(in_cli curl -s --max-time 5 "http://[2001:db8:2::2]:8080/ip" | cut -d' ' -f1)
vr_check "wan-b over IPv6 binds 2001:db8:2::3" vr_eq "$b6" "2001:db8:2::3"

c4=$(in_cli curl -s --max-time 5 http://198.19.2.2:8081/ip | cut -d' ' -f1)
vr_check "bind_interface = \"rb\": the flow leaves through rb (the server sees 198.19.3.1)" vr_eq "$c4" "198.19.3.1"

t0=$(date +%s.%N)
in_cli curl -s --max-time 10 -o /dev/null http://198.19.2.2:9999/
t1=$(date +%s.%N)
vr_check "a server that drops SYNs: the flow ends at connect_timeout_ms = 2000 and is logged so" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:9999 .*outbound=wan-b .*time=(1\.9[0-9]+|2\.[0-9]+)s end=connect failed: connect timeout"
vr_check "... and the client is let go then, not at its own timeout ($(python3 -c "print(f'{$t1 - $t0:.1f}')") s)" \
    python3 -c "import sys; sys.exit(not 1.9 < $t1 - $t0 < 6)"

N=$((64 * 1024 * 1024))
want=$(vr_blob_sha256 "$N")
got=$(in_cli curl -s --max-time 60 http://198.19.2.2/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "64 MiB download over IPv4 arrives byte-exact" vr_eq "$got" "$want"
got6=$(in_cli curl -s --max-time 60 "http://[2001:db8:2::2]/blob/$N" | sha256sum | cut -d' ' -f1)
vr_check "64 MiB download over IPv6 arrives byte-exact" vr_eq "$got6" "$want"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$VR_TMP/upload"
up_want=$(sha256sum <"$VR_TMP/upload" | cut -d' ' -f1)
up_got=$(in_cli curl -s --max-time 60 --data-binary @"$VR_TMP/upload" -H "Content-Type: application/octet-stream" \
    http://198.19.2.2/echo | sha256sum | cut -d' ' -f1)
vr_check "16 MiB upload echoed back byte-exact" vr_eq "$up_got" "$up_want"

hc=$(in_cli python3 "$VR_SRC/tests/e2e/client.py" halfclose 198.19.2.2 80 /blob/3000000 | cut -d' ' -f1)
vr_check "half-close: a client that shut its write side still gets the full reply" vr_eq "$hc" "3000000"

loop=$(in_cli curl -s --max-time 3 -o /dev/null -w '%{http_code}' http://198.18.1.1:$PORT/ip)
vr_check "a flow to vrouterd's own listener is refused as a loop" vr_wait_log "refused: destination 198\.18\.1\.1:$PORT is vrouterd's own listener"

# --- hitless reload: a long transfer keeps going, new flows follow new rules
in_cli curl -s --max-time 60 --limit-rate 20M http://198.19.2.2/blob/$N -o "$VR_TMP/long.bin" &
long_pid=$!
sleep 1
write_conf "$VR_TMP/a.conf" wan-b
vr_check "SIGHUP reload succeeds" vr_reload
vr_check "reload logged the new generation" vr_wait_log "reload: generation 2 active"
after=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "after reload a new flow follows the new final rule (wan-b)" vr_eq "$after" "198.19.2.3"
wait $long_pid
long=$(sha256sum <"$VR_TMP/long.bin" | cut -d' ' -f1)
vr_check "a 64 MiB transfer started before the reload completes byte-exact" vr_eq "$long" "$want"

# --- broken config: error with FILE:LINE, old rules keep serving
echo 'route = { final = "nowhere"; ' >"$VR_TMP/a.conf"
vr_reload
vr_check "a broken config is reported with FILE:LINE" vr_wait_log "a\.conf:[0-9]+: "
vr_check "the failed reload says the old generation stays" vr_wait_log "reload: failed, keeping generation 2"
still=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "after a failed reload the daemon serves with the old rules" vr_eq "$still" "198.19.2.3"

# --- reloads under a stream of new connections: none is refused or lost,
# while the rules change and a second listener comes and goes
write_conf "$VR_TMP/a.conf" direct
vr_reload
gens0=$(grep -c "reload: generation [0-9]* active" "$VR_TMP/vrouterd.log")
in_cli python3 "$VR_SRC/tests/e2e/client.py" burst 198.19.2.2 80 4 >"$VR_TMP/burst.out" 2>&1 &
burst_pid=$!
sleep 0.3
for i in 1 2 3 4 5 6 7 8; do
    if [ $((i % 2)) = 1 ]; then final=wan-b; else final=direct; fi
    write_conf "$VR_TMP/a.conf" "$final"
    # reloads 3 to 6 also listen on a second port (opened at 3, closed at 7)
    [ "$i" -ge 3 ] && [ "$i" -le 6 ] && sed -i "s/port = $PORT; } );/port = $PORT; }, { tag = \"tp2\"; mode = \"tproxy\"; address = \"::\"; port = 7895; } );/" "$VR_TMP/a.conf"
    vr_reload
    sleep 0.3
done
wait $burst_pid
gens=$(( $(grep -c "reload: generation [0-9]* active" "$VR_TMP/vrouterd.log") - gens0 ))
vr_check "8 reloads during the stream all took effect ($gens)" vr_eq "$gens" "8"
vr_check "... the second listener was opened and closed meanwhile" \
    bash -c "grep -q 'listener tp2: tproxy on \[::\]:7895 opened' '$VR_TMP/vrouterd.log' && grep -q 'listener tp2 on \[::\]:7895 closed' '$VR_TMP/vrouterd.log'"
vr_check "... no connection of the stream was refused, reset or left unanswered ($(cat "$VR_TMP/burst.out"))" \
    grep -qE "^ok [1-9][0-9]+ failed 0 " "$VR_TMP/burst.out"
vr_check "... and the stream followed the rule changes (both outbounds' addresses seen)" \
    bash -c "grep -q '198\.19\.2\.1=' '$VR_TMP/burst.out' && grep -q '198\.19\.2\.3=' '$VR_TMP/burst.out'"

# --- tcp_idle_timeout_s: an idle flow is closed, a slow but live one is not
write_conf "$VR_TMP/a.conf" direct "tcp_idle_timeout_s = 2;"
vr_reload
in_cli python3 "$VR_SRC/tests/e2e/client.py" trickle 198.19.2.2 80 4 >"$VR_TMP/trickle.out" 2>&1 &
trickle_pid=$!
idle=$(in_cli python3 "$VR_SRC/tests/e2e/client.py" idle 198.19.2.2 80 10)
wait $trickle_pid
vr_check "an idle connection is closed after tcp_idle_timeout_s = 2 ($idle)" \
    python3 -c "import sys; how, t = '$idle'.split(); sys.exit(not (how == 'closed' and 2.0 <= float(t) < 4.5))"
vr_check "... and logged as such" vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*up=0 down=0 .*end=idle timeout"
vr_check "a client sending a byte every 0.5 s for 4 s is not cut ($(cat "$VR_TMP/trickle.out"))" \
    grep -qE "^HTTP/1\.[01] 200" "$VR_TMP/trickle.out"

# --- out of file descriptors at accept: the connection waits in the accept
# queue (not refused, no spin), one warning says what to do, and it is
# served once files are free again
soft=$(prlimit --pid "$VR_DAEMON_PID" --nofile --output SOFT --noheadings | tr -d ' ')
# a limit that leaves exactly 4 free descriptors: two held flows take them
lim=$(python3 -c "
import os; used = {int(x) for x in os.listdir('/proc/$VR_DAEMON_PID/fd')}
lim, free = 0, 0
while free < 4:
    free += lim not in used; lim += 1
print(lim)")
prlimit --pid "$VR_DAEMON_PID" --nofile="$lim":
: >"$VR_TMP/hold.out"
in_cli python3 "$VR_SRC/tests/e2e/client.py" hold 198.19.2.2 80 2 4 >"$VR_TMP/hold.out" &
hold_pid=$!
for _ in $(seq 1 100); do [ -s "$VR_TMP/hold.out" ] && break; sleep 0.05; done
sleep 0.2
in_cli curl -s --max-time 15 http://198.19.2.2/ip >"$VR_TMP/starved.out" &
curl_pid=$!
vr_check "out of files at accept: one warning names the cause and the fix" \
    vr_wait_log "listener tp: accept: Too many open files: new connections wait .*raise the open-file limit"
t0=$(awk '{print $14 + $15}' "/proc/$VR_DAEMON_PID/stat")
sleep 1
t1=$(awk '{print $14 + $15}' "/proc/$VR_DAEMON_PID/stat")
vr_check "... the daemon does not spin meanwhile ($((t1 - t0)) ticks of CPU in 1 s)" test $((t1 - t0)) -lt 30
n=$(grep -c "accept: Too many open files" "$VR_TMP/vrouterd.log")
vr_check "... and warns once, not at every retry ($n)" vr_eq "$n" "1"
prlimit --pid "$VR_DAEMON_PID" --nofile="$soft":
wait $curl_pid
vr_check "... the waiting connection is served once files are free ($(cat "$VR_TMP/starved.out"))" \
    grep -q "^198\.19\.2\.1 " "$VR_TMP/starved.out"
vr_check "... and the recovery is logged" vr_wait_log "accepting again after [0-9]+ ms short of files or memory \([1-9][0-9]* retries\)"
wait $hold_pid

# --- max_connections: the 3rd connection waits until one of 2 closes
write_conf "$VR_TMP/a.conf" direct "max_connections = 2;"
vr_reload
in_cli python3 "$VR_SRC/tests/e2e/client.py" hold 198.19.2.2 80 2 3 >"$VR_TMP/hold.out" &
hold_pid=$!
# it prints its count once both are connected (a loaded machine may take a
# while to start python); then give the daemon a moment to accept them
for _ in $(seq 1 100); do [ -s "$VR_TMP/hold.out" ] && break; sleep 0.05; done
sleep 0.2
t0=$(date +%s.%N)
third_out=$(in_cli curl -sS --max-time 10 http://198.19.2.2/ip 2>&1); third=$(echo "$third_out" | cut -d" " -f1); echo "third: $third_out" >&2
t1=$(date +%s.%N)
wait $hold_pid
waited=$(python3 -c "print(1 if $t1 - $t0 > 1.0 else 0)")
vr_check "at max_connections the next connection waits (not refused)" vr_eq "$waited" "1"
vr_check "and is served once a slot frees" vr_eq "$third" "198.19.2.1"

# --- SIGTERM drains: a running transfer completes, then exit 0
write_conf "$VR_TMP/a.conf" direct
vr_reload
in_cli curl -s --max-time 60 --limit-rate 20M http://198.19.2.2/blob/$((32 * 1024 * 1024)) -o "$VR_TMP/drain.bin" &
drain_pid=$!
# SIGTERM once bytes are flowing (the transfer takes about 1.6 s)
for _ in $(seq 1 100); do [ -s "$VR_TMP/drain.bin" ] && break; sleep 0.05; done
kill -TERM "$VR_DAEMON_PID"
vr_check "SIGTERM starts a drain" vr_wait_log "draining 1 connections"
wait $drain_pid
dsize=$(stat -c %s "$VR_TMP/drain.bin")
vr_check "the transfer running at SIGTERM completes" vr_eq "$dsize" "$((32 * 1024 * 1024))"
vr_daemon_wait; rc=$?
vr_check "vrouterd exits 0 after draining" vr_eq "$rc" "0"

# --- the drain has a deadline: a transfer that would take minutes is cut
# after drain_timeout_s = 1, and the daemon still exits 0
write_conf "$VR_TMP/a.conf" direct "drain_timeout_s = 1;"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
in_cli curl -s --max-time 60 --limit-rate 100K http://198.19.2.2/blob/$((64 * 1024 * 1024)) -o "$VR_TMP/cut.bin" &
cut_pid=$!
for _ in $(seq 1 100); do [ -s "$VR_TMP/cut.bin" ] && break; sleep 0.05; done
kill -TERM "$VR_DAEMON_PID"
vr_check "SIGTERM with a slow transfer: the drain announces its 1 s deadline" \
    vr_wait_log "draining 1 connections for up to 1 s"
vr_daemon_wait; rc=$?
vr_check "... the deadline closes what is left, and says so" vr_wait_log "drain deadline reached: closing 1 connections still open"
vr_check "... vrouterd exits 0" vr_eq "$rc" "0"
# the upstream leg is gone at once: the daemon's socket still held unread
# server data, so its close reset the server's connection. (The client's leg
# closes gracefully: its FIN waits behind the bytes queued for a client that
# reads at 100 KB/s.)
closed=0
for _ in $(seq 1 60); do
    if [ -z "$(in_srv ss -Htn state established '( sport = :80 )')" ]; then closed=1; break; fi
    sleep 0.05
done
vr_check "... the flow's server side was closed by the deadline" vr_eq "$closed" "1"
kill "$cut_pid" 2>/dev/null; wait "$cut_pid" 2>/dev/null
csize=$(stat -c %s "$VR_TMP/cut.bin")
vr_check "... with the transfer incomplete ($csize of $((64 * 1024 * 1024)) bytes)" test "$csize" -lt $((64 * 1024 * 1024))
vr_finish
