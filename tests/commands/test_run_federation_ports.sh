#!/usr/bin/env bash
# test_run_federation_ports.sh - two federations started by the run command
# at the same moment never share a port or a store (issue 11, item 10).
#
# Starts `run-federation.sh start` twice at once, in two run folders, with the
# binaries of BIN_DIR. Each start must either come up with every server
# listening as the very process it started (ports all distinct between the
# two), or fail with the reason and leave nothing of its own running.
#
#   tests/commands/test_run_federation_ports.sh SOURCE_DIR BIN_DIR
set -euo pipefail

SRC="$(cd "$1" && pwd)"
BIN="$(cd "$2" && pwd)"
# shellcheck source=scripts/lib.sh
. "$SRC/scripts/lib.sh"
REGIONS=(CN-TJ CN-BJ CN-HE)

work="$(mktemp -d /tmp/run-fed-ports.XXXXXX)"
cleanup() { # both run folders stop at once (each stop waits for its processes)
    for d in a b; do
        [ -d "$work/$d" ] && RUN_DIR="$work/$d" JJJ_BIN_DIR="$BIN" \
            bash "$SRC/scripts/run-federation.sh" stop >/dev/null 2>&1 &
    done
    wait
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The same development PKI in both, made beforehand, so both starts reach
# their port choices at the same moment: the build's (made by the same
# script), or a new one if BIN_DIR has none.
if [ -f "$BIN/pki/ca.crt" ] && [ -f "$BIN/pki/CN-TJ-audit-signing.key" ]; then
    cp -r "$BIN/pki" "$work/pki"
else
    bash "$SRC/certs/make-dev-pki.sh" --force "$work/pki" >/dev/null
fi
for d in a b; do mkdir -p "$work/$d" && cp -r "$work/pki" "$work/$d/pki"; done

for d in a b; do
    RUN_DIR="$work/$d" JJJ_BIN_DIR="$BIN" timeout 120 \
        bash "$SRC/scripts/run-federation.sh" start >"$work/$d.out" 2>&1 &
    eval "pid_$d=$!"
done
rc_a=0; rc_b=0
wait "$pid_a" || rc_a=$?
wait "$pid_b" || rc_b=$?
echo "start a: exit $rc_a; start b: exit $rc_b"

all_ports=()
check_up() { # run folder: every port is owned by the process in its pid file
    local d="$1" r
    . "$d/ports.env"
    for r in "${REGIONS[@]}"; do
        local v="${r//-/_}" gp rp
        eval "gp=\$PORT_$v; rp=\$REDIS_$v"
        jjj_port_owned_by "$gp" "$(cat "$d/$r/gatewayd.pid")" \
            || fail "$d: $r's gateway port $gp is not its gatewayd's"
        jjj_port_owned_by "$rp" "$(cat "$d/$r/redis.pid")" \
            || fail "$d: $r's Redis port $rp is not its redis-server's"
        grep -q "^port = $rp\$" "$d/$r/gateway.ini" || fail "$d: $r's gateway is not configured for its Redis $rp"
        all_ports+=("$gp" "$rp")
    done
}
check_down() { # run folder, its output: a reason, and nothing of it running
    local d="$1" out="$2" f
    grep -Eq "not listening|ended while starting|not healthy|giving up" "$out" \
        || fail "$d failed without a reason: $(tail -5 "$out")"
    for f in "$d"/*/gatewayd.pid "$d"/*/redis.pid; do
        [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && fail "$d failed but left $f running"
    done
    return 0
}
[ "$rc_a" -eq 0 ] || [ "$rc_b" -eq 0 ] || fail "neither start came up: $(tail -5 "$work/a.out")"
if [ "$rc_a" -eq 0 ]; then check_up "$work/a"; else check_down "$work/a" "$work/a.out"; fi
if [ "$rc_b" -eq 0 ]; then check_up "$work/b"; else check_down "$work/b" "$work/b.out"; fi
dups="$(printf '%s\n' "${all_ports[@]}" | sort | uniq -d)"
[ -z "$dups" ] || fail "ports used twice: $dups"
echo "PASS: ${#all_ports[@]} ports, each the started process's own"
