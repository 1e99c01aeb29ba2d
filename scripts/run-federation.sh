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
#
# Everything lives in one run folder: $RUN_DIR (default run/federation in the
# repository): the development PKI, each region's Redis data and gateway
# configuration, logs and process ids.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

RUN_DIR="${RUN_DIR:-$JJJ_ROOT/run/federation}"
BUILD_DIR="build"
REGIONS=(CN-TJ CN-BJ CN-HE)
GWCTL="$JJJ_ROOT/$BUILD_DIR/gwctl"

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

stop_all() {
    [ -d "$RUN_DIR" ] || { echo "nothing to stop: no $RUN_DIR"; return 0; }
    local stopped=0
    for r in "${REGIONS[@]}"; do
        local pidf="$RUN_DIR/$r/gatewayd.pid"
        if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
            kill -TERM "$(cat "$pidf")" 2>/dev/null || true
            stopped=$((stopped + 1))
        fi
    done
    for r in "${REGIONS[@]}"; do
        local pidf="$RUN_DIR/$r/gatewayd.pid"
        if [ -f "$pidf" ]; then
            local pid; pid="$(cat "$pidf")"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$pidf"
        fi
        local rpid="$RUN_DIR/$r/redis.pid"
        if [ -f "$rpid" ] && kill -0 "$(cat "$rpid")" 2>/dev/null; then
            local pid; pid="$(cat "$rpid")"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            stopped=$((stopped + 1))
        fi
        rm -f "$rpid"
    done
    echo "stopped $stopped processes; state and logs stay in $RUN_DIR"
}

# Loads the ports of a running federation.
load_env() {
    [ -f "$RUN_DIR/ports.env" ] || { echo "no federation in $RUN_DIR: run '$0 start' first" >&2; exit 1; }
    # shellcheck source=/dev/null
    . "$RUN_DIR/ports.env"
}

gw_port() { eval "printf '%s' \"\$PORT_${1//-/_}\""; }

# gwctl as region $1's registry (or role $2).
gw() {
    local region="$1" role="$2"; shift 2
    GWCTL_TARGET="127.0.0.1:$(gw_port "$region")" GWCTL_CERT="$RUN_DIR/pki/$region-$role.crt" \
        GWCTL_KEY="$RUN_DIR/pki/$region-$role.key" GWCTL_CA="$RUN_DIR/pki/ca.crt" "$GWCTL" "$@"
}

status() {
    load_env
    local bad=0
    for r in "${REGIONS[@]}"; do
        gw "$r" operator health || bad=1
    done
    return $bad
}

start_all() {
    jjj_install $JJJ_PACKAGES_BUILD
    jjj_log "building into $BUILD_DIR/ ..."
    jjj_build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    if [ -f "$RUN_DIR/ports.env" ]; then
        . "$RUN_DIR/ports.env"
        for r in "${REGIONS[@]}"; do
            if jjj_port_busy "$(gw_port "$r")"; then
                echo "a federation already runs from $RUN_DIR: '$0 stop' first" >&2
                exit 1
            fi
        done
    fi
    mkdir -p "$RUN_DIR"
    if [ ! -f "$RUN_DIR/pki/CN-TJ-audit-signing.key" ]; then
        bash "$JJJ_ROOT/certs/make-dev-pki.sh" --force "$RUN_DIR/pki" >"$RUN_DIR/pki.log"
    fi
    local next=7101
    : >"$RUN_DIR/ports.env"
    for r in "${REGIONS[@]}"; do
        local p; p="$(jjj_free_port "$next")"; next=$((p + 1))
        local rp; rp="$(jjj_free_port $((p + 100)))"
        echo "PORT_${r//-/_}=$p" >>"$RUN_DIR/ports.env"
        echo "REDIS_${r//-/_}=$rp" >>"$RUN_DIR/ports.env"
    done
    . "$RUN_DIR/ports.env"
    for r in "${REGIONS[@]}"; do
        local dir="$RUN_DIR/$r"
        mkdir -p "$dir/redis"
        local rp; eval "rp=\$REDIS_${r//-/_}"
        redis-server "$JJJ_ROOT/deploy/local/redis.conf" --port "$rp" --dir "$dir/redis" \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
        local peers="" audit_keys=""
        for o in "${REGIONS[@]}"; do
            [ "$o" = "$r" ] && continue
            peers="$peers$o = 127.0.0.1:$(gw_port "$o")\n"
            audit_keys="$audit_keys$o = $RUN_DIR/pki/$o-audit-signing.pub\n"
        done
        sed -e "s#@REGION@#$r#g" -e "s#@PORT@#$(gw_port "$r")#g" -e "s#@ROOT@#$JJJ_ROOT#g" \
            -e "s#@PKI@#$RUN_DIR/pki#g" -e "s#@REDIS_PORT@#$rp#g" -e "s#@PEERS@#$peers#" \
            -e "s#@AUDIT_KEYS@#$audit_keys#" \
            "$JJJ_ROOT/deploy/local/gateway.ini.in" >"$dir/gateway.ini"
    done
    for r in "${REGIONS[@]}"; do
        local dir="$RUN_DIR/$r"
        nohup "$JJJ_ROOT/$BUILD_DIR/gatewayd" --config "$dir/gateway.ini" \
            >>"$dir/gatewayd.log" 2>&1 </dev/null &
        echo $! >"$dir/gatewayd.pid"
    done
    for r in "${REGIONS[@]}"; do
        local ok=0
        for _ in $(seq 1 100); do
            if gw "$r" operator health --timeout-ms 500 >/dev/null 2>&1; then ok=1; break; fi
            if ! kill -0 "$(cat "$RUN_DIR/$r/gatewayd.pid")" 2>/dev/null; then break; fi
            sleep 0.1
        done
        if [ $ok -ne 1 ]; then
            echo "gateway $r did not become healthy; its log:" >&2
            tail -n 20 "$RUN_DIR/$r/gatewayd.log" >&2
            stop_all
            exit 1
        fi
    done
    echo "federation up, state and logs in $RUN_DIR"
    for r in "${REGIONS[@]}"; do
        printf '  %s  gateway 127.0.0.1:%s  %s\n' "$r" "$(gw_port "$r")" "$(gw "$r" operator health)"
    done
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
    sleep 2.5 # let each gateway sign a checkpoint covering the demonstration
    step "Auditor: the trace of serial CN-TJ:$first_serial across the borders, verified against signed checkpoints"
    GWCTL_TARGETS="$targets" gw CN-BJ auditor trace "CN-TJ:$first_serial" --catalog-dir "$JJJ_ROOT/adapters/catalogs"
    step "Auditor: every region's whole audit chain and the checkpoints its peers hold"
    for r in "${REGIONS[@]}"; do
        GWCTL_TARGETS="$targets" gw CN-HE auditor audit verify --region "$r"
    done
    echo
    echo "The federation keeps running. Stop it with: $0 stop"
}

case "${1:-all}" in
    all) start_all; demo ;;
    start) start_all; echo "Stop it with: $0 stop" ;;
    demo) demo ;;
    status) status ;;
    stop) stop_all ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
