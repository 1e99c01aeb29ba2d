#!/usr/bin/env bash
# run-federation.sh - the main job: a three-region carbon-inclusion federation
# (CN-TJ, CN-BJ, CN-HE) on this machine, and a demonstration of cross-region
# settlement.
#
#   scripts/run-federation.sh          install what is missing, build, start, demonstrate
#   scripts/run-federation.sh start    the same without the demonstration
#   scripts/run-federation.sh demo     run the demonstration again on the running federation
#   scripts/run-federation.sh status   health of the three gateways
#   scripts/run-federation.sh stop     stop everything it started
#   scripts/run-federation.sh restart REGION
#                                      stop one region's gateway and Redis, start them
#                                      again on the same ports with the same state
#   scripts/run-federation.sh start --ha   (or all --ha) each region as past one machine:
#                                      a Redis primary and replica, three Sentinels, two
#                                      gateways behind HAProxy (scripts/lib-ha.sh,
#                                      deploy/MULTI-MACHINE.md); installs redis-sentinel
#                                      and haproxy if missing. restart is not for --ha.
#
# Everything lives in one run folder: $RUN_DIR (default run/federation in the
# repository): the development PKI, each region's Redis data and gateway
# configuration, logs and process ids.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"
# shellcheck source=scripts/lib-ha.sh
. "$JJJ_ROOT/scripts/lib-ha.sh"
HA_MODE=0

RUN_DIR="${RUN_DIR:-$JJJ_ROOT/run/federation}"
BUILD_DIR="build"
# JJJ_BIN_DIR (for tests): take gatewayd and gwctl from that folder, build nothing.
BIN_DIR="${JJJ_BIN_DIR:-$JJJ_ROOT/$BUILD_DIR}"
REGIONS=(CN-TJ CN-BJ CN-HE)
GWCTL="$BIN_DIR/gwctl"

