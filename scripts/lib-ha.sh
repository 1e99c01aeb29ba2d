# scripts/lib-ha.sh - `run-federation.sh start --ha`: each region as it runs
# past one machine (deploy/MULTI-MACHINE.md, issue 17), all on 127.0.0.1.
# Sourced by run-federation.sh, which provides RUN_DIR, REGIONS, BIN_DIR,
# next_port, port_of, gw and the lib.sh helpers.
#
# Per region, in $RUN_DIR/REGION/:
#   redis-a, redis-b     a primary and a replica (both with min-replicas-to-write 1),
#                        each kept running by a small supervisor loop, as systemd's
#                        Restart= does in production: a killed Redis comes back after
#                        HA_REDIS_RESTART_S (5) with its AOF, as the replica of the
#                        primary the Sentinels name (ha_follow_sentinels)
#   sentinel-1..3        redis-sentinel, quorum 2, master name = the region in lower case
#   gateway-1, gateway-2 gatewayd with [store] sentinels, master_name, min_replicas = 1
#   haproxy              TCP mode in front of the two gateways, health checked on
#                        each gateway's /metrics; PORT_REGION in ports.env is its
#                        port: peers, gwctl and the demonstration go through it
# Every process id is in a *.pid file of the region's folder; `stop` ends them
# all (supervisors first).

JJJ_PACKAGES_HA="redis-sentinel haproxy"
HA_DOWN_AFTER_MS=2000       # Sentinel's down-after-milliseconds
HA_FAILOVER_TIMEOUT_MS=6000 # Sentinel's failover-timeout
HA_MIN_REPLICAS="${HA_MIN_REPLICAS:-1}" # [store] min_replicas and min-replicas-to-write
HA_REDIS_RESTART_S="${HA_REDIS_RESTART_S:-5}" # a killed Redis is started again after this (systemd RestartSec)

ha_master_name() { printf '%s' "$1" | tr 'A-Z' 'a-z'; }

# Picks every port of the HA federation and writes them to ports.env.
ha_pick_ports() {
    local r v p next=7201
    : >"$RUN_DIR/ports.env"
    echo "HA=1" >>"$RUN_DIR/ports.env"
    for r in "${REGIONS[@]}"; do
        for v in REDIS REPLICA SENTINEL1 SENTINEL2 SENTINEL3 PORT GW1 GW2 METRICS METRICS2; do
            p="$(next_port "$next")"; next=$((p + 1))
            echo "${v}_${r//-/_}=$p" >>"$RUN_DIR/ports.env"
        done
    done
    # shellcheck source=/dev/null
    . "$RUN_DIR/ports.env"
}

# Before a supervisor restarts region $1's Redis on port $2: if a Sentinel
# names another server as the primary now (it failed over while this one was
# down), the configuration $3 makes it come back as that primary's replica at
# once, instead of as a stale primary that Sentinel demotes some 10 s later.
ha_follow_sentinels() {
    local r="$1" port="$2" conf="$3" i cur
    for i in 1 2 3; do
        cur="$(redis-cli -p "$(port_of "SENTINEL$i" "$r")" sentinel get-master-addr-by-name \
            "$(ha_master_name "$r")" 2>/dev/null | sed -n 2p)" || cur=""
        [ -n "$cur" ] && break
    done
    [ -n "$cur" ] && [ "$cur" != "$port" ] || return 0
    sed -i '/^replicaof /d' "$conf"
    echo "replicaof 127.0.0.1 $cur" >>"$conf"
}

# Starts Redis $2 (redis-a, redis-b) of region $1 on port $3 under a
# supervisor loop, as the primary ($4 = "no one") or as a replica of
# 127.0.0.1:$4. Waits until it answers.
ha_start_redis() {
    local r="$1" name="$2" port="$3" of="$4" dir="$RUN_DIR/$1"
    mkdir -p "$dir/$name"
    rm -f "$dir/$name.stopping" "$dir/$name.pid"
    # Its own copy of the configuration, with its role in it: Sentinel's CONFIG
    # REWRITE (after REPLICAOF) updates that line, so that a restart by the
    # supervisor comes back in the role Sentinel gave it; the repository's
    # file is never written. Kept between runs (ha_last_primary reads it).
    [ -f "$dir/$name.conf" ] || cp "$JJJ_ROOT/deploy/local/redis.conf" "$dir/$name.conf"
    sed -i '/^replicaof /d' "$dir/$name.conf"
    if [ "$of" = "no one" ]; then echo "replicaof no one"; else echo "replicaof 127.0.0.1 $of"; fi \
        >>"$dir/$name.conf"
    (
        first=1
        while [ ! -f "$dir/$name.stopping" ]; do
            [ "$first" = 1 ] || ha_follow_sentinels "$r" "$port" "$dir/$name.conf"
            first=0
            redis-server "$dir/$name.conf" --daemonize no --port "$port" \
                --dir "$dir/$name" --pidfile "$dir/$name.pid" --logfile "$dir/$name.log" \
                --min-replicas-to-write "$HA_MIN_REPLICAS" --min-replicas-max-lag 10 \
                >/dev/null 2>&1 </dev/null || true
            sleep "$HA_REDIS_RESTART_S"
        done
    ) >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/$name.supervisor.pid"
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$r: $name did not start on port $port; its log:" >&2
    tail -n 5 "$dir/$name.log" >&2 2>/dev/null || true
    return 1
}

