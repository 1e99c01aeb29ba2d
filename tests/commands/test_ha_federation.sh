#!/usr/bin/env bash
# test_ha_federation.sh - a region survives losing its Redis primary and one of
# its gateways (issue 17), on the federation of `run-federation.sh start --ha`
# (per region a primary, a replica, three Sentinels, two gateways, HAProxy).
#
# A client sends transfers CN-TJ -> CN-BJ through CN-TJ's HAProxy, one at a
# time, and repeats each call that got no outcome with the same transfer id
# until it is COMMITTED or ABORTED. Meanwhile the test
#   1. kill -9's CN-TJ's Redis primary (Sentinel promotes the replica, the
#      gateways follow it; the old primary comes back HA_REDIS_RESTART_S later
#      and becomes the replica, which WAIT (min_replicas = 1) needs),
#   2. kill -9's one of CN-TJ's two gateways (HAProxy sends the retries to the
#      other one).
# Afterwards every transfer the client saw COMMITTED is COMMITTED on both
# sides, reconcile is clean both ways, and the audit logs replay. It prints
# the longest window in which the client's calls failed.
#
#   tests/commands/test_ha_federation.sh SOURCE_DIR BINARY_DIR
# Needs redis-sentinel and haproxy (run-federation.sh --ha installs them as
# root). About 2-3 minutes: ctest label "ha" (not in the default suite):
#   ctest --test-dir build-asan -L ha --output-on-failure
set -euo pipefail
SRC="$(cd "${1:?SOURCE_DIR}" && pwd)"
BIN="$(cd "${2:?BINARY_DIR}" && pwd)"
RUN_DIR="$(mktemp -d /tmp/ha-federation-XXXXXX)"
export RUN_DIR JJJ_BIN_DIR="$BIN" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
RUN="$SRC/scripts/run-federation.sh"
TRANSFERS="${HA_TRANSFERS:-40}"
cleanup() {
    bash "$RUN" stop >/dev/null 2>&1 || true
    [ -n "${KEEP_TEST_DIRS:-}" ] && { echo "kept $RUN_DIR" >&2; return; }
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

conf_sum="$(sha256sum <"$SRC/deploy/local/redis.conf")"
bash "$RUN" start --ha >"$RUN_DIR.start.log" 2>&1 || { cat "$RUN_DIR.start.log" >&2; fail "start --ha"; }
rm -f "$RUN_DIR.start.log"
# shellcheck source=/dev/null
. "$RUN_DIR/ports.env"
gw() { # gw REGION ROLE ARGS...: gwctl through the region's HAProxy
    local r="$1" role="$2" v; shift 2; v="PORT_${r//-/_}"
    GWCTL_TARGET="127.0.0.1:${!v}" GWCTL_CERT="$RUN_DIR/pki/$r-$role.crt" \
        GWCTL_KEY="$RUN_DIR/pki/$r-$role.key" GWCTL_CA="$RUN_DIR/pki/ca.crt" "$BIN/gwctl" "$@"
}
now_ms() { date +%s%3N; }

gw CN-TJ registry open-account --id ha-src >/dev/null
gw CN-BJ registry open-account --id ha-dst >/dev/null
gw CN-TJ registry issue --account ha-src --methodology TJ-GT-01 --vintage 2026 --quantity 10000 \
    --fingerprint "ha-test-$RANDOM" >/dev/null

# The client: one transfer at a time, each retried with its id until it has
# an outcome; "ID OUTCOME" lines in committed.txt, failed attempts in fails.txt.
client() {
    local i id rc out
    for ((i = 1; i <= TRANSFERS; i++)); do
        id="$(printf '%08x%024x' "$i" "$$")"
        while :; do
            rc=0
            out="$(gw CN-TJ registry transfer --from ha-src --to-region CN-BJ --to ha-dst \
                --methodology TJ-GT-01 --amount 1 --id "$id" --timeout-ms 15000 2>&1)" || rc=$?
            [ "$rc" -eq 0 ] && { echo "$id COMMITTED" >>"$RUN_DIR/outcomes.txt"; break; }
            [ "$rc" -eq 1 ] && { echo "$id ABORTED" >>"$RUN_DIR/outcomes.txt"; break; }
            echo "$(now_ms) $id $rc $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)" >>"$RUN_DIR/fails.txt"
            sleep 0.2
        done
        echo "$(now_ms) $id" >>"$RUN_DIR/done.txt"
    done
}
: >"$RUN_DIR/outcomes.txt"; : >"$RUN_DIR/fails.txt"; : >"$RUN_DIR/done.txt"
client &
client_pid=$!
wait_done() { # wait until $1 transfers are done (or the client ended)
    for _ in $(seq 1 1800); do
        [ "$(wc -l <"$RUN_DIR/done.txt")" -ge "$1" ] && return 0
        kill -0 "$client_pid" 2>/dev/null || return 0
        sleep 0.1
    done
    fail "the client did not get $1 outcomes in 3 minutes"
}

wait_done 5
killed_ms="$(now_ms)"
kill -9 "$(cat "$RUN_DIR/CN-TJ/redis-a.pid")"
echo "killed CN-TJ's Redis primary (:$REDIS_CN_TJ)" >&2
wait_done 20
echo "primary lost: transfers 5..20 took $(( $(now_ms) - killed_ms )) ms" >&2
kill -9 "$(cat "$RUN_DIR/CN-TJ/gatewayd-1.pid")"
echo "killed CN-TJ's gateway 1 (:$GW1_CN_TJ)" >&2
wait "$client_pid" || fail "client"

committed=$(grep -c ' COMMITTED$' "$RUN_DIR/outcomes.txt" || true)
[ "$(wc -l <"$RUN_DIR/outcomes.txt")" -eq "$TRANSFERS" ] || fail "not every transfer has an outcome"
# the longest run of failed attempts: from a first failure to the next outcome
window="$(awk 'NR==FNR { if (!($2 in first)) first[$2] = $1; next }
               ($2 in first) { w = $1 - first[$2]; if (w > max) max = w } END { print max + 0 }' \
          "$RUN_DIR/fails.txt" "$RUN_DIR/done.txt")"
echo "outcomes: $committed of $TRANSFERS COMMITTED; $(wc -l <"$RUN_DIR/fails.txt") failed calls;" \
     "longest window of failed calls for one transfer: $window ms" >&2

while read -r id outcome; do
    for r in CN-TJ CN-BJ; do
        got="$(gw "$r" registry get-transfer --id "$id" 2>&1 || true)"
        grep -q "$outcome" <<<"$got" || fail "$id was $outcome for the client, $r says: $got"
    done
done <"$RUN_DIR/outcomes.txt"
for _ in $(seq 1 60); do # recovery settles the legs in flight during the faults
    ok=1
    gw CN-TJ operator reconcile --peer CN-BJ >/dev/null 2>&1 || ok=0
    gw CN-BJ operator reconcile --peer CN-TJ >/dev/null 2>&1 || ok=0
    [ "$ok" = 1 ] && break
    sleep 1
done
[ "$ok" = 1 ] || fail "reconcile: $(gw CN-TJ operator reconcile --peer CN-BJ 2>&1 | head -5)"
targets="CN-TJ=127.0.0.1:$PORT_CN_TJ,CN-BJ=127.0.0.1:$PORT_CN_BJ,CN-HE=127.0.0.1:$PORT_CN_HE"
GWCTL_TARGETS="$targets" gw CN-HE auditor audit verify --region CN-TJ >/dev/null ||
    fail "CN-TJ's audit log does not replay after the failover"
# Sentinel's CONFIG REWRITE goes to each server's own copy, never to the repository's
[ "$(sha256sum <"$SRC/deploy/local/redis.conf")" = "$conf_sum" ] ||
    fail "deploy/local/redis.conf was rewritten (by Sentinel's CONFIG REWRITE?)"
echo "PASS: every outcome the client saw is the same on both sides after losing CN-TJ's primary and a gateway; reconcile clean"
