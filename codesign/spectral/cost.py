"""Cycle and resource models, one per hardware op (FFT unit, PE array, banks, dense MACs).

The modelled micro-architecture of a spectral conv layer is a three-stage pipeline over input
tiles, double-buffered between stages:

1. **FFT stage** — ``fft_units`` streaming 2-D FFT units, each taking one sample per clock: an N×N
   (zero-padded) channel tile enters in N² clocks, so a tile's C channels take
   ``ceil(C / fft_units) · N²`` clocks.  Unit u owns the channels c ≡ u (mod fft_units) and its own
   group of spectrum banks, so the units never write one bank in the same clock.
2. **Hadamard stage** — P processing elements, each one complex MAC per clock, step through the
   schedule's ``cycles`` slots per tile (idle slots included).  Accumulators are cleared by a
   "first" flag on each group's first update, so no clearing cycles are needed.
3. **Inverse stage** — ``ifft_units`` streaming inverse 2-D FFT units (N² clocks per output
   channel tile) feeding overlap-add, bias, rounding, ReLU and max-pooling in line:
   ``ceil(O / ifft_units) · N²`` clocks per tile.

Tile initiation interval = the slowest stage; a layer processes its ``tiles`` tiles in
``tiles · II_tile`` clocks plus the pipeline fill.  Layers are pipelined image by image (ping-pong
activation buffers), so the network's initiation interval is its slowest layer's, and its latency
the sum of the layers' latencies.

Dense layers: ``macs`` MAC units each own ``ceil(out / macs)`` outputs and walk each output's
non-zero inputs one per clock.

Memory plan.  When kernels and activation maps fit in block RAM everything stays on chip (LeNet).
Otherwise (VGG16) activation maps live in external DRAM and each layer runs in ``chunks``
groups of output channels whose kernels fit a double-buffered on-chip kernel memory: the input map
is read (and FFT'd) once per chunk, the kernels and the output map once per image.  The layer's
initiation interval is then the larger of its compute time and its DRAM traffic divided by the
board's DRAM bandwidth.

Pipeline depths are not restated here but taken from the blocks that have them (``rfft2_latency``,
``irfft2_latency`` and ``stage_plan`` of hdl/fft.py, ``hadamard_latency``, ``dense_timing``); a
layer the generator builds is timed exactly by hdl/timing.py instead (see :mod:`~.dse`).  DSP48E1
per complex multiplier: 3 (the three-multiplication form ``k1 = c(a+b), k2 = a(d−c),
k3 = b(c+d)``, exact in integer arithmetic; the pre-adders of the DSP48E1 take the sums).  Block
RAM: the rules of :mod:`codesign.hdl.ram` and :mod:`codesign.hdl.rom` per memory — a ROM
:func:`~codesign.hdl.rom.rom_bram18` (the cheapest RAMB18 aspect ratio; none, and
:func:`~codesign.hdl.rom.rom_luts` LUTs, when it is at most 64 words), a RAM
:func:`~codesign.hdl.ram.ram_bram18` (none when yosys builds it from LUT RAM), each memory as deep
as the RTL makes it; LUT/FF per unit, fitted on yosys (see ``ENGINE_GLUE``).
"""

from __future__ import annotations

import math

from codesign.hdl.ram import bram18, ram_bram18
from codesign.hdl.rom import rom_bram18, rom_luts
from codesign.hdl.signals import index_bits, signed_bits
from codesign.spectral.arch import DenseArch, SpectralArch
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.dense import dense_timing
from codesign.spectral.hdl.fft import irfft2_latency, rfft2_latency, row_pass_range, stage_plan
from codesign.spectral.hdl.hadamard import hadamard_latency, hadamard_memories
from codesign.spectral.hdl.oaa import oaa_plan

__all__ = [
    "bram18",
    "fft_unit_cost",
    "spectral_layer_cost",
    "dense_layer_cost",
    "activation_buffer_cost",
    "ifft_unit_cost",
    "network_cost",
    "DSP_PER_CMUL",
]

