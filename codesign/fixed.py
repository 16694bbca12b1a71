"""Generic fixed-point rules shared by every accelerator's contract.

Every number is a signed two's-complement integer ``q`` standing for ``q * 2**-frac`` in a
:class:`Format` of ``bits`` total bits.  Two rules hold everywhere:

* **rounding** — a right shift by ``s`` bits rounds half up: ``(q + 2**(s-1)) >> s`` (arithmetic
  shift); float → fixed conversion likewise rounds ``x * 2**frac`` half up;
* **saturation** — a result outside a format's range is clamped to its minimum or maximum, and
  the :class:`OverflowCounter` records where and how often.

Each system's datapath (e.g. :mod:`codesign.spectral.fixedpoint`) is built from these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Format", "OverflowCounter", "round_shift", "quantize"]


@dataclass(frozen=True)
class Format:
    """A signed fixed-point format: ``bits`` in total, ``frac`` of them fractional."""

    bits: int
    frac: int

    def __post_init__(self):
        if not (2 <= self.bits <= 62):
            raise ValueError(f"fixed-point format: bits must be in 2..62, got {self.bits}")
        if not (0 <= self.frac < 62):
            raise ValueError(f"fixed-point format: frac must be in 0..61, got {self.frac}")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def scale(self) -> float:
        return float(1 << self.frac)

    def name(self) -> str:
        """Q-notation, sign bit included in the integer part: Q(bits-frac).frac."""
        return f"Q{self.bits - self.frac}.{self.frac}"

    def to_dict(self) -> dict:
        return {"bits": self.bits, "frac": self.frac}


@dataclass
class OverflowCounter:
    """Counts saturations per named point of the datapath (and how many values passed it)."""

    saturated: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)

    def saturate(self, q: np.ndarray, fmt: Format, where: str) -> np.ndarray:
        hi, lo = q > fmt.max, q < fmt.min
        n = int(np.count_nonzero(hi) + np.count_nonzero(lo))
        self.saturated[where] = self.saturated.get(where, 0) + n
        self.seen[where] = self.seen.get(where, 0) + q.size
        return np.clip(q, fmt.min, fmt.max) if n else q

    @property
    def total(self) -> int:
        return sum(self.saturated.values())


def round_shift(q: np.ndarray, s: int) -> np.ndarray:
    """Right shift by ``s`` bits rounding half up; a negative ``s`` is an exact left shift."""
    q = np.asarray(q, dtype=np.int64)
    if s > 0:
        return (q + (1 << (s - 1))) >> s
    if s < 0:
        return q << (-s)
    return q


def quantize(
    x: np.ndarray, fmt: Format, counter: OverflowCounter | None = None, where: str = "quantize"
) -> np.ndarray:
    """Float → fixed: round ``x * 2**frac`` half up, saturate to ``fmt``."""
    q = np.floor(np.asarray(x, dtype=np.float64) * fmt.scale + 0.5).astype(np.int64)
    if counter is None:
        return np.clip(q, fmt.min, fmt.max)
    return counter.saturate(q, fmt, where)
