#!/bin/bash
# Issue 17, daemon.relay = "sockmap": the kernel relays a connection once its
# server is connected (a BPF stream verdict between the two sockets of a
# sockhash), userspace keeps the FIN/RST, the idle timeout and the log line.
# Asserted: 64 MiB both ways at once, IPv4 and IPv6, byte-exact (seeded
# pseudo-random bytes), after a sniffed HTTP head read into userspace; the
# log line's exact byte counts each way; half-close (the server answers
# after the client's FIN); short connections whose server closes at once
# (its FIN before or during the join); the idle timeout, and a connection moving one
# byte per 0.5 s in the kernel is not idle; the per-CPU counters in the
# SIGUSR1 statistics and the metrics; a reload to "splice" with a transfer
# in flight; "auto" whose probe fails relays with splice and says so once;
# "sockmap" that cannot load refuses to start naming FILE:LINE.
# In a build without BPF: "sockmap" is refused by -t, "auto" means splice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_peer_lib.sh"

PORT=7893
MPORT=19479
SPORT=5001
PEER="$VR_SRC/tests/e2e/relay_peer.py"
MIB64=$((64 * 1024 * 1024))
HEAD='GET /upload HTTP/1.1\r\nHost: big.example\r\n\r\n'
HEAD_LEN=43 # bytes of the head above, as sent

write_conf() { # $1 = file, $2 = relay
    cat >"$1" <<CONF
daemon = {
  module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff;
  relay = "$2";
  tcp_idle_timeout_s = 3;
  metrics = { address = "127.0.0.1"; port = $MPORT; };
};
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; sniff = ["http"]; sniff_timeout_ms = 300; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
CONF
}

# serve + client: both send; prints the two result lines to $VR_TMP/$1.{srv,cli}
exchange() { # NAME SERVER-ADDR CLIENT-BYTES SERVER-BYTES [server options...]
    local name=$1 addr=$2 cbytes=$3 sbytes=$4; shift 4
    rm -f "$VR_TMP/$name.srv"
    vr_bg "$NS_SRV" python3 "$PEER" serve --addr "$addr" --port $SPORT --send "$sbytes" --seed 7 \
        --out "$VR_TMP/$name.srv" "$@"
    local i
    for i in $(seq 1 100); do
        in_srv ss -Htln "sport = :$SPORT" | grep -q . && break
        sleep 0.05
    done
    in_cli timeout 60 python3 "$PEER" client --addr "$addr" --port $SPORT --send "$cbytes" --seed 3 --head "$HEAD" \
        ${CLIENT_OPTS:-} >"$VR_TMP/$name.cli"
    for i in $(seq 1 100); do [ -s "$VR_TMP/$name.srv" ] && break; sleep 0.05; done
}

vr_topo_up || exit 1
vr_tproxy_capture $PORT

# ---- a build without BPF: "sockmap" refused when the config is read, "auto" is splice
write_conf "$VR_TMP/probe.conf" sockmap
if out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/probe.conf" 2>&1) || ! grep -q "built without" <<<"$out"; then
    HAVE_BPF=1
else
    HAVE_BPF=0
fi
if [ $HAVE_BPF = 0 ]; then
    vr_check "no BPF: relay = \"sockmap\" is refused with FILE:LINE and the fix" \
        grep -qE "probe\.conf:3: .*\"sockmap\" needs the eBPF data path.*use \"splice\"" <<<"$out"
    write_conf "$VR_TMP/a.conf" auto
    vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
    exchange nobpf 198.19.2.2 $((8 * 1024 * 1024)) $((8 * 1024 * 1024))
    vr_check "no BPF: \"auto\" relays 8 MiB both ways byte-exact (splice)" exact nobpf
    vr_check "... and says once why it is splice" \
        vr_eq "$(grep -c 'relay: "auto" relays with splice: .*built without BPF' "$VR_TMP/vrouterd.log")" 1
    vr_finish; exit
fi

