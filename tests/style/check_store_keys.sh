#!/usr/bin/env bash
# check_store_keys.sh - the names of the store's keys are written in one
# place, settlement/store_keys.h (issue 12): C includes it and the Lua scripts
# get its names as generated constants (cmake/embed_scripts.cmake). Fails if
# the key namespace "cj:" appears in any other C or Lua source of the tree,
# comments included (a comment names the key by its macro).
#
#   tests/style/check_store_keys.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"

definition=settlement/store_keys.h
[ -f "$definition" ] || { echo "missing $definition" >&2; exit 1; }
grep -q '^#define STORE_KEY_NAMESPACE "cj:"$' "$definition" ||
    { echo "$definition: STORE_KEY_NAMESPACE is not \"cj:\" (update this test with it)" >&2; exit 1; }

found=$(find common adapters settlement gateway tests cmake \
            -path tests/interop/node_modules -prune -o \
            -type f \( -name '*.c' -o -name '*.h' -o -name '*.lua' -o -name '*.cmake' \) -print |
        grep -vx "$definition" | sort | xargs grep -n 'cj:' || true)
if [ -n "$found" ]; then
    echo "store key names written outside $definition (use its STORE_KEY_ macros, or KEY_ in Lua):" >&2
    echo "$found" >&2
    exit 1
fi
# Every KEY_ constant a script uses must be generated from a STORE_KEY_ line
# (a misspelt one would be a nil global, found only when the script runs).
missing=0
for name in $(grep -ohE '\bKEY_[A-Z0-9_]+' settlement/scripts/*.lua | sort -u); do
    if ! grep -q "^#define STORE_${name} \"" "$definition"; then
        echo "settlement/scripts uses $name, which $definition does not define" >&2
        missing=$((missing + 1))
    fi
done
[ "$missing" -eq 0 ] || exit 1
echo "store keys: one definition ($definition)"