# Starts Sentinel $2 (1..3) of region $1, watching the primary on port $3.
ha_start_sentinel() {
    local r="$1" i="$2" primary="$3" dir="$RUN_DIR/$1" name; name="$(ha_master_name "$1")"
    local port; port="$(port_of "SENTINEL$i" "$r")"
    cat >"$dir/sentinel-$i.conf" <<EOF
port $port
bind 127.0.0.1
daemonize no
dir $dir
sentinel monitor $name 127.0.0.1 $primary 2
sentinel down-after-milliseconds $name $HA_DOWN_AFTER_MS
sentinel failover-timeout $name $HA_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $name 1
EOF
    nohup redis-sentinel "$dir/sentinel-$i.conf" >>"$dir/sentinel-$i.log" 2>&1 </dev/null &
    echo $! >"$dir/sentinel-$i.pid"
    jjj_wait_listening "$port" "$!" 100 || { echo "$r: sentinel $i did not start" >&2; return 1; }
}

# Writes gateway $2 (1, 2) of region $1: the local template, listening on its
# own port, with the Sentinels and WAIT in [store].
ha_write_gateway_config() {
    local r="$1" i="$2" dir="$RUN_DIR/$1" gwport metrics
    gwport="$(port_of "GW$i" "$r")"
    metrics="$(port_of "METRICS$([ "$i" = 1 ] || echo "$i")" "$r")"
    write_gateway_config "$r"
    local s1 s2 s3
    s1="$(port_of SENTINEL1 "$r")"; s2="$(port_of SENTINEL2 "$r")"; s3="$(port_of SENTINEL3 "$r")"
    sed -e "s#^listen = .*#listen = 127.0.0.1:$gwport#" \
        -e "s#^\[store\]\$#[store]\nsentinels = 127.0.0.1:$s1,127.0.0.1:$s2,127.0.0.1:$s3\nmaster_name = $(ha_master_name "$r")\nmin_replicas = $HA_MIN_REPLICAS\nwait_timeout_ms = 1000#" \
        "$dir/gateway.ini" >"$dir/gateway-$i.ini"
    # the [metrics] listen line is the second 'listen =': give it its own port
    awk -v m="listen = 127.0.0.1:$metrics" '/^\[metrics\]/{s=1} s && /^listen = /{print m; s=0; next} {print}' \
        "$dir/gateway-$i.ini" >"$dir/gateway-$i.ini.tmp" && mv "$dir/gateway-$i.ini.tmp" "$dir/gateway-$i.ini"
    rm -f "$dir/gateway.ini"
}

# Starts gateway $2 of region $1 and waits until it answers health on its own port.
ha_start_gateway() {
    local r="$1" i="$2" dir="$RUN_DIR/$1" port; port="$(port_of "GW$i" "$r")"
    nohup "$BIN_DIR/gatewayd" --config "$dir/gateway-$i.ini" >>"$dir/gatewayd-$i.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/gatewayd-$i.pid"
    for _ in $(seq 1 150); do
        GWCTL_TARGET="127.0.0.1:$port" GWCTL_CERT="$RUN_DIR/pki/$r-operator.crt" \
            GWCTL_KEY="$RUN_DIR/pki/$r-operator.key" GWCTL_CA="$RUN_DIR/pki/ca.crt" \
            "$GWCTL" health --timeout-ms 500 >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$r: gatewayd $i (pid $pid, port $port) did not become healthy; its log:" >&2
    tail -n 20 "$dir/gatewayd-$i.log" >&2
    return 1
}

