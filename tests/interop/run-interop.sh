#!/usr/bin/env bash
# run-interop.sh BUILD_DIR [SCRIPT] - the interop test: a three-region
# federation on loopback, driven by an independent gRPC implementation
# (grpc-js). SCRIPT is the node test in tests/interop to run (default
# registry_interop.js; reflection_interop.js is the server reflection test).
#
# Starts three redis-server (free loopback ports, AOF with fsync on every
# write, temporary folders) and three gatewayd from BUILD_DIR/gatewayd
# (CN-TJ, CN-BJ, CN-HE; configuration from deploy/local/gateway.ini.in, TLS
# files from BUILD_DIR/pki), waits until each answers its health check, runs
# `npm ci` in tests/interop if node_modules is missing, then runs
# SCRIPT against CN-TJ and CN-BJ. Everything it started is
# stopped and its temporary folder removed on exit, also on failure or
# interruption.
#
# Redis runs with the production access control: the default user disabled
# and the `user gateway ...` line of deploy/redis/redis-production.conf (with
# a random password); the gateways authenticate as that user. So a command the
# gateway needs but that ACL line lacks fails this test (NOPERM).
# INTEROP_REDIS_ACL=0 runs Redis without ACL instead.
#
# Exit code: the node test's. If the test passed but a gateway then did not
# exit cleanly on SIGTERM (e.g. a sanitizer report at exit), 1.
# Needs: bash, redis-server, node and npm on the PATH. No stdin is read.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -x "$1/gatewayd" ] || [ ! -x "$1/gwctl" ]; then
    echo "usage: $0 BUILD_DIR [SCRIPT]   (with BUILD_DIR/gatewayd, BUILD_DIR/gwctl and BUILD_DIR/pki)" >&2
    exit 2
fi
SCRIPT="${2:-registry_interop.js}"
BUILD_DIR="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "$SCRIPT" in
    */* | "" | .*) echo "interop: SCRIPT is a file name in tests/interop, got $SCRIPT" >&2; exit 2 ;;
esac
[ -f "$HERE/$SCRIPT" ] || { echo "interop: no tests/interop/$SCRIPT" >&2; exit 2; }
ROOT="$(cd "$HERE/../.." && pwd)"
PKI="$BUILD_DIR/pki"
REGIONS=(CN-TJ CN-BJ CN-HE)

for tool in redis-server node npm; do
    command -v "$tool" >/dev/null || { echo "interop: $tool is not on the PATH" >&2; exit 2; }
done
[ -f "$PKI/ca.crt" ] || { echo "interop: no development PKI in $PKI (build the dev_pki target)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/jjj-interop.XXXXXX")"
declare -A GW_PID=() REDIS_PID=() GW_PORT=() REDIS_PORT=()
GATEWAYS_CLEAN=1

# Stops the gateways (SIGTERM, then SIGKILL after 10 s) and records whether
# each exited 0, then the Redis servers, then removes $WORK.
teardown() {
    local r pid status
    for r in "${!GW_PID[@]}"; do kill -TERM "${GW_PID[$r]}" 2>/dev/null || true; done
    for r in "${!GW_PID[@]}"; do
        pid="${GW_PID[$r]}"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "interop: gateway $r did not stop within 10 s of SIGTERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        status=0
        wait "$pid" 2>/dev/null || status=$?
        if [ "$status" -ne 0 ]; then
            GATEWAYS_CLEAN=0
            echo "interop: gateway $r exited with status $status after SIGTERM; end of its log:" >&2
            tail -n 40 "$WORK/$r/gatewayd.log" >&2 || true
        fi
    done
    GW_PID=()
    for r in "${!REDIS_PID[@]}"; do kill -TERM "${REDIS_PID[$r]}" 2>/dev/null || true; done
    for r in "${!REDIS_PID[@]}"; do
        pid="${REDIS_PID[$r]}"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    REDIS_PID=()
    rm -rf "$WORK"
}
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    teardown
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    local r
    for r in "${REGIONS[@]}"; do
        for f in "$WORK/$r/gatewayd.log" "$WORK/$r/redis.log"; do
            [ -s "$f" ] || continue
            echo "---- $f (last 20 lines)" >&2
            tail -n 20 "$f" >&2
        done
    done
    if grep -qsE "NOPERM|user executing the script can't" "$WORK"/*/gatewayd.log; then
        echo "interop: Redis refused a command of the gateway (ACL): add it to the" \
             "'user gateway' line of deploy/redis/redis-production.conf" >&2
    fi
}

# Free loopback ports: something answers a connect => busy. Start from a
# random base so that parallel runs rarely collide.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port sets PORT (not printed: a $(...) subshell would lose next_port).
# Below Linux's ephemeral range (32768-60999): a port there can be taken at
# any moment as the local end of some other test's outgoing connection, which
# a connect probe does not see.
next_port=$((20000 + RANDOM % 12000))
free_port() {
    while port_busy "$next_port"; do
        next_port=$((next_port + 1))
        [ "$next_port" -lt 32700 ] || next_port=20000
    done
    PORT=$next_port
    next_port=$((next_port + 1))
}

for r in "${REGIONS[@]}"; do
    free_port; GW_PORT[$r]=$PORT
    free_port; REDIS_PORT[$r]=$PORT
done

