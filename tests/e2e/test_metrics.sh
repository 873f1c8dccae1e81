#!/bin/bash
# Issue 13, OpenMetrics: daemon.metrics serves GET /metrics in the Prometheus
# text format and in OpenMetrics (Accept), both accepted by promtool; after a
# known set of flows (5 HTTP downloads through "direct", 2 connections
# refused by the server through "wan-b") the values are exact; reloads are
# counted; the endpoint moves with its address on reload, a bind failure is
# a FILE:LINE error (start) or a failed reload that keeps the old endpoint;
# and a real Prometheus server scraping vrouterd returns the same values
# through its query API.
source "$(dirname "$0")/lib.sh"

PORT=7893
MPORT=19477   # metrics, in the router namespace
MPORT2=19478  # after the reload that moves it
PROMPORT=19490

write_conf() { # $1 = file, $2 = metrics group (or empty)
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff;
  $2
};
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["http", "quic"]; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3"]; }
);
route = {
  rules = ( { port = 8089; outbound = "wan-b"; } );
  final = "direct";
};
CONF
}

scrape() { # [port] [accept]: the body
    in_rtr curl -s --max-time 5 ${2:+-H "Accept: $2"} "http://127.0.0.1:${1:-$MPORT}/metrics"
}

# The value of one sample: metric{labels} exactly as exposed (labels sorted as written).
metric() { # FILE NAME LABELS
    python3 - "$@" <<'PY'
import re, sys
path, name, labels = sys.argv[1], sys.argv[2], sys.argv[3]
want = name + ("{" + labels + "}" if labels else "")
for line in open(path):
    if line.startswith("#"):
        continue
    key, _, val = line.rstrip("\n").rpartition(" ")
    if key == want:
        v = float(val)
        print(int(v) if v == int(v) else v)
        sys.exit(0)
print("absent")
PY
}

# Waits (bounded) until a sample has a value; prints the last value seen.
wait_metric() { # NAME LABELS VALUE [SECONDS]
    local i v
    for i in $(seq 1 $((${4:-5} * 10))); do
        scrape >"$VR_TMP/m.txt"
        v=$(metric "$VR_TMP/m.txt" "$1" "$2")
        [ "$v" = "$3" ] && break
        sleep 0.1
    done
    echo "$v"
}

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001

# ---- config errors name FILE:LINE
write_conf "$VR_TMP/bad.conf" 'metrics = { address = "127.0.0.1"; port = 70000; };'
out=$("$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1)
vr_check "port = 70000 is refused with FILE:LINE (-t)" \
    grep -qE "bad\.conf:2: .*port.*70000 is not a port" <<<"$out"
write_conf "$VR_TMP/bad2.conf" 'metrics = { address = "localhost"; };'
out=$("$VR_BIN" -t -f "$VR_TMP/bad2.conf" 2>&1)
vr_check "a host name as address is refused with FILE:LINE (-t)" \
    grep -qE "bad2\.conf:2: .*\"localhost\" is not a numeric" <<<"$out"

# ---- a bind failure at start: not started, FILE:LINE
vr_bg "$NS_RTR" python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $MPORT2)); s.listen(); time.sleep(120)"
blocker=${VR_PIDS[-1]}
vr_wait_port "$NS_RTR" 127.0.0.1 $MPORT2 || exit 1
write_conf "$VR_TMP/busy.conf" "metrics = { address = \"127.0.0.1\"; port = $MPORT2; };"
in_rtr timeout 10 "$VR_BIN" -f "$VR_TMP/busy.conf" >"$VR_TMP/busy.log" 2>&1
rc=$?
vr_check "metrics port in use at start: vrouterd exits 1" vr_eq "$rc" 1
vr_check "... naming FILE:LINE and the address" \
    grep -qE "busy\.conf:2: daemon\.metrics: cannot listen on 127\.0\.0\.1 port $MPORT2: Address already in use" "$VR_TMP/busy.log"

# ---- the daemon with metrics on
write_conf "$VR_TMP/a.conf" "metrics = { address = \"127.0.0.1\"; port = $MPORT; };"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_wait_port "$NS_RTR" 127.0.0.1 $MPORT || { vr_finish; exit 1; }

scrape >"$VR_TMP/p0.txt"
vr_check "promtool check metrics passes on the Prometheus text format (idle daemon)" \
    sh -c "promtool check metrics <'$VR_TMP/p0.txt' >'$VR_TMP/promtool0.out' 2>&1"

