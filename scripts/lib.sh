# scripts/lib.sh - shared by run-federation.sh and run-tests.sh: installing
# what is missing on Debian 12, building, and small helpers. Sourced, not run.

# Debian packages the run command needs: to build gatewayd and gwctl, and to
# run a federation (redis-server, openssl for the development PKI; grpc-proto
# for the reflection protos embedded in gatewayd). The test
# "run_build_deps" proves that the run build asks pkg-config for nothing else.
JJJ_PACKAGES_RUN="build-essential cmake pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libssl-dev libhiredis-dev libinih-dev libjansson-dev libmicrohttpd-dev libmsgpack-dev openssl redis-server grpc-proto"
# The run build's cmake arguments: gatewayd and gwctl only, optimized, with
# assertions on (CMakeLists.txt keeps NDEBUG out of every build type).
JJJ_RUN_BUILD_ARGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF"
JJJ_RUN_BUILD_TARGETS="gatewayd gwctl"
# What the test suite needs on top (Node.js and npm come from jjj_install_node;
# spin checks the protocol model, tests/model).
JJJ_PACKAGES_TEST="libcriterion-dev graphviz clang libclang-rt-14-dev spin chromium"

# Node.js and npm for the interop test: Debian's packages unless a node and
# an npm are already on the PATH (e.g. from NodeSource, whose nodejs package
# conflicts with Debian's npm).
jjj_install_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    jjj_install nodejs npm
}

jjj_log() { printf '%s\n' "$*" >&2; }

# Installs the given Debian packages that are missing: with apt-get as root,
# through sudo when it needs no password, else it names them and fails.
jjj_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    jjj_log "installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            jjj_log "missing Debian packages: ${missing[*]}"
            jjj_log "run as root, or: sudo apt-get install -y ${missing[*]}"
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || return 1
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || return 1
}

# Prints cmake --build's percentage from stdin as one progress line on stderr:
# rewritten in place on a terminal, one line per 10% step otherwise (CI logs).
jjj_progress() {
    local label="$1" line pct last=-1
    while IFS= read -r line; do
        printf '%s\n' "$line" >>"$JJJ_PROGRESS_LOG"
        [[ "$line" =~ ^\[\ *([0-9]+)%\] ]] || continue
        pct="${BASH_REMATCH[1]}"
        if [ -t 2 ]; then
            printf '\r%s: %3d%%' "$label" "$pct" >&2
        elif [ $((pct / 10)) -gt "$last" ]; then
            printf '%s: %d%%\n' "$label" "$pct" >&2
        fi
        [ $((pct / 10)) -gt "$last" ] && last=$((pct / 10))
    done
    [ -t 2 ] && [ "$last" -ge 0 ] && printf '\n' >&2
    return 0
}

# Builds into build dir $1 with extra cmake arguments, with a progress line;
# on failure prints the compiler's errors. JJJ_BUILD_TARGETS (optional) limits
# what is built, e.g. "gatewayd gwctl".
jjj_build() {
    local dir="$1"; shift
    cmake -S "$JJJ_ROOT" -B "$JJJ_ROOT/$dir" "$@" >"$JJJ_ROOT/$dir.configure.log" 2>&1 \
        || { cat "$JJJ_ROOT/$dir.configure.log" >&2; return 1; }
    local targets=() t
    for t in ${JJJ_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
    local started_s; started_s=$(date +%s)
    JJJ_PROGRESS_LOG="$JJJ_ROOT/$dir.build.log"
    : >"$JJJ_PROGRESS_LOG"
    local rc=0
    # The group runs in a subshell with errexit: record the status before it can end it.
    { rc=0; cmake --build "$JJJ_ROOT/$dir" -j"$(nproc)" "${targets[@]}" 2>&1 || rc=$?
      echo "exit $rc" >"$JJJ_ROOT/$dir.build.rc"; } | jjj_progress "building $dir/"
    rc="$(sed -n 's/^exit //p' "$JJJ_ROOT/$dir.build.rc")"
    rm -f "$JJJ_ROOT/$dir.build.rc"
    if [ "$rc" != 0 ]; then
        grep -E "error|Error" "$JJJ_ROOT/$dir.build.log" | head -40 >&2
        jjj_log "build failed; the whole log is $dir.build.log"
        return 1
    fi
    jjj_log "built $dir/ in $(( $(date +%s) - started_s )) s"
}

# True if something listens on 127.0.0.1:$1.
# jjj_alive PID: true while PID runs. A zombie (exited, not yet reaped by its
# parent, which for a daemon is PID 1 and may reap it late) counts as stopped.
jjj_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}

jjj_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints a free loopback port at or above $1.
jjj_free_port() {
    local p="$1"
    while jjj_port_busy "$p"; do p=$((p + 1)); done
    printf '%s\n' "$p"
}

# True if the TCP socket listening on port $1 (any local address) is one of
# process $2's open files: the server we started listens, not a stranger.
# The fds are matched by find's output, not by `ls -l | grep -q`'s status:
# under pipefail an fd that closed while ls listed the folder made ls exit
# 1, and the check false although the socket was there (2 in 3,000 calls on
# an idle gateway; it failed CI once).
jjj_port_owned_by() {
    local port_hex inode
    port_hex="$(printf '%04X' "$1")"
    # /proc/net/tcp: local_address is ADDR:PORT in hex, st 0A is LISTEN, field 10 the inode.
    for inode in $(awk -v p=":$port_hex" '$2 ~ p"$" && $4 == "0A" { print $10 }' \
            /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
        # -lname is a glob: ? stands for each bracket of "socket:[INODE]".
        [ -n "$(find "/proc/$2/fd" -lname "socket:?$inode?" -print -quit 2>/dev/null)" ] \
            && return 0
    done
    return 1
}

# Waits up to $3 tenths of a second until process $2 listens on port $1.
# Returns 0, 1 if the process ended, 2 if the port is someone else's or
# nobody's when time is up.
jjj_wait_listening() {
    local port="$1" pid="$2" tenths="$3" i
    for ((i = 0; i < tenths; i++)); do
        jjj_port_owned_by "$port" "$pid" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 2
}
