#!/bin/bash
# Issue 13 end to end: the control socket and vrouterctl with real flows held
# open (rate-limited curl downloads through the TPROXY path): daemon.control
# validation, the socket's mode, group and directory, status, connections
# with each filter, rules hit counts, explain, log-level, kill by id and by
# filter, synchronous reload (broken: FILE:LINE, exit 1, old generation
# serving; good: the new generation), peers refused or let in by
# SO_PEERCRED, and 2,000 held connections listed completely while a transfer
# continues.
source "$(dirname "$0")/lib.sh"

PORT=7893
CTL_BIN=$VR_BUILD/tools/vrouterctl
SOCK=$VR_TMP/run/vrouterd/control.sock
write_conf() { # $1 = file, $2 = control block, $3 = extra rule
    cat >"$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff;
           max_connections_per_client = 0;
           control = $2; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; network = ["tcp", "udp"];
                sniff = ["http"]; sniff_timeout_ms = 300; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3", "2001:db8:2::3"]; }
);
route = { rules = (
    { domain_suffix = ["example.test"]; outbound = "wan-b"; },
@include "rule2.inc"
    ${3:-}
  ); final = "direct"; };
CONF
}
# rule #2 stands in a file of its own: rules and connections name it
printf '    { port = 8080; outbound = "direct"; }\n' >"$VR_TMP/rule2.inc"
ctl() { "$CTL_BIN" -s "$SOCK" "$@"; }
# Python one-liners over the JSON lines on stdin.
jpy() { python3 -c "import json,sys; L=[json.loads(l) for l in sys.stdin if l.strip()]; $1"; }
rows() { ctl connections --json "$@" | jpy 'print(sum(1 for o in L if "end" not in o))'; }

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1
vr_http_server 8080 || exit 1
UT="python3 $VR_SRC/tests/e2e/udp_tool.py"
vr_bg "$NS_SRV" $UT server --port 7001
mkdir -p "$VR_TMP/run"

# ---- config validation
write_conf "$VR_TMP/bad.conf" '{ path = "relative.sock"; mode = 0400; }'
out=$("$VR_BIN" -t -f "$VR_TMP/bad.conf" 2>&1)
vr_check "daemon.control.path must be absolute: FILE:LINE error" \
    grep -qE "bad\.conf:[0-9]+:.*path.*absolute" <<<"$out"
vr_check "daemon.control.mode 0400 (no owner write) is refused with FILE:LINE" \
    grep -qE "bad\.conf:[0-9]+:.*mode.*0400" <<<"$out"
write_conf "$VR_TMP/bad2.conf" '"yes"'
vr_check "daemon.control = \"yes\" is refused with FILE:LINE" \
    bash -c "'$VR_BIN' -t -f '$VR_TMP/bad2.conf' 2>&1 | grep -qE 'bad2\.conf:[0-9]+:.*control'"

# ---- start with the control socket
write_conf "$VR_TMP/a.conf" "{ path = \"$SOCK\"; mode = 0660; group = \"nogroup\"; }"
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }
vr_check "the socket directory is created 0750" vr_eq "$(stat -c %a "$(dirname "$SOCK")")" "750"
vr_check "the socket has mode 0660 and group nogroup" vr_eq "$(stat -c '%F %a %G' "$SOCK")" "socket 660 nogroup"

# three flows held open: by domain (rule #1 -> wan-b), by port (rule #2), final
N=$((200 * 1024 * 1024))
curl_slow() { # $1 = name, rest = curl args
    local name=$1; shift
    vr_bg "$NS_CLI" curl -s -o /dev/null --limit-rate 50k --max-time 120 -w '%{http_code}' "$@" \
        >"$VR_TMP/curl.$name" 2>&1
    eval "CURL_$name=\$!"
}
curl_slow dom -H "Host: www.example.test" "http://198.19.2.2/blob/$N"
curl_slow port "http://198.19.2.2:8080/blob/$N"
curl_slow fin "http://198.19.2.2/blob/$N"
for i in $(seq 1 100); do
    [ "$(rows --state relaying)" = 3 ] && break
    sleep 0.1
