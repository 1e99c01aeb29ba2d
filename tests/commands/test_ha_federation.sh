#!/usr/bin/env bash
# test_ha_federation.sh - a region survives losing its Redis primary and one of
# its gateways (issue 17), on the federation of `run-federation.sh start --ha`
# (per region a primary, a replica, three Sentinels, two gateways, HAProxy).
#
# HA_CLIENTS (4) clients send HA_TRANSFERS (80) transfers CN-TJ -> CN-BJ
# through CN-TJ's HAProxy, each one at a time, and repeat each call that got no
# outcome with the same transfer id until it is COMMITTED or ABORTED.
# Meanwhile the test
#   1. kill -9's CN-TJ's Redis primary (Sentinel promotes the replica, the
#      gateways follow it; the old primary comes back HA_REDIS_RESTART_S later
#      and becomes the replica, which WAIT (min_replicas = 1) needs),
#   2. kill -9's one of CN-TJ's two gateways with every client's call in
#      flight (HAProxy sends the retries to the other one).
# Afterwards every transfer a client saw COMMITTED is COMMITTED on both sides,
# each account moved by exactly the committed transfers, `gwctl check` finds
# conservation, reconcile is clean both ways, and the audit log replays. It
# prints the failed calls after each kill and the longest window of failed
# calls for one transfer. Then, on the other regions:
#   3. CN-BJ's primary is killed with no call made: both of CN-BJ's gateways
#      follow Sentinel's +switch-master (log line store_primary_switched,
#      metric carbon_store_primary_switches_total) within HA_FOLLOW_MS (3000)
#      of a Sentinel naming the new primary, and the next call succeeds;
#   4. CN-HE loses two of its three Sentinels, then its primary (held down):
#      no promotion, every call answered UNAVAILABLE (exit 3) and none of
#      those writes happened; when the primary returns, CN-HE resumes.
#
#   tests/commands/test_ha_federation.sh SOURCE_DIR BINARY_DIR
# Needs redis-sentinel and haproxy (run-federation.sh --ha installs them as
# root). About 3-4 minutes: ctest label "ha" (not in the default suite):
#   ctest --test-dir build-asan -L ha --output-on-failure
set -euo pipefail
SRC="$(cd "${1:?SOURCE_DIR}" && pwd)"
BIN="$(cd "${2:?BINARY_DIR}" && pwd)"
RUN_DIR="$(mktemp -d /tmp/ha-federation-XXXXXX)"
export RUN_DIR JJJ_BIN_DIR="$BIN" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
RUN="$SRC/scripts/run-federation.sh"
TRANSFERS="${HA_TRANSFERS:-80}"
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

total_g() { # total_g REGION ACCOUNT: the account's total in grams
    gw "$1" registry account --id "$2" --json | jq -r '.total.grams'
}
# one transfer before the load gives the grams each transfer moves
srcI="$(total_g CN-TJ ha-src)"
gw CN-TJ registry transfer --from ha-src --to-region CN-BJ --to ha-dst --methodology TJ-GT-01 \
    --amount 1 --timeout-ms 15000 >/dev/null 2>&1 || fail "the first transfer"
src0="$(total_g CN-TJ ha-src)"; dst0="$(total_g CN-BJ ha-dst)"
step_src=$((srcI - src0)); step_dst="$dst0"

