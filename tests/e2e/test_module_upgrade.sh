#!/bin/bash
# Issue 14, "A changed module file is reloaded": SIGHUP used to keep running
# a .so that was already loaded, even after it was replaced on disk.
#   1. The outbound module upgrade_outbound (tests/modules/) variant 1 carries
#      a slow paced transfer. Variant 2 is installed over it (a new file
#      renamed over the old, as install(1) and dpkg do) and the daemon is
#      reloaded: new flows go through variant 2's code, the transfer keeps
#      running through variant 1's generation and completes intact, and
#      variant 1's instance is destroyed only after it.
#   2. A build claiming a newer ABI minor is installed over variant 2 while
#      another slow transfer runs: -t reports the refusal (path and both
#      versions), the reload fails with the same message, the running
#      generation stays (new flows still variant 2) and the transfer
#      completes intact. So does a replacement other users may write.
#   3. A good build installed after that is taken.
# Variant 2 claims ABI minor 1, older than the host's: an old module's fd
# watches keep working.
source "$(dirname "$0")/lib.sh"
VR_TEST_MODULE_DIR=${VR_TEST_MODULE_DIR:-$VR_BUILD/testmodules}
PORT=7893

# Modules load only from directories nobody else can write: the build tree,
# not /tmp (see test_trust.sh).
MODS=$(mktemp -d "$VR_BUILD/vr-upgrade-mods.XXXXXX")
trap 'rm -rf "$MODS"; vr_cleanup' EXIT
chmod 755 "$MODS"
cp "$VR_TEST_MODULE_DIR/upgrade_outbound.so" "$MODS/"

# build VARIANT [extra cc flags]: tests/modules/upgrade_outbound.c into
# $VR_TMP/upgrade_outbound-VARIANT.so, ready to be installed.
build() {
    local v=$1; shift
    cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$VR_SRC/api" \
        -DUPGRADE_VARIANT="$v" "$@" -o "$VR_TMP/upgrade_outbound-$v.so" "$VR_SRC/tests/modules/upgrade_outbound.c"
}
# install_module VARIANT: a new file renamed over the loaded one.
install_module() {
    install -m 644 "$VR_TMP/upgrade_outbound-$1.so" "$MODS/.upgrade_outbound.so.new" &&
        mv -f "$MODS/.upgrade_outbound.so.new" "$MODS/upgrade_outbound.so"
}
# Variant 2 is built for ABI 1.1 (an older minor than the host's): its
# connect watch runs on the host's epoll set as it did on libevent, and it
# is never shown ABI 1.2's VR_EV_ERROR; the flows it carries below show it.
vr_check "variant 2 (an ABI 1.1 module) builds" build 2 -DUPGRADE_ABI_MINOR=1
vr_check "a variant claiming ABI minor +1 builds" build 3 -DUPGRADE_ABI_MINOR=99

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
# A paced server: 100 chunks of 64 KiB, one every 0.1 s, then close. Paced at
# the server, the flow stays in flight inside the daemon for ~10 s (a client
# reading slowly would not do: the kernel buffers would absorb a whole blob).
PACED='
import hashlib, socket, sys, threading, time
CHUNK, COUNT = 65536, 100
def chunk(i):
    return bytes((i * 7 + j) & 0xff for j in range(256)) * (CHUNK // 256)
if sys.argv[1] == "want":
    h = hashlib.sha256()
    for i in range(COUNT):
        h.update(chunk(i))
    print(h.hexdigest(), CHUNK * COUNT)
elif sys.argv[1] == "serve":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.19.2.2", 9000)); s.listen(8)
    def serve(c):
        try:
            for i in range(COUNT):
                c.sendall(chunk(i)); time.sleep(0.1)
        except OSError:
            pass
        c.close()
    while True:
        c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    c = socket.create_connection(("198.19.2.2", 9000), timeout=30)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b); n += len(b)
    print(h.hexdigest(), n)
