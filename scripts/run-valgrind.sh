#!/usr/bin/env bash
# run-valgrind.sh - the integration tests with every gateway under valgrind
# (issue 8 item 4): builds without sanitizers (-O1 -g) into build-valgrind/,
# then runs tests/integration/* with GATEWAY_WRAPPER set, so that the test
# harness (tests/support/gateway_harness.c) starts each gatewayd as
#
#   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 ...
#
# A gatewayd with a definite leak or a memory error exits 99 instead of 0,
# which the tests that stop their federation check; and every valgrind
# report is kept in build-valgrind/valgrind/gatewayd.PID.log and summed up
# at the end. The harness multiplies its start and stop timeouts by 10 under
# a wrapper (GATEWAY_TIMEOUT_SCALE). Suppressions: tests/valgrind.supp
# (library internals only; nothing of this project is suppressed).
#
#   scripts/run-valgrind.sh            every integration test
#   scripts/run-valgrind.sh REGEX      only the matching ones (ctest -R)
#
# Exit status: 0 when valgrind reported nothing in any gateway and every
# test passed; 1 when valgrind reported an error or a definite leak; 2 when
# only tests failed (slow under valgrind: see their output).
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

jjj_install $JJJ_PACKAGES_RUN $JJJ_PACKAGES_TEST valgrind
jjj_log "building without sanitizers (-O1 -g) into build-valgrind/ ..."
jjj_build build-valgrind -DBUILD_TESTING=ON -DSANITIZE=OFF -DFUZZ=OFF -DCMAKE_BUILD_TYPE= -DCMAKE_C_FLAGS="-O1 -g"

build="$JJJ_ROOT/build-valgrind"
logs="$build/valgrind"
rm -rf "$logs"
mkdir -p "$logs"
export GATEWAY_WRAPPER="valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
--errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=40 \
--suppressions=$JJJ_ROOT/tests/valgrind.supp --log-file=$logs/gatewayd.%p.log"
unset ASAN_OPTIONS UBSAN_OPTIONS

if [ $# -gt 0 ]; then
    regex="$1"
else
    names=()
    for f in "$JJJ_ROOT"/tests/integration/*.c; do names+=("$(basename "$f" .c)"); done
    regex="^($(IFS='|'; echo "${names[*]}"))\$"
fi

cd "$build"
start=$(date +%s)
tests_rc=0
ctest --output-on-failure --timeout 3600 -R "$regex" || tests_rc=$?
jjj_log "tests ran in $(( $(date +%s) - start )) s (status $tests_rc)"

# Every gateway's valgrind log: errors, and leaks by kind.
n=0; bad=0
for log in "$logs"/gatewayd.*.log; do
    [ -e "$log" ] || continue
    n=$((n + 1))
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    if ! grep -q "ERROR SUMMARY" "$log"; then
        jjj_log "no summary (killed with SIGKILL, or still running): ${log#"$build"/}"
        continue
    fi
    if [ "${errors:-0}" != 0 ] || [ "${definite:-0}" != 0 ]; then
        bad=$((bad + 1))
        jjj_log "valgrind: ${errors:-0} errors, ${definite:-0} bytes definitely lost: ${log#"$build"/}"
    fi
done
jjj_log "valgrind: $n gatewayd runs, $bad with errors or definite leaks (logs in build-valgrind/valgrind/)"
[ "$bad" -eq 0 ] || exit 1
[ "$tests_rc" -eq 0 ] || exit 2
