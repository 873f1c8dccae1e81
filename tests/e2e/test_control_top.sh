#!/bin/bash
# Issue 13 end to end: `vrouterctl top` as a user meets it, driven in a real
# terminal (tmux: send-keys, capture-pane) while a rate-limited download runs
# through the TPROXY path. Asserts the transfer's connection is shown with a
# plausible down rate (a rate, not its byte count), its outbound's and rule's
# totals, then that q and ^C each end top with status 0 and the terminal
# restored (normal screen, cursor shown, the same stty settings). Without a
# terminal top prints one plain frame and exits.
source "$(dirname "$0")/lib.sh"

PORT=7893
CTL_BIN=$VR_BUILD/tools/vrouterctl
SOCK=$VR_TMP/run/control.sock
TMUX_SOCK=vrtop$$
tm() { tmux -L "$TMUX_SOCK" "$@"; }
trap 'tm kill-server 2>/dev/null; vr_cleanup' EXIT

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 8080 || exit 1
mkdir -p "$VR_TMP/run"
cat >"$VR_TMP/a.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "info"; bypass_mark = 0xff;
           control = { path = "$SOCK"; }; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = (
  { tag = "direct"; module = "direct"; },
  { tag = "wan-b"; module = "direct"; bind_address = ["198.19.2.3"]; }
);
route = { rules = ( { port = 8080; outbound = "wan-b"; } ); final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/a.conf" || { vr_finish; exit 1; }

# A steady reader of about 600 KiB/s (64 KiB each 0.1 s) for up to 120 s, with a small receive
# buffer so its window reopens with every read. The daemon refills its
# client socket in bursts (a few hundred KiB when the send buffer wakes it):
# at 100 KiB/s those come 2 s apart and a 1 s rate is often 0; at 600 KiB/s
# several land in every second.
vr_bg "$NS_CLI" python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.settimeout(10)
s.connect(("198.19.2.2", 8080))
s.sendall(b"GET /blob/104857600 HTTP/1.0\r\nHost: x\r\n\r\n")
end = time.time() + 120
while time.time() < end and s.recv(65536):
    time.sleep(0.1)
'
sleep 5 # more than 2.5 MiB moved: a byte count cannot pass for the rate

# "1.0MiB/s" -> bytes per second
to_bytes() { python3 -c "import re,sys; m=re.fullmatch(r'([0-9.]+)(B|KiB|MiB|GiB)(/s)?', sys.argv[1]); \
print(int(float(m[1]) * {'B':1,'KiB':1024,'MiB':1<<20,'GiB':1<<30}[m[2]]) if m else -1)" "$1"; }
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || { echo "  $1 not in [$2, $3]" >&2; return 1; }; }
# the transfer's row, its outbound's and its rule's lines in a frame (file $1)
frame_checks() { # $1 = frame file, $2 = where
    local row rate total ob rl
    row=$(awk '$3 == "198.19.2.2:8080"' "$1")
    rate=$(to_bytes "$(awk '{print $9}' <<<"$row")")
    total=$(to_bytes "$(awk '{print $11}' <<<"$row")")
    vr_check "$2: the transfer's row (client, destination, outbound wan-b, rule #1, relaying)" \
        grep -qE '^[0-9]+ +198\.18\.1\.2:[0-9]+ +198\.19\.2\.2:8080 +- +wan-b +rule #1 +relaying ' <<<"$row"
    vr_check "$2: its down rate is 128 KiB/s to 2 MiB/s (about 600 KiB/s), not its byte count" \
        between "$rate" $((128 * 1024)) $((2 << 20))
    vr_check "$2: its bytes down so far exceed 2.5 MiB" between "$total" $((5 << 19)) $((1 << 30))
    ob=$(grep -E '^wan-b +direct +up +1 +0 ' "$1")
    vr_check "$2: outbound wan-b: module direct, up, 1 connection, the transfer's down rate" \
        vr_eq "$(awk '{print $6}' <<<"$ob")" "$(awk '{print $9}' <<<"$row")"
    rl=$(grep -E '^1 +rule #1 +[0-9]+ +wan-b ' "$1")
    vr_check "$2: rule #1: 1 hit, 1 connection, the transfer's down rate" \
        vr_eq "$(awk '{print $6, $7, $8}' <<<"$rl")" "1 1 $(awk '{print $9}' <<<"$row")"
    vr_check "$2: outbound direct is listed with no connection" grep -qE '^direct +direct +[a-z]+ +0 +0 ' "$1"
}

