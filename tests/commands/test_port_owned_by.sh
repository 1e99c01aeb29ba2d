#!/usr/bin/env bash
# test_port_owned_by.sh - jjj_port_owned_by stays true while its server
# opens and closes other fds (the run command and its tests check each
# server with it, under pipefail).
#
# Starts a redis-server on a free loopback port and makes it accept and
# close connections without pause (redis-benchmark -k 0), then asks 100
# times whether the port is that redis-server's. Every answer must be yes;
# the old `ls -l | grep -q` check said no to about half of them here. Then
# the check must say no for a port that is not the process's.
#
#   tests/commands/test_port_owned_by.sh SOURCE_DIR
set -euo pipefail

SRC="$(cd "$1" && pwd)"
# shellcheck source=scripts/lib.sh
. "$SRC/scripts/lib.sh"
CHECKS=100

work="$(mktemp -d /tmp/port-owned.XXXXXX)"
redis_pid=""
churn_pid=""
cleanup() { # stop what this test started, by PID
    [ -n "$churn_pid" ] && kill "$churn_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

port="$(jjj_free_port 17400)"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
jjj_wait_listening "$port" "$redis_pid" 50 || fail "redis-server did not listen on $port"

# Four clients that connect, ping and close, again and again.
redis-benchmark -h 127.0.0.1 -p "$port" -c 4 -n 1000000000 -k 0 -t ping -q \
    >"$work/churn.log" 2>&1 &
churn_pid=$!
sleep 0.5
kill -0 "$churn_pid" 2>/dev/null || fail "redis-benchmark ended: $(tail -3 "$work/churn.log")"

said_no=0
for ((i = 0; i < CHECKS; i++)); do
    jjj_port_owned_by "$port" "$redis_pid" || said_no=$((said_no + 1))
done
[ "$said_no" -eq 0 ] || fail "$said_no of $CHECKS checks said port $port is not its redis-server's"

other="$(jjj_free_port $((port + 1)))"
jjj_port_owned_by "$other" "$redis_pid" && fail "a free port $other was taken for the redis-server's"
jjj_port_owned_by "$port" "$churn_pid" && fail "the redis-server's port was taken for redis-benchmark's"
echo "PASS: $CHECKS of $CHECKS checks true while the server churned fds"
