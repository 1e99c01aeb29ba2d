#!/usr/bin/env bash
# run-replay.sh - Redis's work per settled transfer in instructions, the same
# for every run on a noisy machine (issue 16); not part of the test suite.
#
#   scripts/run-replay.sh [BUILD_DIR ...]
#
# Time on this shared VM varies twofold from one minute to the next, which
# hides changes of 10% in any timed A/B. Instructions do not vary: this
# records one benchmark run, then replays what CN-TJ's and CN-BJ's Redis
# received into a fresh redis-server under `valgrind --tool=callgrind`, once
# for the scripts of each BUILD_DIR, and prints the instructions Redis
# executed per settled transfer (two runs of one build agree within 0.2%).
#
#   1. Recording (skipped when REPLAY_RECORDING=DIR names an earlier one):
#      scripts/run-bench.sh with BENCH_MONITOR=1, transfers CN-TJ -> CN-BJ at
#      64 in flight for REPLAY_SECONDS (5) s, 10,000 accounts per region, into
#      run/replay/recording/ (REGION.monitor, script_shas.json). MONITOR slows
#      the run down; its figures are not the benchmark's.
#   2. Replay, per BUILD_DIR (a build tree with script_shas; default
#      build-bench, the recording's own) and region: redis-server with
#      deploy/local/redis.conf (AOF on, appendfsync everysec: formatting the
#      AOF counts, the disk does not), that build's scripts loaded by its
#      script_shas, every command sent in order by replay_monitor
#      (tests/bench/replay_monitor.c), each EVALSHA under that build's SHA1
#      of the same script. Counting starts at the first hold (CN-TJ) or
#      prepare (CN-BJ), after the accounts' set-up.
#   Prints, per build and region: transfers, Redis instructions in all and
#   per transfer, replayed commands, error replies (0 when the build's
#   scripts take the recorded arguments), and Redis's used_memory after.
#   Everything it started is stopped on exit. Limits: "transfers" are the
#   legs of the recorded holds (or prepares), refused ones included (none in
#   a benchmark run); keys with a time to live (leases, refused legs' short
#   records) expire on the replaying Redis's clock, which valgrind slows, so
#   the replay's state may drift from the recording's where they matter.
#   Only Redis is measured, not gatewayd.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

REC="${REPLAY_RECORDING:-$JJJ_ROOT/run/replay/recording}"
BUILDS=("$@")
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=("$JJJ_ROOT/build-bench")
REPLAY_PID=""
REPLAY_DIR=""

replay_stop() {
    if [ -n "$REPLAY_PID" ]; then
        kill -TERM "$REPLAY_PID" 2>/dev/null || true
        wait "$REPLAY_PID" 2>/dev/null || true
        REPLAY_PID=""
    fi
}
trap 'replay_stop; [ -z "$REPLAY_DIR" ] || rm -rf "$REPLAY_DIR"' EXIT

jjj_install valgrind jq redis-server
if [ -z "${REPLAY_RECORDING:-}" ]; then
    rm -rf "$REC"
    mkdir -p "$(dirname "$REC")"
    jjj_log "recording a run of ${REPLAY_SECONDS:-5} s at 64 in flight into $REC ..."
    BENCH_MONITOR=1 BENCH_RUN_DIR="$REC" BENCH_LEVELS=64 BENCH_REPEAT=1 BENCH_TRIANGLE=0 BENCH_THIRD=0 \
        BENCH_FSYNC=always BENCH_SCRIPT_TIMES=0 BENCH_SECONDS="${REPLAY_SECONDS:-5}" \
        bash "$JJJ_ROOT/scripts/run-bench.sh" >"$(dirname "$REC")/recording.log" 2>&1 \
        || { tail -20 "$(dirname "$REC")/recording.log" >&2; exit 1; }
fi
for f in CN-TJ.monitor CN-BJ.monitor script_shas.json; do
    [ -s "$REC/$f" ] || { echo "run-replay.sh: no $REC/$f: not a recording" >&2; exit 2; }
done
REPLAY_TOOL="$JJJ_ROOT/build-bench/replay_monitor"
[ -x "$REPLAY_TOOL" ] || { echo "run-replay.sh: no $REPLAY_TOOL: run scripts/run-bench.sh once" >&2; exit 2; }

# replay_region BUILD REGION TRIGGER LEGS_ARG: one replay; prints its line.
replay_region() {
    local build="$1" region="$2" trigger="$3" legs_arg="$4" port
    REPLAY_DIR="$(mktemp -d)"
    port="$(jjj_free_port 7700)"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$REPLAY_DIR/callgrind.out" \
        redis-server "$JJJ_ROOT/deploy/local/redis.conf" --port "$port" --dir "$REPLAY_DIR" \
        --daemonize no --appendfsync everysec --logfile "$REPLAY_DIR/redis.log" \
        >"$REPLAY_DIR/valgrind.log" 2>&1 &
    REPLAY_PID=$!
    for _ in $(seq 1 300); do
        [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break
        sleep 0.2
    done
    "$build/script_shas" 127.0.0.1 "$port" >"$REPLAY_DIR/shas.json"
    REPLAY_CALLGRIND_PID="$REPLAY_PID" "$REPLAY_TOOL" "$REC/$region.monitor" 127.0.0.1 "$port" \
        "$REC/script_shas.json" "$REPLAY_DIR/shas.json" "$trigger" "$legs_arg" >"$REPLAY_DIR/replay.json"
    local memory
    memory="$(redis-cli -p "$port" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')"
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$REPLAY_PID" 2>/dev/null || true
    REPLAY_PID=""
    local instructions
    instructions="$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$REPLAY_DIR/valgrind.log")"
    jq -r --arg b "$build" --arg r "$region" --arg i "${instructions:-0}" --arg m "$memory" \
        '[$b, $r, .legs, ($i | tonumber), (if .legs > 0 then (($i | tonumber) / .legs | floor) else 0 end),
          .commands, .errors, ($m | tonumber)] | @tsv' "$REPLAY_DIR/replay.json"
    rm -rf "$REPLAY_DIR"
    REPLAY_DIR=""
}

printf 'build\tregion\ttransfers\tinstructions\tper_transfer\tcommands\terrors\tused_memory\n'
for build in "${BUILDS[@]}"; do
    [ -x "$build/script_shas" ] || { echo "run-replay.sh: no $build/script_shas" >&2; exit 2; }
    replay_region "$build" CN-TJ transfer_hold 3
    replay_region "$build" CN-BJ dest_prepare 6
done
