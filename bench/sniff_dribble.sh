#!/bin/bash
# Issue 11 benchmark (not a test): vrouterd's CPU for 100 connections each
# dribbling a 16 KiB HTTP head one byte per segment vs 100 sending it whole,
# interleaved rounds, through a real TPROXY path in namespaces (the e2e
# helpers of tests/e2e/lib.sh: 198.18.0.0/15 only, torn down on exit).
#
# usage: sudo bench/sniff_dribble.sh BUILD_DIR [CONNS] [ROUNDS]
#   BUILD_DIR holds vrouterd (core/vrouterd) and modules/ (tls.so, http.so,
#   direct.so); build a Release tree for figures:
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR [CONNS] [ROUNDS]}" && pwd) || exit 2
export VR_SRC=$(cd "$(dirname "$0")/.." && pwd)
export VR_BIN=$build/core/vrouterd VR_MODULE_DIR=$build/modules
source "$VR_SRC/tests/e2e/lib.sh"
PORT=7893
vr_topo_up || exit 1
vr_tproxy_capture $PORT
vr_http_server 80 || exit 1
cat >"$VR_TMP/b.conf" <<CONF
daemon = { module_path = "$VR_MODULE_DIR"; log_level = "warn"; };
listeners = ( { tag = "tp"; mode = "tproxy"; address = "::"; port = $PORT;
                sniff = ["tls", "http"]; sniff_timeout_ms = 60000; } );
outbounds = ( { tag = "direct"; module = "direct"; } );
route = { rules = ( ); final = "direct"; };
CONF
vr_daemon_start "$VR_TMP/b.conf" || { vr_finish; exit 1; }
in_cli python3 "$VR_SRC/bench/sniff_dribble.py" "$VR_DAEMON_PID" 198.19.2.2 80 --conns "${2:-100}" --rounds "${3:-3}"
kill -TERM "$VR_DAEMON_PID"; vr_daemon_wait
vr_finish