'
vr_bg "$NS_SRV" python3 -c "$PACED" serve
vr_wait_port "$NS_SRV" 198.19.2.2 9000 || exit 1
WANT=$(python3 -c "$PACED" want)
# paced OUT: a paced transfer through the daemon, its "sha256 size" into OUT.
paced() { in_cli python3 -c "$PACED" get >"$1" 2>&1; }
cat >"$VR_TMP/vrouter.conf" <<CONF
daemon = { module_path = "$MODS"; log_level = "debug"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "up"; module = "upgrade_outbound"; } );
route = { final = "up"; };
CONF
vr_daemon_start "$VR_TMP/vrouter.conf" || { vr_finish; exit 1; }
alive() { kill -0 "$VR_DAEMON_PID" 2>/dev/null; }
served() { in_cli curl -s --max-time 5 http://198.19.2.2/ip | grep -q "^198.19.2.1 "; }
# The variant that carried the most recent connection.
last_variant() { grep -oE "connecting through upgrade_outbound variant [0-9]+" "$VR_TMP/vrouterd.log" | tail -1 | awk '{print $NF}'; }
count() { grep -cE -e "$1" "$VR_TMP/vrouterd.log"; }

vr_check "a first flow goes through variant 1" served
vr_check "... as variant 1's log line says" vr_eq "$(last_variant)" 1

# ---- 1: upgrade under a transfer in flight
paced "$VR_TMP/slow1.out" &
PACER=$!
sleep 1
vr_check "the paced transfer goes through variant 1" vr_eq "$(last_variant)" 1
vr_check "variant 2 is installed over the loaded file" install_module 2
vr_check "the reload succeeds" vr_reload
vr_check "the reload is logged as generation 2 active" vr_wait_log "reload: generation 2 active"
vr_check "variant 2 made its instance for generation 2" vr_wait_log "variant 2: instance created"
vr_check "a new flow is served after the reload" served
vr_check "... by variant 2's code" vr_eq "$(last_variant)" 2
vr_check "variant 1's instance still lives while its transfer runs" vr_eq "$(count 'variant 1: instance destroyed')" 0
vr_check "... and the transfer is still in flight" kill -0 $PACER
wait $PACER
vr_check "the transfer through variant 1 completes intact" vr_eq "$(cat "$VR_TMP/slow1.out")" "$WANT"
vr_check "then generation 1 is released" vr_wait_log "generation 1 released"
vr_check "... and variant 1's instance destroyed, by variant 1's code" vr_wait_log "variant 1: instance destroyed"
vr_check "the daemon is alive" alive

# ---- 2: a refused build, under a transfer in flight
paced "$VR_TMP/slow2.out" &
PACER=$!
sleep 1
vr_check "a build for ABI 1.99 is installed over variant 2" install_module 3
HOST_ABI=$(sed -nE 's/^#define VR_ABI_(MAJOR|MINOR) ([0-9]+).*/\2/p' "$VR_SRC/api/vrouter/vr_abi.h" | paste -sd.)
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/vrouter.conf" 2>&1)
has() { [[ "$1" == *"$2"* ]] && return 0; echo "  expected [$2] in [$1]" >&2; return 1; }
vr_check "-t refuses it, naming the file and both versions" \
    has "$out" "$MODS/upgrade_outbound.so: built for plugin ABI 1.99, this vrouterd provides $HOST_ABI"
vr_check "... at the block's FILE:LINE" has "$out" "$VR_TMP/vrouter.conf:3: "
failed_before=$(count "reload: failed")
vr_check "the reload is attempted" vr_reload
vr_check "the reload fails" vr_eq "$(count 'reload: failed')" $((failed_before + 1))
vr_check "the daemon log names the refusal" \
    vr_wait_log "upgrade_outbound.so: built for plugin ABI 1.99, this vrouterd provides $HOST_ABI"
vr_check "a new flow is still served" served
vr_check "... by variant 2's code (the running generation stayed)" vr_eq "$(last_variant)" 2
vr_check "... while the transfer is still in flight" kill -0 $PACER
wait $PACER
vr_check "the transfer during the refused reload completes intact" vr_eq "$(cat "$VR_TMP/slow2.out")" "$WANT"

# ---- a replacement other users may write (group-writable): refused too
vr_check "variant 2 installed group-writable" \
    bash -c "install -m 664 '$VR_TMP/upgrade_outbound-2.so' '$MODS/.new' && mv -f '$MODS/.new' '$MODS/upgrade_outbound.so'"
out=$(in_rtr "$VR_BIN" -t -f "$VR_TMP/vrouter.conf" 2>&1)
vr_check "-t refuses it as untrusted, naming the file and the fix" \
    has "$out" "module \"upgrade_outbound\" not loaded: untrusted path $MODS/upgrade_outbound.so"
vr_check "... and the fix" has "$out" "fix: chmod go-w $MODS/upgrade_outbound.so"
failed_before=$(count "reload: failed")
vr_check "the reload is attempted" vr_reload
vr_check "the reload fails" vr_eq "$(count 'reload: failed')" $((failed_before + 1))
vr_check "a new flow is still served by variant 2's code" served
vr_check "... as its log line says" vr_eq "$(last_variant)" 2

# ---- and a fixed build after the refusals is taken
vr_check "a fixed build (variant 4) builds" build 4
vr_check "is installed" install_module 4
vr_check "the reload succeeds" vr_reload
vr_check "a new flow is served" served
vr_check "... as its log line says" vr_eq "$(last_variant)" 4

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "vrouterd exits 0" vr_eq "$?" 0
vr_finish
