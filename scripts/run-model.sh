#!/usr/bin/env bash
# run-model.sh - the LONG check of the settlement protocol model (issue 14,
# tests/model/README.md): the issue's bound (two transfers over the same
# serial, two crashes, two lost or duplicated messages, channels of two) and
# the chain configuration at that bound by bitstate search, liveness under
# weak fairness once faults stop, and the known-wrong variants. The default
# suite runs the smaller bounds exhaustively (ctest model_settlement).
#
#   scripts/run-model.sh [WORK_DIR]     (default build-model/)
#
# MODEL_MEM_MB (default 4096) bounds each verifier's memory, MODEL_RUN_SECONDS
# (default 3600) each search's time. Each search uses one core; MODEL_JOBS
# (default: the number of cores) searches run at a time.
set -euo pipefail

JJJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$JJJ_ROOT/scripts/lib.sh"

jjj_install spin build-essential
work="${1:-$JJJ_ROOT/build-model}"
exec bash "$JJJ_ROOT/tests/model/check.sh" "$JJJ_ROOT" "$work" long