# Known flows: 5 downloads of /blob/N through "direct" (port 80); curl tells
# the bytes each way; 2 connections to a closed port through "wan-b".
N=100000
up=0 down=0
for i in 1 2 3 4 5; do
    read -r q h d < <(in_cli curl -s --max-time 5 -o /dev/null -w '%{size_request} %{size_header} %{size_download}\n' \
        "http://198.19.2.2/blob/$N")
    up=$((up + q)); down=$((down + h + d))
done
for i in 1 2; do in_cli curl -s --max-time 5 -o /dev/null http://198.19.2.2:8089/; done
# One UDP session through direct: 20 datagrams of 100 bytes, echoed.
echo_out=$(in_cli $UT echo 198.19.2.2 7001 --count 20 --size 100 --rate 200)
vr_check "UDP: 20 datagrams echoed through vrouterd ($echo_out)" grep -q "^sent 20 received 20 bad 0" <<<"$echo_out"
vr_log "curl counted $up bytes up, $down down"

v=$(wait_metric vrouter_connections_total 'listener="tp",outbound="direct",end="closed"' 5)
vr_check "vrouter_connections_total{listener=tp,outbound=direct,end=closed} = 5" vr_eq "$v" 5
v=$(wait_metric vrouter_connections_total 'listener="tp",outbound="wan-b",end="connect_failed"' 2)
vr_check "vrouter_connections_total{outbound=wan-b,end=connect_failed} = 2 (refused by the server)" vr_eq "$v" 2
scrape >"$VR_TMP/p1.txt"
vr_check "vrouter_bytes_total{outbound=direct,direction=up} = the request bytes curl sent ($up)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_bytes_total 'outbound="direct",direction="up"')" "$up"
vr_check "vrouter_bytes_total{outbound=direct,direction=down} = headers + bodies curl received ($down)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_bytes_total 'outbound="direct",direction="down"')" "$down"
vr_check "vrouter_bytes_total{outbound=wan-b,direction=down} = 0" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_bytes_total 'outbound="wan-b",direction="down"')" 0
vr_check "vrouter_connections_active{listener=tp,outbound=direct} = 0 once they closed" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_connections_active 'listener="tp",outbound="direct"')" 0
vr_check "vrouter_rule_hits_total{rule=1} = 2 (port 8089 -> wan-b)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_rule_hits_total 'rule="1"')" 2
vr_check "vrouter_rule_hits_total{rule=final} = 6 (5 TCP connections, 1 UDP route)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_rule_hits_total 'rule="final"')" 6
vr_check "vrouter_sniff_total{sniffer=http,result=found} = 7 (every TCP connection sent HTTP)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_sniff_total 'sniffer="http",result="found"')" 7
vr_check "vrouter_udp_sniff_total{sniffer=none,result=unknown} = 1 (the UDP session's datagrams are not QUIC)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_sniff_total 'sniffer="none",result="unknown"')" 1
vr_check "vrouter_sniff_wait_seconds_count = 7" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_sniff_wait_seconds_count '')" 7
vr_check "vrouter_udp_datagrams_total{outbound=direct,direction=up} = 20" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_datagrams_total 'outbound="direct",direction="up"')" 20
vr_check "vrouter_udp_datagrams_total{outbound=direct,direction=down} = 20" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_datagrams_total 'outbound="direct",direction="down"')" 20
vr_check "vrouter_udp_bytes_total{outbound=direct,direction=up} = 2000" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_bytes_total 'outbound="direct",direction="up"')" 2000
vr_check "vrouter_udp_sessions_active = 1" vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_sessions_active '')" 1
vr_check "vrouter_udp_dropped_total{reason=send_failed} = 0" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_udp_dropped_total 'reason="send_failed"')" 0
vr_check "vrouter_outbound_connect_seconds_count{outbound=direct} = 5 (successful connects)" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_outbound_connect_seconds_count 'outbound="direct"')" 5
vr_check "vrouter_outbound_connect_seconds_bucket{outbound=direct,le=+Inf} = 5" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_outbound_connect_seconds_bucket 'outbound="direct",le="+Inf"')" 5
vr_check "vrouter_outbound_up{outbound=direct} = 1" \
    vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_outbound_up 'outbound="direct",member=""')" 1
vr_check "vrouter_build_info carries the ABI" grep -qE '^vrouter_build_info\{version="[^"]+",abi="1\.[0-9]+"\} 1$' "$VR_TMP/p1.txt"
vr_check "vrouter_generations_alive = 1" vr_eq "$(metric "$VR_TMP/p1.txt" vrouter_generations_alive '')" 1
vr_check "process_open_fds is a positive count" \
    python3 -c "import sys; sys.exit(not 5 < float('$(metric "$VR_TMP/p1.txt" process_open_fds '')') < 10000)"
