#!/bin/bash
# Correctness check of the reference relay (bench/refrelay.c), run by hand:
#   sudo bench/refrelay_check.sh
# In three namespaces (bench/topo.sh: 198.18.0.0/15, 2001:db8::/32 only, torn
# down on every exit): half-close, server-sends-first, refused destination and
# client reset, 200 each over IPv4 and IPv6 (refrelay_check/client.py); then
# no connection may be left in the router and the relay's fd count must be
# back to its start plus at most its pipe pool (64 pipes).
set -u
BENCH_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
[ "$(id -u)" = 0 ] || { echo "refrelay_check: needs root (network namespaces)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/refrelay-check.XXXXXX)
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$TMP/refrelay" "$BENCH_DIR/refrelay.c" || exit 1
BENCH_ID=rc$$
# shellcheck source=topo.sh
. "$BENCH_DIR/topo.sh"
RP= SP=
cleanup() { [ -n "$RP" ] && kill "$RP"; [ -n "$SP" ] && kill "$SP"; wait; bench_topo_down; rm -rf "$TMP"; }
trap cleanup EXIT
bench_topo_up || exit 1
ip netns exec "$NS_SRV" timeout 3600 python3 "$BENCH_DIR/refrelay_check/server.py" & SP=$!
ip netns exec "$NS_RTR" "$TMP/refrelay" 7898 0xff & RP=$!
ip netns exec "$NS_RTR" nft -f - <<NFT || exit 1
table inet vbench {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname != "rc" return
    fib daddr type local return
    tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 meta mark set 1 accept
    meta l4proto tcp tproxy to :7898 meta mark set 1 accept
  }
}
NFT
sleep 1
before=$(ls "/proc/$RP/fd" | wc -l)
timeout 300 ip netns exec "$NS_CLI" python3 "$BENCH_DIR/refrelay_check/client.py" 198.19.2.21 2001:db8:2::2 || { echo "FAIL: client"; exit 1; }
sleep 2
after=$(ls "/proc/$RP/fd" | wc -l)
left=$(ip netns exec "$NS_RTR" ss -Htn state established | wc -l)
echo "refrelay fds: $before before, $after after; established connections left in the router: $left"
[ "$left" = 0 ] || { echo "FAIL: connections left open"; exit 1; }
[ "$after" -le $((before + 128)) ] || { echo "FAIL: fds leaked"; exit 1; }
echo PASS
