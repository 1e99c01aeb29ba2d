#!/usr/bin/env bash
# run-fuzz.sh - the LONG fuzzing run (issue 8): builds the libFuzzer targets
# of tests/fuzz with clang (ASan + UBSan) into build-fuzz/ and runs each for
# SECONDS_PER_TARGET (default 600), FUZZ_PARALLEL targets at a time (default:
# the number of cores). The default test suite runs each target only briefly
# (ctest fuzz_<target>_short); this is the run that accumulates executions
# (the issue asks for 10 million per target: see the execs/s this prints).
#
#   scripts/run-fuzz.sh                 every target, 600 s each
#   scripts/run-fuzz.sh 3600            every target, an hour each
#   scripts/run-fuzz.sh 60 'prepare|transfer'   only matching targets
#
# Each target's corpus grows in build-fuzz/work/<target>/corpus across runs
# (seeded from tests/fuzz/corpus/<target>, which is never written); a finding
# is saved in build-fuzz/work/<target>/artifacts/ and makes the script exit 1.
# Replay one with: build-fuzz/fuzz_<target> FILE
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

secs="${1:-600}"
only="${2:-.}"
parallel="${FUZZ_PARALLEL:-$(nproc)}"
case "$secs" in (*[!0-9]*|'') jjj_log "usage: run-fuzz.sh [SECONDS_PER_TARGET] [TARGET_REGEX]"; exit 2;; esac

jjj_install $JJJ_PACKAGES_RUN clang libclang-rt-14-dev
build="$JJJ_ROOT/build-fuzz"
jjj_log "building the fuzz targets with clang into build-fuzz/ ..."
CC="${FUZZ_CC:-clang}" cmake -S "$JJJ_ROOT/tests/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$build.build.log" 2>&1 \
    || { grep -E "error|Error" "$build.build.log" | head -40 >&2; exit 1; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

targets=()
for f in "$JJJ_ROOT"/tests/fuzz/fuzz_*.c; do
    t="$(basename "$f" .c)"
    t="${t#fuzz_}"
    [ "$t" = common ] && continue
    [[ "$t" =~ $only ]] && targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || { jjj_log "no target matches '$only'"; exit 2; }

run_one() {
    local t="$1" work="$build/work/$1"
    mkdir -p "$work/corpus" "$work/artifacts"
    local start end rc=0
    start=$(date +%s)
    "$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" "$JJJ_ROOT/tests/fuzz/corpus/$t" \
        >"$work/log" 2>&1 || rc=$?
    end=$(date +%s)
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    execs="${execs:-0}"
    local dt=$(( end - start > 0 ? end - start : 1 ))
    local per_s=$(( execs / dt ))
    local ten_m="-"
    [ "$per_s" -gt 0 ] && ten_m="$(( (10000000 + per_s - 1) / per_s )) s"
    printf '%-18s %s %12s execs in %5d s  %8s execs/s  10M execs in %s  corpus %s\n' \
        "$t" "$([ "$rc" -eq 0 ] && echo ok "  " || echo FAIL)" "$execs" "$dt" "$per_s" "$ten_m" \
        "$(find "$work/corpus" -type f | wc -l)"
    if [ "$rc" -ne 0 ]; then
        grep -E "FUZZ_CHECK|ERROR: |SUMMARY|runtime error" "$work/log" | head -5 | sed 's/^/    /'
        ls "$work/artifacts" | sed "s|^|    artifact: build-fuzz/work/$t/artifacts/|"
    fi
    return "$rc"
}

jjj_log "fuzzing ${#targets[@]} targets for $secs s each, $parallel at a time ..."
failed=0
pids=()
names=()
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 1; done
    run_one "$t" &
    pids+=($!)
    names+=("$t")
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=$((failed + 1))
done
if [ "$failed" -gt 0 ]; then
    jjj_log "fuzzing: $failed target(s) found something (see above)"
    exit 1
fi
jjj_log "fuzzing: no finding in ${#targets[@]} targets"