vr_check "process_start_time_seconds is within a minute of now" \
    python3 -c "import sys,time; sys.exit(not abs(time.time() - float('$(metric "$VR_TMP/p1.txt" process_start_time_seconds '')')) < 60)"
vr_check "no label carries a client or server address" sh -c "! grep -qE '198\.1[89]\.|2001:db8' '$VR_TMP/p1.txt'"
vr_check "promtool check metrics passes on the Prometheus text format (after flows)" \
    sh -c "promtool check metrics <'$VR_TMP/p1.txt' >'$VR_TMP/promtool1.out' 2>&1"

# OpenMetrics when asked for
in_rtr curl -s --max-time 5 -D "$VR_TMP/om.hdr" -H "Accept: application/openmetrics-text; version=1.0.0,text/plain;q=0.5" \
    "http://127.0.0.1:$MPORT/metrics" >"$VR_TMP/om.txt"
vr_check "OpenMetrics: Content-Type application/openmetrics-text; version=1.0.0" \
    grep -qi "^Content-Type: application/openmetrics-text; version=1.0.0" "$VR_TMP/om.hdr"
vr_check "OpenMetrics: ends with # EOF" vr_eq "$(tail -n 1 "$VR_TMP/om.txt")" "# EOF"
vr_check "OpenMetrics: counter families are named without _total" grep -qx "# TYPE vrouter_connections counter" "$VR_TMP/om.txt"
vr_check "OpenMetrics: build info is an info family" grep -qx "# TYPE vrouter_build info" "$VR_TMP/om.txt"
vr_check "OpenMetrics: the same connection count" \
    vr_eq "$(metric "$VR_TMP/om.txt" vrouter_connections_total 'listener="tp",outbound="direct",end="closed"')" 5
# promtool (2.42) lints the 0.0.4 text format only; the OpenMetrics text is
# checked by the strict parser of Debian's python3-prometheus-client, and by
# the Prometheus server below, which asks for OpenMetrics first.
vr_check "the OpenMetrics text parses with prometheus_client's OpenMetrics parser (every family)" \
    /usr/bin/python3 -c "
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse
names = {f.name for f in parse(open('$VR_TMP/om.txt').read())}
need = {'vrouter_build', 'vrouter_connections_active', 'vrouter_connections', 'vrouter_bytes', 'vrouter_udp_sessions_active',
        'vrouter_udp_datagrams', 'vrouter_udp_dropped', 'vrouter_sniff', 'vrouter_rule_hits', 'vrouter_outbound_up',
        'vrouter_outbound_connect_seconds', 'vrouter_sniff_wait_seconds', 'vrouter_reloads',
        'vrouter_config_last_reload_success_timestamp_seconds', 'vrouter_generations_alive', 'vrouter_module_value',
        'process_cpu_seconds', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds',
        'process_start_time_seconds'}
missing = need - names
print('  missing families:', sorted(missing), file=sys.stderr) if missing else None
sys.exit(1 if missing else 0)"
in_rtr curl -s --max-time 5 -D "$VR_TMP/p.hdr" -o /dev/null "http://127.0.0.1:$MPORT/metrics"
vr_check "Prometheus text: Content-Type text/plain; version=0.0.4" \
    grep -qi "^Content-Type: text/plain; version=0.0.4" "$VR_TMP/p.hdr"
