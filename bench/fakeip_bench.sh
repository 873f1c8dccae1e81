#!/bin/bash
# FakeIP pool figures (issue 16, docs/FAKEIP.md): memory per mapping, the
# time to save and load N persisted mappings (and the loader's max RSS
# from /usr/bin/time), the mutex under 1/2/4 threads. No namespaces, no
# root: the pool is measured on its own, built -O2 without sanitizers.
#
# usage: bench/fakeip_bench.sh [N (default 1000000, at most 4000000)]
set -eu
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
N=${1:-1000000}
TMP=$(mktemp -d /tmp/vr-fakeip-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -I "$REPO/core/dns" \
    "$REPO/bench/fakeip_bench.c" "$REPO/core/dns/vr_fakeip.c" "$REPO/core/dns/vr_fakeip_persist.c" \
    -o "$TMP/fakeip_bench" -lpthread
"$TMP/fakeip_bench" "$N" "$TMP"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "load_only max_rss_kib=%M elapsed_s=%e user_s=%U sys_s=%S" \
        "$TMP/fakeip_bench" "$N" "$TMP" load "$TMP/fakeip-bench.db"
fi
