"""The trainer's fixed-point arithmetic: the contract its RTL matches bit for bit.

Every value is a 10-bit word (:data:`WORD`: sign, 2 integer, 7 fraction bits) held as an
integer ``q`` for ``q / 128``.  The rules, after the reference RTL (docs/mlp-fixed-point.md has
them with worked cases):

* a pixel (0…255) enters as its 7 top bits: ``q = pixel >> 1`` (0 … 127/128);
* :func:`mul`: the 20-bit product rounded half up to 7 fraction bits, then saturated;
* a neuron's pre-activation: the exact sum of its ``fi`` products plus its bias, saturated once
  (a saturating adder tree of ``width + log2 fi`` bits then a saturation to the word — the same
  result);
* activation by a 1,024-entry table addressed by the whole word (:func:`activation_table`):
  σ in 7 bits, σ′ in 5 (``round(128·σ′)``, at most 31, at least 1);
* the output delta ``δ = a − y`` (``y`` = 0 or 128), exact;
* back-propagation per edge: ``mul(mul(δ_right, σ′_left), w)``, accumulated into the left
  neuron's delta with a saturating add per edge, in slot order;
* update with ``η = 2^-k``: ``Δb = round_shift(sat(−δ), k)``, ``b ← sat(b + Δb)``,
  ``Δw = mul(Δb, a_left)``, ``w ← sat(w + Δw)``.
"""

from __future__ import annotations

import enum
from functools import cache

import numpy as np

from codesign.fixed import Format, OverflowCounter, round_shift

__all__ = [
    "WORD",
    "PIXEL_SHIFT",
    "SIGMA_BITS",
    "SIGMA_PRIME_BITS",
    "TABLE_RANGE",
    "Activation",
    "activation_table",
    "pixels_to_word",
    "mul",
    "neuron_sum",
    "accumulate",
    "delta_bias",
]

WORD = Format(10, 7)
PIXEL_SHIFT = 1  # 8-bit pixels enter as their 7 top bits
SIGMA_BITS = 7
SIGMA_PRIME_BITS = 5
TABLE_RANGE = (-4.0, 4.0)  # the table covers every word: [WORD.min, WORD.max] / 128


class Activation(enum.Enum):
    """The hidden and output neurons' function."""

    SIGMOID = "sigmoid"
    RELU = "relu"

    @classmethod
    def parse(cls, value: str, where: str = "activation") -> Activation:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in cls)
            raise ValueError(f"{where}: unknown activation {value!r}; use {names}") from None


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


@cache
def activation_table(activation: Activation = Activation.SIGMOID) -> tuple[np.ndarray, np.ndarray]:
    """(act, act′) for every word ``q = WORD.min … WORD.max``, indexed ``q - WORD.min``.

    Sigmoid: ``σ = min(127, round(128·σ(q/128)))``, ``σ′ = clip(round(128·σ(1−σ)), 1, 31)``
    (half up, of the exact function).  ReLU (the reference's clipped form): ``q`` for
    ``0 < q < 128``, 1 at or below 0, 127 at or above 128; its derivative 127 inside that
    open interval, else 1 — neither is ever 0, so a neuron never stops learning."""
    q = np.arange(WORD.min, WORD.max + 1, dtype=np.int64)
    if activation is Activation.SIGMOID:
        s = 1.0 / (1.0 + np.exp(-q / WORD.scale))
        act = np.minimum(_round_half_up(s * 128), (1 << SIGMA_BITS) - 1)
        der = np.clip(_round_half_up(s * (1 - s) * 128), 1, (1 << SIGMA_PRIME_BITS) - 1)
    else:
        inside = (q > 0) & (q < 128)
        act = np.where(inside, q, np.where(q <= 0, 1, 127))
        der = np.where(inside, 127, 1)
    act.setflags(write=False)
    der.setflags(write=False)
    return act, der


def pixels_to_word(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels as input words: their 7 top bits."""
    return np.asarray(pixels, dtype=np.int64) >> PIXEL_SHIFT


def mul(a, b, counter: OverflowCounter, where: str) -> np.ndarray:
    """``a·b`` rounded half up to the word's 7 fraction bits, then saturated."""
    p = round_shift(np.asarray(a, np.int64) * np.asarray(b, np.int64), WORD.frac)
    return counter.saturate(p, WORD, where)


def neuron_sum(products: np.ndarray, bias, counter: OverflowCounter, where: str) -> np.ndarray:
    """Each row of ``products`` (one right neuron's ``fi`` products) summed with its bias,
    saturated to the word (rows along the last axis)."""
    return counter.saturate(products.sum(axis=-1) + bias, WORD, where)


def accumulate(terms: np.ndarray, occ: np.ndarray, counter: OverflowCounter, where: str):
    """Each left neuron's delta: its terms ``terms[occ[k, n]]`` added one by one in slot order
    ``k``, every add saturated."""
    acc = np.zeros(occ.shape[1], dtype=np.int64)
    for k in range(occ.shape[0]):
        acc = counter.saturate(acc + terms[occ[k]], WORD, where)
    return acc


def delta_bias(delta: np.ndarray, k: int, counter: OverflowCounter) -> np.ndarray:
    """``Δb = −δ·2^-k``: the negated delta saturated to the word, shifted right by ``k``
    rounding half up."""
    neg = counter.saturate(-np.asarray(delta, np.int64), WORD, "update: -delta")
    return round_shift(neg, k)
