#!/bin/bash
# `vrouterd -s`: everything goes to syslog (facility daemon, tag vrouterd[PID],
# levels mapped), nothing to stderr; and with no syslog socket the operator
# is told once on stderr. The router namespace also gets a private mount
# namespace whose /dev is an overlay, so the test's /dev/log (a collector
# written here) never touches the host's /dev.
source "$(dirname "$0")/lib.sh"

PORT=7893
write_conf() {
    cat >"$VR_TMP/s.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "direct"; };
CONF
}
write_conf
cat >"$VR_TMP/collector.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(0.5)
end = time.time() + 120          # bounded: the test is over long before
with open(sys.argv[1], "a") as out:
    while time.time() < end:
        try:
            out.write(s.recv(65536).decode(errors="replace").rstrip("\n") + "\n")
            out.flush()
        except socket.timeout:
            pass
PY

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1

# $1 = VR_TMP, $2 = vrouterd, $3 = config, $4 = 1 to run a collector on /dev/log
run_in_private_dev() {
    in_rtr unshare -m --propagation private sh -c '
        mkdir -p "$1/up" "$1/work"
        mount -t overlay overlay -o "lowerdir=/dev,upperdir=$1/up,workdir=$1/work" /dev || exit 97
        rm -f /dev/log
        if [ "$4" = 1 ]; then
            python3 "$1/collector.py" "$1/syslog.txt" &
            for i in $(seq 1 100); do [ -S /dev/log ] && break; sleep 0.02; done
        fi
        echo $$ >"$1/vrouterd.pid"
        exec "$2" -s -f "$3"' sh "$@"
}

: >"$VR_TMP/syslog.txt"
rm -f "$VR_TMP/vrouterd.pid"
run_in_private_dev "$VR_TMP" "$VR_BIN" "$VR_TMP/s.conf" 1 >"$VR_TMP/stderr.txt" 2>&1 &
wrapper=$!
for _ in $(seq 1 100); do [ -s "$VR_TMP/vrouterd.pid" ] && break; sleep 0.05; done
pid=$(cat "$VR_TMP/vrouterd.pid")
syslog_has() { # PATTERN: wait up to 5 s for a syslog line
    local i
    for i in $(seq 1 100); do grep -qE -e "$1" "$VR_TMP/syslog.txt" && return 0; sleep 0.05; done
    return 1
}
# <30> = facility daemon (3) * 8 + info (6); <27> = daemon.err; <28> = daemon.warning
vr_check "the start is logged to syslog as daemon.info under vrouterd[$pid]" \
    syslog_has "^<30>.* vrouterd\[$pid\]: vrouterd ready: generation 1 from "
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "the daemon proxies meanwhile" vr_eq "$ip4" "198.19.2.1"
vr_check "a connection's log line goes to syslog" \
    syslog_has "^<30>.* vrouterd\[$pid\]: conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:80 .*end=closed"
echo 'route = { final = "nowhere"; ' >"$VR_TMP/s.conf"
kill -HUP "$pid"
vr_check "a broken config on reload: the FILE:LINE error is daemon.err" \
    syslog_has "^<27>.* vrouterd\[$pid\]: .*s\.conf:[0-9]+: "
vr_check "... and the old generation stays (daemon.err)" syslog_has "^<27>.* reload: failed, keeping generation 1"
kill -TERM "$pid"
wait "$wrapper"; rc=$?
vr_check "SIGTERM: exits 0" vr_eq "$rc" "0"
vr_check "the exit is logged to syslog" syslog_has "^<30>.* vrouterd\[$pid\]: exiting: "
vr_check "nothing went to stderr ($(wc -l <"$VR_TMP/stderr.txt") lines)" test ! -s "$VR_TMP/stderr.txt"

# no syslog socket: one line on stderr says the messages are lost
write_conf
rm -rf "$VR_TMP/up" "$VR_TMP/work"
rm -f "$VR_TMP/vrouterd.pid"
run_in_private_dev "$VR_TMP" "$VR_BIN" "$VR_TMP/s.conf" 0 >"$VR_TMP/stderr2.txt" 2>&1 &
wrapper=$!
for _ in $(seq 1 100); do [ -s "$VR_TMP/vrouterd.pid" ] && break; sleep 0.05; done
pid=$(cat "$VR_TMP/vrouterd.pid")
for _ in $(seq 1 100); do [ -n "$(in_rtr ss -Htln "( sport = :$PORT )")" ] && break; sleep 0.05; done
ip4=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "without a syslog daemon vrouterd -s still runs" vr_eq "$ip4" "198.19.2.1"
kill -TERM "$pid"
wait "$wrapper"; rc=$?
vr_check "... exits 0" vr_eq "$rc" "0"
vr_check "... and said on stderr that its messages are lost ($(head -c 120 "$VR_TMP/stderr2.txt"))" \
    grep -q "^vrouterd: -s: no syslog socket at /dev/log (No such file or directory): messages are lost" "$VR_TMP/stderr2.txt"
vr_finish
