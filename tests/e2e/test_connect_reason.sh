#!/bin/bash
# Issue 14, "Reasons on connect failures" (ABI 1.1 connect_fail_reason): an
# outbound that refuses a flow at once, from tcp_connect, puts its reason on
# the connection's close line; a module built for ABI 1.0 (which cannot give
# one) still loads and refuses, its close line carrying the errno's text.
#   port 81 -> refuse_reason  (tests/modules/refuse_reason.c, ABI 1.1)
#   port 82 -> abi_minor_zero (tests/modules/abi_minor_zero.c, ABI 1.0 descriptor)
#   else    -> direct (port 83: nothing listens, the connect is refused)
source "$(dirname "$0")/lib.sh"
VR_TEST_MODULE_DIR=${VR_TEST_MODULE_DIR:-$VR_BUILD/testmodules}
PORT=7893

vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
cat >"$VR_TMP/vrouter.conf" <<CONF
daemon = { module_path = ["$VR_TEST_MODULE_DIR", "$VR_MODULE_DIR"]; log_level = "info"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT; } );
outbounds = ( { tag = "direct"; module = "direct"; },
              { tag = "refuse"; module = "refuse_reason"; },
              { tag = "old"; module = "abi_minor_zero"; } );
route = { rules = ( { port = 81; outbound = "refuse"; }, { port = 82; outbound = "old"; } ); final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/vrouter.conf" || { vr_finish; exit 1; }
fails() { [ "$(in_cli curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1")" = 000 ]; }

vr_check "a flow to port 81 is refused" fails http://198.19.2.2:81/
vr_check "its close line carries the module's reason" \
    vr_wait_log "conn [0-9]+ tp .* -> 198\.19\.2\.2:81 .*outbound=refuse .*end=connect failed: refuse_reason: flow [0-9]+ to port 81 refused by test policy$"
vr_check "the 1.0 module was loaded" vr_wait_log "vrouterd ready"
vr_check "a flow to port 82 is refused by the 1.0 module" fails http://198.19.2.2:82/
vr_check "its close line carries the errno's text" \
    vr_wait_log "conn [0-9]+ tp .* -> 198\.19\.2\.2:82 .*outbound=old .*end=connect failed: Network is unreachable$"
vr_check "a flow through direct is served" \
    bash -c "ip netns exec $NS_CLI curl -s --max-time 5 http://198.19.2.2/ip | grep -q '^198.19.2.1 '"
vr_check "... and its close line is a plain one" vr_wait_log "conn [0-9]+ tp .* -> 198\.19\.2\.2:80 .*outbound=direct .*end=closed"
# ABI 1.2: direct reads SO_ERROR only when the watch reports VR_EV_ERROR; a
# refused connect (nothing listens on 83: RST) must still say so, not pass
# for connected and end as a relay error.
vr_check "a flow through direct to a closed port fails" fails http://198.19.2.2:83/
vr_check "... with the connect's own reason" \
    vr_wait_log "conn [0-9]+ tp .* -> 198\.19\.2\.2:83 .*outbound=direct .*end=connect failed: Connection refused$"

kill -TERM "$VR_DAEMON_PID"
vr_daemon_wait
vr_check "vrouterd exits 0" vr_eq "$?" 0
vr_finish