# ---- "sockmap" that cannot load: not started, FILE:LINE named
write_conf "$VR_TMP/s.conf" sockmap
VR_TEST_SOCKMAP_PROBE_FAIL=1 in_rtr timeout 10 "$VR_BIN" -f "$VR_TMP/s.conf" >"$VR_TMP/fail.log" 2>&1
rc=$?
vr_check "relay = \"sockmap\" whose load fails: vrouterd exits 1 ($rc)" vr_eq "$rc" 1
vr_check "... naming s.conf:3 and why" \
    grep -qE "s\.conf:3: daemon\.relay = \"sockmap\" cannot be used: the test hook" "$VR_TMP/fail.log"

# ---- "auto" whose probe fails: splice, said once (also across a reload)
write_conf "$VR_TMP/a.conf" auto
VR_TEST_SOCKMAP_PROBE_FAIL=1 vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
exchange auto 198.19.2.2 $((8 * 1024 * 1024)) $((8 * 1024 * 1024))
vr_check "auto, probe failed: 8 MiB both ways byte-exact" exact auto
vr_check "... relayed with splice: no per-CPU sockmap counters in the statistics" \
    bash -c "kill -USR1 $VR_DAEMON_PID; sleep 0.5; ! grep -q 'stats: sockmap' '$VR_TMP/vrouterd.log'"
vr_check "... the reload is still splice" vr_reload
vr_check "... and the fallback was said exactly once" \
    vr_eq "$(grep -c 'relay: "auto" relays with splice: .*the test hook' "$VR_TMP/vrouterd.log")" 1
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
mv "$VR_TMP/vrouterd.log" "$VR_TMP/auto.log"

# ---- sockmap
write_conf "$VR_TMP/a.conf" sockmap
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "the sockmap program is loaded" vr_wait_log "relay: sockmap loaded"

exchange v4 198.19.2.2 $MIB64 $MIB64
vr_check "IPv4: 64 MiB each way at once, after a sniffed head, byte-exact" exact v4
vr_check "... the log line's bytes are exact (up=$((MIB64 + HEAD_LEN)) down=$MIB64)" \
    vr_wait_log "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:$SPORT big\.example http .*up=$((MIB64 + HEAD_LEN)) down=$MIB64 .*end=closed"
exchange v6 2001:db8:2::2 $MIB64 $MIB64
vr_check "IPv6: 64 MiB each way at once, byte-exact" exact v6
vr_check "... the log line's bytes are exact" \
    vr_wait_log "conn [0-9]+ tp \[2001:db8:1::2\]:[0-9]+ -> \[2001:db8:2::2\]:$SPORT big\.example http .*up=$((MIB64 + HEAD_LEN)) down=$MIB64 .*end=closed"

# half-close: the client sends 1 MiB and its FIN; the server answers 3 MB only after that FIN
exchange hc 198.19.2.2 $((1024 * 1024)) 3000000 --after-eof
vr_check "half-close: the server's answer after the client's FIN arrives whole" exact hc
vr_check "... logged with both counts" vr_wait_log "up=$((1024 * 1024 + HEAD_LEN)) down=3000000 .*end=closed"

# per-CPU counters: SIGUSR1 and the metrics
kill -USR1 "$VR_DAEMON_PID"
vr_check "SIGUSR1 prints the sockmap counters per listener" vr_wait_log "stats: sockmap listener tp: up [0-9]+ bytes"
up=$(grep -oE "stats: sockmap listener tp: up [0-9]+" "$VR_TMP/vrouterd.log" | tail -1 | awk '{print $NF}')
# what userspace read before the pair joined (the sniffed head, bytes queued
# meanwhile) is not the kernel's: a bound below, the total above
UP_ALL=$((2 * MIB64 + 1024 * 1024 + 3 * HEAD_LEN)) DOWN_ALL=$((2 * MIB64 + 3000000))
vr_check "... which counted what the kernel relayed up (120 MiB <= $up <= $UP_ALL)" \
    test "${up:-0}" -ge $((120 * 1024 * 1024)) -a "${up:-0}" -le $UP_ALL