# ---- Redis ---------------------------------------------------------------------
REDIS_CONF="$WORK/redis-acl.conf"
: >"$REDIS_CONF"
if [ "${INTEROP_REDIS_ACL:-1}" != 0 ]; then
    acl_line="$(grep -E '^user gateway ' "$ROOT/deploy/redis/redis-production.conf")" || {
        echo "interop: no 'user gateway' line in deploy/redis/redis-production.conf" >&2
        exit 1
    }
    (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/redis.password")
    hash="$(sha256sum <"$WORK/redis.password" | cut -d' ' -f1)"
    printf 'user default off\n%s\n' "$(printf '%s' "$acl_line" | sed -E "s/#CHANGE_ME[A-Z_0-9]*/#$hash/")" \
        >"$REDIS_CONF"
    grep -q "#$hash" "$REDIS_CONF" || { echo "interop: cannot set the gateway ACL password" >&2; exit 1; }
fi
for r in "${REGIONS[@]}"; do
    mkdir -p "$WORK/$r/redis"
    redis-server "$REDIS_CONF" --bind 127.0.0.1 --protected-mode yes --port "${REDIS_PORT[$r]}" \
        --dir "$WORK/$r/redis" --appendonly yes --appendfsync always --save "" \
        --daemonize no --logfile "$WORK/$r/redis.log" </dev/null &
    REDIS_PID[$r]=$!
done
for r in "${REGIONS[@]}"; do
    ok=0
    for _ in $(seq 1 100); do
        if port_busy "${REDIS_PORT[$r]}"; then ok=1; break; fi
        kill -0 "${REDIS_PID[$r]}" 2>/dev/null || break
        sleep 0.05
    done
    if [ $ok -ne 1 ]; then
        echo "interop: redis for $r did not start on port ${REDIS_PORT[$r]}" >&2
        show_logs
        exit 1
    fi
done

# ---- gateways ------------------------------------------------------------------
for r in "${REGIONS[@]}"; do
    peers="" audit_keys=""
    for o in "${REGIONS[@]}"; do
        [ "$o" = "$r" ] && continue
        peers="$peers$o = 127.0.0.1:${GW_PORT[$o]}\n"
        audit_keys="$audit_keys$o = $PKI/$o-audit-signing.pub\n"
    done
    sed -e "s#@REGION@#$r#g" -e "s#@PORT@#${GW_PORT[$r]}#g" -e "s#@ROOT@#$ROOT#g" \
        -e "s#@PKI@#$PKI#g" -e "s#@REDIS_PORT@#${REDIS_PORT[$r]}#g" -e "s#@METRICS_PORT@#0#g" -e "s#@PEERS@#$peers#" \
        -e "s#@AUDIT_KEYS@#$audit_keys#" \
        "$ROOT/deploy/local/gateway.ini.in" >"$WORK/$r/gateway.ini"
    if [ -f "$WORK/redis.password" ]; then
        sed -i -e "/^\[store\]\$/a password_file = $WORK/redis.password" \
            -e '/^\[store\]$/a user = gateway' "$WORK/$r/gateway.ini"
    fi
done
for r in "${REGIONS[@]}"; do
    # The gateways run as built; in an ASan build leak detection stays on, and
    # a report at exit shows as a non-zero exit status in teardown().
    "$BUILD_DIR/gatewayd" --config "$WORK/$r/gateway.ini" >"$WORK/$r/gatewayd.log" 2>&1 </dev/null &
    GW_PID[$r]=$!
done
for r in "${REGIONS[@]}"; do
    ok=0
    for _ in $(seq 1 150); do
        if "$BUILD_DIR/gwctl" health --target "127.0.0.1:${GW_PORT[$r]}" --ca "$PKI/ca.crt" \
            --cert "$PKI/$r-operator.crt" --key "$PKI/$r-operator.key" --timeout-ms 500 \
            >/dev/null 2>&1 </dev/null; then
            ok=1
            break
        fi
        kill -0 "${GW_PID[$r]}" 2>/dev/null || break
        sleep 0.1
    done
    if [ $ok -ne 1 ]; then
        echo "interop: gateway $r did not become healthy on 127.0.0.1:${GW_PORT[$r]}" >&2
        show_logs
        exit 1
    fi
done
echo "interop: federation up: CN-TJ :${GW_PORT[CN-TJ]}  CN-BJ :${GW_PORT[CN-BJ]}  CN-HE :${GW_PORT[CN-HE]}"

# ---- the independent client ----------------------------------------------------------
if [ ! -d "$HERE/node_modules/@grpc/grpc-js" ] || [ ! -d "$HERE/node_modules/@grpc/proto-loader" ] ||
   [ ! -d "$HERE/node_modules/grpc-js-reflection-client" ]; then
    echo "interop: npm ci (tests/interop/node_modules)"
    # --ignore-scripts: the test needs no install scripts (protobufjs's
    # postinstall only checks versions), and none from the registry are run.
    (cd "$HERE" && npm ci --no-audit --no-fund --ignore-scripts </dev/null >"$WORK/npm.log" 2>&1) || {
        echo "interop: npm ci failed:" >&2
        cat "$WORK/npm.log" >&2
        exit 1
    }
fi

rc=0
INTEROP_PKI_DIR="$PKI" INTEROP_PROTO_DIR="$ROOT/proto" \
INTEROP_CN_TJ="127.0.0.1:${GW_PORT[CN-TJ]}" INTEROP_CN_BJ="127.0.0.1:${GW_PORT[CN-BJ]}" \
INTEROP_CN_HE="127.0.0.1:${GW_PORT[CN-HE]}" INTEROP_CN_HE_PID="${GW_PID[CN-HE]}" \
    node "$HERE/$SCRIPT" </dev/null || rc=$?
if [ $rc -ne 0 ]; then
    show_logs
    exit "$rc"
fi

trap - EXIT INT TERM
teardown
if [ $GATEWAYS_CLEAN -ne 1 ]; then
    echo "interop: the test passed, but a gateway did not exit cleanly (see above)" >&2
    exit 1
fi
exit 0