# ---- no terminal: one plain frame
"$CTL_BIN" -s "$SOCK" top >"$VR_TMP/plain.out" 2>&1 </dev/null; rc=$?
vr_check "top with stdout not a terminal: exit 0" vr_eq "$rc" 0
vr_check "... plain text, no escape codes" bash -c "! grep -q $'\033' '$VR_TMP/plain.out'"
frame_checks "$VR_TMP/plain.out" "plain frame"

# ---- in a terminal: q
tm new-session -d -x 200 -y 50 -s top "env PS1='top-test\$ ' bash --norc --noprofile" || { vr_log "tmux failed"; exit 1; }
tm set-option -t top remain-on-exit on >/dev/null
run_top() { # $1 = tag: stty before and after, and top's exit status, into files
    tm send-keys -t top "stty -g >$VR_TMP/stty.before.$1; '$CTL_BIN' -s '$SOCK' top; echo \"top-exit-$1=\$?\"; \
stty -g >$VR_TMP/stty.after.$1" Enter
}
wait_pane() { # $1 = pattern, up to 10 s
    local i
    for i in $(seq 1 100); do
        tm capture-pane -p -t top | grep -qE -e "$1" && return 0
        sleep 0.1
    done
    return 1
}
flag() { tm display-message -p -t top "#{$1}"; }
run_top q
vr_check "top draws its view in the terminal" wait_pane '^OUTBOUND +MODULE'
sleep 2.5
tm capture-pane -p -t top >"$VR_TMP/tty.frame"
vr_check "while top runs: alternate screen on, cursor hidden" vr_eq "$(flag alternate_on) $(flag cursor_flag)" "1 0"
vr_check "the header counts the connection and a non-zero total down rate" \
    grep -qE '^vrouterctl top: generation 1, 1 connections, down [1-9][0-9.]*[KM]iB/s' "$VR_TMP/tty.frame"
frame_checks "$VR_TMP/tty.frame" "terminal frame"
tm send-keys -t top q
vr_check "q: top exits with status 0" wait_pane '^top-exit-q=0$'
vr_check "q: the normal screen is back and the cursor shown" vr_eq "$(flag alternate_on) $(flag cursor_flag)" "0 1"
wait_pane '^top-test\$ $' >/dev/null
vr_check "q: the terminal settings are as before (stty -g)" \
    vr_eq "$(cat "$VR_TMP/stty.after.q" 2>/dev/null)" "$(cat "$VR_TMP/stty.before.q")"
vr_check "q: the shell prompt is back and the shell is the pane's process" \
    bash -c "[ \"\$(tmux -L '$TMUX_SOCK' display-message -p -t top '#{pane_current_command}')\" = bash ]"
tm send-keys -t top "echo typed-after-top" Enter
vr_check "q: keys echo again after top (canonical, echo on)" wait_pane '^top-test\$ echo typed-after-top$'

# ---- in a terminal: ^C
tm send-keys -t top clear Enter
run_top int
vr_check "top draws again" wait_pane '^OUTBOUND +MODULE'
sleep 1.5
tm send-keys -t top C-c
vr_check "^C: top exits with status 0" wait_pane '^top-exit-int=0$'
vr_check "^C: the normal screen is back and the cursor shown" vr_eq "$(flag alternate_on) $(flag cursor_flag)" "0 1"
wait_pane '^top-test\$ $' >/dev/null
vr_check "^C: the terminal settings are as before (stty -g)" \
    vr_eq "$(cat "$VR_TMP/stty.after.int" 2>/dev/null)" "$(cat "$VR_TMP/stty.before.int")"

# ---- a daemon that is not there: a clear error, status 1, nothing left on screen
"$CTL_BIN" -s "$VR_TMP/run/none.sock" top >"$VR_TMP/none.out" 2>&1; rc=$?
vr_check "top without a daemon: exit 1 and says it cannot connect" \
    bash -c "[ $rc = 1 ] && grep -q 'cannot connect to' '$VR_TMP/none.out'"

vr_finish