vr_check "... and per outbound, with packets" \
    vr_wait_log "stats: sockmap outbound direct: up [0-9]+ bytes [1-9][0-9]* packets, down [0-9]+ bytes [1-9][0-9]* packets"
down=$(in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
    sed -n 's/^vrouter_sockmap_bytes_total{outbound="direct",direction="down"} \([0-9]*\)$/\1/p')
vr_check "the metrics carry them too (120 MiB <= down $down <= $DOWN_ALL)" \
    test "${down:-0}" -ge $((120 * 1024 * 1024)) -a "${down:-0}" -le $DOWN_ALL
in_rtr curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" >"$VR_TMP/p.txt"
vr_check "... and the Prometheus text still passes promtool" \
    sh -c "promtool check metrics <'$VR_TMP/p.txt' >'$VR_TMP/promtool.out' 2>&1"
in_rtr curl -s --max-time 5 -H "Accept: application/openmetrics-text; version=1.0.0" \
    "http://127.0.0.1:$MPORT/metrics" >"$VR_TMP/om.txt"
vr_check "... and the OpenMetrics text parses, with both sockmap families" /usr/bin/python3 -c "
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
names = {f.name for f in parse(open('$VR_TMP/om.txt').read())}
sys.exit(0 if {'vrouter_sockmap_bytes', 'vrouter_sockmap_packets'} <= names else 1)"

# the idle timeout still works, and bytes moved by the kernel alone count as activity
CLIENT_OPTS="--delay-shut 8" exchange idle 198.19.2.2 0 0 &
idle_pid=$!
vr_check "an idle kernel-relayed connection is closed at tcp_idle_timeout_s = 3" \
    vr_wait_log "-> 198\.19\.2\.2:$SPORT .*end=idle timeout" 8
wait $idle_pid
exchange trickle 198.19.2.2 0 10 --trickle 0.5
vr_check "a server sending a byte per 0.5 s for 5 s (longer than the idle timeout) is not cut" exact trickle
vr_check "... and ends as closed" vr_wait_log "up=$HEAD_LEN down=10 .*end=closed"

# the server answers and shuts its side first, then reads the client's 16 MiB
# slowly: the client's FIN waits in userspace for the kernel to hand the rest
# on, and the relay ends from that wait
exchange slow 198.19.2.2 $((16 * 1024 * 1024)) 1000 --slow-read 0.004
vr_check "client's FIN waiting for the kernel's queue toward a slow reader: byte-exact" exact slow
vr_check "... logged as closed with the exact counts" vr_wait_log "up=$((16 * 1024 * 1024 + HEAD_LEN)) down=1000 .*end=closed"

# short connections whose server answers and closes at once: the server's FIN
# often comes before or while the pair joins (then splice takes over)
vr_http_server || exit 1
in_cli python3 "$VR_SRC/tests/e2e/client.py" burst 198.19.2.2 80 3 1500 >"$VR_TMP/burst.out" 2>&1
vr_check "short connections, server answers and closes: none fails ($(cat "$VR_TMP/burst.out"))" \
    grep -qE "^ok [1-9][0-9]+ failed 0 " "$VR_TMP/burst.out"

# a reload to splice with a transfer in flight: it completes in the kernel
exchange reload 198.19.2.2 $MIB64 $MIB64 &
xpid=$!
sleep 0.3
write_conf "$VR_TMP/a.conf" splice
vr_check "reload to relay = \"splice\" during a transfer" vr_reload
wait $xpid
vr_check "... the transfer in flight completes byte-exact" exact reload
exchange after 198.19.2.2 $((4 * 1024 * 1024)) $((4 * 1024 * 1024))
vr_check "... and a new connection (splice now) too" exact after
kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait; rc=$?
vr_check "vrouterd exits 0" vr_eq "$rc" 0
vr_check "no sanitizer report" bash -c "! grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error' '$VR_TMP/vrouterd.log' '$VR_TMP/auto.log'"
vr_finish
