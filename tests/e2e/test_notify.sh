#!/bin/bash
# Issue 14 end to end: vrouterd speaks the service manager's notify protocol
# (sd_notify(3)) by hand. The test is the manager: a datagram socket of its
# own in $NOTIFY_SOCKET (notify_manager.py) and WATCHDOG_USEC set. Asserts
# READY=1 only once the listener answers, STATUS with the generation,
# WATCHDOG=1 pings at half the interval, RELOADING=1 + a plausible
# MONOTONIC_USEC then READY=1 on SIGHUP and on `vrouterctl reload`, a failed
# reload still answered with READY=1 and a STATUS naming the failure, the
# status refreshed while a connection is open, STOPPING=1 at SIGTERM; then an
# abstract-namespace socket, and WATCHDOG_PID naming another process (no
# pings).
source "$(dirname "$0")/lib.sh"

PORT=7894
CTL_BIN=$VR_BUILD/tools/vrouterctl
SOCK=$VR_TMP/run/control.sock
NOTIFY=$VR_TMP/notify.sock
NLOG=$VR_TMP/notify.log
write_conf() { # $1 = file, $2 = final outbound
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff;
           control = { path = "$SOCK"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"]; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { final = "$2"; };
CONF
}
ctl() { "$CTL_BIN" "$@"; }
now_usec() { python3 -c 'import time; print(time.monotonic_ns() // 1000)'; }
# Evaluates a Python expression over the manager's log: L is the list of
# datagrams ({"t_usec", "fields", "probe"}) from index FROM on.
nq() { # FROM EXPR
    python3 - "$NLOG" "$1" "$2" <<'PY'
import json, re, sys
L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][int(sys.argv[2]):]
F = [m["fields"] for m in L]
sys.exit(0 if eval(sys.argv[3]) else 1)
PY
}
nwait() { # FROM EXPR [SECONDS]
    local i
    for i in $(seq 1 $((${3:-5} * 10))); do
        nq "$1" "$2" && return 0
        sleep 0.1
    done
    echo "  not seen in ${3:-5} s: $2" >&2
    python3 -c "import sys; [print('  ', l.strip(), file=sys.stderr) for l in open(sys.argv[1]).readlines()[int(sys.argv[2]):]]" \
        "$NLOG" "$1"
    return 1
}
count() { wc -l <"$NLOG"; }
rc_and_says() { [ "$1" = "$2" ] || { echo "  exit status $1, not $2" >&2; return 1; }; grep -qE -e "$3" <<<"$4"; }

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1
mkdir -p "$VR_TMP/run"
write_conf "$VR_TMP/a.conf" direct

# ---- the manager, then the daemon under it
: >"$NLOG"
vr_bg "$NS_RTR" python3 "$VR_SRC/tests/e2e/notify_manager.py" --socket "$NOTIFY" --out "$NLOG" --probe $PORT \
    --seconds 120
nwait 0 'any(f.get("MANAGER") == "listening" for f in F)' || { vr_finish; exit 1; }
export NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=2000000
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
unset NOTIFY_SOCKET WATCHDOG_USEC

vr_check "READY=1 is sent at start" nwait 0 'any(f.get("READY") == "1" for f in F)'
vr_check "READY=1 comes only once the listener accepts (the manager's connect right after it succeeds)" \
    nq 0 'next(m for m in L if m["fields"].get("READY") == "1")["probe"] is True'
vr_check "READY=1 carries STATUS= with generation 1 and the counts" \
    nq 0 'any(f.get("READY") == "1" and f.get("STATUS", "").startswith("generation 1: ") and "UDP sessions" in f["STATUS"] for f in F)'
vr_check "exactly one READY=1 at start" nq 0 'sum(1 for f in F if f.get("READY")) == 1'

# ---- watchdog: WATCHDOG_USEC=2 s, pings every 1 s
vr_check "the daemon logged the watchdog interval, half of WATCHDOG_USEC" vr_wait_log "notify: watchdog pings every 1\.000 s"
from=$(count)
sleep 4
vr_check "WATCHDOG=1 pinged at least 3 times in 4 s (every WATCHDOG_USEC/2)" \
    nq "$from" 'sum(1 for f in F if f.get("WATCHDOG") == "1") >= 3'
vr_check "no two pings more than 2 s (WATCHDOG_USEC) apart" \
    nq "$from" 'all(b - a < 2000000 for a, b in zip(*(lambda T: (T, T[1:]))([m["t_usec"] for m in L if m["fields"].get("WATCHDOG")])))'

