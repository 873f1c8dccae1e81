#!/bin/sh
# Build and run the rule-set benchmark: 1,000,000 domain suffixes and
# 1,000,000 CIDRs (half IPv4, half IPv6) by default; pass another N as $1.
# Compiles the core's set sources directly (no CMake build needed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$src/core/base" -I"$src/core/config" -o "$tmp/bench_sets" \
    "$here/bench_sets.c" "$src/core/base/vr_addr.c" "$src/core/config/vr_ipset.c" \
    "$src/core/config/vr_domainset.c" "$src/core/config/vr_setfile.c"
"$tmp/bench_sets" "$tmp" "${1:-1000000}"