usage() {
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# Sends TERM to the process in pid file $1, waits up to 10 s, then KILL.
# Prints 1 if it was running, else 0.
stop_pidfile() {
    local pidf="$1" pid
    [ -f "$pidf" ] || { echo 0; return 0; }
    pid="$(cat "$pidf")"
    rm -f "$pidf"
    jjj_alive "$pid" || { echo 0; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do jjj_alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo 1
}

# Stops region $1's gateway, then its Redis; prints how many were running.
stop_region() {
    local n
    n=$(stop_pidfile "$RUN_DIR/$1/gatewayd.pid")
    n=$((n + $(stop_pidfile "$RUN_DIR/$1/redis.pid")))
    n=$((n + $(ha_stop_region "$1"))) # --ha: every other *.pid of the region
    echo "$n"
}

stop_all() {
    [ -d "$RUN_DIR" ] || { echo "nothing to stop: no $RUN_DIR"; return 0; }
    local stopped=0 r
    for r in "${REGIONS[@]}"; do stopped=$((stopped + $(stop_region "$r"))); done
    echo "stopped $stopped processes; state and logs stay in $RUN_DIR"
}

# Loads the ports of a running federation.
load_env() {
    [ -f "$RUN_DIR/ports.env" ] || { echo "no federation in $RUN_DIR: run '$0 start' first" >&2; exit 1; }
    # shellcheck source=/dev/null
    . "$RUN_DIR/ports.env"
}

gw_port() { port_of PORT "$1"; }

# gwctl as region $1's registry (or role $2).
gw() {
    local region="$1" role="$2"; shift 2
    GWCTL_TARGET="127.0.0.1:$(gw_port "$region")" GWCTL_CERT="$RUN_DIR/pki/$region-$role.crt" \
        GWCTL_KEY="$RUN_DIR/pki/$region-$role.key" GWCTL_CA="$RUN_DIR/pki/ca.crt" "$GWCTL" "$@"
}

status() {
    load_env
    local bad=0 r
    for r in "${REGIONS[@]}"; do
        gw "$r" operator health >/dev/null 2>&1 || bad=1
    done
    if [ "${HA:-0}" = 1 ]; then ha_print_regions; else print_regions; fi
    return $bad
}

# The region's value of a ports.env variable: port_of REDIS CN-TJ.
port_of() { eval "printf '%s' \"\${${1}_${2//-/_}:-}\""; }

# Starts region $1's Redis on port $2 with its data, then checks that the
# process it started is the one listening there. 0, or 1 with the reason.
start_redis() {
    local r="$1" port="$2" dir="$RUN_DIR/$1"
    mkdir -p "$dir/redis"
    rm -f "$dir/redis.pid"
    redis-server "$JJJ_ROOT/deploy/local/redis.conf" --port "$port" --dir "$dir/redis" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || true
    local pid=""
    for _ in $(seq 1 50); do
        [ -s "$dir/redis.pid" ] && { pid="$(cat "$dir/redis.pid")"; break; }
        sleep 0.1
    done
    if [ -z "$pid" ]; then
        echo "$r: redis-server did not start on port $port; its log:" >&2
        tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
        return 1
    fi
    if ! jjj_wait_listening "$port" "$pid" 100; then
        echo "$r: the redis-server started as pid $pid is not listening on 127.0.0.1:$port" \
             "(port taken by another process?); its log:" >&2
        tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        rm -f "$dir/redis.pid"
        return 1
    fi
}

# Starts region $1's gateway from its configuration and waits until the
# process it started listens on its port and answers health. 0, or 1 with
# the reason (the end of its log).
start_gateway() {
    local r="$1" dir="$RUN_DIR/$1" port; port="$(port_of PORT "$1")"
    nohup "$BIN_DIR/gatewayd" --config "$dir/gateway.ini" \
        >>"$dir/gatewayd.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/gatewayd.pid"
    local rc=0
    jjj_wait_listening "$port" "$pid" 150 || rc=$?
    if [ "$rc" -eq 0 ]; then
        for _ in $(seq 1 100); do
            gw "$r" operator health --timeout-ms 500 >/dev/null 2>&1 && return 0
            kill -0 "$pid" 2>/dev/null || { rc=1; break; }
            sleep 0.1
        done
        [ "$rc" -eq 0 ] && rc=3
    fi
    case "$rc" in
        1) echo "$r: gatewayd (pid $pid) ended while starting; its log:" >&2 ;;
        2) echo "$r: gatewayd (pid $pid) is not listening on 127.0.0.1:$port" \
                "(port taken by another process?); its log:" >&2 ;;
        *) echo "$r: gatewayd (pid $pid) listens on $port but is not healthy; its log:" >&2 ;;
    esac
    tail -n 20 "$dir/gatewayd.log" >&2
    return 1
}

# Writes region $1's gateway configuration from the template and ports.env.
write_gateway_config() {
    local r="$1" dir="$RUN_DIR/$1" peers="" audit_keys="" o
    for o in "${REGIONS[@]}"; do
        [ "$o" = "$r" ] && continue
        peers="$peers$o = 127.0.0.1:$(port_of PORT "$o")\n"
        audit_keys="$audit_keys$o = $RUN_DIR/pki/$o-audit-signing.pub\n"
    done
    sed -e "s#@REGION@#$r#g" -e "s#@PORT@#$(port_of PORT "$r")#g" -e "s#@ROOT@#$JJJ_ROOT#g" \
        -e "s#@PKI@#$RUN_DIR/pki#g" -e "s#@REDIS_PORT@#$(port_of REDIS "$r")#g" \
        -e "s#@METRICS_PORT@#$(port_of METRICS "$r")#g" -e "s#@PEERS@#$peers#" \
        -e "s#@AUDIT_KEYS@#$audit_keys#" \
        "$JJJ_ROOT/deploy/local/gateway.ini.in" >"$dir/gateway.ini"
}

# Picks a free port at or above $1 that this run has not handed out yet.
next_port() {
    local p="$1"
    while :; do
        p="$(jjj_free_port "$p")"
        grep -q "=$p\$" "$RUN_DIR/ports.env" 2>/dev/null || break
        p=$((p + 1))
    done
    printf '%s\n' "$p"
}

