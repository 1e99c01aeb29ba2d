#!/usr/bin/env bash
# run-ha-tests.sh - the longer tests of a region past one machine (issue 17),
# kept out of the default suite: the store against a primary paused past
# Sentinel's failover (test_store_ha with STORE_HA_LONG=1), and the federation
# of `run-federation.sh start --ha` losing a Redis primary and a gateway under
# load, following Sentinel's +switch-master before any call, and losing
# Sentinel quorum (tests/commands/test_ha_federation.sh). About 5 minutes. Installs
# redis-sentinel and haproxy if missing, builds build-asan/ like run-tests.sh.
#
#   scripts/run-ha-tests.sh
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$JJJ_ROOT/scripts/lib.sh"
. "$JJJ_ROOT/scripts/lib-ha.sh"

# shellcheck disable=SC2086
jjj_install $JJJ_PACKAGES_RUN $JJJ_PACKAGES_TEST $JJJ_PACKAGES_HA
jjj_log "building with sanitizers into build-asan/ ..."
jjj_build build-asan -DBUILD_TESTING=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$JJJ_ROOT/build-asan"
STORE_HA_LONG=1 ./test_store_ha --jobs 1
ASAN_OPTIONS=detect_leaks=0 bash "$JJJ_ROOT/tests/commands/test_ha_federation.sh" "$JJJ_ROOT" "$JJJ_ROOT/build-asan"
