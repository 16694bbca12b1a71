"""Resources of a junction-pipelined trainer, and the z per junction that trains fastest on a board.

Multipliers per junction, after the reference (Dey et al.): feed-forward ``z``, back-propagation
``2z`` (``δ·σ′`` and ``·w``; only where the left layer is hidden), update ``z + ⌈z/fi⌉``.  As in
the reference RTL the feed-forward and back-propagation multipliers are DSP48E1 and the update
ones are built from LUTs (``up_in_dsp`` moves them to DSP48E1).  Memories (each a simple
dual-port RAM of :mod:`codesign.hdl.ram`, block or LUT RAM by that module's yosys-measured
rule):

* weights: ``z`` banks of ``edges/z`` words per junction, biases ``⌈z/fi⌉`` banks of
  ``n_right/⌈z/fi⌉`` words, 10 bits; one activation table (a 1,024 × 12 block-RAM ROM) per
  neuron port;
* activations of the left layer of junction ``j``: collections rotating once per input —
  ``2J + 1`` for the input layer, ``2(J − h) + 1`` for hidden layer ``h`` — each ``z_j`` banks
  of ``n/z_j`` words; 7 bits (pixels) at the input, σ (7) and σ′ (5) at a hidden layer;
* deltas of each hidden layer: 2 collections of ``z_{h+1}`` banks (read-modify-write), of the
  output layer 2 collections of ``n_out`` words, 10 bits.

LUT and FF are estimates from yosys ``synth_xilinx -family xc7`` (Yosys 0.23) of the
arithmetic: a 10 × 10 multiply with rounding and saturation takes 282 LUT from LUTs, one DSP48E1
and 16 LUT otherwise.  The clocks come from the cycle model (:mod:`codesign.mlp.timing`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from codesign.errors import CodesignError
from codesign.hdl.ram import bram18, ram_bram18, ram_style
from codesign.mlp.connectivity import ConnectivityError, Junction
from codesign.mlp.fixedpoint import SIGMA_BITS, SIGMA_PRIME_BITS, WORD
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

LUT_PER_LUT_MULTIPLIER = 282  # yosys synth_xilinx -nodsp: 10×10, round half up, saturate
LUT_PER_DSP_MULTIPLIER = 16  # the same with one DSP48E1: rounding and saturation
LUT_PER_LUTRAM_BITS = 1 / 32  # a RAM32M holds 32 × 6 bits in 4 LUTs (simple dual port)
FF_PER_LANE = 4 * WORD.bits  # pipeline registers per edge lane (operands, product, result)
CONTROL = {"lut": 400, "ff": 300}  # counters, rotation pointers, arg-max, stream interface
PIXEL_BITS = 8 - 1


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


def memories(junctions: tuple[Junction, ...]) -> list[dict]:
    """Every RAM of the trainer: name, count, depth, width, kind and RAMB18 per copy."""
    J = len(junctions)
    out = []

    def add(name, count, depth, width):
        out.append(
            {
                "name": name,
                "count": count,
                "depth": depth,
                "width": width,
                "style": ram_style(depth, width),
                "bram18": ram_bram18(depth, width),
            }
        )

    for i, j in enumerate(junctions):
        nb = math.ceil(j.z / j.fi)
        out.append(  # one registered ROM per neuron port: block RAM (codesign.hdl.rom)
            {
                "name": f"j{i + 1} activation tables",
                "count": nb,
                "depth": 1 << WORD.bits,
                "width": SIGMA_BITS + SIGMA_PRIME_BITS,
                "style": "block",
                "bram18": bram18(1 << WORD.bits, SIGMA_BITS + SIGMA_PRIME_BITS),
            }
        )
        add(f"j{i + 1} weights", j.z, j.clocks, WORD.bits)
        add(f"j{i + 1} biases", nb, j.n_right // nb, WORD.bits)
        if i == 0:
            add("input activations", (2 * J + 1) * j.z, j.rows, PIXEL_BITS)
        else:
            add(
                f"layer {i} activations",
                (2 * (J - i) + 1) * j.z,
                j.rows,
                SIGMA_BITS + SIGMA_PRIME_BITS,
            )
            add(f"layer {i} deltas", 2 * j.z, j.rows, WORD.bits)
    add("output deltas", 2, junctions[-1].n_right, WORD.bits)
    return out


def trainer_cost(junctions: tuple[Junction, ...], up_in_dsp: bool = False) -> dict:
    """Clocks per input, multipliers, DSP, RAMB18, LUT and FF of the trainer."""
    mults = multipliers(junctions)
    ff = sum(m["ff"] for m in mults)
    bp = sum(m["bp"] for m in mults)
    up = sum(m["up"] for m in mults)
    dsp_mults = ff + bp + (up if up_in_dsp else 0)
    lut_mults = 0 if up_in_dsp else up
    mems = memories(junctions)
    bram = sum(m["count"] * m["bram18"] for m in mems)
    lutram = sum(
        m["count"] * math.ceil(m["depth"] * m["width"] * LUT_PER_LUTRAM_BITS)
        for m in mems
        if m["style"] == "distributed"
    )
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