done

# ---- status
st=$(ctl status --json)
vr_check "status: pid, version, ABI, config file" jpy "o=L[0]; assert o['ok'] and o['pid']==$VR_DAEMON_PID \
and o['version'] and o['abi'].startswith('1.') and o['config']=='$VR_TMP/a.conf'" <<<"$st"
vr_check "status: generation 1 active, loaded a time ago, no retired generation" \
    jpy "o=L[0]; assert o['generation']['id']==1 and o['generation']['loaded_s_ago']>0 and o['retired']==[]" <<<"$st"
vr_check "status: listener tp (tcp) and the direct module with its ABI" jpy "o=L[0]; \
assert any(l['tag']=='tp' and l['network']=='tcp' for l in o['listeners']); \
assert any(m['name']=='direct' and m['kind']=='outbound' and m['abi'].startswith('1.') for m in o['modules'])" <<<"$st"
vr_check "status: 3 connections active, 3 total, UDP counts present" jpy "o=L[0]; \
assert o['connections']['active']==3 and o['connections']['total']==3 and o['udp_sessions']['active']==0, o" <<<"$st"
vr_check "status: fds open below the limit, RSS reported" jpy "o=L[0]; \
assert 0 < o['fds']['open'] < o['fds']['limit'] and o['rss_bytes'] > 1000000" <<<"$st"
vr_check "human status names the generation and connection counts" \
    bash -c "'$CTL_BIN' -s '$SOCK' status | grep -q 'connections: 3 active'"

# ---- connections and filters
vr_check "connections: all 3 flows listed, rows then a terminator" vr_eq "$(rows)" 3
vr_check "--rule 'rule #1': the domain flow" vr_eq "$(rows --rule 'rule #1')" 1
vr_check "--rule 1 (the index) matches the same flow" \
    vr_eq "$(ctl connections --json --rule 1 | jpy 'print(L[0]["domain"], L[0]["rule_index"], L[0]["rule_line"] > 0)')" \
    "www.example.test 1 True"
vr_check "--outbound wan-b: the domain flow only" vr_eq "$(rows --outbound wan-b)" 1
vr_check "--domain example.test (suffix)" vr_eq "$(rows --domain example.test)" 1
vr_check "--domain xample.test does not match off a label boundary" vr_eq "$(rows --domain xample.test)" 0
vr_check "--client 198.18.1.0/24: all" vr_eq "$(rows --client 198.18.1.0/24)" 3
vr_check "--client 198.18.9.0/24: none" vr_eq "$(rows --client 198.18.9.0/24)" 0
vr_check "--listener tp: all; --listener nope: none" vr_eq "$(rows --listener tp) $(rows --listener nope)" "3 0"
vr_check "--state relaying: all; --state sniffing: none" vr_eq "$(rows --state relaying) $(rows --state sniffing)" "3 0"
vr_check "--sort bytes --limit 1: one row, the terminator counts 3 matched" \
    vr_eq "$(ctl connections --json --sort bytes --limit 1 | jpy 'print(len(L)-1, L[-1]["matched"], L[-1]["end"])')" "1 3 True"
vr_check "a row carries every documented field" jpy "o=L[0]; \
assert set(o) >= {'id','listener','client','destination','domain','protocol','rule','rule_index','rule_line','outbound',\
'state','bytes_up','bytes_down','age_s','generation','worker','rule_file'}, o; \
assert o['destination']=='198.19.2.2:8080' and o['client'].startswith('198.18.1.2:') and o['bytes_down']>0; \
assert o['rule_file'].split('/')[-1]=='rule2.inc' and o['rule_line']==1, o" \
    < <(ctl connections --json --rule 'rule #2')
vr_check "the human table lists the 3 flows" \
    vr_eq "$(ctl connections | grep -c ' relaying ')" 3

