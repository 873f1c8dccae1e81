#!/bin/bash
# The README's first command ends in tools/demo.sh: run it as a newcomer
# would (against this build) and check that it shows what it says it shows.
source "$(dirname "$0")/lib.sh"

bash "$VR_SRC/tools/demo.sh" "$VR_BUILD" >"$VR_TMP/demo.out" 2>&1 &
demo=$!
wait $demo
rc=$?
has() { grep -qE -- "$1" "$VR_TMP/demo.out" || { echo "  [$1] not in the demo's output" >&2; return 1; }; }
vr_check "the demo exits 0" vr_eq "$rc" "0"
vr_check "the config validates" has "demo\.conf: configuration OK"
vr_check "port 80 leaves direct" has "^198\.19\.2\.1 [0-9]+$"
vr_check "port 8080 leaves through wan-b (IPv4)" has "^198\.19\.2\.3 [0-9]+$"
vr_check "port 8080 leaves through wan-b (IPv6)" has "^2001:db8:2::3 [0-9]+$"
vr_check "dig a.example gets its answer" has "^203\.0\.113\.10$"
vr_check "the DNS server saw a.example from the gateway (direct)" has "query\[A\] a\.example from 198\.19\.2\.1$"
vr_check "the DNS server saw www.b.example from wan-b (routed by the name asked)" \
    has "query\[A\] www\.b\.example from 198\.19\.2\.3$"
vr_check "64 MiB arrived" has "^67108864 bytes at"
vr_check "the log has the connection and UDP session lines" \
    has "conn [0-9]+ tp 198\.18\.1\.2:[0-9]+ -> 198\.19\.2\.2:8080 .*outbound=wan-b"
vr_check "... and the DNS one routed by name" has "udp [0-9]+ tp .* www\.b\.example dns rule=rule #2 outbound=wan-b"
vr_check "no warning or error in the daemon's log" bash -c "! grep -E ' (warn|error) ' '$VR_TMP/demo.out'"
vr_check "the demo removed its namespaces" bash -c "! ip netns list | grep -qE '^vr[crs]$demo( |\$)'"
[ "$VR_FAIL" -eq 0 ] || cat "$VR_TMP/demo.out" >&2
vr_finish