DSP_PER_CMUL = 3
# yosys synth_xilinx maps the input buffer's write and read address products (channel × H·W,
# row × W) of each forward-FFT unit's feeder to DSP48E1s (measured on the LeNet accelerator)
ADDRESS_DSP_PER_FFT_UNIT = 2
# LUT and FF of a spectral engine: ENGINE_GLUE + S · (FFT units · unit + inverse lanes ·
# (inverse unit + LANE) + P · PE + P · B · CROSSBAR) for S tile slices, P PEs and B banks.  An
# FFT unit is counted with its feeder; LANE is a lane's read-out and overlap-add stream; CROSSBAR
# one PE's word select from one bank and that bank's address select from that PE (it grows as
# P·B and soon outweighs the PE's own logic); ENGINE_GLUE the loader, sequencer and handshakes.
# Fitted (least squares) on yosys 0.23 synth_xilinx of eleven generated LeNet engines (conv1 and
# conv2; 1-3 slices, 1-8 PEs and banks, 1-2 FFT units, 1-8 lanes): LUT within 8.3 %, FF within
# 5.6 %; the Nexys4 DDR and Arty A7 accelerators of the default flow (dense layers included):
# LUT -2.2 % and +3.7 %, FF -1.0 % and -1.2 %.
ENGINE_GLUE = {"lut": 938, "ff": 493}
LANE = {"lut": 1415, "ff": 483}
PE = {"lut": 34, "ff": 0}
CROSSBAR = {"lut": 104, "ff": 52}
# each output word per clock beyond the first: one more finalisation datapath in the overlap-add
# pass (bias, rounding, clamp and pool registers; its stream select shortens the others' chains).
# yosys 0.23 on the conv1 back end of 6 streams × 2 slices, 1 → 2 → 3 words: FF 3,951 → 4,359
# → 4,765, LUT 8,236 → 8,285 → 7,883
OUTPUT_WORD = {"lut": 0, "ff": 407}


# LUT and FF per stage and pass of a streaming 2-D FFT unit with every stage clamped (the
# inverse unit; fitted with ENGINE_GLUE): 1,200 LUT and 1,020 FF at N = 8
STAGE_PASS = {"lut": 200, "ff": 170}
# the forward unit's stages cannot saturate (hdl/fft.py stage_ranges): no clamps, bound-wide
# words, a LUT-RAM transpose buffer (2 × 128 × 20 bits: 112 LUT as memory instead of 2 RAMB18).
# Measured in the engine, not on the unit alone: yosys 0.23 on the whole 2,776-clock Nexys4 DDR
# accelerator (6 forward units, 8 kernel ROMs of 24 words) before and after: RAMB18 −28 (12 of
# them the transposes), LUT +515 (LUT RAM +672 — the transposes —, SRL −170, logic +13 with the
# ROMs' ~376 in it), FF −138; per forward unit +23 LUT and −23 FF once the ROMs are taken out.
# (Alone, the unit drops from 2,233 to 1,451 LUT: clamps yosys folds away in the engine anyway.)
FORWARD_UNIT_DELTA = {"lut": 23, "ff": -23}
# the inverse unit's halving stages floor the difference (no second carry-in, docs/fixed-point.md)
# and its first stage has no clamp.  Measured in the engine: yosys 0.23 on the whole 2,452-clock
# Nexys4 DDR accelerator (15 inverse units; benchmarks/lut_by_block.py) before and after: the
# units' column pass, row pass and buffers 1,719 → 1,440 LUT each; FF unchanged (32,332)
INVERSE_UNIT_DELTA = {"lut": -279, "ff": 0}


