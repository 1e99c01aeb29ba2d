#!/usr/bin/env bash
# test_run_build_deps.sh - proves that the README's run command builds with
# only the Debian packages it installs (JJJ_PACKAGES_RUN in scripts/lib.sh).
#
# It configures the run build (JJJ_RUN_BUILD_ARGS, exactly what
# run-federation.sh passes) with pkg-config seeing only the .pc files of the
# run packages and of the installed packages they depend on, and fails if the
# configuration asks for anything else. It also checks that the restriction
# bites (the test build, which needs Criterion, must fail under it), that the
# run build compiles no test and keeps assertions on (no -DNDEBUG), and that
# it builds gatewayd and gwctl (an optimized build warns where -O0 does not).
# The three configurations are independent: the first two run in the
# background while the run build configures and compiles (each configure
# spends about 11 s in pkg_check_modules(grpc), one core each).
#
#   tests/commands/test_run_build_deps.sh [SOURCE_DIR]
set -euo pipefail

SRC="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)"
# shellcheck source=scripts/lib.sh
. "$SRC/scripts/lib.sh"

work="$(mktemp -d /tmp/run-build-deps.XXXXXX)"
# The trap runs under set -e: kill with no job left and wait must not decide
# the exit status (they did: a passing run exited 2).
cleanup() {
    local status=$?
    local pids
    pids="$(jobs -p)"
    if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Every installed package with its Depends and Pre-Depends, one query.
declare -A deps_of=()
while IFS=$'\t' read -r pkg status deps; do
    [ "$status" = "install ok installed" ] || continue
    deps_of[$pkg]="$(printf '%s' "$deps" | tr ',|' '\n\n' \
        | sed -e 's/([^)]*)//g' -e 's/:any//g' -e 's/^ *//' -e 's/ *$//' | grep -v '^$' | tr '\n' ' ' || true)"
done < <(dpkg-query -W -f='${Package}\t${Status}\t${Depends},${Pre-Depends}\n')
installed() { [ -n "${deps_of[$1]+x}" ]; }

# Breadth-first closure of the run packages over installed dependencies.
declare -A seen=()
queue=()
for p in $JJJ_PACKAGES_RUN; do
    installed "$p" || fail "run package $p is not installed; run scripts/run-federation.sh first"
    queue+=("$p")
done
while [ ${#queue[@]} -gt 0 ]; do
    p="${queue[0]}"; queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    [ ${#seen[@]} -le 5000 ] || fail "dependency closure over 5000 packages"
    for d in ${deps_of[$p]}; do
        [ -z "${seen[$d]:-}" ] && installed "$d" && queue+=("$d")
    done
done
echo "run packages and their installed dependencies: ${#seen[@]} packages"

mkdir -p "$work/pc"
for p in "${!seen[@]}"; do
    { cat /var/lib/dpkg/info/"$p".list /var/lib/dpkg/info/"$p":*.list 2>/dev/null || true; } \
        | { grep '\.pc$' || true; } | while read -r f; do
        if [ -f "$f" ]; then ln -sf "$f" "$work/pc/"; fi
    done
done
echo "pkg-config sees $(ls "$work/pc" | wc -l) modules"
[ ! -e "$work/pc/criterion.pc" ] || fail "criterion is reachable from the run packages; the proof would be void"

configure() { # build-dir, extra cmake args...
    local dir="$1"; shift
    env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$work/pc" \
        cmake -S "$SRC" -B "$dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" >"$dir.log" 2>&1
}

# 1. The restriction bites: the test build needs Criterion and must fail.
# 2. A plain configure, without any option, also works with only the run
# packages: the tests are then left out (BUILD_TESTING defaults to OFF).
# Both run in the background; their results are checked after the build.
configure "$work/test-build" -DBUILD_TESTING=ON -DFUZZ=OFF &
test_build_pid=$!
configure "$work/plain-build" &
plain_build_pid=$!

# 3. The run build configures with only the run packages.
# shellcheck disable=SC2086
configure "$work/run-build" $JJJ_RUN_BUILD_ARGS \
    || { cat "$work/run-build.log" >&2; fail "the run build asks for more than the run packages"; }

cc="$work/run-build/compile_commands.json"
grep -q 'gateway/gatewayd_main.c' "$cc" || fail "the run build does not compile gatewayd"
grep -q 'gateway/gwctl/main.c' "$cc" || fail "the run build does not compile gwctl"
! grep -q '"file": *"[^"]*/tests/' "$cc" || fail "the run build compiles tests: $(grep -o '"file": *"[^"]*/tests/[^"]*"' "$cc" | head -3)"
! grep -q -- '-DNDEBUG' "$cc" || fail "the run build compiles with -DNDEBUG: assertions would be off"
grep -q -- '-O3\|-O2' "$cc" || fail "the run build is not optimized"
# 4. It compiles: the run build is optimized, and gcc reports some problems
# (-Werror=restrict, maybe-uninitialized) only when optimizing, which the
# sanitizer build of the suite does not.
# shellcheck disable=SC2046
env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$work/pc" cmake --build "$work/run-build" -j"$(nproc)" \
    $(for t in $JJJ_RUN_BUILD_TARGETS; do printf -- '--target %s ' "$t"; done) >"$work/run-build.make.log" 2>&1 \
    || { grep -E "error|Error" "$work/run-build.make.log" | head -20 >&2; fail "the run build does not compile"; }
for t in $JJJ_RUN_BUILD_TARGETS; do
    "$work/run-build/$t" --version >/dev/null || fail "$t --version failed in the run build"
done
if wait "$test_build_pid"; then
    fail "the test build configured with only the run packages; the restriction does not bite"
fi
grep -q criterion "$work/test-build.log" || fail "the test build failed, but not for Criterion: $(tail -5 "$work/test-build.log")"
wait "$plain_build_pid" || { cat "$work/plain-build.log" >&2; fail "a plain configure needs more than the run packages"; }
grep -q "BUILD_TESTING is OFF" "$work/plain-build.log" || fail "a plain configure without Criterion did not leave the tests out"
echo "PASS: the run build needs only: $JJJ_PACKAGES_RUN"