# The load: HA_CLIENTS clients, each sending its share of the transfers one
# at a time and repeating each call that got no outcome with the same transfer
# id until it is COMMITTED or ABORTED. "ID OUTCOME" lines in outcomes.txt; every
# attempt as "START_MS END_MS ID RC" in attempts.txt (RC 0 COMMITTED, 1 ABORTED,
# other: no outcome, retried).
CLIENTS="${HA_CLIENTS:-4}"
client() { # client K: transfers K, K+CLIENTS, ...
    local i id rc out t0
    for ((i = $1; i <= TRANSFERS; i += CLIENTS)); do
        id="$(printf '%08x%024x' "$i" "$$")"
        while :; do
            rc=0; t0="$(now_ms)"
            out="$(gw CN-TJ registry transfer --from ha-src --to-region CN-BJ --to ha-dst \
                --methodology TJ-GT-01 --amount 1 --id "$id" --timeout-ms 15000 2>&1)" || rc=$?
            echo "$t0 $(now_ms) $id $rc" >>"$RUN_DIR/attempts.txt"
            [ "$rc" -eq 0 ] && { echo "$id COMMITTED" >>"$RUN_DIR/outcomes.txt"; break; }
            [ "$rc" -eq 1 ] && { echo "$id ABORTED" >>"$RUN_DIR/outcomes.txt"; break; }
            echo "$(now_ms) $id $rc $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)" >>"$RUN_DIR/fails.txt"
            sleep 0.2
        done
    done
}
: >"$RUN_DIR/outcomes.txt"; : >"$RUN_DIR/fails.txt"; : >"$RUN_DIR/attempts.txt"
client_pids=()
for ((k = 1; k <= CLIENTS; k++)); do client "$k" & client_pids+=($!); done
clients_running() { local p; for p in "${client_pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
wait_done() { # wait until $1 transfers have an outcome (or the clients ended)
    for _ in $(seq 1 1800); do
        [ "$(wc -l <"$RUN_DIR/outcomes.txt")" -ge "$1" ] && return 0
        clients_running || return 0
        sleep 0.1
    done
    fail "the clients did not get $1 outcomes in 3 minutes"
}
# fail_window FROM_MS TO_MS: the failed calls that ended in FROM_MS..TO_MS
# (a call in flight at FROM_MS included) and when the last of them ended
fail_window() {
    awk -v a="$1" -v b="$2" '$2 >= a && $1 < b && $4 != 0 && $4 != 1 { n++; if ($2 > l) l = $2 }
        END { if (n) printf "%d failed calls, the last ended %d ms after the kill", n, l - a;
        else printf "0 failed calls" }' "$RUN_DIR/attempts.txt"
}

wait_done 8
killed_ms="$(now_ms)"
kill -9 "$(cat "$RUN_DIR/CN-TJ/redis-a.pid")"
echo "killed CN-TJ's Redis primary (:$REDIS_CN_TJ)" >&2
wait_done 30
echo "primary lost: $(fail_window "$killed_ms" "$(now_ms)")" >&2
# A lost gateway with calls in flight: every client is mid-call through
# HAProxy; gateway 1 is killed the moment it serves one (a session from
# HAProxy established on its port; health checks go to its metrics port).
for _ in $(seq 1 500); do
    [ -n "$(ss -Htn state established "( sport = :$GW1_CN_TJ )" 2>/dev/null)" ] && break
    sleep 0.01
done
gw_killed_ms="$(now_ms)"
kill -9 "$(cat "$RUN_DIR/CN-TJ/gatewayd-1.pid")"
echo "killed CN-TJ's gateway 1 (:$GW1_CN_TJ) under load" >&2
for p in "${client_pids[@]}"; do wait "$p" || fail "client"; done
done_ms="$(now_ms)"
echo "gateway lost: $(fail_window "$gw_killed_ms" "$done_ms")" >&2
# the calls in flight when the gateway died: started before, ended after
awk -v k="$gw_killed_ms" '$1 < k && $2 > k { print $3 }' "$RUN_DIR/attempts.txt" | sort -u >"$RUN_DIR/inflight.txt"
inflight_failed="$(awk -v k="$gw_killed_ms" '$1 < k && $2 > k && $4 != 0 && $4 != 1' "$RUN_DIR/attempts.txt" | wc -l)"
echo "calls in flight at the gateway's kill: $(wc -l <"$RUN_DIR/inflight.txt"), $inflight_failed of them failed" \
     "(retried with the same id)" >&2
[ "$inflight_failed" -ge 1 ] || echo "note: no call in flight failed (all on gateway 2?)" >&2

committed=$(grep -c ' COMMITTED$' "$RUN_DIR/outcomes.txt" || true)
[ "$(wc -l <"$RUN_DIR/outcomes.txt")" -eq "$TRANSFERS" ] || fail "not every transfer has an outcome"
[ "$(cut -d' ' -f1 "$RUN_DIR/outcomes.txt" | sort -u | wc -l)" -eq "$TRANSFERS" ] ||
    fail "a transfer got two outcomes"
# the longest run of failed attempts: from a first failure to the outcome
window="$(awk '$4 != 0 && $4 != 1 { if (!($3 in first)) first[$3] = $1; next }
               ($3 in first) { w = $2 - first[$3]; if (w > max) max = w } END { print max + 0 }' \
          "$RUN_DIR/attempts.txt")"
echo "outcomes: $committed of $TRANSFERS COMMITTED; $(wc -l <"$RUN_DIR/fails.txt") failed calls;" \
     "longest window of failed calls for one transfer: $window ms" >&2

while read -r id outcome; do
    for r in CN-TJ CN-BJ; do
        got="$(gw "$r" registry get-transfer --id "$id" 2>&1 || true)"
        # an abort at the source before its Prepare reached CN-BJ: never known there
        [ "$outcome" = ABORTED ] && [ "$r" = CN-BJ ] && grep -q UNKNOWN_TRANSFER <<<"$got" && continue
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
primary_of() { # the port of region $1's primary, as its first Sentinel names it
    local v="SENTINEL1_${1//-/_}"
    redis-cli -p "${!v}" sentinel get-master-addr-by-name "$(tr 'A-Z' 'a-z' <<<"$1")" | sed -n 2p
}
stores="CN-TJ=127.0.0.1:$(primary_of CN-TJ),CN-BJ=127.0.0.1:$(primary_of CN-BJ),CN-HE=127.0.0.1:$(primary_of CN-HE)"
chk="$("$BIN/gwctl" check --stores "$stores" --settled 2>&1)" || fail "conservation: $chk"
# no transfer applied twice or lost: each account moved by exactly the committed ones
src1="$(total_g CN-TJ ha-src)"; dst1="$(total_g CN-BJ ha-dst)"
[ "$src1" -eq $((src0 - committed * step_src)) ] && [ "$dst1" -eq $((dst0 + committed * step_dst)) ] ||
    fail "balances: ha-src $src0 -> $src1 g, ha-dst $dst0 -> $dst1 g, $committed transfers of $step_src/$step_dst g"
targets="CN-TJ=127.0.0.1:$PORT_CN_TJ,CN-BJ=127.0.0.1:$PORT_CN_BJ,CN-HE=127.0.0.1:$PORT_CN_HE"
GWCTL_TARGETS="$targets" gw CN-HE auditor audit verify --region CN-TJ >/dev/null ||
    fail "CN-TJ's audit log does not replay after the failover"
echo "PASS (1, 2): every outcome the clients saw is the same on both sides after losing CN-TJ's primary and a gateway under load; balances, conservation and reconcile clean" >&2

# 3. +switch-master: with no call made, CN-BJ's primary is killed. Both of
# CN-BJ's gateways follow Sentinel's announcement (store_primary_switched in
# their logs, carbon_store_primary_switches_total) within HA_FOLLOW_MS of the
# moment a Sentinel names the new primary, before any call could fail on it.
redis_name_of() { # redis_name_of REGION PORT: redis-a or redis-b
    local v="REDIS_${1//-/_}"; [ "$2" = "${!v}" ] && echo redis-a || echo redis-b
}
switches() { # switches REGION I: carbon_store_primary_switches_total of its gateway I
    local v="METRICS${2#1}_${1//-/_}"
    curl -s "http://127.0.0.1:${!v}/metrics" | awk '$1 == "carbon_store_primary_switches_total" { print $2 }'
}
follow_ms="${HA_FOLLOW_MS:-3000}"
bj_old="$(primary_of CN-BJ)"
[ "$(switches CN-BJ 1)" = 0 ] && [ "$(switches CN-BJ 2)" = 0 ] || fail "CN-BJ switched before its failover"
bj_kill_ms="$(now_ms)"
kill -9 "$(cat "$RUN_DIR/CN-BJ/$(redis_name_of CN-BJ "$bj_old").pid")"
t_sentinel=0; t_gw1=0; t_gw2=0
for _ in $(seq 1 600); do # 30 s
    t="$(now_ms)"
    [ "$t_sentinel" = 0 ] && [ -n "$(primary_of CN-BJ)" ] && [ "$(primary_of CN-BJ)" != "$bj_old" ] && t_sentinel="$t"
    [ "$t_gw1" = 0 ] && grep -q store_primary_switched "$RUN_DIR/CN-BJ/gatewayd-1.log" && t_gw1="$t"
    [ "$t_gw2" = 0 ] && grep -q store_primary_switched "$RUN_DIR/CN-BJ/gatewayd-2.log" && t_gw2="$t"
    [ "$t_sentinel" != 0 ] && [ "$t_gw1" != 0 ] && [ "$t_gw2" != 0 ] && break
    sleep 0.05
done
[ "$t_sentinel" != 0 ] || fail "CN-BJ: no Sentinel named a new primary in 30 s"
[ "$t_gw1" != 0 ] && [ "$t_gw2" != 0 ] || fail "CN-BJ's gateways did not follow +switch-master in 30 s"
late=$(( (t_gw1 > t_gw2 ? t_gw1 : t_gw2) - t_sentinel ))
echo "CN-BJ primary killed: a Sentinel named the new one after $((t_sentinel - bj_kill_ms)) ms;" \
     "gateways followed +switch-master $((t_gw1 - t_sentinel)) / $((t_gw2 - t_sentinel)) ms later (bound $follow_ms)" >&2
[ "$late" -le "$follow_ms" ] || fail "a gateway followed +switch-master $late ms after Sentinel (bound $follow_ms)"
grep -h store_primary_switched "$RUN_DIR"/CN-BJ/gatewayd-[12].log | grep -q "127.0.0.1:$(primary_of CN-BJ)" ||
    fail "the switch logged is not to the primary Sentinel names: $(grep -h store_primary_switched "$RUN_DIR"/CN-BJ/gatewayd-*.log)"
[ "$(switches CN-BJ 1)" -ge 1 ] && [ "$(switches CN-BJ 2)" -ge 1 ] || fail "carbon_store_primary_switches_total"
# once the old primary is back as the replica WAIT needs, a call succeeds at once
for _ in $(seq 1 300); do
    redis-cli -p "$(primary_of CN-BJ)" info replication | grep -q '^connected_slaves:[1-9]' && break
    sleep 0.1
done
out="$(gw CN-TJ registry transfer --from ha-src --to-region CN-BJ --to ha-dst --methodology TJ-GT-01 \
    --amount 1 --timeout-ms 15000 2>&1)" || fail "the first transfer after CN-BJ's switch failed: $out"
echo "PASS (3): CN-BJ's gateways followed +switch-master before any call" >&2

# 4. Sentinel quorum lost: two of CN-HE's three Sentinels stopped, then its
# primary killed (its supervisor held, so it stays down). One Sentinel cannot
# promote the replica (quorum 2, majority for the failover): no promotion, and
# CN-HE's gateways answer UNAVAILABLE, never a wrong answer or a write. When
# the primary comes back, they resume.
gw CN-HE registry open-account --id quorum-before >/dev/null || fail "CN-HE before the fault"
he_old="$(primary_of CN-HE)"; he_name="$(redis_name_of CN-HE "$he_old")"
kill -STOP "$(cat "$RUN_DIR/CN-HE/$he_name.supervisor.pid")"
for i in 2 3; do kill -TERM "$(cat "$RUN_DIR/CN-HE/sentinel-$i.pid")"; done
kill -9 "$(cat "$RUN_DIR/CN-HE/$he_name.pid")"
he_kill_ms="$(now_ms)"
n=0; unavailable=0
while [ $(( $(now_ms) - he_kill_ms )) -lt 12000 ]; do # > down-after + failover-timeout
    n=$((n + 1)); rc=0
    out="$(gw CN-HE registry open-account --id "quorum-$n" --timeout-ms 4000 2>&1)" || rc=$?
    [ "$rc" = 3 ] || fail "CN-HE without a primary or quorum answered exit $rc: $out"
    grep -qi "unavailable\|connect" <<<"$out" || fail "CN-HE's refusal does not say UNAVAILABLE: $out"
    unavailable=$((unavailable + 1))
    sleep 0.5
done
[ "$(primary_of CN-HE)" = "$he_old" ] || fail "one Sentinel of three promoted a replica"
other=$(( he_old == REDIS_CN_HE ? REPLICA_CN_HE : REDIS_CN_HE ))
redis-cli -p "$other" role | head -1 | grep -q slave || fail "CN-HE's replica was promoted without quorum"
kill -CONT "$(cat "$RUN_DIR/CN-HE/$he_name.supervisor.pid")"
back_ms="$(now_ms)"; ok=0
for _ in $(seq 1 300); do
    gw CN-HE registry open-account --id quorum-after --timeout-ms 3000 >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.1
done
[ "$ok" = 1 ] || fail "CN-HE did not resume within 30 s of its primary's return"
echo "CN-HE quorum lost: $unavailable calls in 12 s all UNAVAILABLE, no promotion;" \
     "resumed $(( $(now_ms) - back_ms )) ms after its primary's supervisor was let go (it restarts Redis at once)" >&2
for ((i = 1; i <= n; i++)); do # none of the refused writes happened
    rc=0; gw CN-HE registry account --id "quorum-$i" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 4 ] || fail "quorum-$i, refused UNAVAILABLE, exists now (or: exit $rc)"
done
gw CN-HE registry account --id quorum-before >/dev/null || fail "CN-HE lost an account across the outage"
echo "PASS (4): without Sentinel quorum, no promotion; UNAVAILABLE, then resumed" >&2

# Sentinel's CONFIG REWRITE goes to each server's own copy, never to the repository's
[ "$(sha256sum <"$SRC/deploy/local/redis.conf")" = "$conf_sum" ] ||
    fail "deploy/local/redis.conf was rewritten (by Sentinel's CONFIG REWRITE?)"
echo "PASS: a lost primary, a lost gateway under load, +switch-master followed, Sentinel quorum lost"
