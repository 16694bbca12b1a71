"""Resources of a junction-pipelined trainer, and the z per junction that trains fastest on a board.

Multipliers per junction, after the reference (Dey et al.): feed-forward ``z``, back-propagation
``2z`` (``δ·σ′`` and ``·w``; only where the left layer is hidden), update ``z + ⌈z/fi⌉``.  As in
the reference RTL the feed-forward and back-propagation multipliers are DSP48E1 and the update
ones are built from LUTs (the generated trainer's shift-add ``mul_word_lut``; ``up_in_dsp``
counts them as DSP48E1 instead).  Memories: :func:`memories` lists every RAM and ROM of the
generated trainer as it builds them — per junction ``z`` weight banks of ``edges/z`` words,
``⌈z/fi⌉`` bias banks and as many activation tables (1,024 × 12 block-RAM ROMs); per layer its
activations (per bank two copies holding every rotating collection) and deltas (two
collections) — each LUT or block RAM by the yosys-measured rule of :mod:`codesign.hdl.ram`, a
LUT RAM's LUTs by :func:`lutram_luts`.  The LUT and FF per lane were fitted on yosys
``synth_xilinx -family xc7`` (Yosys 0.23) of two generated trainers; the estimate is within 2 %
of yosys on both (the reference: 224 DSP, 1.5 BRAM36, 40.6k LUT, 10.5k FF).  The clocks come
from the cycle model (:mod:`codesign.mlp.timing`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from codesign.errors import CodesignError
from codesign.hdl.ram import bram18, ram_bram18, ram_style
from codesign.hdl.signals import index_bits
from codesign.mlp.connectivity import ConnectivityError, Junction
from codesign.mlp.fixedpoint import SIGMA_BITS, SIGMA_PRIME_BITS, WORD
from codesign.mlp.hdl.plan import LABEL_SPACE, SLOTS
from codesign.mlp.timing import block_cycle

__all__ = [
    "ExploreError",
    "Budget",
    "multipliers",
    "memories",
    "trainer_cost",
    "z_candidates",
    "explore",
    "LUT_PER_LUT_MULTIPLIER",
    "LUT_PER_DSP_MULTIPLIER",
]

# Fitted on yosys synth_xilinx (0.23) of two generated trainers (z = 32, 4 and 128, 32 for the
# 1024-16-16 and 1024-64-32 networks): logic LUTs per update lane (its shift-add multiplier,
# write-back adder and the lane's share of adder trees and muxes) and per DSP multiplier (its
# rounding and saturation); flip-flops per lane (its pipeline registers)
LUT_PER_LUT_MULTIPLIER = 195
LUT_PER_DSP_MULTIPLIER = 16
FF_PER_LANE = 64
CONTROL = {"lut": 400, "ff": 300}  # counters, rotation pointers, arg-max, stream interface
PIXEL_BITS = 8 - 1  # pixels are stored as their 7 top bits


class ExploreError(CodesignError, ValueError):
    """No z fits the board and budget; names the limit and what would fit."""


@dataclass(frozen=True)
class Budget:
    """Resources a design may use: a fraction of the board (``margin``, headroom for
    routing) and, optionally, a DSP cap of the user's."""

    margin: float = 0.8
    max_dsp: int | None = None

    def limits(self, board) -> dict:
        cap = board.capacity()
        lim = {
            "lut": int(cap["lut"] * self.margin),
            "ff": int(cap["ff"] * self.margin),
            "dsp": int(cap["dsp"] * self.margin),
            "bram18": int(2 * cap["bram36"] * self.margin),
        }
        if self.max_dsp is not None:
            lim["dsp"] = min(lim["dsp"], self.max_dsp)
        return lim


def multipliers(junctions: tuple[Junction, ...]) -> list[dict]:
    """Per junction: feed-forward, back-propagation and update multipliers."""
    return [
        {
            "ff": j.z,
            "bp": 2 * j.z if i > 0 else 0,
            "up": j.z + math.ceil(j.z / j.fi),
        }
        for i, j in enumerate(junctions)
    ]


def _row_bits(rows: int) -> int:
    return (rows - 1).bit_length()