# Starts each region's Redis in turn, each on a port picked only after the
# previous one listens, so that two regions can never share a store.
start_stores() {
    local r p attempt
    for r in "${REGIONS[@]}"; do
        p=7201
        for attempt in 1 2 3 4 5; do
            p="$(next_port "$p")"
            if start_redis "$r" "$p"; then
                echo "REDIS_${r//-/_}=$p" >>"$RUN_DIR/ports.env"
                break
            fi
            [ "$attempt" -eq 5 ] && { echo "$r: no Redis after 5 ports; giving up" >&2; return 1; }
            echo "$r: trying another port" >&2
            p=$((p + 1))
        done
    done
}

start_all() {
    if [ -z "${JJJ_BIN_DIR:-}" ]; then
        jjj_install $JJJ_PACKAGES_RUN
        jjj_log "building gatewayd and gwctl (Release, assertions on) into $BUILD_DIR/ ..."
        # shellcheck disable=SC2086
        JJJ_BUILD_TARGETS="$JJJ_RUN_BUILD_TARGETS" jjj_build "$BUILD_DIR" $JJJ_RUN_BUILD_ARGS
    fi
    # shellcheck disable=SC2086
    [ "$HA_MODE" = 1 ] && { jjj_install $JJJ_PACKAGES_HA || exit 1; }
    if [ -f "$RUN_DIR/ports.env" ]; then
        . "$RUN_DIR/ports.env"
        for r in "${REGIONS[@]}"; do
            local pidf="$RUN_DIR/$r/gatewayd.pid"
            [ -f "$pidf" ] || pidf="$RUN_DIR/$r/gatewayd-1.pid"
            if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
                echo "a federation already runs from $RUN_DIR: '$0 stop' first" >&2
                exit 1
            fi
        done
    fi
    mkdir -p "$RUN_DIR"
    if [ ! -f "$RUN_DIR/pki/CN-TJ-audit-signing.key" ]; then
        bash "$JJJ_ROOT/certs/make-dev-pki.sh" --force "$RUN_DIR/pki" >"$RUN_DIR/pki.log"
    fi
    if [ "$HA_MODE" = 1 ]; then ha_start_all; return 0; fi
    : >"$RUN_DIR/ports.env"
    start_stores || { stop_all >/dev/null; exit 1; }
    local next=7101 r
    for r in "${REGIONS[@]}"; do
        local p; p="$(next_port "$next")"; next=$((p + 1))
        echo "PORT_${r//-/_}=$p" >>"$RUN_DIR/ports.env"
        local m; m="$(next_port 9101)"
        echo "METRICS_${r//-/_}=$m" >>"$RUN_DIR/ports.env"
    done
    . "$RUN_DIR/ports.env"
    for r in "${REGIONS[@]}"; do write_gateway_config "$r"; done
    for r in "${REGIONS[@]}"; do
        start_gateway "$r" || { stop_all >/dev/null; exit 1; }
    done
    echo "federation up, state and logs in $RUN_DIR"
    print_regions
}

print_regions() {
    local r health
    for r in "${REGIONS[@]}"; do
        if ! health="$(gw "$r" operator health --timeout-ms 2000 2>&1)"; then
            health="DOWN: $(printf '%s' "$health" | tr '\n' ' ' | cut -c1-160)"
        fi
        printf '  %s  gateway 127.0.0.1:%s  metrics http://127.0.0.1:%s/metrics  redis 127.0.0.1:%s  %s\n' \
            "$r" "$(port_of PORT "$r")" "$(port_of METRICS "$r")" "$(port_of REDIS "$r")" "$health"
    done
}

# Stops region $1's gateway and Redis and starts them again on the same
# ports with the same state, as after a machine restart.
restart_region() {
    local r="$1" found=0 o
    for o in "${REGIONS[@]}"; do [ "$o" = "$r" ] && found=1; done
    [ "$found" -eq 1 ] || { echo "unknown region '$r'; one of: ${REGIONS[*]}" >&2; exit 2; }
    load_env
    stop_region "$r" >/dev/null
    start_redis "$r" "$(port_of REDIS "$r")" || exit 1
    start_gateway "$r" || exit 1
    echo "$r restarted"
    print_regions
}

step() { printf '\n== %s\n' "$*"; }

