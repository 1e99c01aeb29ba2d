#!/usr/bin/env bash
# run-bench.sh - the settlement benchmark (issue 7); not part of the test suite.
#
#   scripts/run-bench.sh
#
# Installs what is missing, builds a Release tree (-O2, assertions on as in every
# build people run, no sanitizers) into
# build-bench/, starts a fresh federation of its own (3 redis-server, 3 gatewayd
# with their metrics endpoints) in run/bench/ on its own ports, opens
# BENCH_ACCOUNTS accounts per region with credits, and then measures on the same
# gateways, first with appendfsync always (the shipped default) and again with
# everysec (CONFIG SET on the three Redis):
#   - the transport limit: grpc.health.v1.Health/Check at 64 in flight on CN-TJ;
#   - Registry.Transfer CN-TJ -> CN-BJ, settled, at 1, 16, 64 and 256 in flight;
#   - the triangle TJ -> BJ -> HE -> TJ at 64 in flight;
#   - third-region serials: CN-HE's serials held in CN-TJ sent to CN-BJ at 64
#     in flight, CN-HE (their origin) taking part in each (third-64; set up
#     by third_region_prime, BENCH_THIRD=0 skips it).
# For each: settled transfers (or calls) per second, p50/p99/p99.9 latency,
# store calls per settled transfer (from the metrics endpoints of the regions
# involved), the ratio to the transport limit, and where the time went: CPU
# of the Redis servers and gateways (cores), Redis CPU and script time per
# settled transfer, legs per batch, the milliseconds a batch spends in each
# step at its source (gatewayd's carbon_batch_phase_microseconds_total: wait,
# open, prepare, commit, answer, hand, decide); the audit log's integration lag (the
# longest any entry waited to enter its region's Merkle tree, over the run);
# and the Redis time per settled transfer
# of each script (calls and microseconds of every EVALSHA, from the Redis slow
# log with a threshold of 0 during the point, attributed to scripts by the SHA1
# gatewayd loads them under: tests/bench/script_shas.c). Prints the tables and
# writes run/bench/results.json and run/bench/throughput-latency.png.
# Then, on a Redis of its own (appendfsync always), a hold on an account of
# BENCH_FRAGMENTED_BLOCKS (10000) one-gram blocks against a hold on an
# account of one block: Redis microseconds per hold and their ratio
# (tests/bench/fragmented_hold.c; issue 16 asks for at most 1.5), written to
# run/bench/fragmented_hold.json.
# Everything it started is stopped on exit, also on failure or Ctrl-C.
#
# Each point runs BENCH_REPEAT times (3), in rounds (every point once, then
# again), and the tables give the minimum and the median of the runs; the
# load average is printed before each run (the machine may be shared). The
# CPU of every process (loadgen, each gatewayd, each redis-server) over each
# measured window is read from /proc/PID/stat by loadgen and given in
# microseconds per settled transfer (per call for Health/Check).
#
# Environment: BENCH_SECONDS (10) per point, BENCH_ACCOUNTS (10000) per region,
# BENCH_REPEAT (3) runs of each point, BENCH_LEVELS ("1 16 64 256") transfer
# in-flight levels, BENCH_TRIANGLE (1; 0 skips the triangle point),
# BENCH_THIRD (1; 0 skips the third-region point), BENCH_THIRD_PRIME_S (8)
# seconds of its set-up,
# BENCH_BASELINE (none) the summary.json of an earlier run (e.g. of the
# previous build, saved): its transfer points are drawn in the plot beside
# this run's and a table gives each point's median rate and p99 in both,
# BENCH_GATEWAY_BIN (the build's own) a directory holding the gatewayd and
# script_shas to run instead, for an A/B against another build on the same
# machine with the same load generator,
# BENCH_WARMUP_MS (1000) per point, BENCH_CHANNELS (1) connections per gateway,
# BENCH_RUN_DIR (run/bench), BENCH_FSYNC ("always everysec"),
# BENCH_SCRIPT_TIMES (1; 0 leaves the slow log alone and reports no
# per-script time: logging every command costs Redis a little, which the
# other figures then do not carry), BENCH_SLOWLOG_MAX (1000000) slow log
# entries kept per Redis and point (the commands scripts call are logged too;
# 0.3 to 1.5 KB each; if a log fills, its oldest entries are dropped, the
# per-script split is taken from the entries kept and scaled to the EVALSHA
# time of INFO commandstats, and .slowlog_full says so); to experiment,
# BENCH_WORKERS and BENCH_BATCH_WINDOW_MS override the gateways' workers and
# batch_window_ms (deploy/local/gateway.ini.in); BENCH_MONITOR=1 keeps what
# each Redis received, from its start, in RUN_DIR/REGION.monitor (`redis-cli
# MONITOR`; it slows Redis down: for scripts/run-replay.sh, not for figures).
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

