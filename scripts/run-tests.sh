#!/usr/bin/env bash
# run-tests.sh - the whole default test suite: installs what is missing,
# builds with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/, and runs every unit and integration test (each starts and
# stops its own redis-server and gateways on free loopback ports).
#
#   scripts/run-tests.sh            everything
#   scripts/run-tests.sh REGEX      only the tests whose name matches (ctest -R)
#
# Two tests run at a time (TEST_JOBS, default 2): most of a test's time is
# spent waiting on the servers it started, so on this 2-core machine the
# suite takes about 13 minutes of tests instead of 20 one at a time.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

jjj_install $JJJ_PACKAGES_RUN $JJJ_PACKAGES_TEST
jjj_install_node
jjj_log "building with sanitizers into build-asan/ ..."
jjj_build build-asan -DBUILD_TESTING=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$JJJ_ROOT/build-asan"
start=$(date +%s)
if [ $# -gt 0 ]; then
    ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" -R "$1"
else
    ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}"
fi
echo "test suite passed in $(( $(date +%s) - start )) s"