# ---- rules hit counts after the 3 known flows
vr_check "rules: rule #1 1 hit, rule #2 1 hit, final 1 hit" \
    vr_eq "$(ctl rules --json | jpy 'print(" ".join("%s=%d" % (r["name"], r["hits"]) for r in L[0]["rules"]))')" \
    "rule #1=1 rule #2=1 final=1"
vr_check "rules: each rule says its action (route)" \
    vr_eq "$(ctl rules --json | jpy 'print(" ".join(r["action"] for r in L[0]["rules"]))')" "route route route"
vr_check "rules: rule #2 names the @include'd file and its line there" \
    vr_eq "$(ctl rules --json | jpy 'r=L[0]["rules"][1]; print(r["file"].split("/")[-1] == "rule2.inc", r["line"])')" "True 1"

# ---- explain against the running generation
vr_check "explain: an http flow to www.example.test goes to wan-b by rule #1" \
    bash -c "'$CTL_BIN' -s '$SOCK' explain 'tcp http www.example.test 198.19.2.2:80' | grep -q 'wan-b'"
vr_check "explain: a malformed flow is an error (exit 1)" bash -c "! '$CTL_BIN' -s '$SOCK' explain 'nonsense' 2>/dev/null"

# ---- outbounds
vr_check "outbounds: wan-b has 1 connection, direct 2" \
    vr_eq "$(ctl outbounds --json | jpy 'print(" ".join("%s=%d" % (o["tag"], o["connections"]) for o in L[0]["outbounds"]))')" \
    "direct=2 wan-b=1"

# ---- log-level
vr_check "log-level debug answers the change" \
    bash -c "'$CTL_BIN' -s '$SOCK' log-level debug | grep -q 'log level debug (was info)'"
vr_check "the log shows the change, then debug lines" vr_wait_log "control: log level info -> debug"
ctl status >/dev/null
vr_check "a debug line (a control client connecting) is logged now" vr_wait_log "control: client uid 0 pid [0-9]+ connected"
vr_check "log-level nonsense: exit 1" bash -c "! '$CTL_BIN' -s '$SOCK' log-level loud 2>/dev/null"
ctl log-level info >/dev/null

# ---- kill by id, and by filter
fin_id=$(ctl connections --json --rule final | jpy 'print(L[0]["id"])')
fin_port=$(ctl connections --json --rule final | jpy 'print(L[0]["client"].rsplit(":", 1)[1])')
dom_port=$(ctl connections --json --outbound wan-b | jpy 'print(L[0]["client"].rsplit(":", 1)[1])')
# The client's own socket (curl reads its kernel buffer slowly at --limit-rate,
# so curl itself may take long to notice): no longer established.
client_ended() { # $1 = client port
    local i
    for i in $(seq 1 50); do
        [ -z "$(in_cli ss -Htn state established "( sport = :$1 )")" ] && return 0
        sleep 0.1
    done
    return 1
}
vr_check "kill ID answers killed 1" bash -c "'$CTL_BIN' -s '$SOCK' kill $fin_id | grep -q 'killed 1'"
vr_check "the client of the killed flow sees its connection end" client_ended "$fin_port"
vr_check "the log line of the flow says end=killed by control" \
    vr_wait_log "conn $fin_id .*end=killed by control"
vr_check "kill --outbound wan-b closes the domain flow" \
    vr_eq "$(ctl kill --json --outbound wan-b | jpy 'print(L[0]["killed"])')" 1
vr_check "... its client sees the end" client_ended "$dom_port"
vr_check "kill of an id that is not live: exit 1" bash -c "! '$CTL_BIN' -s '$SOCK' kill 999999 2>/dev/null"
vr_check "kill without ids or filters is refused" bash -c "! '$CTL_BIN' -s '$SOCK' kill 2>/dev/null"
vr_check "1 connection left (rule #2)" vr_eq "$(rows)" 1

# ---- UDP sessions: listed, filtered, killed
vr_bg "$NS_CLI" $UT session 198.19.2.2:7001 --repeat 40 --interval 0.25 >"$VR_TMP/udp.out"
for i in $(seq 1 50); do
    [ "$(ctl sessions --json | jpy 'print(len(L) - 1)')" = 1 ] && break
    sleep 0.1