demo() {
    load_env
    local tag; tag="$(date +%s)"
    step "Catalogs: each region's units and recognition rules (illustrative defaults)"
    for r in "${REGIONS[@]}"; do
        "$GWCTL" catalog show --region "$r" --dir "$JJJ_ROOT/adapters/catalogs" | sed -n '1,4p'
    done
    step "Accounts: one person in each region"
    gw CN-TJ registry open-account --id "tj-li-$tag"
    gw CN-BJ registry open-account --id "bj-wang-$tag"
    gw CN-HE registry open-account --id "he-zhao-$tag"
    step "Issuance from measured activity (native units become grams, then each region's unit)"
    echo "Tianjin: 420 km by metro (TJ-GT-01, 47.5 g/km)"
    local issued first_serial
    issued="$(gw CN-TJ registry issue --account "tj-li-$tag" --methodology TJ-GT-01 --vintage 2026 \
        --quantity 420 --fingerprint "tj-metro-card-8812-2026-11-$tag")"
    echo "$issued"
    first_serial="$(printf '%s\n' "$issued" | sed -n 's/.*:2026:\([0-9]*\)-.*/\1/p')"
    echo "Beijing: 35.5 kWh of household electricity saved (BJ-EL-01, 581 g/kWh)"
    gw CN-BJ registry issue --account "bj-wang-$tag" --methodology BJ-EL-01 --vintage 2026 \
        --quantity 35.5 --fingerprint "bj-meter-0042-2026-10-$tag"
    echo "Hebei: 12 kg recycled (HE-RC-01, 1100 g/kg)"
    gw CN-HE registry issue --account "he-zhao-$tag" --methodology HE-RC-01 --vintage 2026 \
        --quantity 12 --fingerprint "he-recycle-station-7-$tag"
    step "One activity, one issuance: the same metro ride reported to Beijing's platform too"
    echo "Beijing's metro methodology (BJ-GT-02) and Tianjin's TJ-GT-01 share the activity class public-transit;"
    echo "only the keyed fingerprint leaves a region, and the ride's home region holds it (refused, nothing issued):"
    gw CN-BJ registry issue --account "bj-wang-$tag" --methodology BJ-GT-02 --vintage 2026 \
        --quantity 420 --fingerprint "TJ-Metro-Card-8812-2026-11-$tag " || true
    step "Balances before"
    gw CN-TJ registry account --id "tj-li-$tag" --blocks 3
    gw CN-BJ registry account --id "bj-wang-$tag" --blocks 3
    gw CN-HE registry account --id "he-zhao-$tag" --blocks 3
    step "Quote: 15 kg of Tianjin metro credits to Beijing (recognized as BJ-GT-02 at 9/10)"
    gw CN-TJ registry quote --from "tj-li-$tag" --to-region CN-BJ --methodology TJ-GT-01 --amount 15
    step "Transfers around the triangle, each settled by two-phase commit"
    echo "CN-TJ -> CN-BJ: 15 kg of TJ-GT-01"
    gw CN-TJ registry transfer --from "tj-li-$tag" --to-region CN-BJ --to "bj-wang-$tag" \
        --methodology TJ-GT-01 --amount 15
    echo "CN-BJ -> CN-HE: 1000 points of the same Tianjin serials"
    gw CN-BJ registry transfer --from "bj-wang-$tag" --to-region CN-HE --to "he-zhao-$tag" \
        --methodology TJ-GT-01 --amount 1000
    echo "CN-HE -> CN-TJ: 50 credits of Hebei recycling (HE-RC-01, recognized in Tianjin at 2/3)"
    gw CN-HE registry transfer --from "he-zhao-$tag" --to-region CN-TJ --to "tj-li-$tag" \
        --methodology HE-RC-01 --amount 50
    echo "A refused transfer: more than the account holds (nothing changes)"
    gw CN-TJ registry transfer --from "tj-li-$tag" --to-region CN-BJ --to "bj-wang-$tag" \
        --methodology TJ-GT-01 --amount 100000 || true
    step "Retirement in another region than the credit's origin: Tianjin serials retired in Hebei"
    gw CN-HE registry retire --account "he-zhao-$tag" --methodology TJ-GT-01 --amount 20 \
        --purpose voluntary_neutrality --beneficiary "Zhao family 2026 neutrality"
    step "Rules on use: a compliance offset past Beijing's share of the emitter's obligation is refused"
    echo "Beijing's operator registers Acme Steel's 2026 obligation (100 t); its rules allow 5/100 of it as offsets:"
    gw CN-BJ operator obligation register --beneficiary "Acme Steel $tag" --year 2026 --obligation-g 100000
    echo "600 points (6 kg) of Beijing credits for Acme Steel's compliance: over the 5 kg allowed (nothing changes):"
    gw CN-BJ registry retire --account "bj-wang-$tag" --methodology BJ-EL-01 --amount 600 \
        --purpose compliance_offset --compliance-year 2026 --beneficiary "Acme Steel $tag" || true
    step "Balances after"
    gw CN-TJ registry account --id "tj-li-$tag" --blocks 5
    gw CN-BJ registry account --id "bj-wang-$tag" --blocks 5
    gw CN-HE registry account --id "he-zhao-$tag" --blocks 5
    step "What arrived in Hebei (the registry's feed)"
    gw CN-HE registry transfers --arrivals
    step "Operators: settlement batches and their reconciliation with each peer"
    gw CN-TJ operator batches --peer CN-BJ
    for r in "${REGIONS[@]}"; do
        for o in "${REGIONS[@]}"; do
            [ "$o" = "$r" ] && continue
            printf '%s with %s: ' "$r" "$o"
            gw "$r" operator reconcile --peer "$o" | head -n 1
        done
    done
    gw CN-BJ operator indoubt | tail -n 1
    local targets="CN-TJ=127.0.0.1:$(gw_port CN-TJ),CN-BJ=127.0.0.1:$(gw_port CN-BJ),CN-HE=127.0.0.1:$(gw_port CN-HE)"
    sleep 4.5 # two checkpoint intervals: each gateway signs a checkpoint covering the demonstration, its peers cosign it
    step "Auditor: the trace of serial CN-TJ:$first_serial across the borders, each hop proved against a checkpoint its peers cosigned"
    GWCTL_TARGETS="$targets" gw CN-BJ auditor trace "CN-TJ:$first_serial" --catalog-dir "$JJJ_ROOT/adapters/catalogs"
    step "Auditor: every region's whole audit log, its tree recomputed, and the checkpoints its peers cosigned"
    for r in "${REGIONS[@]}"; do
        GWCTL_TARGETS="$targets" gw CN-HE auditor audit verify --region "$r"
    done
    step "Auditor: the yearly report of every region (China Standard Time), cross-checked between them"
    GWCTL_TARGETS="$targets" gw CN-HE auditor report --year "$(date -u -d "+8 hours" +%Y)" || true
    echo
    local metrics="CN-TJ=127.0.0.1:$(port_of METRICS CN-TJ),CN-BJ=127.0.0.1:$(port_of METRICS CN-BJ),CN-HE=127.0.0.1:$(port_of METRICS CN-HE)"
    echo "The web console (README \"Console\"): run one of these, then open the URL it prints (with its token):"
    for who in CN-BJ-auditor CN-BJ-operator; do
        echo "  as $who:"
        echo "    GWCTL_TARGETS=$targets GWCTL_METRICS=$metrics GWCTL_CERT=$RUN_DIR/pki/$who.crt GWCTL_KEY=$RUN_DIR/pki/$who.key GWCTL_CA=$RUN_DIR/pki/ca.crt $GWCTL console --listen 127.0.0.1:$([ "$who" = CN-BJ-auditor ] && echo 8088 || echo 8089)"
    done
    echo "The federation keeps running. Stop it with: $0 stop"
}

# --ha after the command (or alone: all --ha)
if [ "${2:-}" = "--ha" ] || [ "${1:-}" = "--ha" ]; then
    HA_MODE=1
    [ "${1:-}" = "--ha" ] && set -- all
fi
case "${1:-all}" in
    all) start_all; demo ;;
    start) start_all; echo "Stop it with: $0 stop" ;;
    restart) [ $# -eq 2 ] && [ "$2" != --ha ] || { usage >&2; exit 2; }; restart_region "$2" ;;
    demo) demo ;;
    status) status ;;
    stop) stop_all ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