BENCH_SECONDS="${BENCH_SECONDS:-10}"
BENCH_ACCOUNTS="${BENCH_ACCOUNTS:-10000}"
BENCH_WARMUP_MS="${BENCH_WARMUP_MS:-1000}"
BENCH_CHANNELS="${BENCH_CHANNELS:-1}"
BENCH_FSYNC="${BENCH_FSYNC:-always everysec}"
BENCH_SCRIPT_TIMES="${BENCH_SCRIPT_TIMES:-1}"
BENCH_SLOWLOG_MAX="${BENCH_SLOWLOG_MAX:-1000000}"
RUN_DIR="${BENCH_RUN_DIR:-$JJJ_ROOT/run/bench}"
BUILD_DIR="build-bench"
BIN="$JJJ_ROOT/$BUILD_DIR"
REGIONS=(CN-TJ CN-BJ CN-HE)
read -r -a TRANSFER_LEVELS <<<"${BENCH_LEVELS:-1 16 64 256}"
BENCH_REPEAT="${BENCH_REPEAT:-3}"
BENCH_TRIANGLE="${BENCH_TRIANGLE:-1}"
BENCH_THIRD="${BENCH_THIRD:-1}"
THIRD_ACCOUNTS=$((BENCH_ACCOUNTS < 2000 ? BENCH_ACCOUNTS : 2000))
GW_BIN="${BENCH_GATEWAY_BIN:-$BIN}"
BASELINE="${BENCH_BASELINE:-}"
if [ -n "$BASELINE" ] && ! jq -e 'type == "array"' "$BASELINE" >/dev/null 2>&1; then
    echo "run-bench.sh: BENCH_BASELINE=$BASELINE is not the summary.json of an earlier run" >&2
    exit 2
fi

declare -A GW_PORT REDIS_PORT METRICS_PORT GW_PID REDIS_PID MONITOR_PID

stop_all() {
    local r pid
    for r in "${REGIONS[@]}"; do
        pid="${GW_PID[$r]:-}"
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for r in "${REGIONS[@]}"; do
        pid="${GW_PID[$r]:-}"
        [ -n "$pid" ] || continue
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        GW_PID[$r]=""
    done
    for r in "${REGIONS[@]}"; do
        pid="${REDIS_PID[$r]:-}"
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        REDIS_PID[$r]=""
    done
    for r in "${REGIONS[@]}"; do
        pid="${MONITOR_PID[$r]:-}"
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        MONITOR_PID[$r]=""
    done
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

gw_health() { # region: Health/Check SERVING over mutual TLS as the region's operator
    GWCTL_TARGET="127.0.0.1:${GW_PORT[$1]}" GWCTL_CA="$RUN_DIR/pki/ca.crt" \
        GWCTL_CERT="$RUN_DIR/pki/$1-operator.crt" GWCTL_KEY="$RUN_DIR/pki/$1-operator.key" \
        "$BIN/gwctl" health --timeout-ms 500 >/dev/null 2>&1
}

start_federation() {
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR"
    bash "$JJJ_ROOT/certs/make-dev-pki.sh" --force "$RUN_DIR/pki" >"$RUN_DIR/pki.log"
    local next=7301 r o
    for r in "${REGIONS[@]}"; do
        GW_PORT[$r]="$(jjj_free_port "$next")"; next=$((GW_PORT[$r] + 1))
    done
    for r in "${REGIONS[@]}"; do
        REDIS_PORT[$r]="$(jjj_free_port "$next")"; next=$((REDIS_PORT[$r] + 1))
    done
    for r in "${REGIONS[@]}"; do
        METRICS_PORT[$r]="$(jjj_free_port "$next")"; next=$((METRICS_PORT[$r] + 1))
    done
    for r in "${REGIONS[@]}"; do
        local dir="$RUN_DIR/$r"
        mkdir -p "$dir/redis"
        redis-server "$JJJ_ROOT/deploy/local/redis.conf" --port "${REDIS_PORT[$r]}" \
            --dir "$dir/redis" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
        for _ in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
        REDIS_PID[$r]="$(cat "$dir/redis.pid")"
        if [ "${BENCH_MONITOR:-0}" = 1 ]; then
            redis-cli -p "${REDIS_PORT[$r]}" MONITOR >"$RUN_DIR/$r.monitor" 2>/dev/null &
            MONITOR_PID[$r]=$!
        fi
        local peers="" audit_keys=""
        for o in "${REGIONS[@]}"; do
            [ "$o" = "$r" ] && continue
            peers="$peers$o = 127.0.0.1:${GW_PORT[$o]}\n"
            audit_keys="$audit_keys$o = $RUN_DIR/pki/$o-audit-signing.pub\n"
        done
        sed -e "s#@REGION@#$r#g" -e "s#@PORT@#${GW_PORT[$r]}#g" -e "s#@ROOT@#$JJJ_ROOT#g" \
            -e "s#@PKI@#$RUN_DIR/pki#g" -e "s#@REDIS_PORT@#${REDIS_PORT[$r]}#g" -e "s#@METRICS_PORT@#${METRICS_PORT[$r]}#g" -e "s#@PEERS@#$peers#" \
            -e "s#@AUDIT_KEYS@#$audit_keys#" \
            "$JJJ_ROOT/deploy/local/gateway.ini.in" >"$dir/gateway.ini"
        [ -z "${BENCH_WORKERS:-}" ] || sed -i "s/^workers = .*/workers = $BENCH_WORKERS/" "$dir/gateway.ini"
        [ -z "${BENCH_BATCH_WINDOW_MS:-}" ] \
            || sed -i "s/^batch_window_ms = .*/batch_window_ms = $BENCH_BATCH_WINDOW_MS/" "$dir/gateway.ini"
    done
    for r in "${REGIONS[@]}"; do
        "$GW_BIN/gatewayd" --config "$RUN_DIR/$r/gateway.ini" >>"$RUN_DIR/$r/gatewayd.log" 2>&1 </dev/null &
        GW_PID[$r]=$!
    done
    for r in "${REGIONS[@]}"; do
        local ok=0
        for _ in $(seq 1 150); do
            if gw_health "$r"; then ok=1; break; fi
            kill -0 "${GW_PID[$r]}" 2>/dev/null || break
            sleep 0.1
        done
        if [ $ok -ne 1 ]; then
            jjj_log "gateway $r did not become healthy; its log:"
            tail -n 20 "$RUN_DIR/$r/gatewayd.log" >&2
            exit 1
        fi
        curl -fsS "http://127.0.0.1:${METRICS_PORT[$r]}/metrics" >/dev/null \
            || { jjj_log "no metrics endpoint for $r"; exit 1; }
    done
    jjj_log "federation up in $RUN_DIR: gateways ${GW_PORT[*]}, redis ${REDIS_PORT[*]}, metrics ${METRICS_PORT[*]}"
}

target() { printf -- '--target %s=127.0.0.1:%s' "$1" "${GW_PORT[$1]}"; }
metrics() { printf -- '--metrics 127.0.0.1:%s' "${METRICS_PORT[$1]}"; }

# CPU seconds (user + system) used so far by the given processes and their
# children, those reaped and those running (a Redis's AOF rewrites), as
# loadgen --cpu counts them.
cpu_s() {
    local p c ticks=0 hz
    hz="$(getconf CLK_TCK)"
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
        for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
            [ -r "/proc/$c/stat" ] && ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$c/stat")))
        done
    done
    awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }'
}

