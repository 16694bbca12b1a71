"""Signal constructors and small MyHDL blocks that every accelerator's datapath shares.

Widths follow the values a signal must hold (``signed_signal(lo, hi)``, ``uint_signal(n)``,
``format_signal(fmt)``); the blocks are the one saturation, delay-line, rounding-shift and
multiplexer-link rule of the library, so that converted Verilog is the same wherever they are used.
Control registers reset synchronously, active high (:func:`sync_reset`).
"""

from __future__ import annotations

from myhdl import (
    ConcatSignal,
    ResetSignal,
    Signal,
    always,
    always_comb,
    always_seq,
    block,
    intbv,
)

from codesign.fixed import Format

__all__ = [
    "signed_bits",
    "signed_signal",
    "uint_signal",
    "format_signal",
    "sync_reset",
    "signal_range",
    "saturate",
    "delay_line",
    "delay_bits",
    "round_shift_register",
    "pick",
    "select",
    "wire_to",
    "index_bits",
    "words_signal",
    "pack_words",
    "unpack_words",
]


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding every integer in [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi < (1 << (b - 1))):
        b += 1
    return b


def signed_signal(lo: int, hi: int) -> Signal:
    b = signed_bits(min(lo, -1), hi)
    return Signal(intbv(0, min=-(1 << (b - 1)), max=1 << (b - 1)))


def uint_signal(n: int) -> Signal:
    """An unsigned signal holding 0 … n−1 (at least one bit)."""
    return Signal(intbv(0, min=0, max=max(n, 2)))


def format_signal(fmt: Format) -> Signal:
    return Signal(intbv(0, min=fmt.min, max=fmt.max + 1))


def sync_reset() -> ResetSignal:
    return ResetSignal(0, active=1, isasync=False)


def signal_range(sig) -> tuple[int, int]:
    return sig.val.min, sig.val.max - 1


@block
def saturate(x, y, fmt: Format):
    """``y = clamp(x)`` to ``fmt``, decided on x's top bits (all equal: x fits).  Not a
    comparison with ``fmt.min``/``fmt.max``: converted Verilog writes constants of 2**31 and more
    unsigned, which turns a signed comparison unsigned."""
    w, b = len(x), fmt.bits
    lo, hi = fmt.min, fmt.max
    if w <= b:

        @always_comb
        def copy():
            y.next = x

        return copy
    ones = (1 << (w - b + 1)) - 1

    @always_comb
    def clamp():
        if x[w : b - 1] == 0 or x[w : b - 1] == ones:
            y.next = x
        elif x[w - 1]:
            y.next = lo
        else:
            y.next = hi

    return clamp


@block
def delay_line(clk, x, y, depth: int):
    """``y`` is ``x`` delayed by ``depth`` clocks (a plain register chain, no reset)."""
    if depth == 0:

        @always_comb
        def wire():
            y.next = x

        return wire
    line = [Signal(intbv(0, min=y.val.min, max=y.val.max)) for _ in range(depth)]

    @always(clk.posedge)
    def shift():
        line[0].next = x
        for i in range(1, depth):
            line[i].next = line[i - 1]

    @always_comb
    def tap():
        y.next = line[depth - 1]

    return shift, tap


@block
def delay_bits(clk, rst, x, y, depth: int):
    """``y`` is ``x`` delayed by ``depth`` ≥ 1 clocks (shift register with reset)."""
    line = [Signal(bool(0)) for _ in range(depth)]

    @always_seq(clk.posedge, reset=rst)
    def shift():
        line[0].next = x
        for i in range(1, depth):
            line[i].next = line[i - 1]

    @always_comb
    def tap():
        y.next = line[depth - 1]

    return shift, tap


@block
def round_shift_register(clk, x, y, shift: int):
    """Activation → spectrum scale: ``round_shift(x, shift)`` (exact left shift if negative)."""
    if shift > 0:
        half = 1 << (shift - 1)

        @always(clk.posedge)
        def scale():
            y.next = (x + half) >> shift
    else:
        left = -shift

        @always(clk.posedge)
        def scale():
            y.next = x << left

    return scale


@block
def pick(prev, cand, key, out, *, index: int):
    """``out = cand if key == index else prev`` (one link of a multiplexer chain)."""

    @always_comb
    def pick():
        if key == index:
            out.next = cand
        else:
            out.next = prev

    return pick


@block
def select(sel, a, b, out):
    """``out = a if sel else b`` (a two-way multiplexer)."""

    @always_comb
    def choose():
        if sel:
            out.next = a
        else:
            out.next = b

    return choose


@block
def wire_to(a, b):
    """``b = a``."""

    @always_comb
    def connect():
        b.next = a

    return connect


def index_bits(n: int) -> int:
    """Bits of an unsigned index 0 … n − 1 (at least 1): the width of ``uint_signal(n)``, for
    address fields and memory words sized before any signal exists."""
    return max(n - 1, 1).bit_length()


def words_signal(fmt: Format, words: int) -> Signal:
    """A beat of ``words`` values of ``fmt``: one signed signal for one word, else an unsigned
    vector with word w (two's complement) in bits [w·bits, (w + 1)·bits)."""
    return format_signal(fmt) if words == 1 else Signal(intbv(0)[words * fmt.bits :])


@block
def pack_words(words, packed):
    """``packed`` ← the signed ``words`` (each as wide as its format) side by side, word 0
    in the low bits."""
    if len(words) == 1:
        return wire_to(words[0], packed)
    joined = ConcatSignal(*reversed(words))

    @always_comb
    def join():
        packed.next = joined

    return join


@block
def unpack_words(packed, words):
    """The signed ``words`` of a beat packed by :func:`pack_words`."""
    if len(words) == 1:
        return wire_to(packed, words[0])
    insts = []
    for w, word in enumerate(words):
        insts.append(_word_of(packed, word, lo=w * len(word)))
    return insts


@block
def _word_of(packed, word, *, lo: int):
    hi = lo + len(word)

    @always_comb
    def take():
        word.next = packed[hi:lo].signed()

    return take