done
vr_check "sessions: the UDP session is listed with its destination, rule, outbound and datagrams" \
    jpy "o=L[0]; assert o['network']=='udp' and o['destination']=='198.19.2.2:7001' and o['rule']=='final' \
and o['outbound']=='direct' and o['listener']=='tp' and o['state']=='open' and o['datagrams_up']>=1, o" \
    < <(ctl sessions --json)
vr_check "sessions --outbound wan-b: none; --client 198.18.1.2: one" \
    vr_eq "$(ctl sessions --json --outbound wan-b | jpy 'print(len(L)-1)') $(ctl sessions --json --client 198.18.1.2 | jpy 'print(len(L)-1)')" "0 1"
vr_check "status counts the UDP session" \
    vr_eq "$(ctl status --json | jpy 'print(L[0]["udp_sessions"]["active"])')" 1
udp_id=$(ctl sessions --json | jpy 'print(L[0]["id"])')
vr_check "kill ID ends the UDP session" bash -c "'$CTL_BIN' -s '$SOCK' kill $udp_id | grep -q 'killed 1'"
vr_check "... logged with end=killed by control" vr_wait_log "udp $udp_id .*end=killed by control"

# ---- reload: broken, then good
write_conf "$VR_TMP/a.conf" "{ path = \"$SOCK\"; mode = 0660; group = \"nogroup\"; }" \
    ', { port = 9; outbound = "no-such-outbound"; }'
out=$(ctl reload 2>&1); rc=$?
vr_check "reload with a broken config exits 1" vr_eq "$rc" 1
vr_check "... and prints FILE:LINE of the error" grep -qE "a\.conf:[0-9]+:.*no-such-outbound" <<<"$out"
vr_check "... the old generation stays active" \
    vr_eq "$(ctl status --json | jpy 'print(L[0]["generation"]["id"])')" 1
vr_check "... and keeps serving new flows" \
    vr_eq "$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)" "198.19.2.1"
write_conf "$VR_TMP/a.conf" "{ path = \"$SOCK\"; mode = 0660; group = \"nogroup\"; }"
out=$(ctl reload --json); rc=$?
newgen=$(jpy 'print(L[0]["generation"])' <<<"$out")
vr_check "reload with a good config exits 0 with the new generation" \
    bash -c "[ $rc = 0 ] && [ '$newgen' -gt 1 ]"
vr_check "status shows that generation active, generation 1 retired and held by 1 connection" \
    jpy "o=L[0]; assert o['generation']['id']==$newgen; r=o['retired']; \
assert len(r)==1 and r[0]['id']==1 and r[0]['connections']==1, r" < <(ctl status --json)
vr_check "rules hit counts start again in the new generation" \
    vr_eq "$(ctl rules --json | jpy 'print(L[0]["generation"], L[0]["rules"][0]["hits"])')" "$newgen 0"

# ---- peers: SO_PEERCRED
cp "$CTL_BIN" "$VR_TMP/vrouterctl"
chmod 0755 "$VR_TMP/vrouterctl"
chmod 0711 "$VR_TMP" "$VR_TMP/run"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$VR_TMP/vrouterctl" "$@"; }
vr_check "a user in the control group (nobody, group nogroup) is let in" \
    bash -c "$(declare -f nobody); VR_TMP='$VR_TMP' nobody -s '$SOCK' status | grep -q 'generation $newgen active'"
# a symlink where the socket should be is not followed: the old socket stays
ln -s /tmp/vr-ctl-elsewhere-$$ "$VR_TMP/run/link.sock"
write_conf "$VR_TMP/a.conf" "{ path = \"$VR_TMP/run/link.sock\"; mode = 0660; group = \"nogroup\"; }"
ctl reload >/dev/null
vr_check "a symlink at the new path is refused and logged" vr_wait_log "link\.sock exists and is not a socket"
vr_check "... nothing was created through it, the old socket still answers" \
    bash -c "[ ! -e /tmp/vr-ctl-elsewhere-$$ ] && [ -L '$VR_TMP/run/link.sock' ] && '$CTL_BIN' -s '$SOCK' status >/dev/null"