# Starts region $1's HAProxy: TCP mode (mutual TLS passes through), each
# gateway health checked every 500 ms on its /metrics endpoint.
ha_start_haproxy() {
    local r="$1" dir="$RUN_DIR/$1" port; port="$(port_of PORT "$r")"
    cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch
frontend ${r}_grpc
    bind 127.0.0.1:$port
    default_backend ${r}_gateways
backend ${r}_gateways
    balance leastconn
    option httpchk GET /metrics
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
    server gateway-1 127.0.0.1:$(port_of GW1 "$r") check port $(port_of METRICS "$r")
    server gateway-2 127.0.0.1:$(port_of GW2 "$r") check port $(port_of METRICS2 "$r")
EOF
    haproxy -c -q -f "$dir/haproxy.cfg" || { echo "$r: haproxy.cfg refused" >&2; return 1; }
    nohup haproxy -db -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 </dev/null &
    echo $! >"$dir/haproxy.pid"
    jjj_wait_listening "$port" "$!" 100 || { echo "$r: haproxy did not start" >&2; return 1; }
}

# Which of region $1's servers was the primary when the last --ha run ended:
# redis-b if Sentinel's CONFIG REWRITE made redis-a its replica, else redis-a.
ha_last_primary() {
    local dir="$RUN_DIR/$1"
    if grep -q '^replicaof [0-9]' "$dir/redis-a.conf" 2>/dev/null &&
        ! grep -q '^replicaof [0-9]' "$dir/redis-b.conf" 2>/dev/null; then
        echo redis-b
    else
        echo redis-a
    fi
}

# Starts one region: Redis primary and replica (the primary of the last run,
# if any, stays the primary, so that no newer data is overwritten), Sentinels,
# gateways, HAProxy.
ha_start_region() {
    local r="$1" i p=redis-a s=redis-b pport sport
    [ "$(ha_last_primary "$r")" = redis-b ] && { p=redis-b; s=redis-a; }
    pport="$(port_of REDIS "$r")"; sport="$(port_of REPLICA "$r")"
    [ "$p" = redis-b ] && { pport="$(port_of REPLICA "$r")"; sport="$(port_of REDIS "$r")"; }
    ha_start_redis "$r" "$p" "$pport" "no one" || return 1
    ha_start_redis "$r" "$s" "$sport" "$pport" || return 1
    # min-replicas-to-write: the primary takes writes once its replica is in sync
    for _ in $(seq 1 100); do
        redis-cli -p "$sport" info replication | grep -q '^master_link_status:up' && break
        sleep 0.1
    done
    for i in 1 2 3; do ha_start_sentinel "$r" "$i" "$pport" || return 1; done
    for i in 1 2; do ha_write_gateway_config "$r" "$i"; ha_start_gateway "$r" "$i" || return 1; done
    ha_start_haproxy "$r"
}

ha_start_all() {
    ha_pick_ports
    local r
    for r in "${REGIONS[@]}"; do
        ha_start_region "$r" || { stop_all >/dev/null; exit 1; }
    done
    echo "federation up (--ha), state and logs in $RUN_DIR"
    ha_print_regions
}

# Stops every process of region $1 listed in a pid file: supervisors first
# (so that nothing is restarted), then the rest. Prints how many ran.
ha_stop_region() {
    local dir="$RUN_DIR/$1" n=0 f
    for f in "$dir"/*.supervisor.pid; do
        [ -f "$f" ] || continue
        touch "${f%.supervisor.pid}.stopping"
        n=$((n + $(stop_pidfile "$f")))
    done
    for f in "$dir"/*.pid; do
        [ -f "$f" ] || continue
        n=$((n + $(stop_pidfile "$f")))
    done
    echo "$n"
}

ha_print_regions() {
    local r health
    for r in "${REGIONS[@]}"; do
        if ! health="$(gw "$r" operator health --timeout-ms 2000 2>&1)"; then
            health="DOWN: $(printf '%s' "$health" | tr '\n' ' ' | cut -c1-160)"
        fi
        printf '  %s  haproxy 127.0.0.1:%s -> gateways :%s :%s  sentinels :%s :%s :%s  redis :%s :%s  %s\n' \
            "$r" "$(port_of PORT "$r")" "$(port_of GW1 "$r")" "$(port_of GW2 "$r")" \
            "$(port_of SENTINEL1 "$r")" "$(port_of SENTINEL2 "$r")" "$(port_of SENTINEL3 "$r")" \
            "$(port_of REDIS "$r")" "$(port_of REPLICA "$r")" "$health"
    done
}