# Microseconds the three Redis spent running scripts (EVALSHA, which includes
# the commands they call) since their last CONFIG RESETSTAT.
redis_script_us() {
    local r sum=0 us
    for r in "${REGIONS[@]}"; do
        us="$(redis-cli -p "${REDIS_PORT[$r]}" INFO commandstats \
            | sed -n 's/^cmdstat_evalsha:.*,usec=\([0-9]*\),.*/\1/p' | awk '{s += $1} END {print s + 0}')"
        sum=$((sum + us))
    done
    printf '%s' "$sum"
}

# EVALSHA calls the three Redis ran since their last CONFIG RESETSTAT.
redis_script_calls() {
    local r sum=0 n
    for r in "${REGIONS[@]}"; do
        n="$(redis-cli -p "${REDIS_PORT[$r]}" INFO commandstats \
            | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' | awk '{s += $1} END {print s + 0}')"
        sum=$((sum + n))
    done
    printf '%s' "$sum"
}

# Logs every command of the three Redis from now on (slowlog-log-slower-than
# 0), in a fresh slow log of BENCH_SLOWLOG_MAX entries, until slowlog_stop.
declare -A SLOWLOG_THRESHOLD SLOWLOG_LEN
SLOWLOG_FULL=false
slowlog_start() {
    local r
    for r in "${REGIONS[@]}"; do
        SLOWLOG_THRESHOLD[$r]="$(redis-cli -p "${REDIS_PORT[$r]}" CONFIG GET slowlog-log-slower-than | sed -n 2p)"
        SLOWLOG_LEN[$r]="$(redis-cli -p "${REDIS_PORT[$r]}" CONFIG GET slowlog-max-len | sed -n 2p)"
        redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET slowlog-max-len "$BENCH_SLOWLOG_MAX" >/dev/null
        redis-cli -p "${REDIS_PORT[$r]}" SLOWLOG RESET >/dev/null
        redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET slowlog-log-slower-than 0 >/dev/null
    done
}

# Puts the thresholds back; SLOWLOG_FULL=true if a log filled (lost entries).
slowlog_stop() {
    local r
    SLOWLOG_FULL=false
    for r in "${REGIONS[@]}"; do
        redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET slowlog-log-slower-than "${SLOWLOG_THRESHOLD[$r]}" >/dev/null
        [ "$(redis-cli -p "${REDIS_PORT[$r]}" SLOWLOG LEN)" -lt "$BENCH_SLOWLOG_MAX" ] || SLOWLOG_FULL=true
    done
}

# Reads and empties the three slow logs and prints {"rows": [{script, region,
# calls, us, commands}], "entries": N}: the EVALSHA entries (the microseconds
# Redis spent running each, as INFO commandstats counts them) summed per
# script and region, with the commands the scripts called (logged by Redis
# from its script client "?:0" just before the EVALSHA that ran them), and
# the number of entries of every kind. A SHA1 gatewayd does not load shows
# as "sha:" and its first 12 digits.
slowlog_scripts() {
    local r
    for r in "${REGIONS[@]}"; do
        redis-cli -p "${REDIS_PORT[$r]}" --json SLOWLOG GET -1 \
            | jq -c --arg region "$r" --slurpfile names "$RUN_DIR/script_shas.json" \
                '{entries: length,
                  rows: ([foreach (sort_by(.[0]) | .[]) as $e ([0, null];
                              if ($e[3][0] | ascii_upcase) == "EVALSHA"
                              then [0, {sha: $e[3][1], us: $e[2], commands: .[0]}]
                              elif $e[4] == "?:0" then [.[0] + 1, null] else [.[0], null] end;
                              .[1] | select(. != null))]
                         | group_by(.sha)
                         | map({script: ($names[0][.[0].sha] // ("sha:" + .[0].sha[0:12])),
                                region: $region, calls: length, us: (map(.us) | add),
                                commands: (map(.commands) | add)}))}'
        redis-cli -p "${REDIS_PORT[$r]}" SLOWLOG RESET >/dev/null
        redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET slowlog-max-len "${SLOWLOG_LEN[$r]}" >/dev/null
    done | jq -cs '{rows: (map(.rows) | add // []), entries: (map(.entries) | add // 0)}'
}

