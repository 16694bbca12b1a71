#!/usr/bin/env bash
# The prune → map → generate chain, one stage at a time with explicit artifact paths.
# Copy and edit: every stage reads the previous stage's directory and writes its own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${BUILD:-build/chain}

# 1. prune: train the spectral LeNet-5, ADMM-prune to 25 % density, retrain, quantise
.venv/bin/codesign prune --density 0.25 --seed 0 --out "$BUILD/model"
.venv/bin/codesign inspect "$BUILD/model"

# 2. map: schedule the sparse kernels onto PEs and banks, choose the parallelism for the board
.venv/bin/codesign map --model "$BUILD/model" --board nexys4ddr --out "$BUILD/schedule"

# 3. generate: the whole network as one AXI4-Stream core (Verilog, test bench, manifest)
.venv/bin/codesign generate --schedule "$BUILD/schedule" --out "$BUILD/rtl/accel"

# 4. co-simulate: Verilator against the fixed-point model, bit-exact and clock-exact,
#    then under random back-pressure, then the same bench in Icarus
.venv/bin/codesign cosim --rtl "$BUILD/rtl/accel" --images 1000 --report "$BUILD/cosim.json"
.venv/bin/codesign cosim --rtl "$BUILD/rtl/accel" --images 50 --gap-in 30 --gap-out 60
.venv/bin/codesign cosim --rtl "$BUILD/rtl/accel" --images 1 --simulator icarus

# 5. synthesise and export: yosys resources against the board and the map estimate, then a
#    Vivado non-project build and a FuseSoC core; a Markdown report with plots of it all
.venv/bin/codesign synth --rtl "$BUILD/rtl/accel" --board nexys4ddr --out "$BUILD/synth"
.venv/bin/codesign export --rtl "$BUILD/rtl/accel" --board nexys4ddr --out "$BUILD/export"
.venv/bin/codesign report --build "$BUILD"

# one layer alone (its own valid/ready ports), e.g. to debug it
.venv/bin/codesign generate --schedule "$BUILD/schedule" --layer conv2 --out "$BUILD/rtl/conv2"
.venv/bin/codesign cosim --rtl "$BUILD/rtl/conv2" --schedule "$BUILD/schedule" --images 3
