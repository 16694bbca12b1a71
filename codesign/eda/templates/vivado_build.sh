#!/usr/bin/env bash
# Non-project Vivado build of the codesign accelerator `@{top}` for @{board_description}
# (part @{part}).  Written by `codesign export`.
#   ./build.sh                                          synthesis out of context, place, route,
#                                                       reports (reports/), checkpoint
#   ./build.sh bitstream WRAPPER.v PINS.xdc [WRAPPER_TOP]  a top level of yours around the core,
#                                                       in context, to a bitstream (build.tcl)
# CODESIGN_VIVADO names the vivado executable (default: vivado on PATH).
set -euo pipefail

vivado="${CODESIGN_VIVADO:-vivado}"
if ! command -v "$vivado" >/dev/null 2>&1; then
    echo "build.sh: Vivado not found ('$vivado'): install Xilinx Vivado and source its" \
         "settings64.sh so vivado is on PATH, or set CODESIGN_VIVADO to the vivado executable" >&2
    exit 127
fi
if [[ "$vivado" == */* ]]; then
    vivado="$(cd "$(dirname "$vivado")" && pwd)/$(basename "$vivado")"
fi

args=()
for arg in "$@"; do
    if [[ -e "$arg" ]]; then
        arg="$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
    fi
    args+=("$arg")
done
tclargs=()
if (( ${#args[@]} > 0 )); then
    tclargs=(-tclargs "${args[@]}")
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
status=0
"$vivado" -mode batch -nojournal -log vivado.log -source build.tcl ${tclargs[@]+"${tclargs[@]}"} \
    || status=$?
if (( status == 0 )); then
    echo "build.sh: done; reports in $here/reports, checkpoint in $here/checkpoints," \
         "log $here/vivado.log"
else
    echo "build.sh: vivado exited with status $status; see $here/vivado.log" >&2
fi
exit "$status"
