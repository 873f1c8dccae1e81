#!/bin/bash
# Issue 14, "module_path takes a list of directories": searched in order, so
# a drop-in directory placed before the packaged one overrides a module of
# the same name without copying the others.
#   - a drop-in "direct.so" (the test module upgrade_outbound built under the
#     name "direct", which logs its variant on every connect) carries the
#     flows; the tls sniffer still comes from the packaged directory;
#   - removed from the drop-in directory, the next reload takes the packaged
#     direct again;
#   - a module in none of the directories: -t names every path tried, in
#     order, and the list, at the block's FILE:LINE;
#   - an empty list is a config error at its FILE:LINE.
source "$(dirname "$0")/lib.sh"
PORT=7893

# Modules load only from directories nobody else can write: the build tree,
# not /tmp (see test_trust.sh).
DROPIN=$(mktemp -d "$VR_BUILD/vr-dropin.XXXXXX")
trap 'rm -rf "$DROPIN"; vr_cleanup' EXIT
chmod 755 "$DROPIN"
vr_check "a drop-in module named direct builds" \
    cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$VR_SRC/api" -DUPGRADE_VARIANT=7 \
    -DUPGRADE_NAME='"direct"' -o "$DROPIN/direct.so" "$VR_SRC/tests/modules/upgrade_outbound.c"

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
conf() { # FILE MODULE_PATH OUTBOUND_MODULE
    cat >"$1" <<CONF
daemon = { log_level = "debug";
           module_path = $2; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; sniff = ["tls"]; } );
outbounds = ( { tag = "out"; module = "$3"; } );
route = { final = "out"; };
CONF
}
conf "$VR_TMP/vrouter.conf" "[\"$DROPIN\", \"$VR_MODULE_DIR\"]" direct
vr_daemon_start "$VR_TMP/vrouter.conf" || { vr_finish; exit 1; }
served() { in_cli curl -s --max-time 5 http://198.19.2.2/ip | grep -q "^198.19.2.1 "; }
count() { grep -cE -e "$1" "$VR_TMP/vrouterd.log"; }
has() { [[ "$1" == *"$2"* ]] && return 0; echo "  expected [$2] in [$1]" >&2; return 1; }

# (The loader's debug lines come before the config's log_level applies.)
vr_check "direct is loaded from the drop-in directory, listed first" \
    vr_wait_log "upgrade_outbound variant 7: instance created"
vr_check "tls, only in the packaged directory listed next, was found there (the daemon started)" \
    test ! -e "$DROPIN/tls.so" -a -n "$VR_DAEMON_PID"
vr_check "a flow is served" served
vr_check "... by the drop-in module's code" vr_eq "$(count 'connecting through upgrade_outbound variant 7')" 1

rm -f "$DROPIN/direct.so"
vr_check "without the drop-in file, the reload succeeds" vr_reload
vr_check "... loading the packaged direct" vr_wait_log "module direct .* loaded from $VR_MODULE_DIR/direct.so"
vr_check "a flow is served" served
vr_check "... by the packaged direct (no new drop-in line)" vr_eq "$(count 'connecting through upgrade_outbound variant 7')" 1

conf "$VR_TMP/missing.conf" "[\"$DROPIN\", \"$VR_MODULE_DIR\"]" nosuch
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/missing.conf" 2>&1)
vr_check "-t: a missing module is an error at its block's line" has "$out" "$VR_TMP/missing.conf:4: cannot load module \"nosuch\": "
vr_check "... naming every path tried, in order" \
    has "$out" "$DROPIN/nosuch.so: No such file or directory; $VR_MODULE_DIR/nosuch.so: No such file or directory"
vr_check "... and the list" has "$out" "(module_path is \"$DROPIN\", \"$VR_MODULE_DIR\")"

# Each directory is trust-checked: a group-writable drop-in directory holding
# the module refuses it (never skipped for the packaged one listed next).
UNTRUSTED=$(mktemp -d "$VR_BUILD/vr-dropin-gw.XXXXXX")
trap 'rm -rf "$DROPIN" "$UNTRUSTED"; vr_cleanup' EXIT
chmod 775 "$UNTRUSTED"
cp "$VR_MODULE_DIR/direct.so" "$UNTRUSTED/"
conf "$VR_TMP/untrusted.conf" "[\"$UNTRUSTED\", \"$VR_MODULE_DIR\"]" direct
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/untrusted.conf" 2>&1)
vr_check "-t: a module in an untrusted drop-in directory is refused at its block's line" \
    has "$out" "$VR_TMP/untrusted.conf:4: module \"direct\" not loaded: untrusted path $UNTRUSTED"
vr_check "... naming the fix" has "$out" "fix: chmod"

conf "$VR_TMP/empty.conf" "[]" direct
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/empty.conf" 2>&1)
vr_check "-t: an empty module_path is an error at its line" has "$out" "$VR_TMP/empty.conf:2: daemon: module_path: an empty list"

conf "$VR_TMP/single.conf" "\"$VR_MODULE_DIR\"" direct
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/single.conf" 2>&1)
vr_check "a single string still works" has "$out" "configuration OK"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "vrouterd exits 0" vr_eq "$?" 0
vr_finish
