# scripts/lib.sh - shared by run-federation.sh and run-tests.sh: installing
# what is missing on Debian 12, building, and small helpers. Sourced, not run.

# Debian packages the build and the run need.
JJJ_PACKAGES_BUILD="build-essential cmake pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libssl-dev libhiredis-dev libinih-dev libjansson-dev libmicrohttpd-dev openssl redis-server grpc-proto"
JJJ_PACKAGES_TEST="libcriterion-dev graphviz clang libclang-rt-14-dev"

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

# Builds into build dir $1 with extra cmake arguments; prints only errors.
jjj_build() {
    local dir="$1"; shift
    cmake -S "$JJJ_ROOT" -B "$JJJ_ROOT/$dir" "$@" >"$JJJ_ROOT/$dir.configure.log" 2>&1 \
        || { cat "$JJJ_ROOT/$dir.configure.log" >&2; return 1; }
    cmake --build "$JJJ_ROOT/$dir" -j"$(nproc)" >"$JJJ_ROOT/$dir.build.log" 2>&1 \
        || { grep -E "error|Error" "$JJJ_ROOT/$dir.build.log" | head -40 >&2; return 1; }
}

# True if something listens on 127.0.0.1:$1.
jjj_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints a free loopback port at or above $1.
jjj_free_port() {
    local p="$1"
    while jjj_port_busy "$p"; do p=$((p + 1)); done
    printf '%s\n' "$p"
}