def fft_unit_cost(N: int, word_bits: int) -> dict:
    """One streaming forward 2-D rFFT unit (:func:`~codesign.spectral.hdl.fft.rfft2_unit`): row
    pass, transpose buffer, column pass; ``cycles_per_channel`` and ``latency`` (a tile's last
    sample to its last bin) are the unit's own :func:`~codesign.spectral.hdl.fft.rfft2_latency`.
    The transpose buffer (re and im, 2·N² words each) is as wide as the row pass's bound
    (:func:`~codesign.spectral.hdl.fft.row_pass_range`), not ``word_bits``."""
    plan = stage_plan(N, FixedPointConfig(), inverse=False, bitrev_in=False)
    stages = len(plan)
    cmuls = 2 * sum(st["multiplier"] for st in plan)  # one per non-trivial stage and pass
    timing = rfft2_latency(N)
    row_bits = signed_bits(*row_pass_range(N))
    return {
        "cycles_per_channel": timing["interval"],
        "latency": timing["last"],
        "dsp": cmuls * DSP_PER_CMUL,
        "bram18": 2 * ram_bram18(2 * N * N, row_bits),  # ping-pong transpose buffer, re and im
        # per stage and pass, with the unit's feeder (see ENGINE_GLUE)
        "lut": STAGE_PASS["lut"] * stages * 2 + FORWARD_UNIT_DELTA["lut"],
        "ff": STAGE_PASS["ff"] * stages * 2 + FORWARD_UNIT_DELTA["ff"],
    }


def ifft_unit_cost(N: int, word_bits: int) -> dict:
    """One streaming inverse 2-D rFFT unit (:func:`~codesign.spectral.hdl.fft.irfft2_unit`);
    ``latency`` from a tile's last bin to its last output sample
    (:func:`~codesign.spectral.hdl.fft.irfft2_latency`).  The last row stage only needs the real
    part: one DSP fewer.  Its input and transpose buffers are double-buffered RAMs of 2·N²
    words of ``word_bits``, re and im each."""
    plan = stage_plan(N, FixedPointConfig(), inverse=True, bitrev_in=True)
    stages = len(plan)
    timing = irfft2_latency(N)
    buffers = 2 if N > 2 else 1  # input and transpose buffers
    return {
        "cycles_per_channel": timing["interval"],
        "latency": timing["last"],
        "dsp": max(2 * sum(st["multiplier"] for st in plan) * DSP_PER_CMUL - 1, 0),
        "bram18": buffers * 2 * ram_bram18(2 * N * N, word_bits),
        "lut": STAGE_PASS["lut"] * stages * 2 + INVERSE_UNIT_DELTA["lut"],
        "ff": STAGE_PASS["ff"] * stages * 2 + INVERSE_UNIT_DELTA["ff"],
    }