def memories(junctions: tuple[Junction, ...], speculative: bool = False) -> list[dict]:
    """Every RAM and ROM of the generated trainer (codesign/mlp/hdl/trainer.py) as it builds
    them: name, count, depth, width, kind (yosys' choice by codesign.hdl.ram) and RAMB18 and
    LUTs per copy.  ``speculative``: the speculating trainer (two banks of weights and biases,
    activations in slots, per-label output deltas and outputs)."""
    J = len(junctions)
    banks = 2 if speculative else 1
    out = []

    def add(name, count, depth, width, style=None, ramb18=None):
        style = style or ram_style(depth, width)
        out.append(
            {
                "name": name,
                "count": count,
                "depth": depth,
                "width": width,
                "style": style,
                "bram18": ram_bram18(depth, width) if ramb18 is None else ramb18,
                "lut": lutram_luts(depth, width) if style == "distributed" else 0,
            }
        )

    for i, j in enumerate(junctions):
        ports, per = (j.z // j.fi, 1) if j.z >= j.fi else (1, j.fi // j.z)
        groups = j.clocks // per
        table = SIGMA_BITS + SIGMA_PRIME_BITS
        add(
            f"j{i + 1} activation tables",
            ports,
            1 << WORD.bits,
            table,
            "block",
            bram18(1 << WORD.bits, table),
        )  # registered ROMs (codesign.hdl.rom)
        add(f"j{i + 1} weights", j.z, banks * j.clocks, WORD.bits)
        add(f"j{i + 1} biases", ports, banks * groups, WORD.bits)
        copies = SLOTS if speculative else 2 * (J - i) + 1
        depth = 1 << (index_bits(copies) + _row_bits(j.rows))  # collection (or slot), row
        if i == 0:
            add("input activations", 2 * j.z, depth, PIXEL_BITS)  # a copy per reader
        else:
            add(f"layer {i} activations", 2 * j.z, depth, table)
            add(f"layer {i} deltas", 2 * j.z, max(j.rows, 2), WORD.bits)  # two collections
        if i == J - 1 and speculative:
            add("output deltas by label", ports, LABEL_SPACE * groups, WORD.bits)
            add("outputs by label", ports, LABEL_SPACE * groups, SIGMA_BITS)
        elif i == J - 1:
            add("output deltas", 2 * ports, max(groups, 2), WORD.bits)
    return out


def lutram_luts(depth: int, width: int) -> int:
    """LUTs of a LUT RAM as yosys builds it: RAM32M (32 × 6) up to 32 words, RAM64M (64 × 3)
    beyond, four LUTs each (equal to yosys on both generated trainers measured)."""
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    return 4 * math.ceil(depth / 64) * math.ceil(width / 3)


def trainer_cost(
    junctions: tuple[Junction, ...], up_in_dsp: bool = False, speculative: bool = False
) -> dict:
    """Clocks per input, multipliers, DSP, RAMB18, LUT and FF of the trainer (``speculative``:
    the speculating trainer's memories)."""
    mults = multipliers(junctions)
    ff = sum(m["ff"] for m in mults)
    bp = sum(m["bp"] for m in mults)
    up = sum(m["up"] for m in mults)
    dsp_mults = ff + bp + (up if up_in_dsp else 0)
    lut_mults = 0 if up_in_dsp else up
    mems = memories(junctions, speculative)
    bram = sum(m["count"] * m["bram18"] for m in mems)
    lutram = sum(m["count"] * m["lut"] for m in mems)
    ffram = sum(m["count"] * m["depth"] * m["width"] for m in mems if m["style"] == "logic")
    lanes = sum(j.z for j in junctions)
    return {
        "clocks_per_input": block_cycle(junctions),
        "multipliers": {"per_junction": mults, "ff": ff, "bp": bp, "up": up},
        "dsp": dsp_mults,
        "bram18": bram,
        "lut": dsp_mults * LUT_PER_DSP_MULTIPLIER
        + lut_mults * LUT_PER_LUT_MULTIPLIER
        + lutram
        + CONTROL["lut"],
        "ff": lanes * FF_PER_LANE + ffram + CONTROL["ff"],
        "memories": mems,
    }


def z_candidates(n_left: int, n_right: int, fo: int) -> list[int]:
    """Every z a junction accepts: divisors of n_left that divide or are divided by fi."""
    out = []
    for z in range(1, n_left + 1):
        try:
            Junction(n_left, n_right, fo, z)
        except ConnectivityError:
            continue
        out.append(z)
    return out


def _fits(cost: dict, limits: dict) -> bool:
    return all(cost[k] <= limits[k] for k in limits)


def explore(layers, fo, board, budget: Budget = Budget(), up_in_dsp: bool = False) -> dict:
    """Every z combination: cost and fit; the chosen one trains fastest (fewest clocks per
    input), then takes the fewest DSP, then LUT.  Raises :class:`ExploreError` when none
    fits."""
    layers, fo = list(layers), list(fo)
    per = [z_candidates(layers[i], layers[i + 1], fo[i]) for i in range(len(fo))]
    limits = budget.limits(board)
    points = []
    for zs in itertools.product(*per):
        js = tuple(Junction(layers[i], layers[i + 1], fo[i], z) for i, z in enumerate(zs))
        c = trainer_cost(js, up_in_dsp)
        points.append(
            {
                "z": list(zs),
                "clocks_per_input": c["clocks_per_input"],
                "dsp": c["dsp"],
                "bram18": c["bram18"],
                "lut": c["lut"],
                "ff": c["ff"],
                "fits": _fits(c, limits),
            }
        )
    fitting = [p for p in points if p["fits"]]
    if not fitting:
        least = min(points, key=lambda p: (p["dsp"], p["lut"]))
        raise ExploreError(
            f"no z fits {board.name} within {budget.margin:.0%} of its resources"
            f"{f' and {budget.max_dsp} DSP' if budget.max_dsp is not None else ''}: the "
            f"smallest design, z = {least['z']}, needs {least['dsp']} DSP, {least['lut']} LUT, "
            f"{least['bram18']} RAMB18 (limits {limits}); raise the margin or lower fo"
        )
    best = min(fitting, key=lambda p: (p["clocks_per_input"], p["dsp"], p["lut"]))
    front = _front(points)
    return {
        "board": board.name,
        "limits": limits,
        "margin": budget.margin,
        "max_dsp": budget.max_dsp,
        "chosen": best,
        "front": front,
        "points": len(points),
    }


def _front(points: list[dict]) -> list[dict]:
    """The clocks-vs-DSP front: for each clock count the design with the fewest DSP, kept when
    no faster design uses as few."""
    best = {}
    for p in points:
        c = p["clocks_per_input"]
        if c not in best or (p["dsp"], p["lut"]) < (best[c]["dsp"], best[c]["lut"]):
            best[c] = p
    front, least = [], math.inf
    for c in sorted(best):
        if best[c]["dsp"] < least:
            front.append(best[c])
            least = best[c]["dsp"]
    return front
