#!/bin/bash
# Issue 11 §5 end to end: one client cannot take everyone's resources.
#  (a) TCP: a client (many addresses of one IPv6 /64) opening connections to
#      a blackholed server is held at daemon.max_connections_per_client, the
#      rest refused at once; other clients still connect and transfer.
#  (b) UDP: a flood of new sessions from many addresses of one /64 evicts
#      only that client's sessions; another client's sessions survive.
#  (c) fds: 2,000 connections stalled on a zero-window server hold two fds
#      each once their pipes are given back; a fresh client still transfers.
source "$(dirname "$0")/lib.sh"

PORT=7893
LT="python3 $VR_SRC/tests/e2e/limits_tool.py"
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_topo_up || exit 1
vr_tproxy_capture $PORT
# the hostile client: 16 addresses of one /64 (2001:db8:1:a::/64) on the client veth
SRCS=""
for i in $(seq 1 16); do
    in_cli ip -6 addr add "2001:db8:1:a::$i/64" dev c0 nodad
    SRCS="$SRCS,2001:db8:1:a::$i"
done
SRCS=${SRCS#,}
in_rtr ip -6 route add 2001:db8:1:a::/64 dev rc
# the server drops SYNs to port 9999: connections there hang in connect
in_srv nft -f - <<NFT || { vr_log "nft: cannot load the server's drop rule"; vr_finish; exit 1; }
table inet blackhole {
  chain input { type filter hook input priority 0; tcp dport 9999 drop; }
}
NFT
vr_http_server || exit 1
vr_bg "$NS_SRV" $UT server --port 7001
vr_bg "$NS_SRV" $LT zerowin --port 7100
vr_wait_port "$NS_SRV" 198.19.2.2 7100 || exit 1

write_conf() { # $1 = extra daemon keys, $2 = extra udp keys
    local udp=${2:-}
    cat >"$VR_TMP/l.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; $1 };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                udp = { idle_timeout_s = 60; $udp }; } );
outbounds = ( { tag = "direct"; module = "direct"; connect_timeout_ms = 15000; } );
route = { final = "direct"; };
CONF
}

# --- config: the new keys are validated with FILE:LINE
write_conf "max_connections_per_client = -1;"
out=$("$VR_BIN" -t -f "$VR_TMP/l.conf" 2>&1)
vr_check "max_connections_per_client = -1 is refused with FILE:LINE ($out)" \
    grep -qE "l\.conf:1: .*max_connections_per_client.*out of range" <<<"$out"
write_conf "client_prefix_v6 = 129;"
out=$("$VR_BIN" -t -f "$VR_TMP/l.conf" 2>&1)
vr_check "client_prefix_v6 = 129 is refused with FILE:LINE ($out)" \
    grep -qE "l\.conf:1: .*client_prefix_v6.*not an IPv6 prefix length" <<<"$out"

# --- (a) TCP per-client cap
N=$((1024 * 1024))
want=$(vr_blob_sha256 "$N")
write_conf "max_connections = 60; max_connections_per_client = 20;"
vr_daemon_start "$VR_TMP/l.conf" || { vr_finish; exit 1; }
# 80 connections from 16 addresses of one /64 to a server that never answers:
# more than max_connections, so without a per-client cap it would take every slot
in_cli $LT cap 2001:db8:2::2 9999 --count 80 --src "$SRCS" --hold 25 >"$VR_TMP/cap.out" &
cap_pid=$!
for _ in $(seq 1 300); do [ -s "$VR_TMP/cap.out" ] && break; sleep 0.1; done
vr_check "the /64 is held at its cap of 20 connections, the other 60 are reset at once ($(cat "$VR_TMP/cap.out"))" \
    vr_eq "$(cat "$VR_TMP/cap.out")" "held 20 reset 60 failed 0"
got=$(in_cli curl -s --max-time 10 http://198.19.2.2/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "meanwhile another client (IPv4) connects and transfers 1 MiB byte-exact" vr_eq "$got" "$want"
got6=$(in_cli curl -s --max-time 10 --interface 2001:db8:1::2 "http://[2001:db8:2::2]/blob/$N" | sha256sum | cut -d' ' -f1)
vr_check "... and one in another IPv6 /64 too" vr_eq "$got6" "$want"
n=$(grep -c "client 2001:db8:1:a::/64 holds 20 connections, its daemon.max_connections_per_client" "$VR_TMP/vrouterd.log")
vr_check "the episode is logged once, naming the client's /64 ($n lines)" vr_eq "$n" "1"
kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1 stats count the 60 refusals" \
    vr_wait_log "stats: limits: [0-9]+ clients, 60 connections refused at max_connections_per_client=20 \(1 episodes\)"
kill "$cap_pid" 2>/dev/null; wait "$cap_pid" 2>/dev/null
# (a connection still connecting is not watched on the client side: they end
# at connect_timeout_ms = 15000)
vr_check "once the client's connections end, the end of the episode is logged" \
    vr_wait_log "client 2001:db8:1:a::/64 is down to [0-9]+ connections: accepting it again \(60 connections refused" 20
# a prefix length of 128 counts each address alone: 16 x 2 = 32 held
write_conf "max_connections = 60; max_connections_per_client = 2; client_prefix_v6 = 128;"
vr_reload
out=$(in_cli $LT cap 2001:db8:2::2 9999 --count 48 --src "$SRCS")
vr_check "client_prefix_v6 = 128: each of the 16 addresses is a client of its own, 2 each ($out)" \
    vr_eq "$out" "held 32 reset 16 failed 0"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait

# --- (b) UDP: a flood from many addresses of one /64
write_conf "" "max_sessions = 64; max_sessions_per_client = 16;"
vr_daemon_start "$VR_TMP/l.conf" || { vr_finish; exit 1; }
keep=$(in_cli $UT whoami 198.19.2.2 7001 --bind 40001)
keep6=$(in_cli $UT whoami 2001:db8:2::2 7001 --bind 40002 --src 2001:db8:1::2)
# 16 addresses x 10 new sessions: 10 per address stays under the cap of 16,
# 160 per /64 is far over it and over the whole table of 64
fl=$(in_cli $LT udpflood 2001:db8:2::2 7001 --src "$SRCS" --per-src 10)
vr_check "the flood ran ($fl)" vr_eq "$fl" "flooded 160"
sleep 0.5
keep2=$(in_cli $UT whoami 198.19.2.2 7001 --bind 40001)
keep62=$(in_cli $UT whoami 2001:db8:2::2 7001 --bind 40002 --src 2001:db8:1::2)
vr_check "another client's IPv4 session keeps its mapping through the flood ($keep2)" vr_eq "$keep2" "$keep"
vr_check "... and its IPv6 session too ($keep62)" vr_eq "$keep62" "$keep6"
kill -USR1 "$VR_DAEMON_PID"
vr_check "the /64 lost only its own sessions: none evicted for a full table, 144 for its share" \
    vr_wait_log "stats: udp tp: [0-9]+ sessions open .*, 0 evicted \(table full\), 144 evicted \(client over its share\)"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait

# --- (c) 2,000 connections stalled on a zero-window server
C=2000
write_conf "max_connections_per_client = 0;"
vr_daemon_start "$VR_TMP/l.conf" || { vr_finish; exit 1; }
base=$(ls "/proc/$VR_DAEMON_PID/fd" | wc -l)
in_cli $LT stall 198.19.2.2 7100 --count $C --bytes 131072 --hold 60 >"$VR_TMP/stall.out" 2>&1 &
stall_pid=$!
for _ in $(seq 1 600); do [ -s "$VR_TMP/stall.out" ] && break; sleep 0.1; done
vr_check "the client opened $C connections and sent into them ($(cat "$VR_TMP/stall.out"))" \
    grep -qE "^connected $C sent [0-9]+" "$VR_TMP/stall.out"
# stalled pipes are given back after 2 s, found by the once-a-second sweep
sleep 4
kill -USR1 "$VR_DAEMON_PID"
fds=$(ls "/proc/$VR_DAEMON_PID/fd" | wc -l)
per=$(python3 -c "print(f'{($fds - $base) / $C:.2f}')")
vr_log "daemon fds: $base before, $fds with $C stalled connections ($per per connection)"
# 2 sockets per connection, plus at most 256 pooled pipes (512 fds)
vr_check "the daemon holds about 2 fds per stalled connection ($per; at most 2 x $C + 512 + 64 more than before)" \
    test $((fds - base)) -le $((2 * C + 512 + 64))
vr_check "... the connections are really there (at least 2 x $C fds)" test $((fds - base)) -ge $((2 * C))
vr_check "... their pipes were given back for stalling (stats)" \
    vr_wait_log "stats: limits: .* [1-9][0-9]{3,} stalled pipes given back"
got=$(in_cli curl -s --max-time 10 http://198.19.2.2/blob/$N | sha256sum | cut -d' ' -f1)
vr_check "a fresh client still transfers 1 MiB byte-exact" vr_eq "$got" "$want"
kill "$stall_pid" 2>/dev/null; wait "$stall_pid" 2>/dev/null
kill -0 "$VR_DAEMON_PID"
vr_check "the daemon is alive" vr_eq "$?" "0"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait

# --- (d) no pipe to be had: transfers copy instead of failing. Three
# connections are open; then the daemon's open-file limit is cut to the fds
# it holds, so at most the pooled pipe can be lent; the three download 16 MiB
# at once.
write_conf "max_connections_per_client = 0;"
vr_daemon_start "$VR_TMP/l.conf" || { vr_finish; exit 1; }
M=$((16 * 1024 * 1024))
wantM=$(vr_blob_sha256 "$M")
in_cli $LT lateget 198.19.2.2 80 /blob/$M --count 3 --wait 3 >"$VR_TMP/late.out" 2>&1 &
late_pid=$!
for _ in $(seq 1 100); do [ -s "$VR_TMP/late.out" ] && break; sleep 0.05; done
sleep 0.5
soft=$(prlimit --pid "$VR_DAEMON_PID" --nofile --output SOFT --noheadings | tr -d ' ')
prlimit --pid "$VR_DAEMON_PID" --nofile="$(ls "/proc/$VR_DAEMON_PID/fd" | wc -l)":
wait "$late_pid"
prlimit --pid "$VR_DAEMON_PID" --nofile="$soft":
ok=$(grep -c "^$M $wantM\$" "$VR_TMP/late.out")
vr_check "out of fds for pipes: three parallel 16 MiB downloads all arrive byte-exact ($ok of 3)" vr_eq "$ok" "3"
kill -USR1 "$VR_DAEMON_PID"
vr_check "... some directions copied for want of a pipe (stats)" \
    vr_wait_log "stats: limits: .* [1-9][0-9]* pipes refused \(copied instead\)"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait; rc=$?
vr_check "vrouterd exits 0 (no sanitizer report, no leak)" vr_eq "$rc" "0"
n=$(grep -c "Sanitizer" "$VR_TMP/vrouterd.log")
vr_check "... and its log has no sanitizer line ($n)" vr_eq "$n" "0"
vr_finish
