#!/usr/bin/env bash
# check_layout.sh - the house rules of the source tree, from its #include
# lines (README "What is here"): each folder includes only the folders below
# it, so that gwctl cannot reach into the daemon, the services cannot reach
# the daemon's wiring, and the domain core never sees gRPC.
#
#   tests/style/check_layout.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}"

problems=0
# rule FOLDER-GLOB ALLOWED-REGEX WHY: every project include ("x/y.h") of the
# files matched must match ALLOWED-REGEX; system includes of <grpc are checked
# separately.
rule() {
    local files="$1" allowed="$2" why="$3" f inc
    for f in $files; do
        [ -f "$f" ] || continue
        while IFS= read -r inc; do
            if ! [[ "$inc" =~ $allowed ]]; then
                echo "$f includes \"$inc\": $why" >&2
                problems=$((problems + 1))
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
}
# forbid FILES REGEX WHY: no project include of the files may match REGEX.
forbid() {
    local files="$1" banned="$2" why="$3" f inc
    for f in $files; do
        [ -f "$f" ] || continue
        while IFS= read -r inc; do
            if [[ "$inc" =~ $banned ]]; then
                echo "$f includes \"$inc\": $why" >&2
                problems=$((problems + 1))
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
}
no_grpc() {
    local files="$1" why="$2" f
    for f in $files; do
        if grep -qE '^#include <grpc' "$f"; then
            echo "$f includes a gRPC header: $why" >&2
            problems=$((problems + 1))
        fi
    done
}

core='^(common|adapters|settlement)/'
rule "common/*.[ch]" '^common/' "common/ is the bottom floor"
rule "adapters/*.[ch]" '^(common|adapters)/' "adapters/ sees only common/"
rule "settlement/*.[ch]" '^(common|adapters|settlement)/' "settlement/ sees only adapters/ and common/"
no_grpc "common/*.[ch] adapters/*.[ch] settlement/*.[ch]" "the domain core is free of gRPC (DESIGN §3)"
rule "gateway/rpc/*.[ch]" '^(common/|gateway/rpc/|carbon/v1/|grpc/)' \
    "gateway/rpc/ is shared by gwctl and the daemon: it sees no daemon, service or domain code"
rule "gateway/gwctl/*.[ch]" "$core|^(gateway/gwctl/|gateway/rpc/|carbon/v1/|grpc/)" \
    "gwctl includes no daemon header"
# the wiring: gateway.c, main, and the table of served services
daemon_parts="$(ls gateway/*.[ch] | grep -v -e '^gateway/gateway\.[ch]$' -e '^gateway/gatewayd_main\.c$' \
    -e '^gateway/service_table\.c$')"
rule "$daemon_parts" "$core|^(gateway/rpc/|carbon/v1/|grpc/|gateway/[a-z_]+\\.h$)" \
    "the daemon's parts do not see the services, gwctl or the wiring"
forbid "$daemon_parts" '^gateway/(gateway|service_table)\.h$' \
    "the daemon's parts do not see the wiring"
rule "gateway/services/*.[ch]" "$core|^(gateway/services/|gateway/rpc/|carbon/v1/|grpc/|gateway/(app|arena|config|log|metrics|pbconv|peer_rate|peers|region_set|server|service_table|tls|validate|identity)\\.h$)" \
    "a service sees the daemon's parts, not its wiring (gateway.h) or gwctl"

if [ "$problems" -gt 0 ]; then
    echo "FAIL: $problems include(s) break the layout" >&2
    exit 1
fi
echo "PASS: every include keeps to its floor"