# at most 16 clients: 16 held open, the 17th is told and closed
python3 - "$SOCK" >"$VR_TMP/clients.out" <<'PY'
import socket, sys
held = []
for i in range(16):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
print(s.recv(4096).decode().strip())
held[0].sendall(b'{"op":"rules"}\n'); held[0].settimeout(5)
print("held client answered" if b'"ok":true' in held[0].recv(65536) else "held client not answered")
PY
vr_check "the 17th control client is refused with an answer; the 16 held ones still work" \
    vr_eq "$(cat "$VR_TMP/clients.out")" '{"ok":false,"error":"too many control clients"}
held client answered'
# the same user with the group no longer let in: a public path so it can connect
mkdir -p "$VR_TMP/pub"; chmod 0755 "$VR_TMP/pub"
SOCK2=$VR_TMP/pub/control.sock
write_conf "$VR_TMP/a.conf" "{ path = \"$SOCK2\"; mode = 0666; group = \"daemon\"; }"
# a stale socket file (its server gone) is in the way: replaced
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$SOCK2"
vr_check "reload moves the socket to a new path" bash -c "'$CTL_BIN' -s '$SOCK' reload >/dev/null && [ -S '$SOCK2' ] && [ ! -e '$SOCK' ]"
setpriv --reuid=65534 --regid=65534 --clear-groups "$VR_TMP/vrouterctl" -s "$SOCK2" status >"$VR_TMP/refused.out" 2>&1 &
refused_pid=$!
wait $refused_pid; rc=$?
vr_check "a user neither root nor in the group is refused (exit 1)" vr_eq "$rc" 1
vr_check "... and told why" grep -q "permission denied" "$VR_TMP/refused.out"
vr_check "the daemon logs the refusal with uid and pid" vr_wait_log "control: refused uid 65534 pid $refused_pid"
vr_check "-f CONFIG finds the socket from daemon.control.path" \
    bash -c "'$CTL_BIN' -f '$VR_TMP/a.conf' status | grep -q 'generation'"
SOCK=$SOCK2

# ---- 2,000 held connections listed completely while a transfer continues
vr_bg "$NS_SRV" python3 "$VR_SRC/tests/e2e/limits_tool.py" zerowin --port 9000 --lifetime 120
vr_wait_port "$NS_SRV" 198.19.2.2 9000 || true
vr_bg "$NS_CLI" python3 "$VR_SRC/tests/e2e/limits_tool.py" stall 198.19.2.2 9000 --count 2000 --bytes 1 --hold 90
for i in $(seq 1 300); do
    n=$(ctl status --json | jpy 'print(L[0]["connections"]["active"])')
    [ "$n" -ge 2001 ] && break
    sleep 0.1
done
vr_check "2,000 held connections (plus the transfer) are open" bash -c "[ $n -ge 2001 ]"
M=$((8 * 1024 * 1024))
want=$(vr_blob_sha256 "$M")
in_cli curl -s --max-time 60 --limit-rate 2m "http://198.19.2.2/blob/$M" | sha256sum | cut -d' ' -f1 >"$VR_TMP/xfer.sha" &
xfer=$!
sleep 0.5
listed=0
for round in 1 2 3; do
    ctl connections --json >"$VR_TMP/list.$round"
    listed=$(jpy 'assert L[-1]["end"] and L[-1]["count"]==len(L)-1; print(sum(1 for o in L if o.get("destination")=="198.19.2.2:9000"))' <"$VR_TMP/list.$round")
done
vr_check "connections --json lists all 2,000 held connections, terminator count matches" vr_eq "$listed" 2000
wait $xfer
vr_check "the transfer that ran meanwhile arrives byte-exact" vr_eq "$(cat "$VR_TMP/xfer.sha")" "$want"
vr_check "the 8080 flow held since the start still runs" kill -0 "$CURL_port"

vr_finish