# ---- reload by SIGHUP: RELOADING=1 + MONOTONIC_USEC, then READY=1
reload_seen() { # FROM T0 GENERATION: RELOADING=1 with MONOTONIC_USEC in [T0, receipt], then READY=1 naming GENERATION
    nq "$1" "any(m['fields'].get('RELOADING') == '1' and $2 <= int(m['fields'].get('MONOTONIC_USEC', 0)) <= m['t_usec']
                 and any(n['fields'].get('READY') == '1' and n['fields'].get('STATUS', '').startswith('generation $3: ')
                         for n in L[i + 1:])
                 for i, m in enumerate(L))"
}
from=$(count); t0=$(now_usec)
vr_reload
nwait "$from" 'any(f.get("READY") == "1" for f in F)' >/dev/null 2>&1
vr_check "SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, taken after the signal), then READY=1 with generation 2" \
    reload_seen "$from" "$t0" 2
vr_check "RELOADING=1 and MONOTONIC_USEC travel in one datagram" \
    nq "$from" 'all("MONOTONIC_USEC" in f for f in F if f.get("RELOADING"))'

# ---- reload on the control socket (ExecReload=): synchronous, the same messages
from=$(count); t0=$(now_usec)
out=$(ctl -f "$VR_TMP/a.conf" reload 2>&1); rc=$?
vr_check "vrouterctl -f CONFIG reload exits 0 and names the new generation" \
    rc_and_says "$rc" 0 'generation 3 active' "$out"
vr_check "vrouterctl reload returned after READY=1 was sent (synchronous)" \
    nq "$from" 'any(f.get("READY") == "1" for f in F)'
vr_check "control reload: RELOADING=1 + MONOTONIC_USEC, then READY=1 with generation 3" reload_seen "$from" "$t0" 3

# ---- a failed reload: still READY=1, STATUS says so, the old generation serves
write_conf "$VR_TMP/a.conf" nosuch
from=$(count)
out=$(ctl -f "$VR_TMP/a.conf" reload 2>&1); rc=$?
vr_check "vrouterctl reload with a broken config exits 1 with FILE:LINE" \
    rc_and_says "$rc" 1 'a\.conf:[0-9]+:' "$out"
vr_check "failed reload: RELOADING=1, then READY=1 with STATUS 'reload failed (FILE:LINE ...)' keeping generation 3" \
    nwait "$from" 'any(f.get("RELOADING") == "1" for f in F) and any(f.get("READY") == "1"
        and f.get("STATUS", "").startswith("reload failed (") and "a.conf:" in f["STATUS"]
        and "generation 3: " in f["STATUS"] for f in F)'
vr_check "the old generation still serves after the failed reload" \
    vr_eq "$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)" "198.19.2.1"
# A config libconfig cannot parse: vrouterctl cannot read the socket path
# from it; it still fails the job and says why with FILE:LINE.
echo "daemon = { oops" >"$VR_TMP/syntax.conf"
out=$(ctl -f "$VR_TMP/syntax.conf" reload 2>&1); rc=$?
vr_check "vrouterctl -f on an unparsable config exits 1 naming its FILE:LINE" \
    rc_and_says "$rc" 1 'syntax\.conf:[0-9]+:' "$out"
write_conf "$VR_TMP/a.conf" direct
vr_reload

# ---- STATUS refreshed while a connection is open (every 5 s, when it changed)
N=$((100 * 1024 * 1024))
vr_bg "$NS_CLI" curl -s -o /dev/null --limit-rate 20k --max-time 60 "http://198.19.2.2/blob/$N"
from=$(count)
vr_check "STATUS refreshed without a reload: the generation with 1 connection open" \
    nwait "$from" 'any(re.match(r"generation [0-9]+: 1 connections", f.get("STATUS", "")) and "READY" not in f
                       and "RELOADING" not in f for f in F)' 12

# ---- SIGTERM: STOPPING=1
from=$(count)
kill -TERM "$VR_DAEMON_PID"
vr_check "SIGTERM: STOPPING=1 is sent when draining starts" nwait "$from" 'any(f.get("STOPPING") == "1" for f in F)'
kill -TERM "$VR_DAEMON_PID" 2>/dev/null # the open download: stop now
vr_daemon_wait; rc=$?
vr_check "the daemon exits 0 after STOPPING=1" vr_eq "$rc" 0

# ---- an abstract socket (@name, per network namespace: the manager runs in
# the router's), and WATCHDOG_PID naming another process: no pings
NLOG=$VR_TMP/notify2.log
: >"$NLOG"
vr_bg "$NS_RTR" python3 "$VR_SRC/tests/e2e/notify_manager.py" --socket "@vrnotify$VR_ID" --out "$NLOG" --seconds 60
nwait 0 'any(f.get("MANAGER") == "listening" for f in F)' || { vr_finish; exit 1; }
export NOTIFY_SOCKET=@vrnotify$VR_ID WATCHDOG_USEC=200000 WATCHDOG_PID=1
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
vr_check "abstract NOTIFY_SOCKET=@name: READY=1 arrives" nwait 0 'any(f.get("READY") == "1" for f in F)'
sleep 1.5
vr_check "WATCHDOG_PID of another process: no WATCHDOG=1 pings" nq 0 'not any("WATCHDOG" in f for f in F)'

vr_finish