# loadgen MODE ARGS...: one measured point; its JSON line, with the CPU the
# Redis servers and gateways used (in cores, over the point's wall time) and
# Redis CPU and script time per settled transfer, goes to results.jsonl.
point() {
    local line r t0 t1 redis0 redis1 gw0 gw1 busy calls scripts load cpu=()
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    jjj_log "  load average before the run: $load"
    for r in "${REGIONS[@]}"; do
        cpu+=(--cpu "gatewayd-$r=${GW_PID[$r]}" --cpu "redis-$r=${REDIS_PID[$r]}")
    done
    for r in "${REGIONS[@]}"; do redis-cli -p "${REDIS_PORT[$r]}" CONFIG RESETSTAT >/dev/null; done
    [ "$BENCH_SCRIPT_TIMES" = 0 ] || slowlog_start
    t0="$(date +%s.%N)"
    redis0="$(cpu_s "${REDIS_PID[@]}")"
    gw0="$(cpu_s "${GW_PID[@]}")"
    line="$("$BIN/loadgen" "$@" "${cpu[@]}" --tag loadavg="$load" --pki "$RUN_DIR/pki" --seconds "$BENCH_SECONDS" \
        --warmup-ms "$BENCH_WARMUP_MS" --channels "$BENCH_CHANNELS" --accounts "${POINT_ACCOUNTS:-$BENCH_ACCOUNTS}" \
        2>>"$RUN_DIR/loadgen.log")" || { jjj_log "loadgen $* failed (see $RUN_DIR/loadgen.log)"; exit 1; }
    t1="$(date +%s.%N)"
    redis1="$(cpu_s "${REDIS_PID[@]}")"
    gw1="$(cpu_s "${GW_PID[@]}")"
    [ "$BENCH_SCRIPT_TIMES" = 0 ] || slowlog_stop
    busy="$(redis_script_us)"
    calls="$(redis_script_calls)"
    line="$(printf '%s\n' "$line" | jq -c --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        --argjson redis "$(awk -v a="$redis0" -v b="$redis1" 'BEGIN { print b - a }')" \
        --argjson gw "$(awk -v a="$gw0" -v b="$gw1" 'BEGIN { print b - a }')" --argjson busy "$busy" \
        '. + {cpu_redis_cores: ($redis / $wall * 100 | round / 100),
              cpu_gatewayd_cores: ($gw / $wall * 100 | round / 100),
              redis_cpu_us_per_transfer: (if (.settled // 0) > 0 then ($redis * 1e6 / .settled | round) else null end),
              script_us_per_transfer: (if (.settled // 0) > 0 then ($busy / .settled | round) else null end)}')"
    if [ "$BENCH_SCRIPT_TIMES" != 0 ]; then
        scripts="$(slowlog_scripts)"
        line="$(printf '%s\n' "$line" | script_fields "$scripts" "$busy" "$calls" "$SLOWLOG_FULL")"
    fi
    printf '%s\n' "$line" >>"$RUN_DIR/results.jsonl"
    printf '%s\n' "$line"
}

# script_fields PROFILE BUSY_US CALLS FULL: adds to the point's JSON line
# (stdin) the per-script Redis time from the slow log (PROFILE, as
# slowlog_scripts prints it): .scripts, one {script, calls, us,
# commands_per_call, calls_per_transfer, us_per_transfer, us_by_region} per script, most time
# first; .scripts_us_per_transfer, their sum (script_us_per_transfer, from
# INFO commandstats, is the same time counted by Redis's totals);
# .slowlog_entries, .slowlog_full; .slowlog_coverage, the EVALSHA calls in the
# log over those INFO commandstats counts. If a log filled (FULL true), each
# script's time (calls) per transfer is its share of the EVALSHA time (calls)
# kept, times BUSY_US (CALLS); .calls and .us stay what the log kept.
script_fields() {
    jq -c --argjson profile "$1" --argjson busy "$2" --argjson calls "$3" --argjson full "$4" '
        (.settled // 0) as $settled
        | $profile.rows as $rows
        | ($rows | map(.us) | add // 0) as $kept_us
        | ($rows | map(.calls) | add // 0) as $kept_calls
        | (if $full and $kept_us > 0 then $busy / $kept_us else 1 end) as $scale
        | (if $full and $kept_calls > 0 then $calls / $kept_calls else 1 end) as $calls_scale
        | def per_tr(x; digits): if $settled > 0 then (x / $settled * digits | round / digits) else null end;
          ($rows | group_by(.script)
           | map({script: .[0].script, calls: (map(.calls) | add), us: (map(.us) | add),
                  commands_per_call: ((map(.commands) | add) / (map(.calls) | add) * 10 | round / 10),
                  us_by_region: (map({(.region): .us}) | add)})
           | map(. + {calls_per_transfer: per_tr(.calls * $calls_scale; 100), us_per_transfer: per_tr(.us * $scale; 1)})
           | sort_by(-.us)) as $scripts
        | . + {scripts: $scripts,
               scripts_us_per_transfer: per_tr(($kept_us * $scale); 1),
               slowlog_entries: $profile.entries, slowlog_full: $full,
               slowlog_coverage: (if $calls > 0 then ($kept_calls / $calls * 1000 | round / 1000) else null end)}'
}

# ---- a hold on a fragmented account (issue 16) ---------------------------------
# fragmented_point: its own redis-server (the shipped local config), the
# fragmented_hold tool against it, the redis-server stopped again.
fragmented_point() {
    local dir="$RUN_DIR/fragmented" port pid
    mkdir -p "$dir"
    port="$(jjj_free_port 7391)"
    redis-server "$JJJ_ROOT/deploy/local/redis.conf" --port "$port" --dir "$dir" --appendfsync always \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
    pid="$(cat "$dir/redis.pid")"
    "$BIN/fragmented_hold" 127.0.0.1 "$port" "${BENCH_FRAGMENTED_BLOCKS:-10000}" \
        >"$RUN_DIR/fragmented_hold.json" 2>>"$RUN_DIR/loadgen.log" || jjj_log "fragmented_hold failed"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    printf 'hold on a fragmented account against one block (Redis us per hold): %s\n' \
        "$(cat "$RUN_DIR/fragmented_hold.json")"
}

# The scaling point (BENCH_SCALE_ACCOUNTS): CN-TJ and CN-BJ get that many
# accounts in all (the first BENCH_ACCOUNTS are the set-up's), the new ones
# opened (and, in CN-TJ, credited like the set-up's) by the account_open and
# issue scripts sent straight to each store in pipelines (tests/bench/
# bulk_accounts.c: the scripts gatewayd runs, without the gateway), with
# appendfsync everysec during this set-up only; the audit log integrated;
# then transfer-64 over all of them and over BENCH_ACCOUNTS in alternation,
# appendfsync always.
scale_points() {
    local r rep health extra
    extra=$((BENCH_SCALE_ACCOUNTS - BENCH_ACCOUNTS))
    for r in CN-TJ CN-BJ; do redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET appendfsync everysec >/dev/null; done
    jjj_log "scaling point: $extra more accounts in CN-TJ (credited) and CN-BJ, by the account_open" \
        "and issue scripts sent straight to the stores (not through the gateways), appendfsync everysec ..."
    "$BIN/bulk_accounts" 127.0.0.1 "${REDIS_PORT[CN-TJ]}" CN-TJ bench- "$BENCH_ACCOUNTS" "$extra" \
        TJ-GT-01 475000 >"$RUN_DIR/scale-setup-CN-TJ.json" || { jjj_log "bulk_accounts CN-TJ failed: no scaling point"; return 0; }
    "$BIN/bulk_accounts" 127.0.0.1 "${REDIS_PORT[CN-BJ]}" CN-BJ bench- "$BENCH_ACCOUNTS" "$extra" \
        >"$RUN_DIR/scale-setup-CN-BJ.json" || { jjj_log "bulk_accounts CN-BJ failed: no scaling point"; return 0; }
    jjj_log "scale setup: $(cat "$RUN_DIR/scale-setup-CN-TJ.json") $(cat "$RUN_DIR/scale-setup-CN-BJ.json")"
    for r in "${REGIONS[@]}"; do redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET appendfsync always >/dev/null; done
    for r in CN-TJ CN-BJ; do # the audit log integrated before measuring
        for _ in $(seq 1 600); do
            [ "$(curl -fsS "http://127.0.0.1:${METRICS_PORT[$r]}/metrics" |
                 awk '$1 == "carbon_audit_log_unintegrated_entries" {print $2}')" = 0 ] && break
            sleep 1
        done
    done
    jjj_log "scaling point: $(redis-cli -p "${REDIS_PORT[CN-TJ]}" INFO memory | sed -n 's/^used_memory_human://p' | tr -d '\r') used by CN-TJ's Redis"
    for rep in $(seq 1 "$BENCH_REPEAT"); do
        # shellcheck disable=SC2046
        health="$(point health $(target CN-TJ) --in-flight 64 --tag fsync=always --tag point=scale-health-64 \
            --tag run="$rep" | jq -r .rate)"
        for n in "$BENCH_ACCOUNTS" "$BENCH_SCALE_ACCOUNTS"; do
            jjj_log "scaling point, run $rep/$BENCH_REPEAT: Transfer 64 in flight over $n accounts ..."
            sleep 1
            # shellcheck disable=SC2046
            POINT_ACCOUNTS="$n" point transfer $(target CN-TJ) --to-region CN-BJ --in-flight 64 \
                $(metrics CN-TJ) $(metrics CN-BJ) --baseline "$health" \
                --tag fsync=always --tag point="scale-transfer-64-accounts-$n" --tag run="$rep" >/dev/null
        done
    done
}

main() {
    jjj_install $JJJ_PACKAGES_RUN curl jq gnuplot-nox
    jjj_log "building a Release tree into $BUILD_DIR/ ..."
    JJJ_BUILD_TARGETS="gatewayd gwctl loadgen script_shas fragmented_hold bulk_accounts replay_monitor" jjj_build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
        -DSANITIZE=OFF -DBUILD_TESTING=OFF -DBUILD_BENCH=ON "-DCMAKE_C_FLAGS_RELEASE=-O2 -g"
    start_federation
    "$GW_BIN/script_shas" 127.0.0.1 "${REDIS_PORT[CN-TJ]}" >"$RUN_DIR/script_shas.json" \
        || { jjj_log "script_shas failed"; exit 1; }
    : >"$RUN_DIR/results.jsonl"

    jjj_log "opening $BENCH_ACCOUNTS accounts per region, with credits ..."
    # shellcheck disable=SC2046
    "$BIN/loadgen" setup $(target CN-TJ) $(target CN-BJ) $(target CN-HE) --pki "$RUN_DIR/pki" \
        --accounts "$BENCH_ACCOUNTS" --in-flight 64 --channels "$BENCH_CHANNELS" \
        >"$RUN_DIR/setup.json" 2>>"$RUN_DIR/loadgen.log" \
        || { jjj_log "setup failed: $(cat "$RUN_DIR/setup.json") (see $RUN_DIR/loadgen.log)"; exit 1; }
    jjj_log "setup: $(jq -c '{accounts, ok, errors, seconds, rate}' "$RUN_DIR/setup.json")"

    [ "$BENCH_THIRD" = 0 ] || third_region_prime

    local fsync health n rep
    for fsync in $BENCH_FSYNC; do
        for r in "${REGIONS[@]}"; do
            redis-cli -p "${REDIS_PORT[$r]}" CONFIG SET appendfsync "$fsync" >/dev/null
        done
        # Rounds: every point once, then again, so that a passing load on the
        # shared machine falls on all points alike; each round's transfers
        # are compared with that round's Health/Check.
        for rep in $(seq 1 "$BENCH_REPEAT"); do
            jjj_log "appendfsync $fsync, run $rep/$BENCH_REPEAT: transport limit (Health/Check, 64 in flight) ..."
            # shellcheck disable=SC2046
            health="$(point health $(target CN-TJ) --in-flight 64 --tag fsync="$fsync" --tag point=health-64 \
                --tag run="$rep" | jq -r .rate)"
            for n in "${TRANSFER_LEVELS[@]}"; do
                jjj_log "appendfsync $fsync, run $rep/$BENCH_REPEAT: Transfer CN-TJ -> CN-BJ, $n in flight ..."
                sleep 1
                # shellcheck disable=SC2046
                point transfer $(target CN-TJ) --to-region CN-BJ --in-flight "$n" \
                    $(metrics CN-TJ) $(metrics CN-BJ) --baseline "$health" \
                    --tag fsync="$fsync" --tag point="transfer-$n" --tag run="$rep" >/dev/null
            done
            if [ "$BENCH_THIRD" != 0 ]; then
                jjj_log "appendfsync $fsync, run $rep/$BENCH_REPEAT: CN-HE's serials CN-TJ -> CN-BJ, 64 in flight ..."
                sleep 1
                # shellcheck disable=SC2046
                POINT_ACCOUNTS="$THIRD_ACCOUNTS" point transfer $(target CN-TJ) --to-region CN-BJ \
                    --methodology HE-GT-01 --amount 1 --in-flight 64 \
                    $(metrics CN-TJ) $(metrics CN-BJ) $(metrics CN-HE) --baseline "$health" \
                    --tag fsync="$fsync" --tag point=third-64 --tag run="$rep" >/dev/null
            fi
            [ "$BENCH_TRIANGLE" != 0 ] || continue
            jjj_log "appendfsync $fsync, run $rep/$BENCH_REPEAT: triangle, 64 in flight ..."
            sleep 1
            # shellcheck disable=SC2046
            point triangle $(target CN-TJ) $(target CN-BJ) $(target CN-HE) --in-flight 64 \
                $(metrics CN-TJ) $(metrics CN-BJ) $(metrics CN-HE) --baseline "$health" \
                --tag fsync="$fsync" --tag point=triangle-64 --tag run="$rep" >/dev/null
        done
    done

    fragmented_point
    [ "${BENCH_SCALE_ACCOUNTS:-0}" = 0 ] || scale_points

    # The audit log's integration lag over the whole run (every point): the
    # longest any entry waited to enter its region's Merkle tree.
    local lag='{}' r v
    for r in "${REGIONS[@]}"; do
        v="$(curl -fsS "http://127.0.0.1:${METRICS_PORT[$r]}/metrics" |
             awk '$1 == "carbon_audit_log_integration_lag_max_ms" {print $2}')"
        lag="$(jq -c --arg r "$r" --argjson v "${v:-null}" '. + {($r): $v}' <<<"$lag")"
    done

    local cpu
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg host "$(hostname)" \
        --arg cpu "$cpu" --argjson cpus "$(nproc)" --arg kernel "$(uname -r)" \
        --arg commit "$(git -C "$JJJ_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
        --argjson seconds "$BENCH_SECONDS" --argjson accounts "$BENCH_ACCOUNTS" \
        --argjson setup "$(cat "$RUN_DIR/setup.json")" --argjson lag "$lag" \
        '{date: $date, machine: {host: $host, cpu: $cpu, cpus: $cpus, kernel: $kernel},
          commit: $commit, seconds_per_point: $seconds, accounts_per_region: $accounts,
          setup: $setup, audit_log_integration_lag_max_ms: $lag, points: .}' \
        "$RUN_DIR/results.jsonl" >"$RUN_DIR/results.json"

    printf '\n%s, %s (%s cpus), %s s per point, %s accounts per region\n' \
        "$(jq -r .date "$RUN_DIR/results.json")" "$cpu" "$(nproc)" "$BENCH_SECONDS" "$BENCH_ACCOUNTS"
    # One row per point: the minimum and median of its runs' rates, the
    # median of the rest (p50/p99/p99.9, ratio to the same round's
    # Health/Check, CPU per settled transfer of each process).
    jq '[.points | group_by([.fsync, .point])[]
         | def med(f): (map(f) | map(select(. != null)) | sort) as $v
                       | if ($v | length) == 0 then null else $v[(($v | length) - 1) / 2 | floor] end;
           {fsync: .[0].fsync, point: .[0].point, in_flight: .[0].in_flight, runs: length,
            rate_min: (map(.rate) | min), rate_median: med(.rate), p50_ms: med(.p50_ms),
            p99_ms: med(.p99_ms), p999_ms: med(.p999_ms), ratio: med(.ratio),
            store_calls_per_transfer: med(.store_calls_per_transfer), legs_per_batch: med(.legs_per_batch),
            script_us_per_transfer: med(.script_us_per_transfer),
            cpu_us_per_op: (. as $runs | (.[0].cpu_us_per_op // {} | keys_unsorted)
                            | reduce .[] as $p ({}; . + {($p): ($runs | med(.cpu_us_per_op[$p]))})),
            cpu_children_us_per_op: (. as $runs | (.[0].cpu_children_us_per_op // {} | keys_unsorted)
                            | reduce .[] as $p ({}; . + {($p): ($runs | med(.cpu_children_us_per_op[$p]))})),
            batch_phase_ms: (. as $runs | (.[0].batch_phase_ms // {} | keys_unsorted)
                            | reduce .[] as $p ({}; . + {($p): ($runs | med(.batch_phase_ms[$p]))})),
            redis_runs: (map(.cpu_us_per_op // {} | with_entries(select(.key | startswith("redis-")))
                             | map_values(round))),
            redis_children_runs: (map(.cpu_children_us_per_op // {}
                                      | with_entries(select(.key | startswith("redis-"))) | map_values(round))),
            loadavg: map(.loadavg) , errors: (map(.errors + .aborted) | add)}]' \
        "$RUN_DIR/results.json" >"$RUN_DIR/summary.json"
    {
        printf 'fsync\tpoint\truns\trate_min/s\trate_median/s\tp50_ms\tp99_ms\tp99.9_ms\tratio\tstore_calls/tr\tlegs/batch\tscript_us/tr\terrors\n'
        jq -r '.[] | [.fsync, .point, .runs, (.rate_min | floor), (.rate_median | floor),
                (.p50_ms * 100 | round / 100), (.p99_ms * 100 | round / 100),
                (.p999_ms * 100 | round / 100),
                (if .ratio then (.ratio * 1000 | round / 1000) else "-" end),
                (if .store_calls_per_transfer then (.store_calls_per_transfer * 100 | round / 100) else "-" end),
                (if .legs_per_batch then (.legs_per_batch * 10 | round / 10) else "-" end),
                (.script_us_per_transfer // "-"), .errors] | @tsv' "$RUN_DIR/summary.json"
    } | column -t -s $'\t'

    printf '\nCPU microseconds per settled transfer (per call for health), median of the runs, per process\n'
    {
        jq -r '(.[0].cpu_us_per_op | keys_unsorted) as $k
               | (["fsync", "point"] + $k + ["total"] | @tsv),
                 (.[] | [.fsync, .point] + [$k[] as $p | (.cpu_us_per_op[$p] // 0 | round)]
                        + [(.cpu_us_per_op | add // 0 | round)] | @tsv)' "$RUN_DIR/summary.json"
    } | column -t -s $'\t'

    # A Redis rewrites its AOF in a child, which falls into some runs of a
    # point and not others: its part, run by run, beside each Redis's CPU.
    printf '\nRedis CPU microseconds per settled transfer, run by run: all / of which in its children (AOF rewrites)\n'
    {
        printf 'fsync\tpoint\tredis: all / children, per run\n'
        jq -r '.[] | select(.point != "health-64") | . as $s
               | [.fsync, .point,
                  ([range(0; (.redis_runs | length)) as $i
                    | ($s.redis_runs[$i] | to_entries
                       | map("\(.key | ltrimstr("redis-")) \(.value)/\($s.redis_children_runs[$i][.key] // 0)")
                       | join(" "))] | join(" | "))] | @tsv' "$RUN_DIR/summary.json"
    } | column -t -s $'\t'

    # The sources' batches step by step (gatewayd's
    # carbon_batch_phase_microseconds_total): where a batch's time goes.
    printf '\nmilliseconds per batch at its source, by step, median of the runs (wait: for legs or the previous Decide; hand: to the decider; decide: phase two, beside the next batch)\n'
    {
        jq -r '(map(select(.batch_phase_ms != {})) | .[0].batch_phase_ms // {} | keys_unsorted) as $k
               | if ($k | length) == 0 then empty else
                 (["fsync", "point", "legs/batch"] + $k + ["phase_one"] | @tsv),
                 (.[] | select(.batch_phase_ms != {}) | . as $s
                  | [.fsync, .point, (.legs_per_batch * 10 | round / 10)]
                    + [$k[] as $p | ($s.batch_phase_ms[$p] // 0) * 100 | round / 100]
                    + [([("open", "prepare", "commit", "answer") as $p | $s.batch_phase_ms[$p] // 0] | add)
                       * 100 | round / 100] | @tsv) end' "$RUN_DIR/summary.json"
    } | column -t -s $'\t'

    printf '\nload average (1, 5, 15 min) before each run\n'
    jq -r '.[] | "\(.fsync) \(.point): \(.loadavg | join(" | "))"' "$RUN_DIR/summary.json"

    printf '\naudit log integration lag, the longest an entry waited over the run (ms): %s\n' \
        "$(jq -r '.audit_log_integration_lag_max_ms | to_entries | map("\(.key) \(.value)") | join(", ")' \
            "$RUN_DIR/results.json")"

    if [ "$BENCH_SCRIPT_TIMES" != 0 ]; then
        printf '\nRedis time per settled transfer, per script (all regions; the slow log'"'"'s EVALSHA entries)\n'
        {
            printf 'fsync\tpoint\trun\tscript\tcalls\tus_total\tcmds/call\tcalls/tr\tus/tr\tus/tr_by_region\tcoverage\n'
            jq -r '.points[] | select((.settled // 0) > 0 and .scripts != null) as $p
                    | ($p.scripts[] | [$p.fsync, $p.point, $p.run, .script, .calls, .us, .commands_per_call,
                                       .calls_per_transfer, .us_per_transfer,
                                       (.us_by_region | to_entries | map("\(.key)=\(.value / $p.settled | round)") | join(",")),
                                       $p.slowlog_coverage]),
                      [$p.fsync, $p.point, $p.run, "total", ($p.scripts | map(.calls) | add // 0),
                       ($p.scripts | map(.us) | add // 0), "-", "-", $p.scripts_us_per_transfer, "-",
                       $p.slowlog_coverage]
                    | @tsv' "$RUN_DIR/results.json"
        } | column -t -s $'\t'
    fi

    # Throughput vs p99 latency over the in-flight levels, one line per fsync mode.
    local plot="$RUN_DIR/throughput-latency.gp" data
    {
        echo "set terminal pngcairo size 900,600 noenhanced"
        echo "set output '$RUN_DIR/throughput-latency.png'"
        echo "set title 'Registry.Transfer CN-TJ -> CN-BJ, settled (labels: calls in flight)'"
        echo "set xlabel 'settled transfers per second'"
        echo "set ylabel 'p99 latency (ms)'"
        echo "set logscale y"
        echo "set grid"
        echo "set key top left"
        printf 'plot '
        local first=1
        for fsync in $BENCH_FSYNC; do
            data="$RUN_DIR/transfer-$fsync.dat"
            transfer_points "$RUN_DIR/summary.json" "$fsync" >"$data"
            [ $first -eq 1 ] || printf ', '
            printf "'%s' using 1:2 with linespoints title 'appendfsync %s', '' using 1:2:3 with labels offset 1,1 notitle" \
                "$data" "$fsync"
            first=0
        done
        if [ -n "$BASELINE" ]; then
            for fsync in $BENCH_FSYNC; do
                data="$RUN_DIR/baseline-transfer-$fsync.dat"
                transfer_points "$BASELINE" "$fsync" >"$data"
                [ -s "$data" ] || continue
                printf ", '%s' using 1:2 with linespoints dashtype 2 title 'baseline, appendfsync %s', '' using 1:2:3 with labels offset 1,-1 notitle" \
                    "$data" "$fsync"
            done
        fi
        echo
    } >"$plot"
    [ -z "$BASELINE" ] || baseline_table
    if gnuplot "$plot" 2>"$RUN_DIR/gnuplot.log"; then
        echo "plot: $RUN_DIR/throughput-latency.png"
    else
        jjj_log "gnuplot failed (see $RUN_DIR/gnuplot.log)"
    fi
    echo "results: $RUN_DIR/results.json (one object per run of a point in .points), $RUN_DIR/summary.json (min and median per point)"
}

# The plot's data of summary file $1 for fsync mode $2: "rate p99 in_flight"
# per transfer point, in order of calls in flight.
transfer_points() {
    jq -r --arg f "$2" '[.[] | select((.point | startswith("transfer-")) and .fsync == $f)]
        | sort_by(.in_flight) | .[] | "\(.rate_median) \(.p99_ms) \(.in_flight)"' "$1"
}

# The third-region point's set-up (not measured): CN-TJ's first
# THIRD_ACCOUNTS accounts are given CN-HE's serials, by transfers
# CN-HE -> CN-TJ of 48 credits (4.8 kg) for BENCH_THIRD_PRIME_S seconds (8)
# at 64 in flight, each account about ten times over on this machine, which
# is more than three rounds of the point take (100 g each, 1,000 to 2,000 a
# second); a point that finds an account short counts its refusals as errors.
third_region_prime() {
    jjj_log "giving $THIRD_ACCOUNTS CN-TJ accounts CN-HE's serials (CN-HE -> CN-TJ, ${BENCH_THIRD_PRIME_S:-8} s) ..."
    # shellcheck disable=SC2046
    "$BIN/loadgen" transfer $(target CN-HE) --to-region CN-TJ --in-flight 64 --pki "$RUN_DIR/pki" \
        --seconds "${BENCH_THIRD_PRIME_S:-8}" --warmup-ms 0 --accounts "$THIRD_ACCOUNTS" --amount 48 \
        --channels "$BENCH_CHANNELS" >"$RUN_DIR/third-prime.json" 2>>"$RUN_DIR/loadgen.log" \
        || { jjj_log "the third-region set-up failed (see $RUN_DIR/loadgen.log)"; exit 1; }
    jjj_log "third-region set-up: $(jq -c '{committed, errors, rate}' "$RUN_DIR/third-prime.json")"
}

# This run's points beside the same points of BENCH_BASELINE: median rate,
# ratio to Health/Check and p99, and this run's median rate over the
# baseline's (both medians; the machine's load may differ between the runs).
baseline_table() {
    printf '\nbaseline (%s) against this run, median of the runs\n' "$BASELINE"
    jq -r --slurpfile base "$BASELINE" '
        ["fsync", "point", "base_rate/s", "rate/s", "rate/base", "base_ratio", "ratio",
         "base_p99_ms", "p99_ms"],
        (.[] as $p | ($base[0][] | select(.point == $p.point and .fsync == $p.fsync)) as $b
         | [$p.fsync, $p.point, $b.rate_median, $p.rate_median,
            (if $b.rate_median > 0 then ($p.rate_median / $b.rate_median * 100 | round / 100) else "-" end),
            ($b.ratio // "-"), ($p.ratio // "-"), $b.p99_ms, $p.p99_ms])
        | @tsv' "$RUN_DIR/summary.json" | column -t -s $'\t'
}

# Sourced (e.g. to profile by hand: start_federation, then loadgen), it only defines.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
