"""What the generated trainer is built from: per junction its lanes, neuron ports and address
ROMs, per layer its rotating collections; checked against what the RTL supports.

The clock budget is the cycle model's (:func:`codesign.mlp.timing.block_cycle`); every pass of
a slot finishes three clocks after the slot (docs/mlp-trainer.md), so a block cycle of
``clocks + 4`` leaves one clock to spare and the model's clocks per input are the RTL's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.mlp.connectivity import Junction
from codesign.mlp.fixedpoint import SIGMA_BITS, SIGMA_PRIME_BITS
from codesign.mlp.timing import block_cycle, clocks_per_input

__all__ = [
    "TrainerError",
    "JunctionPlan",
    "TrainerPlan",
    "plan_trainer",
    "PIXEL_BITS",
    "SLOTS",
    "LABELS",
    "LABEL_SPACE",
]

PIXEL_BITS = 8
LABELS = 10
LABEL_SPACE = 16  # the tuser label field's values: per-label stores have this many entries
SLOTS = LABELS + 2
"""The speculating trainer's activation slots per layer: one stored input per label, the input
in flight before its decision and the one being loaded."""
ACT_BITS = SIGMA_BITS + SIGMA_PRIME_BITS  # a hidden neuron's memory word: σ then σ′


class TrainerError(CodesignError, ValueError):
    """A network the trainer generator cannot build; names the rule and the fix."""


@dataclass(frozen=True)
class JunctionPlan:
    """One junction's datapath: ``z`` lanes, ``ports`` neurons finished per clock (or one
    neuron every ``per`` clocks), the left neuron's row of every lane and clock, and whether a
    slot is its left neuron's first (back-propagation starts that delta from zero)."""

    index: int
    junction: Junction
    ports: int
    per: int
    rows: tuple  # rows[g][c]
    first: tuple  # first[g][c]

    @property
    def z(self) -> int:
        return self.junction.z

    @property
    def fi(self) -> int:
        return self.junction.fi

    @property
    def clocks(self) -> int:
        return self.junction.clocks

    @property
    def groups(self) -> int:
        """Neuron groups: clocks / per (one group of ``ports`` neurons per clock or per
        ``per`` clocks)."""
        return self.clocks // self.per

    @property
    def lanes_per_port(self) -> int:
        return self.z // self.ports


@dataclass(frozen=True)
class TrainerPlan:
    junctions: tuple[JunctionPlan, ...]
    layers: tuple[int, ...]
    block: int  # clocks per block cycle (= per input)
    collections: tuple[int, ...]  # per layer 0 … J−1: rotating copies (or slots) of it
    pixels: int  # real pixels per input (the rest of layer 0 is zero padding)
    per_beat: int  # pixels per s_axis beat
    classes: int = 10
    speculative: bool = False  # the speculating trainer (sequential and speculative schedules)

    @property
    def n_junctions(self) -> int:
        return len(self.junctions)

    @property
    def beats(self) -> int:
        """s_axis beats of one input."""
        return math.ceil(self.pixels / self.per_beat)

    @property
    def load_clocks(self) -> int:
        """Clocks the loader writes layer 0 for one input (real beats, then zero padding)."""
        return self.layers[0] // self.per_beat

    @property
    def clocks_per_input(self) -> int:
        """The cycle model's clocks between inputs of a steady stream (the loader may stretch
        the block cycle: codesign.mlp.timing.clocks_per_input)."""
        return clocks_per_input(tuple(j.junction for j in self.junctions), self.per_beat)

    @property
    def words(self) -> int:
        """Weights and biases, the words of a dump or a load."""
        return sum(j.junction.edges + j.junction.n_right for j in self.junctions)


def plan_trainer(
    junctions, orders, pixels: int = 784, per_beat: int = 32, speculative: bool = False
) -> TrainerPlan:
    """The plan of a trainer for ``junctions`` with edge ``orders`` (``speculative``: the
    speculating trainer); :class:`TrainerError` when the RTL cannot build it."""
    js = tuple(junctions)
    J = len(js)
    if speculative and J < 2:
        raise TrainerError(
            "the speculating trainer needs at least two junctions (one hidden layer); "
            "generate the pipelined trainer for a single junction"
        )
    if js[-1].n_right < 10:
        raise TrainerError(f"the output layer has {js[-1].n_right} neurons; it needs 10")
    plans = []
    for i, (j, order) in enumerate(zip(js, orders)):
        order = np.asarray(order)
        lanes = (order % j.z).reshape(j.clocks, j.z)
        if not (lanes == np.arange(j.z)[None, :]).all():
            raise TrainerError(
                f"junction {i + 1}: its edge order sends lanes to other banks (bank-order "
                "dither); the trainer wires lane g to bank g: train with dither = false"
            )
        rows = (order // j.z).reshape(j.clocks, j.z)
        seen = np.zeros(j.n_left, bool)
        first = np.zeros(j.edges, bool)
        for s, n in enumerate(order.tolist()):
            first[s] = not seen[n]
            seen[n] = True
        first = first.reshape(j.clocks, j.z)
        ports, per = (j.z // j.fi, 1) if j.z >= j.fi else (1, j.fi // j.z)
        plans.append(
            JunctionPlan(
                i,
                j,
                ports,
                per,
                tuple(tuple(int(x) for x in rows[:, g]) for g in range(j.z)),
                tuple(tuple(bool(x) for x in first[:, g]) for g in range(j.z)),
            )
        )
    for i in range(1, J):
        left, right = plans[i - 1], plans[i]
        if right.z % left.ports:
            raise TrainerError(
                f"junction {i}: {left.ports} neurons per clock do not divide the {right.z} "
                f"banks of junction {i + 1}'s left layer; choose z so that z{i}/fi{i} divides "
                f"z{i + 1}"
            )
    z1 = js[0].z
    if per_beat < 1 or z1 % per_beat or js[0].n_left % per_beat:
        raise TrainerError(
            f"{per_beat} pixels per beat must divide z1 = {z1} and the first layer's "
            f"{js[0].n_left} inputs"
        )
    if pixels > js[0].n_left:
        raise TrainerError(f"{pixels} pixels do not fit the first layer's {js[0].n_left}")
    block = block_cycle(js)
    return TrainerPlan(
        tuple(plans),
        (js[0].n_left,) + tuple(j.n_right for j in js),
        block,
        (SLOTS,) * J if speculative else tuple(2 * (J - h) + 1 for h in range(J)),
        pixels,
        per_beat,
        speculative=speculative,
    )
