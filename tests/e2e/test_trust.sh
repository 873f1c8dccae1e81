#!/bin/bash
# Issue 11 §2: modules and config load only from paths nobody else can write.
# dlopen runs a module's constructors before any check, so the path is
# checked first: the test module ctor_marker's constructor appends to
# $VR_TEST_CTOR_MARKER, and where vrouterd refuses the module the marker must
# not appear. Checked with -t, at start and at reload (the daemon keeps its
# old config and keeps proxying); then a config file and an @include'd file
# writable by others; then a FIFO as ip_set, which used to hang -t and would
# freeze a reload.
source "$(dirname "$0")/lib.sh"
VR_TEST_MODULE_DIR=${VR_TEST_MODULE_DIR:-$VR_BUILD/testmodules}
PORT=7893

# The module directory lives in the build tree (root's, 0755 up to /): /tmp
# is sticky and world-writable, and modules are never loaded from under it.
MODS=$(mktemp -d "$VR_BUILD/vr-trust-mods.XXXXXX")
trap 'rm -rf "$MODS"; vr_cleanup' EXIT
chmod 755 "$MODS"
cp "$VR_MODULE_DIR/direct.so" "$VR_TEST_MODULE_DIR/ctor_marker.so" "$MODS/"
export VR_TEST_CTOR_MARKER=$VR_TMP/constructor-ran
has() { [[ "$1" == *"$2"* ]] && return 0; echo "  expected [$2] in [$1]" >&2; return 1; }
no_marker() { [ ! -e "$VR_TEST_CTOR_MARKER" ] && return 0; echo "  marker: $(cat "$VR_TEST_CTOR_MARKER")" >&2; return 1; }
line_of() { grep -n -F -- "$2" "$1" | head -1 | cut -d: -f1; }
# How many reloads have succeeded / failed so far (generation ids also count failed builds).
n_log() { grep -cE -e "$1" "$VR_TMP/vrouterd.log"; }

conf() { # FILE [extra outbound block]
    cat >"$1" <<CONF
daemon = { module_path = "$MODS"; log_level = "info"; };
listeners = ( { tag = "tp"; port = $PORT; } );
outbounds = (
  { tag = "direct"; module = "direct"; }${2:+,
  $2}
);
route = { final = "direct"; };
CONF
}
conf "$VR_TMP/plain.conf"
conf "$VR_TMP/ctor.conf" '{ tag = "marked"; module = "ctor_marker"; }'
CTOR_LINE=$(line_of "$VR_TMP/ctor.conf" ctor_marker)

# ---- -t: the positive control first (the marker does appear when trusted)
out=$("$VR_BIN" -t -f "$VR_TMP/ctor.conf" 2>&1)
vr_check "-t, trusted module dir: configuration OK ($out)" has "$out" "configuration OK"
vr_check "-t, trusted module dir: the constructor ran (the marker works)" \
    has "$(cat "$VR_TEST_CTOR_MARKER" 2>/dev/null)" "constructor ran as uid 0"
rm -f "$VR_TEST_CTOR_MARKER"

chmod g+w "$MODS"
out=$(timeout 20 "$VR_BIN" -t -f "$VR_TMP/ctor.conf" 2>&1)
rc=$?
vr_check "-t, group-writable module dir: refused (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
vr_check "-t, group-writable module dir: FILE:LINE of the block, the path, the mode and the fix" \
    has "$out" "ctor.conf:$CTOR_LINE: module \"ctor_marker\" not loaded: untrusted path $MODS: a directory writable by group 0 (mode 0775); fix: chmod go-w $MODS"
vr_check "-t, group-writable module dir: the module's constructor did not run" no_marker
chmod g-w "$MODS"

chown 65534 "$MODS/ctor_marker.so"
out=$("$VR_BIN" -t -f "$VR_TMP/ctor.conf" 2>&1)
vr_check "-t, a .so owned by uid 65534: refused, naming owner and fix" \
    has "$out" "ctor.conf:$CTOR_LINE: module \"ctor_marker\" not loaded: untrusted path $MODS/ctor_marker.so: it is owned by uid 65534, not by root; fix: chown root $MODS/ctor_marker.so"
