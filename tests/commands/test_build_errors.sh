#!/usr/bin/env bash
# test_build_errors.sh - when the build fails, the README's commands say why:
# jjj_build (scripts/lib.sh) returns non-zero and prints the compiler's error
# and where the whole log is, rather than ending silently at a percentage.
#
#   tests/commands/test_build_errors.sh SOURCE_DIR
set -euo pipefail
SRC="$(cd "$1" && pwd)"
work="$(mktemp -d /tmp/build-errors.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/tree"
cat >"$work/tree/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(broken C)
add_executable(ok ok.c)
add_executable(broken broken.c)
CMAKE
printf 'int main(void) { return 0; }\n' >"$work/tree/ok.c"
printf 'int main(void) { return undeclared_on_purpose; }\n' >"$work/tree/broken.c"

# The way the scripts use it: sourced by a bash under set -euo pipefail (a
# process of its own: inside "( ... ) || x" bash would ignore errexit).
rc=0
JJJ_SRC="$SRC" JJJ_TREE="$work/tree" bash -c \
    'set -euo pipefail; . "$JJJ_SRC/scripts/lib.sh"; JJJ_ROOT="$JJJ_TREE"; jjj_build build' \
    >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -ne 0 ] || fail "jjj_build returned 0 for a tree that does not compile"
grep -q "undeclared_on_purpose" "$work/err" || fail "the compiler's error was not shown: $(cat "$work/err")"
grep -q "build failed; the whole log is build.build.log" "$work/err" || fail "no pointer to the log: $(cat "$work/err")"
echo "PASS: a failed build exits $rc and shows the error"
