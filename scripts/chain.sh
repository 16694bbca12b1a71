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

# 3. generate: the layer engines as Verilog (one inverse-FFT lane per layer for now)
.venv/bin/codesign map --model "$BUILD/model" --board nexys4ddr --out "$BUILD/schedule-rtl" \
    --set all.ifft_units=1
for layer in conv1 conv2; do
    .venv/bin/codesign generate --schedule "$BUILD/schedule-rtl" --layer $layer --out "$BUILD/rtl/$layer"
    # 4. co-simulate: Icarus against the fixed-point model, bit-exact and clock-exact
    .venv/bin/codesign cosim --rtl "$BUILD/rtl/$layer" --schedule "$BUILD/schedule-rtl" --images 10
done