def spectral_layer_cost(
    arch: SpectralArch,
    C: int,
    O: int,
    tiles: int,
    schedule_cycles: int,
    groups_per_pe: int,
    kernel_width: int,
    *,
    chunks: int = 0,
    nonzero: int = 0,
    in_shape=(1, 1, 1),
    out_shape=(1, 1, 1),
    dram_bytes_per_cycle: float = 0.0,
    kernel: int = 1,
    pool: int = 1,
    bank_words: int = 0,
) -> dict:
    """Cycles and resources of one spectral layer engine for a given schedule length.

    ``groups_per_pe``: accumulator groups of the fullest PE; ``bank_words``: spectrum words of the
    fullest bank (0: C·F spread evenly).  ``chunks`` = 0: kernels and maps on chip;
    ``chunks`` >= 1: the external-memory plan of the module docstring with that many
    output-channel chunks.
    """
    N = arch.fft
    F = N * (N // 2 + 1)
    fu, iu = fft_unit_cost(N, arch.spectrum_bits), ifft_unit_cost(N, arch.spectrum_bits)
    k = max(chunks, 1)
    S = arch.tile_slices
    tiles_per_slice = math.ceil(tiles / S)
    t_fft = math.ceil(C / arch.fft_units) * fu["cycles_per_channel"]
    t_had = math.ceil(schedule_cycles / k)
    t_ifft = math.ceil(math.ceil(O / k) / arch.ifft_units) * iu["cycles_per_channel"]
    ii_tile = max(t_fft, t_had, t_ifft, 1)
    compute_ii = k * tiles_per_slice * ii_tile
    latency = (
        t_fft
        + hadamard_latency(t_had)
        + t_ifft
        + (k * tiles_per_slice - 1) * ii_tile
        + fu["latency"]
        + iu["latency"]
    )
    kernel_depth = max(schedule_cycles, 1) if k == 1 else 2 * math.ceil(schedule_cycles / k)
    had = hadamard_memories(
        arch.pes,
        arch.banks,
        kernel_depth,
        kernel_width,
        bank_words or math.ceil(C * F / arch.banks),
        max(math.ceil(groups_per_pe / k), 1),
        C,
    )
    mem = {
        "kernel": had["kernel"][0] * rom_bram18(*had["kernel"][1:]),  # LUTs if ≤ 64 deep
        # RAMs: yosys builds the small ones from LUTs (LeNet conv1's 64 × 48 banks)
        "spectrum": had["spectrum"][0] * ram_bram18(*had["spectrum"][1:]),
        "accumulator": had["accumulator"][0] * ram_bram18(*had["accumulator"][1:]),
        "fft": arch.fft_units * fu["bram18"] + arch.ifft_units * iu["bram18"],
    }
    if not chunks:  # the engine's own image buffers (hdl/feed.py, hdl/oaa.py)
        _, H, W = in_shape
        _, Hp, Wp = out_shape
        mem["input"] = arch.fft_units * ram_bram18(
            2 * math.ceil(C / arch.fft_units) * H * W, arch.activation_bits
        )
    # every tile slice has its own front end, Hadamard stage and inverse lanes
    mem = {name: S * n for name, n in mem.items()}
    if not chunks:
        lanes = min(arch.ifft_units, O)
        try:
            plan = oaa_plan(O, H, W, kernel, N, pool, lanes, slices=S)
            mem["overlap_add"] = plan["memories"] * ram_bram18(plan["depth"], plan["acc_bits"])
        except ValueError:  # a map shape the back end does not build: the flat estimate
            contributions = math.ceil(N / (N - kernel + 1)) ** 2
            oaa_bits = arch.spectrum_bits + index_bits(contributions)
            mem["overlap_add"] = 2 * pool * pool * S * ram_bram18(O * Hp * Wp, oaa_bits)
    dram = 0
    if chunks:
        act = arch.activation_bits / 8
        dram = math.ceil(
            nonzero * kernel_width / 8
            + chunks * math.prod(in_shape) * act
            + math.prod(out_shape) * act
        )
    dram_ii = math.ceil(dram / dram_bytes_per_cycle) if dram else 0
    ii = max(compute_ii, dram_ii)
    stages = {"fft": t_fft, "hadamard": t_had, "ifft": t_ifft}
    bottleneck = max(stages, key=stages.get) if compute_ii >= dram_ii else "dram"
    return {
        "cycles": {
            "fft_per_tile": t_fft,
            "hadamard_per_tile": t_had,
            "ifft_per_tile": t_ifft,
            "ii_tile": ii_tile,
            "tiles": tiles,
            "chunks": k,
            "compute_ii": compute_ii,
            "dram_ii": dram_ii,
            "ii": ii,
            "latency": max(latency, ii),
            "bottleneck": bottleneck,
        },
        "dram_bytes": dram,
        "dsp": S
        * (
            arch.pes * DSP_PER_CMUL
            + arch.fft_units * (fu["dsp"] + ADDRESS_DSP_PER_FFT_UNIT)
            + arch.ifft_units * iu["dsp"]
        ),
        "bram18": sum(mem.values()),
        "bram18_by_memory": mem,
        "lut": _engine_logic(arch, fu, iu, "lut")
        + S * had["kernel"][0] * rom_luts(*had["kernel"][1:]),
        "ff": _engine_logic(arch, fu, iu, "ff"),
    }


def _engine_logic(arch: SpectralArch, fu: dict, iu: dict, kind: str) -> int:
    """LUT or FF of a spectral engine (the fit described at ENGINE_GLUE)."""
    per_slice = (
        arch.fft_units * fu[kind]
        + arch.ifft_units * (iu[kind] + LANE[kind])
        + arch.pes * (PE[kind] + arch.banks * CROSSBAR[kind])
    )
    return (
        arch.tile_slices * per_slice + ENGINE_GLUE[kind] + (arch.out_words - 1) * OUTPUT_WORD[kind]
    )


def dense_layer_cost(arch: DenseArch, n_in: int, n_out: int, nnz_per_output: int) -> dict:
    """Cycles and resources of one dense layer with ``arch.macs`` MAC units (hdl/dense.py):
    per MAC a weight ROM (plus input indices when sparse) and a ping-pong result RAM; one
    ping-pong input buffer (one per MAC when sparse).  ``ii``: the MACs' clocks per image;
    ``latency``: first input to last output of one image (:func:`dense_timing`)."""
    per_mac = math.ceil(n_out / arch.macs)
    ii = per_mac * nnz_per_output
    weights_per_mac = per_mac * nnz_per_output
    sparse = nnz_per_output < n_in
    acc_bits = 2 * arch.weight_bits + index_bits(max(nnz_per_output, 1)) + 1
    inputs = (arch.macs if sparse else 1) * ram_bram18(2 * n_in, arch.activation_bits)
    steps = max(nnz_per_output, 1)
    latency = dense_timing(n_in, n_out, arch.macs, steps, [2])["latency"]
    return {
        "cycles": {"ii": ii, "latency": latency},
        "dram_bytes": 0,
        "dsp": arch.macs,
        "bram18": arch.macs
        * bram18(weights_per_mac, arch.weight_bits + (index_bits(n_in) if sparse else 0))
        + inputs
        + arch.macs * ram_bram18(2 * per_mac, acc_bits),
        "lut": arch.macs * 60 + 100,
        "ff": arch.macs * 80 + 100,
    }


def activation_buffer_cost(shape, bits: int, band_rows: int | None = None) -> int:
    """RAMB18 of the ping-pong buffer between two layers for an activation map (C, H, W); with
    ``band_rows`` only that many rows are buffered (maps streamed from external memory)."""
    C, H, W = shape
    return ram_bram18(2 * C * (min(H, band_rows) if band_rows else H) * W, bits)


def network_cost(
    layer_costs: list[dict],
    buffers_bram18: int,
    clock_mhz: float,
    external: bool = False,
    exact: dict | None = None,
) -> dict:
    """Whole-network figures: initiation interval, latency, throughput and resource totals.

    The interval is the slowest layer's and the latency the layers' sum, unless ``exact`` gives
    the network's own ``interval`` and ``latency`` (the generated accelerator's cycle model)."""
    if exact:
        ii, latency = exact["interval"], exact["latency"]
    else:
        ii = max(c["cycles"]["ii"] for c in layer_costs)
        latency = sum(c["cycles"]["latency"] for c in layer_costs)
    total = {k: sum(c[k] for c in layer_costs) for k in ("dsp", "bram18", "lut", "ff")}
    total["bram18"] += buffers_bram18
    total["bram36"] = math.ceil(total["bram18"] / 2)
    dram = sum(c["dram_bytes"] for c in layer_costs)
    ips = clock_mhz * 1e6 / ii
    return {
        "ii_cycles": ii,
        "latency_cycles": latency,
        "clock_mhz": clock_mhz,
        "images_per_second": ips,
        "latency_us": latency / clock_mhz,
        "memory_plan": "external DRAM" if external else "on chip",
        "dram_bytes_per_image": dram,
        "dram_gbytes_per_s": dram * ips / 1e9,
        "resources": total,
    }
