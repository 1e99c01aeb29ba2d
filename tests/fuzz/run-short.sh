#!/usr/bin/env bash
# run-short.sh FUZZER SEED_DIR WORK_DIR RUNS MAX_SECONDS - one short libFuzzer
# run, as ctest's fuzz_<target>_short does it: the seeds (read-only: new
# inputs go to a fresh WORK_DIR, never into the committed corpus), then RUNS
# mutations or MAX_SECONDS, whichever comes first. A crash, leak, sanitizer
# report or failed FUZZ_CHECK fails the test; the input is left in
# WORK_DIR/artifacts/ and its bytes are printed.
set -euo pipefail
fuzzer="$1" seeds="$2" work="$3" runs="$4" secs="$5"
rm -rf "$work"
mkdir -p "$work/new" "$work/artifacts"
exec "$fuzzer" -runs="$runs" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/new" "$seeds"
