#!/usr/bin/env bash
# check_redis_acl.sh - every Redis command a settlement script runs is allowed
# by the shipped ACL line of the gateway's Redis user
# (deploy/redis/redis-production.conf, `user gateway ...`): Redis checks the
# commands a script runs against the calling user, so a command a script
# starts using and the ACL lacks fails in production with NOPERM (found when
# the serial index's ZREVRANGEBYSCORE broke Prepare under that ACL).
# tests/interop/run-interop.sh runs a federation under the same line, but
# only the paths it exercises; this test reads every script.
#
#   tests/style/check_redis_acl.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"

conf=deploy/redis/redis-production.conf
acl=$(grep -E '^user gateway ' "$conf") || { echo "$conf: no 'user gateway' line" >&2; exit 1; }
allowed=$(grep -oE '\+[a-z|]+' <<<"$acl" | sed 's/^+//' | sort -u)
used=$(grep -ohE "redis\.p?call\(['\"][A-Za-z]+['\"]" settlement/scripts/*.lua |
       sed -E "s/.*\(['\"]//; s/['\"]$//" | tr 'A-Z' 'a-z' | sort -u)
[ -n "$used" ] || { echo "no redis.call found in settlement/scripts (has the syntax changed?)" >&2; exit 1; }
missing=$(comm -23 <(echo "$used") <(echo "$allowed"))
if [ -n "$missing" ]; then
    echo "commands the scripts run that the gateway's ACL ($conf) does not allow:" >&2
    echo "$missing" >&2
    exit 1
fi
echo "PASS: $(wc -l <<<"$used") commands the scripts run are in the gateway's ACL"
