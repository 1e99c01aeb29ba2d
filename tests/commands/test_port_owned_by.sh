#!/usr/bin/env bash
# test_port_owned_by.sh - jjj_port_owned_by stays true while its server
# opens and closes other fds (the run command and its tests check each
# server with it, under pipefail).
#
# Starts a redis-server on a free loopback port and makes it accept and
# close connections without pause (redis-benchmark -k 0), then asks 100
# times whether the port is that redis-server's. Every answer must be yes;
# the old `ls -l | grep -q` check said no to about half of them here. Then
# the check must say no for a free port, for another process (a client of
# the port) and for a pid no process has.
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
cleanup() { # stop what this test started, by PID (each step whatever the last did)
    [ -z "$churn_pid" ] || kill "$churn_pid" 2>/dev/null || true
    [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
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
gone_pid=$(( $(cat /proc/sys/kernel/pid_max) + 1 )) # no process has it
jjj_port_owned_by "$port" "$gone_pid" && fail "the redis-server's port was taken for a pid that does not exist"
echo "PASS: $CHECKS of $CHECKS checks true while the server churned fds"
