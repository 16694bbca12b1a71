"""Pre-defined sparse junctions and the clash-free edge orders of their weight memories.

A junction connects ``n_left`` neurons to ``n_right``: every left neuron has ``fo`` outgoing
edges, every right neuron ``fi = n_left·fo / n_right`` incoming ones, ``edges = n_left·fo`` in
all.  The trainer processes ``z`` edges per clock, so the edges are stored in *slot* order: slot
``i = clock·z + g`` (lane ``g``) is the ``i mod fi``-th input of right neuron ``⌊i / fi⌋``, and
its left neuron is what the interleaver puts there.  The left layer's activations sit in ``z``
banks (bank = neuron mod z, row = ⌊neuron / z⌋), so an order is *clash-free* when the ``z``
slots of every clock name ``z`` distinct banks.

The interleavers (Dey et al., arXiv 1711.06935; the reference RTL's start-vector form): slot
``i`` lies in sweep ``s = ⌊i / p⌋`` (``p = n_left``), row-step ``a`` and lane ``g``
(``i mod p = a·z + g``); its left neuron is ``t[s, a, g]·z + β[s, g]`` where

* ``START``: ``t[s, a, g] = (start[s, g] + a) mod (p/z)``, one start row per bank and sweep,
  drawn at random (``START_ZERO``: all zero, as the reference RTL hard-wires them);
* ``RANDOM``: ``t[s, ·, g]`` a random permutation of the ``p/z`` rows per bank and sweep;
* ``β[s, ·]`` is the identity, or with ``dither`` a random permutation of the banks per sweep;
* with ``repeat_sweeps`` every sweep uses sweep 0's ``t`` (and ``β``).

Every sweep then visits each left neuron once and each clock each bank once, so all of these
are clash-free with exactly ``fo`` edges per left neuron; :func:`check_order` proves it (and
that no right neuron has a repeated input) for any order, not just these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError

__all__ = [
    "ConnectivityError",
    "Interleaver",
    "Junction",
    "junctions",
    "interleave",
    "check_order",
    "occurrences",
    "dead_neurons",
]


class ConnectivityError(CodesignError, ValueError):
    """A junction or edge order that cannot be built or is not clash-free."""


class Interleaver(enum.Enum):
    """The edge-order families (see the module docstring)."""

    START = "start"
    START_ZERO = "start-zero"
    RANDOM = "random"

    @classmethod
    def parse(cls, value: str, where: str = "interleaver") -> Interleaver:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in cls)
            raise ConnectivityError(
                f"{where}: unknown interleaver {value!r}; use {names}"
            ) from None


@dataclass(frozen=True)
class Junction:
    """``n_left`` → ``n_right`` neurons, fan-out ``fo``, ``z`` edges per clock."""

    n_left: int
    n_right: int
    fo: int
    z: int

    def __post_init__(self):
        name = f"junction {self.n_left}→{self.n_right} (fo={self.fo}, z={self.z})"
        for field in ("n_left", "n_right", "fo", "z"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConnectivityError(f"{name}: {field} must be a positive integer, got {v!r}")
        if self.fo > self.n_right:
            raise ConnectivityError(
                f"{name}: fan-out {self.fo} exceeds the {self.n_right} right neurons "
                "(an edge would repeat); lower fo"
            )
        if (self.n_left * self.fo) % self.n_right:
            raise ConnectivityError(
                f"{name}: fan-in n_left·fo/n_right = {self.n_left * self.fo}/{self.n_right} is "
                "not an integer; choose fo so that n_right divides n_left·fo"
            )
        if self.z > self.n_left:
            raise ConnectivityError(
                f"{name}: z = {self.z} is larger than the junction's {self.n_left} left neurons "
                "(one clock cannot read more banks than there are neurons); lower z"
            )
        if self.n_left % self.z:
            raise ConnectivityError(
                f"{name}: p/z = {self.n_left}/{self.z} is not an integer (the left layer is "
                "stored in z banks of equal depth); choose z dividing n_left"
            )
        if self.z % self.fi and self.fi % self.z:
            raise ConnectivityError(
                f"{name}: z = {self.z} and fan-in {self.fi} must divide one another (a clock "
                "finishes z/fi right neurons, or one right neuron takes fi/z clocks)"
            )

    @property
    def fi(self) -> int:
        return self.n_left * self.fo // self.n_right

    @property
    def edges(self) -> int:
        return self.n_left * self.fo

    @property
    def clocks(self) -> int:
        """Clocks to stream every edge once, ``z`` per clock."""
        return self.edges // self.z

    @property
    def rows(self) -> int:
        """Depth of each of the ``z`` banks of the left layer (``p/z``)."""
        return self.n_left // self.z

    @property
    def density(self) -> float:
        return self.fo / self.n_right

    def to_dict(self) -> dict:
        return {
            "n_left": self.n_left,
            "n_right": self.n_right,
            "fo": self.fo,
            "fi": self.fi,
            "z": self.z,
            "edges": self.edges,
            "clocks": self.clocks,
        }


def junctions(layers, fo, z) -> tuple[Junction, ...]:
    """The junctions of an MLP with neuron counts ``layers``; ``fo`` and ``z`` one per junction."""
    layers, fo, z = list(layers), list(fo), list(z)
    if len(layers) < 2:
        raise ConnectivityError(f"layers {layers}: an MLP needs at least two layers")
    for name, v in (("fo", fo), ("z", z)):
        if len(v) != len(layers) - 1:
            raise ConnectivityError(
                f"{name} = {v}: needs one value per junction "
                f"({len(layers) - 1} for layers {layers})"
            )
    return tuple(Junction(layers[i], layers[i + 1], fo[i], z[i]) for i in range(len(fo)))


def interleave(
    junction: Junction,
    kind: Interleaver = Interleaver.START,
    seed: int = 0,
    dither: bool = False,
    repeat_sweeps: bool = False,
) -> np.ndarray:
    """The left neuron of every slot (int64, length ``edges``), deterministic in ``seed``."""
    j = junction
    rng = np.random.default_rng(seed)
    sweeps = 1 if repeat_sweeps else j.fo
    a = np.arange(j.rows)[:, None]
    t = np.empty((sweeps, j.rows, j.z), dtype=np.int64)
    for s in range(sweeps):
        if kind is Interleaver.RANDOM:
            t[s] = np.stack([rng.permutation(j.rows) for _ in range(j.z)], axis=1)
        else:
            start = np.zeros(j.z, np.int64)
            if kind is Interleaver.START:
                start = rng.integers(0, j.rows, size=j.z)
            t[s] = (start[None, :] + a) % j.rows
    beta = np.tile(np.arange(j.z), (sweeps, 1))
    if dither:
        beta = np.stack([rng.permutation(j.z) for _ in range(sweeps)])
    left = t * j.z + beta[:, None, :]
    if repeat_sweeps:
        left = np.repeat(left, j.fo, axis=0)
    return left.reshape(-1)


def check_order(junction: Junction, left: np.ndarray, where: str = "edge order") -> dict:
    """Prove ``left`` (the left neuron of every slot) a valid clash-free order for
    ``junction``; raises :class:`ConnectivityError` naming the first violation, else returns
    the facts checked."""
    j = junction
    left = np.asarray(left)
    if left.shape != (j.edges,) or not np.issubdtype(left.dtype, np.integer):
        raise ConnectivityError(
            f"{where}: expected {j.edges} integer slots, got shape {left.shape} {left.dtype}"
        )
    bad = np.flatnonzero((left < 0) | (left >= j.n_left))
    if bad.size:
        raise ConnectivityError(
            f"{where}: slot {bad[0]} names left neuron {left[bad[0]]}, outside 0..{j.n_left - 1}"
        )
    banks = (left % j.z).reshape(j.clocks, j.z)
    distinct = np.sort(banks, axis=1)
    clash = np.flatnonzero((np.diff(distinct, axis=1) == 0).any(axis=1))
    if clash.size:
        c = int(clash[0])
        row = banks[c]
        dup = int(distinct[c][np.flatnonzero(np.diff(distinct[c]) == 0)[0]])
        lanes = np.flatnonzero(row == dup).tolist()
        raise ConnectivityError(
            f"{where}: clock {c} reads bank {dup} from lanes {lanes} (not clash-free)"
        )
    fan_out = np.bincount(left, minlength=j.n_left)
    off = np.flatnonzero(fan_out != j.fo)
    if off.size:
        raise ConnectivityError(
            f"{where}: left neuron {off[0]} has {fan_out[off[0]]} outgoing edges, not fo = {j.fo}"
        )
    fan_in = np.bincount(np.arange(j.edges) // j.fi, minlength=j.n_right)
    if not (fan_in == j.fi).all():  # the slot layout gives every right neuron fi slots
        raise ConnectivityError(f"{where}: right neurons without exactly fi = {j.fi} inputs")
    per_right = np.sort(left.reshape(j.n_right, j.fi), axis=1)
    rep = np.flatnonzero((np.diff(per_right, axis=1) == 0).any(axis=1))
    if rep.size:
        r = int(rep[0])
        n = int(per_right[r][np.flatnonzero(np.diff(per_right[r]) == 0)[0]])
        raise ConnectivityError(f"{where}: right neuron {r} has left neuron {n} twice")
    return {
        "clash_free": True,
        "clocks": j.clocks,
        "banks_per_clock": j.z,
        "fan_in": j.fi,
        "fan_out": j.fo,
        "repeated_edges": 0,
    }


def occurrences(junction: Junction, left: np.ndarray) -> np.ndarray:
    """``occ[k, n]`` = the slot of left neuron ``n``'s ``k``-th edge in slot order (shape
    ``fo × n_left``): the order in which back-propagation accumulates into its delta."""
    order = np.argsort(left, kind="stable")
    return order.reshape(junction.n_left, junction.fo).T.copy()


def dead_neurons(junction: Junction, left: np.ndarray, live_inputs: int) -> np.ndarray:
    """Right neurons all of whose inputs are left neurons ``≥ live_inputs`` (zero padding)."""
    return np.flatnonzero((left.reshape(junction.n_right, junction.fi) >= live_inputs).all(axis=1))
