#!/bin/bash
# Issue 11 §1: a reload must never unload a module while its own callback
# runs. A flow's connect fails after a reload removed its outbound's module
# from the config; closing that flow drops the old generation's last
# reference from inside the module's callback. Releasing the generation
# there would free the instance and dlclose the .so under the running code
# (SIGSEGV in a build that really unloads: run this test from a build
# without ASan, as ./run.sh test does, to see that class of bug).
#   phase 1: socks5 is final; its server greets, waits 2 s and refuses the
#            CONNECT (REP=5); meanwhile the config is reloaded to one with
#            no socks5 outbound.
#   phase 2: direct dials a server that drops SYNs (connect_timeout_ms);
#            meanwhile the config is reloaded to one with no direct outbound.
# Each time the daemon survives, logs the failed connection, releases the
# old generation and serves the next connection through the new config.
source "$(dirname "$0")/lib.sh"

PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
# a second server address whose SYNs are dropped (for connect_timeout_ms)
in_srv ip addr add 198.19.2.50/24 dev s0
in_srv nft -f - <<NFT || { vr_log "nft: cannot load the server's drop rule"; vr_finish; exit 1; }
table inet blackhole {
  chain input { type filter hook input priority 0; ip daddr 198.19.2.50 tcp dport 80 drop; }
}
NFT
# a SOCKS5 server that accepts the greeting, then refuses the CONNECT after 2 s
vr_bg "$NS_SRV" python3 -c '
import socket, sys, threading, time
def serve(c):
    try:
        if not c.recv(16).startswith(b"\x05"):
            return c.close()
        c.sendall(b"\x05\x00")
        if not c.recv(300).startswith(b"\x05\x01"):
            return c.close()
        open(sys.argv[1], "a").write("connect request\n")
        time.sleep(2)
        c.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
        c.recv(16)
    except OSError:
        pass
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.19.2.2", 1099)); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$VR_TMP/slow-refuser.log"
vr_bg "$NS_SRV" microsocks -i 198.19.2.2 -p 1082 -b 198.19.2.2 >"$VR_TMP/micro.log" 2>&1
vr_wait_port "$NS_SRV" 198.19.2.2 1099 || exit 1
vr_wait_port "$NS_SRV" 198.19.2.2 1082 || exit 1

conf() { # $1 file, $2 outbounds, $3 final
    cat >"$VR_TMP/$1" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "debug"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( $2 );
route = { final = "$3"; };
CONF
}
conf c1.conf '{ tag = "s5"; module = "socks5"; server = "198.19.2.2"; port = 1099; },
              { tag = "d"; module = "direct"; }' s5
conf c2.conf '{ tag = "d"; module = "direct"; connect_timeout_ms = 1500; }' d
conf c3.conf '{ tag = "m"; module = "socks5"; server = "198.19.2.2"; port = 1082; }' m
cp "$VR_TMP/c1.conf" "$VR_TMP/vrouter.conf"
vr_daemon_start "$VR_TMP/vrouter.conf" || { vr_finish; exit 1; }

alive() { kill -0 "$VR_DAEMON_PID" 2>/dev/null; }
# The server saw the client's address: the connection went through.
served() { in_cli curl -s --max-time 5 http://198.19.2.2/ip | grep -q "^$1 "; }

# ---- phase 1: socks5.so is dropped while its connect is pending
in_cli curl -s --max-time 6 -o /dev/null http://198.19.2.2/ip &
CURL=$!
outb_wait() { local i; for i in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
vr_check "the slow SOCKS5 server has the CONNECT request" outb_wait "$VR_TMP/slow-refuser.log" "connect request"
cp "$VR_TMP/c2.conf" "$VR_TMP/vrouter.conf"
vr_check "reload to a config without socks5 succeeds while the flow waits" vr_reload
vr_check "the reload keeps generation 1 for the waiting flow" \
    grep -q "generation 1 stays until its last connection; 1 connections open" "$VR_TMP/vrouterd.log"
wait $CURL
vr_check "the refused flow is logged with the socks5 failure" \
    vr_wait_log "conn 1 .*outbound=s5 .*end=connect failed: .*(refused|0x05)"
vr_check "generation 1 is released after its last flow" vr_wait_log "generation 1 released"
vr_check "the daemon survives the unload of socks5.so from its own callback" alive
vr_check "the next connection goes out through direct (generation 2)" served 198.19.2.1

# ---- phase 2: direct.so is dropped while its connect times out
in_cli curl -s --max-time 6 -o /dev/null http://198.19.2.50/ &
CURL=$!
syn_sent() {
    local i
    for i in $(seq 1 100); do
        [ -n "$(in_rtr ss -Htn state syn-sent dst 198.19.2.50)" ] && return 0
        sleep 0.05
    done
    return 1
}
vr_check "direct is dialling the server that drops SYNs" syn_sent
cp "$VR_TMP/c3.conf" "$VR_TMP/vrouter.conf"
vr_check "reload to a config without direct succeeds while the flow waits" vr_reload
wait $CURL
vr_check "the timed-out flow is logged with direct's connect timeout" \
    vr_wait_log "198.19.2.50:80 .*outbound=d .*end=connect failed: connect timeout"
vr_check "generation 2 is released after its last flow" vr_wait_log "generation 2 released"
vr_check "the daemon survives the unload of direct.so from its own timer" alive
vr_check "the next connection goes out through socks5 (generation 3)" served 198.19.2.2

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "vrouterd exits 0 after the two unloads" vr_eq "$?" 0
vr_finish
