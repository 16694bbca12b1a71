"""The trainer's arithmetic as MyHDL blocks: one block per rule of codesign.mlp.fixedpoint.

Every block is combinational; widths follow the value ranges, and every product is formed at
its full width before it is rounded (a Verilog product takes the width of its context).
"""

from __future__ import annotations

from myhdl import Signal, always_comb, block, intbv

from codesign.hdl.rom import rom
from codesign.hdl.signals import saturate, signal_range, signed_signal
from codesign.mlp.fixedpoint import WORD, Activation, activation_table

__all__ = [
    "word_signal",
    "mul_word",
    "mul_word_lut",
    "add_word",
    "adder_tree",
    "bias_step",
    "activation_rom",
    "ACT_FIELD",
]

ACT_FIELD = 5  # a hidden layer's memory word: σ in bits 11…5, σ′ in bits 4…0


def word_signal() -> Signal:
    return Signal(intbv(0, min=WORD.min, max=WORD.max + 1))


def _product_range(a, b) -> tuple[int, int]:
    (la, ha), (lb, hb) = signal_range(a), signal_range(b)
    p = [la * lb, la * hb, ha * lb, ha * hb]
    return min(p), max(p)


@block
def mul_word(a, b, p):
    """``p = sat(rs(a·b, 7))``: the product rounded half up to the word's fraction, saturated."""
    lo, hi = _product_range(a, b)
    full = signed_signal(lo, hi)
    half = 1 << (WORD.frac - 1)
    rounded = signed_signal((lo + half) >> WORD.frac, (hi + half) >> WORD.frac)

    @always_comb
    def product():
        full.next = a * b

    @always_comb
    def rounding():
        rounded.next = (full + half) >> WORD.frac

    return product, rounding, saturate(rounded, p, WORD)


@block
def mul_word_lut(a, b, p):
    """``mul_word`` for an unsigned activation ``a`` (at most 7 bits) built from adders: the sum
    of ``b << i`` over the set bits of ``a`` — no multiplier operator, so synthesis uses LUTs,
    not a DSP48 (the update's multipliers, as in the reference design)."""
    bits = len(a)
    lo, hi = _product_range(a, b)
    terms = []
    for i in range(bits):
        t = signed_signal(min(0, signal_range(b)[0] << i), max(0, signal_range(b)[1] << i))
        terms.append(t)
    full = signed_signal(lo, hi)
    half = 1 << (WORD.frac - 1)
    rounded = signed_signal((lo + half) >> WORD.frac, (hi + half) >> WORD.frac)
    insts = [_partial(a, b, terms[i], bit=i) for i in range(bits)]
    insts.append(adder_tree(terms, full))

    @always_comb
    def rounding():
        rounded.next = (full + half) >> WORD.frac

    return insts, rounding, saturate(rounded, p, WORD)


@block
def _partial(a, b, t, *, bit: int):
    @always_comb
    def partial():
        if a[bit]:
            t.next = b << bit
        else:
            t.next = 0

    return partial


@block
def add_word(a, b, s):
    """``s = sat(a + b)``."""
    (la, ha), (lb, hb) = signal_range(a), signal_range(b)
    total = signed_signal(la + lb, ha + hb)

    @always_comb
    def add():
        total.next = a + b

    return add, saturate(total, s, WORD)


@block
def _add2(a, b, s):
    @always_comb
    def add():
        s.next = a + b

    return add


@block
def adder_tree(ins, out):
    """``out = Σ ins`` exactly (a balanced tree of two-input adders, each as wide as its sum)."""
    level, insts = list(ins), []
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (la, ha), (lb, hb) = signal_range(level[i]), signal_range(level[i + 1])
            s = signed_signal(la + lb, ha + hb)
            insts.append(_add2(level[i], level[i + 1], s))
            nxt.append(s)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt

    @always_comb
    def result():
        out.next = level[0]

    return insts, result


@block
def bias_step(delta, k, db):
    """``db = rs(sat(−δ), k)``: the bias step of learning rate ``2^-k`` (``k`` a signal).  One
    process from ``k`` to ``db``: no intermediate signal glitches out of range while ``k``
    changes."""
    neg = signed_signal(-WORD.max, -WORD.min)
    negs = word_signal()

    @always_comb
    def negate():
        neg.next = -delta

    @always_comb
    def shift():
        if k == 0:
            db.next = negs
        else:
            db.next = (negs + (1 << (k - 1))) >> k

    return negate, saturate(neg, negs, WORD), shift


def _rom_words(activation: Activation) -> tuple:
    """The table as memory words ``σ·32 + σ′``, addressed by the word's 10 bits (two's
    complement: address ``q mod 1024``)."""
    act, der = activation_table(activation)
    words = [0] * (1 << WORD.bits)
    for i, q in enumerate(range(WORD.min, WORD.max + 1)):
        words[q % (1 << WORD.bits)] = int(act[i]) << ACT_FIELD | int(der[i])
    return tuple(words)


@block
def activation_rom(clk, s, word, activation: Activation):
    """``word ← σ(s)·32 + σ′(s)`` from the 1,024-entry table: a registered block-RAM ROM
    (codesign.hdl.rom), one per neuron port."""
    table = _rom_words(activation)
    addr = Signal(intbv(0)[WORD.bits :])

    @always_comb
    def address():
        addr.next = s[WORD.bits :]

    return address, rom(clk, addr, word, words=table)
