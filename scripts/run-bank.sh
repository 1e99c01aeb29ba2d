#!/usr/bin/env bash
# run-bank.sh - the LONG nemesis bank test (tests/fault/test_bank.c) with every
# fault on: two gateways per region on one store, clocks skewed by up to 5 s
# between regions, kill -9 / SIGSTOP of gateways, Redis restarts and kill -9,
# a peer down long enough for a backlog of more than 4 x batch_legs_max legs
# every 300 s, operators forcing decisions on legs of a paused coordinator
# every 300 s (the episodes alternate, one every 150 s), third-region serials.
# The default suite runs it for 60 s (ctest fault_bank_short).
#
# FAULT_HA=1 scripts/run-bank.sh 300: each region's store becomes a primary, a
# replica and three Sentinels (gateways with min_replicas = 1), and the nemesis
# also kills -9 and pauses the current primary (Sentinel fails over; the old
# one must come back as a replica); Redis restarts and kill -9 then hit the
# replica. Off by default.
#
#   scripts/run-bank.sh [SECONDS] [BUILD_DIR]   (default 1800, build-asan/)
#
# Builds test_bank and gatewayd with ASan+UBSan into BUILD_DIR if needed.
# Any FAULT_* variable already set wins (e.g. FAULT_SEED=... to replay a
# run: the seed is printed first). The log goes to BUILD_DIR/bank-SEED.log
# too; exit status is the test's.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

seconds="${1:-1800}"
build="${2:-$JJJ_ROOT/build-asan}"
case "$seconds" in '' | *[!0-9]*) jjj_log "usage: $0 [SECONDS] [BUILD_DIR]"; exit 2 ;; esac
episodes=$(( seconds / 300 > 0 ? seconds / 300 : 1 ))

jjj_install $JJJ_PACKAGES_RUN $JJJ_PACKAGES_TEST
if [ ! -x "$build/test_bank" ] || [ ! -x "$build/gatewayd" ] || [ ! -x "$build/gwctl" ]; then
    cmake -S "$JJJ_ROOT" -B "$build" -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DFUZZ=OFF >&2
fi
cmake --build "$build" -j"$(nproc)" --target test_bank gatewayd gwctl dev_pki >&2

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export FAULT_SECONDS="${FAULT_SECONDS:-$seconds}"
# with FAULT_HA=1 a primary fault holds the nemesis until the store healed (15-20 s)
per_fault=9
if [ "${FAULT_HA:-0}" = 1 ]; then per_fault=20; fi
export FAULT_MIN_FAULTS="${FAULT_MIN_FAULTS:-$(( seconds / per_fault ))}"
export FAULT_REDIS_KILL9="${FAULT_REDIS_KILL9:-1}"
export FAULT_GATEWAYS="${FAULT_GATEWAYS:-2}"
export FAULT_CLOCK_SKEW_MS="${FAULT_CLOCK_SKEW_MS:-5000}"
export FAULT_BACKLOGS="${FAULT_BACKLOGS:-$episodes}"
export FAULT_FORCED="${FAULT_FORCED:-$episodes}"
export FAULT_THIRD_PCT="${FAULT_THIRD_PCT:-40}"
export FAULT_SEED="${FAULT_SEED:-$(( ($(date +%s) << 20) ^ $$ ))}"
log="$build/bank-$FAULT_SEED.log"
jjj_log "run-bank: FAULT_SEED=$FAULT_SEED for $FAULT_SECONDS s${FAULT_HA:+ (FAULT_HA=$FAULT_HA)}; log $log"
cd "$build"
set +e
./test_bank --jobs 1 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
jjj_log "run-bank: exit $status (FAULT_SEED=$FAULT_SEED, log $log)"
exit "$status"
