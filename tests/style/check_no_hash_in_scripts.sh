#!/usr/bin/env bash
# check_no_hash_in_scripts.sh - no Lua script the gateway runs in Redis
# computes a hash (issue 13): the audit log's leaf and node hashes are computed
# in C, off the store's single thread (settlement/log_tree.h), so Redis time
# per settled transfer holds no hashing. Scans every script embedded in
# gatewayd (settlement/scripts/*.lua, the prelude included), comments removed,
# for a hash function or what one is built from:
#   - Redis's redis.sha1hex, any sha1/sha256/sha512, md5, crc32, hmac, blake,
#     keccak;
#   - the bit library (bit.*, bit32.*), which a hash written in Lua needs and
#     nothing else in these scripts does;
#   - the SHA-256 constants (its first round constant and initial hash).
# Prints each offending line (file:line: code) and fails if there is one.
#
#   tests/style/check_no_hash_in_scripts.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"

shopt -s nullglob
scripts=(settlement/scripts/*.lua)
[ -f settlement/scripts/_prelude.lua ] && [ "${#scripts[@]}" -ge 2 ] ||
    { echo "no scripts under settlement/scripts (wrong SOURCE_DIR?)" >&2; exit 1; }

pattern='sha1hex|sha-?(1|224|256|384|512)|md5|crc32|hmac|blake|keccak|(^|[^A-Za-z0-9_])bit(32)?\.|6a09e667|428a2f98'
found=0
for f in "${scripts[@]}"; do
    # Lua comments out: --[[ ... ]] blocks (also over lines), then -- to the end
    # of the line. Line numbers are kept (a block's lines become empty).
    hits=$(awk '
        { line = $0; out = "" }
        {
            while (length(line) > 0) {
                if (in_block) {
                    end = index(line, "]]")
                    if (end == 0) { line = ""; break }
                    line = substr(line, end + 2); in_block = 0; continue
                }
                start = index(line, "--")
                if (start == 0) { out = out line; line = ""; break }
                out = out substr(line, 1, start - 1)
                if (substr(line, start + 2, 2) == "[[") { in_block = 1; line = substr(line, start + 4) }
                else line = ""
            }
            print out
        }' "$f" | grep -inE "$pattern" || true)
    if [ -n "$hits" ]; then
        printf '%s\n' "$hits" | sed "s#^#$f:#" >&2
        found=$((found + 1))
    fi
done
if [ "$found" -ne 0 ]; then
    echo "a hash is computed in $found script(s) above: hash in C (settlement/merkle.h), not in Redis" >&2
    exit 1
fi
echo "no hashing in ${#scripts[@]} scripts (settlement/scripts)"