code=$(in_rtr curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")
vr_check "any other path: 404" vr_eq "$code" 404
code=$(in_rtr curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")
vr_check "POST /metrics: 404" vr_eq "$code" 404

# ---- reloads
vr_reload || vr_log "reload did not finish"
v=$(wait_metric vrouter_reloads_total 'result="success"' 1)
vr_check "a good reload: vrouter_reloads_total{result=success} = 1" vr_eq "$v" 1
cp "$VR_TMP/a.conf" "$VR_TMP/a.good"
echo "this is not a config" >>"$VR_TMP/a.conf"
vr_reload || vr_log "reload did not finish"
scrape >"$VR_TMP/p2.txt"
vr_check "a broken reload: vrouter_reloads_total{result=failure} = 1" \
    vr_eq "$(metric "$VR_TMP/p2.txt" vrouter_reloads_total 'result="failure"')" 1
vr_check "... success still 1" vr_eq "$(metric "$VR_TMP/p2.txt" vrouter_reloads_total 'result="success"')" 1
ts=$(metric "$VR_TMP/p2.txt" vrouter_config_last_reload_success_timestamp_seconds '')
vr_check "vrouter_config_last_reload_success_timestamp_seconds is within a minute of now" \
    python3 -c "import sys,time; sys.exit(not abs(time.time() - $ts) < 60)"
vr_check "the counters survive reloads (connections_total still 5)" \
    vr_eq "$(metric "$VR_TMP/p2.txt" vrouter_connections_total 'listener="tp",outbound="direct",end="closed"')" 5

# A reload to a port in use fails and keeps the old endpoint.
write_conf "$VR_TMP/a.conf" "metrics = { address = \"127.0.0.1\"; port = $MPORT2; };"
vr_reload || vr_log "reload did not finish"
vr_check "reload to a metrics port in use: failed with FILE:LINE" \
    vr_wait_log "a\.conf:2: daemon\.metrics: cannot listen on 127\.0\.0\.1 port $MPORT2"
vr_check "... and the old endpoint still serves" sh -c "curl --version >/dev/null; ip netns exec $NS_RTR curl -sf --max-time 5 http://127.0.0.1:$MPORT/metrics | grep -q '^vrouter_reloads_total{result=\"failure\"} 2$'"
kill "$blocker" 2>/dev/null; wait "$blocker" 2>/dev/null
vr_reload || vr_log "reload did not finish"
vr_check "reload with a new metrics port: served there" vr_wait_port "$NS_RTR" 127.0.0.1 $MPORT2
code=$(in_rtr curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics")
vr_check "... and the old port is closed" vr_eq "$code" 000
MPORT=$MPORT2

# ---- a real Prometheus server scrapes vrouterd (it asks for OpenMetrics first)
mkdir -p "$VR_TMP/prom"
cat >"$VR_TMP/prom/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: vrouter
    static_configs: [ { targets: ["127.0.0.1:$MPORT"] } ]
YML
vr_bg "$NS_RTR" prometheus --config.file="$VR_TMP/prom/prometheus.yml" --storage.tsdb.path="$VR_TMP/prom/data" \
    --web.listen-address=127.0.0.1:$PROMPORT --log.level=warn
vr_wait_port "$NS_RTR" 127.0.0.1 $PROMPORT || true
promq() { # QUERY: the first result's value, or "none"
    in_rtr curl -s --max-time 5 -G "http://127.0.0.1:$PROMPORT/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    v = float(r[0]["value"][1]) if r else None
    print("none" if v is None else int(v) if v == int(v) else v)
except Exception:
    print("none")'
}
wait_promq() { # QUERY VALUE: bounded by 30 s
    local i v
    for i in $(seq 1 60); do
        v=$(promq "$1")
        [ "$v" = "$2" ] && break
        sleep 0.5
    done
    echo "$v"
}
vr_check "Prometheus: up{job=vrouter} = 1 (the scrape parses)" vr_eq "$(wait_promq 'up{job="vrouter"}' 1)" 1
vr_check "Prometheus: vrouter_connections_total{outbound=direct,end=closed} = 5" \
    vr_eq "$(wait_promq 'vrouter_connections_total{outbound="direct",end="closed"}' 5)" 5
vr_check "Prometheus: vrouter_bytes_total{outbound=direct,direction=down} = $down" \
    vr_eq "$(wait_promq 'vrouter_bytes_total{outbound="direct",direction="down"}' "$down")" "$down"
vr_check "Prometheus: sum(vrouter_connections_total{outbound=wan-b}) = 2" \
    vr_eq "$(wait_promq 'sum(vrouter_connections_total{outbound="wan-b"})' 2)" 2
vr_check "Prometheus: vrouter_reloads_total{result=success} = 2" \
    vr_eq "$(wait_promq 'vrouter_reloads_total{result="success"}' 2)" 2
# One more known download: Prometheus sees it at the next scrapes.
read -r q h d < <(in_cli curl -s --max-time 5 -o /dev/null -w '%{size_request} %{size_header} %{size_download}\n' \
    "http://198.19.2.2/blob/$N")
down=$((down + h + d))
vr_check "Prometheus: after one more download, bytes down = $down" \
    vr_eq "$(wait_promq 'vrouter_bytes_total{outbound="direct",direction="down"}' "$down")" "$down"
vr_check "Prometheus: process_resident_memory_bytes is scraped" \
    python3 -c "import sys; sys.exit(not float('$(promq process_resident_memory_bytes)') > 1e6)"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
rc=$?
vr_check "vrouterd exits with status 0 with the endpoint open" vr_eq "$rc" 0
vr_check "... and no sanitizer report (leaks included)" \
    sh -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$VR_TMP/vrouterd.log'"
vr_finish
