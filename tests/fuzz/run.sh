#!/bin/bash
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS
#
# Runs every libFuzzer target (an executable fuzz_*) found under BUILD_DIR
# for SECONDS each, on a work corpus under BUILD_DIR/fuzz-work/<target>/
# seeded from the directories listed in <target>.seeds. Crash inputs land in
# BUILD_DIR/fuzz-work/<target>/artifacts/. Exits non-zero if any target
# crashed, leaked, timed out or could not run; 2 if there is no target.
set -u
if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
secs=$2

mapfile -t targets < <(find "$build" -path "$build/fuzz-work" -prune -o \
    -type f -executable -name 'fuzz_*' -print | sort)
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets under $build (configure with CC=clang ... -DVR_FUZZ=ON)" >&2
    exit 2
fi

failed=0
for t in "${targets[@]}"; do
    name=$(basename "$t")
    work="$build/fuzz-work/$name"
    mkdir -p "$work/corpus" "$work/artifacts"
    seeds=()
    if [ -f "$t.seeds" ]; then
        while IFS= read -r d; do
            [ -n "$d" ] && [ -d "$d" ] && seeds+=("$d")
        done < "$t.seeds"
    fi
    echo "== $name: ${secs}s, seeds: ${seeds[*]:-none}"
    # The outer timeout is a backstop in case the fuzzer itself hangs.
    timeout --kill-after=10 $((secs + 60)) "$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" "${seeds[@]}" > "$work/log" 2>&1
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$work/log" | sed 's/^/   /'
    if [ $rc -ne 0 ]; then
        echo "FAIL $name (exit $rc); log: $work/log" >&2
        grep -E -A20 '^==[0-9]+==ERROR|runtime error|deadly signal|SUMMARY' "$work/log" | head -40 >&2
        ls "$work/artifacts" >&2
        failed=$((failed + 1))
    else
        echo "ok   $name"
    fi
done
echo "$((${#targets[@]} - failed)) passed, $failed failed"
[ $failed -eq 0 ]