vr_check "-t, a .so owned by uid 65534: the constructor did not run" no_marker
chown 0 "$MODS/ctor_marker.so"

# a module dir that is itself sticky and world-writable, like /tmp
mkdir "$VR_TMP/sticky" && chmod 1777 "$VR_TMP/sticky"
cp "$MODS"/*.so "$VR_TMP/sticky/"
sed -e "s|$MODS|$VR_TMP/sticky|" "$VR_TMP/ctor.conf" >"$VR_TMP/tmpmods.conf"
out=$("$VR_BIN" -t -f "$VR_TMP/tmpmods.conf" 2>&1)
vr_check "-t, modules straight in a sticky world-writable dir: refused, naming it" \
    has "$out" "tmpmods.conf:$CTOR_LINE: module \"ctor_marker\" not loaded: untrusted path $VR_TMP/sticky: a directory other users may create files in (sticky and world-writable"
vr_check "-t, modules straight in a sticky dir: the constructor did not run" no_marker
# below /tmp in a root-owned 0755 directory (a clone under /tmp): loaded
rm -f "$VR_TEST_CTOR_MARKER"
mkdir -m 755 "$VR_TMP/mods"
cp "$MODS"/*.so "$VR_TMP/mods/"
sed -e "s|$MODS|$VR_TMP/mods|" "$VR_TMP/ctor.conf" >"$VR_TMP/tmpmods.conf"
out=$("$VR_BIN" -t -f "$VR_TMP/tmpmods.conf" 2>&1)
vr_check "-t, modules in a root 0755 dir below /tmp: loaded (the sticky /tmp is only on the way)" \
    has "$out" "configuration OK"
vr_check "-t, modules below /tmp: the constructor ran" test -s "$VR_TEST_CTOR_MARKER"
rm -f "$VR_TEST_CTOR_MARKER"

# ---- start: refused, nothing loaded
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server || exit 1
chmod g+w "$MODS"
in_rtr timeout 20 "$VR_BIN" -f "$VR_TMP/ctor.conf" >"$VR_TMP/start.log" 2>&1
rc=$?
vr_check "start, group-writable module dir: refused (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
vr_check "start: the log names FILE:LINE and the fix" \
    has "$(cat "$VR_TMP/start.log")" "ctor.conf:$CTOR_LINE: module \"ctor_marker\" not loaded: untrusted path $MODS: a directory writable by group"
vr_check "start: the constructor did not run" no_marker
chmod g-w "$MODS"

# ---- reload: refused, the old config stays and keeps proxying
cp "$VR_TMP/plain.conf" "$VR_TMP/run.conf"
vr_daemon_start "$VR_TMP/run.conf" || { vr_finish; exit 1; }
ip=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1)
vr_check "running: a client is proxied" vr_eq "$ip" "198.19.2.1"
proxied() { local ip; ip=$(in_cli curl -s --max-time 5 http://198.19.2.2/ip | cut -d' ' -f1); vr_eq "$ip" "198.19.2.1"; }

cp "$VR_TMP/ctor.conf" "$VR_TMP/run.conf"
chmod g+w "$MODS"
vr_reload
vr_check "reload, group-writable module dir: the reload failed" vr_eq "$(n_log "reload: failed, keeping generation 1 ")" 1
vr_check "reload: the log names FILE:LINE and the fix" \
    vr_wait_log "run.conf:$CTOR_LINE: module \"ctor_marker\" not loaded: untrusted path $MODS: a directory writable by group .*fix: chmod go-w $MODS"
vr_check "reload: the constructor did not run" no_marker
vr_check "reload: the daemon still proxies with the old config" proxied
chmod g-w "$MODS"
vr_reload
vr_check "reload once the dir is fixed: a new generation is active" vr_eq "$(n_log "reload: generation [0-9]+ active")" 1
vr_check "reload once the dir is fixed: now the constructor ran" test -s "$VR_TEST_CTOR_MARKER"
rm -f "$VR_TEST_CTOR_MARKER"

# ---- config files: the file itself, and an @include'd file
conf "$VR_TMP/ow.conf"
chmod 644 "$VR_TMP/ow.conf"
chmod o+w "$VR_TMP/ow.conf"
out=$("$VR_BIN" -t -f "$VR_TMP/ow.conf" 2>&1)
vr_check "-t, a config file writable by others: refused with the path, mode and fix" \
    has "$out" "$VR_TMP/ow.conf: config file not read: untrusted path $VR_TMP/ow.conf: a file writable by every user (mode 0646); fix: chmod go-w $VR_TMP/ow.conf"
conf "$VR_TMP/inc-top.conf"
sed -i -e '/^route = /d' "$VR_TMP/inc-top.conf"
echo '@include "route.inc"' >>"$VR_TMP/inc-top.conf"
INC_LINE=$(line_of "$VR_TMP/inc-top.conf" '@include')
echo 'route = { final = "direct"; };' >"$VR_TMP/route.inc"
out=$("$VR_BIN" -t -f "$VR_TMP/inc-top.conf" 2>&1)
vr_check "-t, with an @include'd file: OK when trusted ($out)" has "$out" "configuration OK"
chmod o+w "$VR_TMP/route.inc"
out=$("$VR_BIN" -t -f "$VR_TMP/inc-top.conf" 2>&1)
vr_check "-t, an @include'd file writable by others: refused at the include line" \
    has "$out" "inc-top.conf:$INC_LINE: @include \"route.inc\" not read: untrusted path $VR_TMP/route.inc: a file writable by every user"
cp "$VR_TMP/inc-top.conf" "$VR_TMP/run.conf"
vr_reload
vr_check "reload, an @include'd file writable by others: failed" vr_eq "$(n_log "reload: failed")" 2
vr_check "reload, an @include'd file writable by others: the log names the include line" \
    vr_wait_log "run.conf:$INC_LINE: @include \"route.inc\" not read: untrusted path"
vr_check "reload: still proxying" proxied

# ---- a FIFO as ip_set: -t fails fast, a reload fails without freezing
mkfifo "$VR_TMP/cn.txt"
conf "$VR_TMP/fifo.conf"
sed -i -e 's|^route = .*|route = {\n  rules = ( { outbound = "direct"; ip_set = "cn.txt"; } );\n  final = "direct";\n};|' "$VR_TMP/fifo.conf"
SET_LINE=$(line_of "$VR_TMP/fifo.conf" ip_set)
out=$(timeout 20 "$VR_BIN" -t -f "$VR_TMP/fifo.conf" 2>&1)
rc=$?
vr_check "-t, a FIFO as ip_set: fails at once (exit $rc, 124 is a hang)" test "$rc" -ne 0 -a "$rc" -ne 124
vr_check "-t, a FIFO as ip_set: FILE:LINE names the set file" \
    has "$out" "fifo.conf:$SET_LINE: route: rules[1]: ip_set: $VR_TMP/cn.txt: is a FIFO, not a regular file"
cp "$VR_TMP/fifo.conf" "$VR_TMP/run.conf"
vr_check "reload, a FIFO as ip_set: the reload ends (and fails)" vr_reload
vr_check "reload, a FIFO as ip_set: it failed" vr_eq "$(n_log "reload: failed")" 3
vr_check "reload, a FIFO as ip_set: failed, naming the set file" \
    vr_wait_log "run.conf:$SET_LINE: route: rules\[1\]: ip_set: .*cn.txt: is a FIFO, not a regular file"
vr_check "reload, a FIFO as ip_set: the daemon still proxies" proxied
cp "$VR_TMP/plain.conf" "$VR_TMP/run.conf"
vr_reload
vr_check "a good reload after all that: a new generation is active" vr_eq "$(n_log "reload: generation [0-9]+ active")" 2
vr_check "... and proxies" proxied
vr_check "the daemon is still the same process" kill -0 "$VR_DAEMON_PID"
vr_finish
