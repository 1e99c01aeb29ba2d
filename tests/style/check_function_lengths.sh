#!/usr/bin/env bash
# check_function_lengths.sh - DESIGN §12: every function of the product
# (common/, adapters/, settlement/, gateway/) is under 70 lines, counted from
# its signature to its closing brace by function_lengths.awk.
#
#   tests/style/check_function_lengths.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"
LIMIT=70
mapfile -t files < <(find common adapters settlement gateway -name '*.c' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "FAIL: no C files found" >&2; exit 1; }
counted="$(awk -f tests/style/function_lengths.awk "${files[@]}")"
n_functions="$(printf '%s\n' "$counted" | grep -c . || true)"
[ "$n_functions" -gt 100 ] || { echo "FAIL: only $n_functions functions found: the counter is broken" >&2; exit 1; }
long="$(printf '%s\n' "$counted" | awk -v limit="$LIMIT" '$3 > limit')"
if [ -n "$long" ]; then
    echo "FAIL: functions over $LIMIT lines (FILE:LINE NAME LINES):" >&2
    printf '%s\n' "$long" >&2
    exit 1
fi
echo "PASS: $n_functions functions in ${#files[@]} files, none over $LIMIT lines"
