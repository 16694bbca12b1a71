"""The Hadamard stage of a spectral conv layer engine in MyHDL, bit-exact with the contract.

Per tile, every accumulator group ``(o, f)`` gets ``Σ_c X[c, f]·W[o, c, f]`` summed exactly, then
one ``round_shift`` to the product format and saturation
(:func:`codesign.spectral.fxpmodel.hadamard_fixed`), by running the schedule of a
:class:`~codesign.spectral.mapping.LayerMap` (docs/schedule-format.md):

* **spectrum banks** — B simple dual-port RAMs of complex spectrum words; word ``(c, f)`` lives in
  bank ``bank_of[c, f]`` at ``concat(buffer, addr_of[c, f])``.  The buffer bit (address MSB) makes
  them ping-pong: the FFT side writes one tile (``wr_*``, one word per clock — or, with U FFT units,
  one per unit into its own group of B/U banks) while the PEs read the other;
* **sparse-kernel memories** — one ROM per PE holding the layer's memory image (one packed word per
  schedule slot, fields of :data:`WORD_FIELDS`), read one word per clock; LUTs when the schedule
  is at most 64 slots (:func:`codesign.hdl.rom.rom_style`), block RAM otherwise;
* **PE array** — one slot counter for all P PEs; per clock each PE fetches its word, the crossbar
  hands every bank the address of the PE reading it (the schedule allows at most one), the PE takes
  its bank's word, multiplies it exactly by its weight with three DSP48-sized products
  (``k1 = c(a+b)``, ``k2 = a(d−c)``, ``k3 = b(c+d)``; ``Re = k1 − k3``, ``Im = k1 + k2``) and adds
  the product into its accumulator (written, not added, on a group's ``first`` update);
* **accumulators** — per PE one RAM per tile parity (the tile's buffer bit), each with one write and
  one read port: the tile being accumulated uses one, the readout of the previous tile the other.
  The accumulator is exact: sized for C full-scale products (≤ 48 bits, checked at elaboration), so
  the contract's 48-bit saturation can never act;
* **readout** — any ``(PE, address, parity)`` read back rounded once and saturated to ``product``.

Timing of slot s of a tile whose ``start`` is in clock 0:

====== ==================================================================================
clock  stage
====== ==================================================================================
1 + s  slot counter holds s
2 + s  kernel word (ROM output)
3 + s  bank read addresses (crossbar) and the PE's control and weight sums registered
4 + s  bank read data
5 + s  the PE's spectrum operand ``X[c, f]``
6 + s  pre-adder ``a + b``
7 + s  the three products; accumulator read issued
8 + s  ``Re``/``Im`` of the product; accumulate, written at the end of the clock
====== ==================================================================================

Hazards: an update in slot s writes at the end of clock 8 + s.  A later update of the same group
reads in clock 7 + s' — from the RAM when ``s' ≥ s + 2``, from the last-write register when
``s' = s + 1`` — so **any** spacing ≥ 1 is correct: the engine is right for every ``mac_latency``
≥ 1, and for schedules made with ``forwarding``.

Control registers have a synchronous active-high reset; data registers have none.
"""

from __future__ import annotations

import numpy as np
from myhdl import Signal, always, always_comb, always_seq, block, concat, intbv

from codesign.hdl.buffers import buffer_address
from codesign.hdl.ram import sdp_ram
from codesign.hdl.rom import rom, rom_style
from codesign.hdl.signals import (
    delay_bits,
    delay_line,
    format_signal,
    index_bits,
    pick,
    round_shift_register,
    saturate,
    signal_range,
    signed_bits,
    signed_signal,
    sync_reset,
)
from codesign.spectral.fixedpoint import FixedPointConfig

__all__ = [
    "hadamard_engine",
    "hadamard_signals",
    "hadamard_plan",
    "hadamard_latency",
    "hadamard_memories",
    "accumulator_range",
    "kernel_word_layout",
    "PIPELINE_DEPTH",
    "READOUT_LATENCY",
    "READ_PORTS",
    "WORD_FIELDS",
]

PIPELINE_DEPTH = 8  # start → slot counter, ROM, crossbar, bank read, operand, pre-add, product, sum
READOUT_LATENCY = 5  # request, accumulator read, PE/parity select, rounding, saturation
READ_PORTS = 1  # read ports of a spectrum bank
WORD_FIELDS = ("w_im", "w_re", "acc", "addr", "bank", "first", "valid")  # kernel word, LSB first


def hadamard_latency(cycles: int) -> int:
    """Clocks from ``start`` to ``done`` for a schedule of ``cycles`` slots: ``cycles + 8``.

    Slot s is counted in clock 1 + s and its accumulator write lands at the end of clock 8 + s
    (see the module docstring); ``done`` is high in the clock after the last slot's write, when its
    result can be read."""
    return cycles + PIPELINE_DEPTH


def kernel_word_layout(banks: int, bank_words: int, groups: int, weight_bits: int) -> list[dict]:
    """The sparse-kernel ROM word (docs/schedule-format.md): per field of :data:`WORD_FIELDS`,
    LSB first, its ``name``, ``lsb`` and ``width``, for ``banks`` banks of ``bank_words`` words,
    ``groups`` accumulator addresses per PE and weights of ``weight_bits``."""
    widths = {
        "w_im": weight_bits,
        "w_re": weight_bits,
        "acc": index_bits(groups),
        "addr": index_bits(bank_words),
        "bank": index_bits(banks),
        "first": 1,
        "valid": 1,
    }
    layout, lsb = [], 0
    for name in WORD_FIELDS:
        layout.append({"name": name, "lsb": lsb, "width": widths[name]})
        lsb += widths[name]
    return layout


def accumulator_range(C: int, cfg: FixedPointConfig | None = None) -> tuple[int, int]:
    """Integer ranges of one complex product's parts and of a group's exact sum over ``C`` input
    channels: ``(product, accumulator)``, each ``(lo, hi)``."""
    cfg = cfg or FixedPointConfig()
    s, w = cfg.spectrum, cfg.conv_weight
    corners = [x * y for x in (s.min, s.max) for y in (w.min, w.max)]
    lo, hi = min(corners), max(corners)  # of every real product a·c, b·d, a·d, b·c
    product = (min(lo - hi, 2 * lo), max(hi - lo, 2 * hi))
    return product, (C * product[0], C * product[1])


def hadamard_memories(
    pes: int,
    banks: int,
    cycles: int,
    word_bits: int,
    bank_words: int,
    groups: int,
    C: int,
    cfg: FixedPointConfig | None = None,
) -> dict:
    """name → (count, depth, width) of the memories :func:`hadamard_engine` builds: per PE a
    kernel ROM of ``cycles`` words of ``word_bits``; per bank a ping-pong complex spectrum RAM
    (``bank_words`` words a tile, behind the buffer bit, so a power of two twice over); per PE
    and tile parity an accumulator RAM of a power of two ≥ ``groups`` words.  The cost model
    prices these with the rules of :mod:`codesign.hdl.ram`."""
    cfg = cfg or FixedPointConfig()
    _, acc = accumulator_range(C, cfg)
    return {
        "kernel": (pes, cycles, word_bits),
        "spectrum": (banks, 2 << index_bits(bank_words), 2 * cfg.spectrum.bits),
        "accumulator": (2 * pes, 1 << index_bits(groups), 2 * signed_bits(*acc)),
    }


def hadamard_plan(lm, cfg: FixedPointConfig | None = None, ports: int = 1) -> dict:
    """What :func:`hadamard_engine` with ``ports`` write ports builds for ``lm``, after checking
    that it can (with several ports, channel c's words must be in bank group c mod ports).

    ``pes``, ``banks``, ``cycles``; field ``layout`` (name → (lsb, width)); port widths
    ``bank_bits``, ``addr_bits`` (bank word address without the buffer bit), ``acc_bits``,
    ``pe_bits``; ``words`` (per PE, the ROM contents); ``product`` and ``accumulator`` (integer
    ranges of one complex product's parts and of a group's sum); ``shift`` of the readout rounding;
    ``memories``: name → (count, depth, width) of the block RAMs.
    """
    cfg = cfg or FixedPointConfig()
    task, arch, image = lm.task, lm.arch, lm.image
    if not image:
        raise ValueError(f"layer {task.name}: no memory image (map the layer with its weights)")
    if arch.ports != READ_PORTS:
        raise ValueError(
            f"layer {task.name}: the engine's banks have one read port, "
            f"the schedule assumes ports = {arch.ports}"
        )
    if (arch.spectrum_bits, arch.weight_bits) != (cfg.spectrum.bits, cfg.conv_weight.bits):
        raise ValueError(
            f"layer {task.name}: arch word widths ({arch.spectrum_bits}, "
            f"{arch.weight_bits}) differ from the fixed-point formats "
            f"({cfg.spectrum.bits}, {cfg.conv_weight.bits})"
        )
    cycles = int(lm.schedule.cycles)
    if cycles < 1:
        raise ValueError(f"layer {task.name}: empty schedule")
    sb, wb = cfg.spectrum.bits, cfg.conv_weight.bits
    if task.C * 2 ** (sb - 1) * 2 ** (wb - 1) * 2 >= 2 ** (cfg.accumulator.bits - 1):
        raise ValueError(
            f"layer {task.name}: {task.C} channel products of {sb} × {wb} bits "
            f"could saturate the {cfg.accumulator.bits}-bit accumulator"
        )
    fields = image["fields"]
    valid = fields["valid"].astype(bool)
    P = arch.pes
    reads = np.bincount(fields["bank"][valid] * cycles + np.nonzero(valid)[1])
    if reads.size and reads.max() > 1:
        raise ValueError(f"layer {task.name}: a bank is read twice in one clock")
    if ports > 1:
        group = arch.banks // ports
        if arch.banks % ports or np.any(lm.bank_of // group != np.arange(task.C)[:, None] % ports):
            raise ValueError(
                f"layer {task.name}: with {ports} write ports, channel c must be in "
                f"bank group c mod {ports} of {arch.banks} banks (fft_units "
                f"{arch.fft_units})"
            )
    lanes = arch.ifft_units
    used = lm.acc_addr >= 0
    lane_of_pe = lm.pe_of_group % lanes
    if P % lanes or np.any((lane_of_pe != np.arange(task.O)[:, None] % lanes) & used):
        raise ValueError(
            f"layer {task.name}: with {lanes} read-out lanes, P ({P}) must be a multiple of "
            f"{lanes} and channel o's groups must sit on PEs p ≡ o (mod {lanes}); map the "
            f"layer again (codesign map) with ifft_units = {lanes}"
        )
    layout = {e["name"]: (e["lsb"], e["width"]) for e in image["layout"]}
    words = [
        tuple(
            sum(int(fields[n][p, t]) << lsb for n, (lsb, _) in layout.items())
            for t in range(cycles)
        )
        for p in range(P)
    ]
    s, w = cfg.spectrum, cfg.conv_weight
    product, accumulator = accumulator_range(task.C, cfg)
    addr_bits, acc_bits = layout["addr"][1], layout["acc"][1]
    memories = hadamard_memories(
        P,
        arch.banks,
        cycles,
        sum(width for _, width in layout.values()),
        1 << addr_bits,
        1 << acc_bits,
        task.C,
        cfg,
    )
    return {
        "pes": P,
        "banks": arch.banks,
        "cycles": cycles,
        "layout": layout,
        "bank_bits": layout["bank"][1],
        "addr_bits": addr_bits,
        "acc_bits": acc_bits,
        "pe_bits": index_bits(P // lanes),
        "lanes": lanes,
        "words": words,
        "product": product,
        "accumulator": accumulator,
        "shift": s.frac + w.frac - cfg.product.frac,
        "memories": memories,
    }


def hadamard_signals(lm, cfg: FixedPointConfig | None = None) -> dict:
    """Fresh port signals for :func:`hadamard_engine`."""
    cfg = cfg or FixedPointConfig()
    g = hadamard_plan(lm, cfg)
    bit = lambda: Signal(bool(0))  # noqa: E731
    read = {
        "rd_en": bit,
        "rd_pe": lambda: Signal(intbv(0)[g["pe_bits"] :]),
        "rd_addr": lambda: Signal(intbv(0)[g["acc_bits"] :]),
        "rd_buf": bit,
        "rd_valid": bit,
        "rd_re": lambda: format_signal(cfg.product),
        "rd_im": lambda: format_signal(cfg.product),
    }
    lanes = g["lanes"]
    return {
        "clk": bit(),
        "rst": sync_reset(),
        "wr_en": bit(),
        "wr_bank": Signal(intbv(0)[g["bank_bits"] :]),
        "wr_addr": Signal(intbv(0)[g["addr_bits"] :]),
        "wr_buf": bit(),
        "wr_re": format_signal(cfg.spectrum),
        "wr_im": format_signal(cfg.spectrum),
        "start": bit(),
        "start_buf": bit(),
        "done": bit(),
        **{k: make() if lanes == 1 else [make() for _ in range(lanes)] for k, make in read.items()},
    }


# --- memories -------------------------------------------------------------------------------


# A complex memory is one :func:`~codesign.hdl.ram.sdp_ram` of words ``concat(re, im)`` (both
# parts in one block RAM word): :func:`_pack` before its write port, :func:`_unpack` after its read.


def _complex_word(re, im) -> Signal:
    """A packed word for the parts ``re``, ``im`` (the read side's widths)."""
    return Signal(intbv(0)[len(re) + len(im) :])


@block
def _pack(re, im, word, *, im_bits: int):
    """``word = concat(re, im)``, ``im`` in the low ``im_bits`` bits; a wider part is cut to its
    field (its value must fit it)."""
    re_bits = len(word) - im_bits

    @always_comb
    def join():
        word.next = concat(re[re_bits:], im[im_bits:])

    return join


@block
def _unpack(word, re, im):
    """The signed parts ``re``, ``im`` of a word made by :func:`_pack` (``im`` the low
    ``len(im)`` bits)."""
    nr, ni = len(re), len(im)

    @always_comb
    def parts():
        re.next = word[nr + ni : ni].signed()
        im.next = word[ni:].signed()

    return parts


@block
def _bank_enable(wr_en, wr_bank, we, *, index: int):
    """``we``: the write port addresses bank ``index``."""

    @always_comb
    def decode():
        we.next = wr_en and wr_bank == index

    return decode


@block
def _word_fields(word, valid, first, bank, addr, acc, w_re, w_im, *, layout: dict):
    """The fields of a kernel word (docs/schedule-format.md); weights sign-extended."""
    v, f = layout["valid"][0], layout["first"][0]
    (bl, bw), (al, aw), (cl, cw) = layout["bank"], layout["addr"], layout["acc"]
    (rl, rw), (il, iw) = layout["w_re"], layout["w_im"]
    bh, ah, ch, rh, ih = bl + bw, al + aw, cl + cw, rl + rw, il + iw

    @always_comb
    def decode():
        valid.next = word[v]
        first.next = word[f]
        bank.next = word[bh:bl]
        addr.next = word[ah:al]
        acc.next = word[ch:cl]
        w_re.next = word[rh:rl].signed()
        w_im.next = word[ih:il].signed()

    return decode


# --- control --------------------------------------------------------------------------------


@block
def _slot_counter(clk, rst, start, start_buf, run, slot, buf, last, *, cycles: int):
    """Slot ``0 … cycles−1`` of a tile, one per clock from the clock after ``start``; ``buf``
    holds the tile's buffer bit, ``last`` marks its last slot.  ``start`` is taken when idle or in
    the last slot (tiles back to back), ignored otherwise."""
    top = cycles - 1

    @always_comb
    def final():
        last.next = run and slot == top

    @always_seq(clk.posedge, reset=rst)
    def count():
        if start and (not run or last):
            run.next = 1
            slot.next = 0
            buf.next = start_buf
        elif run:
            if last:
                run.next = 0
            else:
                slot.next = slot + 1

    return final, count


# --- crossbar and selection -----------------------------------------------------------------


@block
def _route(prev, valid, bank, addr, out, *, index: int):
    """One PE's tap on the address bus of bank ``index``: its ``addr`` if it reads the bank."""

    @always_comb
    def pick():
        if valid and bank == index:
            out.next = addr
        else:
            out.next = prev

    return pick


@block
def _bank_address(clk, buf, addr, raddr):
    """Registered read address of a bank: the tile's buffer bit above the word address."""

    @always(clk.posedge)
    def register():
        raddr.next = concat(buf, addr)

    return register


@block
def _select(clk, key, cands, out):
    """``out`` ← ``cands[key]``, registered (a chain of two-input multiplexers)."""
    tail, links = cands[0], []
    for i in range(1, len(cands)):
        nxt = Signal(intbv(0, min=out.val.min, max=out.val.max))
        links.append(pick(tail, cands[i], key, nxt, index=i))
        tail = nxt

    @always(clk.posedge)
    def register():
        out.next = tail

    return links, register


# --- processing element ---------------------------------------------------------------------


def _product_signal(a, b) -> Signal:
    (alo, ahi), (blo, bhi) = signal_range(a), signal_range(b)
    c = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
    return signed_signal(min(c), max(c))


@block
def _complex_mac(clk, x_re, x_im, c, dc, cd, p_re, p_im):
    """``p = x · (c + jd)`` exactly, three clocks: pre-adder (``a + b``), the products
    ``k1 = c(a+b)``, ``k2 = a(d−c)``, ``k3 = b(c+d)`` (25 × 16, 24 × 17, 24 × 17 bits by default,
    one DSP48E1 each), then ``Re = k1 − k3``, ``Im = k1 + k2``.  ``dc``, ``cd`` are ``d − c`` and
    ``c + d``, aligned with ``x``."""
    a1, b1 = signed_signal(*signal_range(x_re)), signed_signal(*signal_range(x_im))
    s1 = signed_signal(
        signal_range(x_re)[0] + signal_range(x_im)[0], signal_range(x_re)[1] + signal_range(x_im)[1]
    )
    c1, dc1, cd1 = (
        signed_signal(*signal_range(c)),
        signed_signal(*signal_range(dc)),
        signed_signal(*signal_range(cd)),
    )
    k1, k2, k3 = _product_signal(s1, c1), _product_signal(a1, dc1), _product_signal(b1, cd1)

    @always(clk.posedge)
    def pre_add():
        s1.next = x_re + x_im
        a1.next = x_re
        b1.next = x_im
        c1.next = c
        dc1.next = dc
        cd1.next = cd

    @always(clk.posedge)
    def multiply():
        k1.next = s1 * c1
        k2.next = a1 * dc1
        k3.next = b1 * cd1

    @always(clk.posedge)
    def combine():
        p_re.next = k1 - k3
        p_im.next = k1 + k2

    return pre_add, multiply, combine


@block
def _accumulator(
    clk, rst, valid, first, buf, addr, p_re, p_im, rq_addr, q_re, q_im, *, acc_range: tuple
):
    """A PE's ping-pong accumulator and its read-modify-write.

    ``valid``, ``first``, ``buf`` (parity), ``addr`` describe the update whose product
    ``p_re``/``p_im`` arrives one clock later; its read is issued now, the sum is written one clock
    later.  A read that coincides with the previous update's write to the same address takes that
    write's value from a register instead of the RAM (no parity check needed: when the previous
    update belongs to the previous tile, this one is its group's first and adds nothing).  The
    address compare is registered a clock ahead (``forward``), so the adder's operand is one
    4-way select of registered values (zero for a group's first) and the compare is off the
    accumulate path.  RAM ``q`` reads ``rq_addr`` (the readout) whenever no update reads it;
    ``q_re[q]``, ``q_im[q]`` are its read data."""
    aw = len(addr)
    raddr = [Signal(intbv(0)[aw:]) for _ in range(2)]
    we = [Signal(bool(0)) for _ in range(2)]
    v2, first2, buf2, forward = (Signal(bool(0)) for _ in range(4))
    addr2 = Signal(intbv(0)[aw:])
    old_re, old_im, w_re, w_im = (signed_signal(*acc_range) for _ in range(4))
    p_lo, p_hi = signal_range(p_re)
    new_re, new_im = (signed_signal(acc_range[0] + p_lo, acc_range[1] + p_hi) for _ in range(2))
    w_word = _complex_word(q_re[0], q_im[0])
    r_word = [_complex_word(q_re[q], q_im[q]) for q in range(2)]
    rams = [_pack(new_re, new_im, w_word, im_bits=len(q_im[0]))]
    for q in range(2):
        rams += [
            sdp_ram(clk, we[q], addr2, w_word, raddr[q], r_word[q]),
            _unpack(r_word[q], q_re[q], q_im[q]),
        ]
    raddr0, raddr1, we0, we1 = raddr[0], raddr[1], we[0], we[1]
    q0_re, q0_im, q1_re, q1_im = q_re[0], q_im[0], q_re[1], q_im[1]

    @always_comb
    def read_address():
        if valid and not buf:
            raddr0.next = addr
        else:
            raddr0.next = rq_addr
        if valid and buf:
            raddr1.next = addr
        else:
            raddr1.next = rq_addr

    @always_seq(clk.posedge, reset=rst)
    def update_control():
        v2.next = valid
        forward.next = v2 and addr2 == addr

    @always(clk.posedge)
    def update():
        first2.next = first
        buf2.next = buf
        addr2.next = addr
        if v2:
            w_re.next = new_re
            w_im.next = new_im

    @always_comb
    def previous():
        if first2:
            old_re.next = 0
            old_im.next = 0
        elif forward:
            old_re.next = w_re
            old_im.next = w_im
        elif buf2:
            old_re.next = q1_re
            old_im.next = q1_im
        else:
            old_re.next = q0_re
            old_im.next = q0_im

    @always_comb
    def accumulate():
        new_re.next = old_re + p_re
        new_im.next = old_im + p_im

    @always_comb
    def write_enable():
        we0.next = v2 and not buf2
        we1.next = v2 and buf2

    return rams, read_address, update_control, update, previous, accumulate, write_enable


@block
def _processing_element(
    clk,
    rst,
    run,
    buf,
    valid,
    first,
    bank,
    acc,
    w_re,
    w_im,
    bank_re,
    bank_im,
    rq_addr,
    q_re,
    q_im,
    *,
    plan: dict,
):
    """One PE from its decoded kernel word (clock 2 + s of slot s) to the accumulator write
    (end of clock 8 + s): issue registers (3), operand select among the banks' read data (5),
    :func:`_complex_mac` (8), :func:`_accumulator`.  ``run`` and ``buf`` are aligned with the word;
    ``q_re``, ``q_im`` are the read data of the two accumulator RAMs."""
    v3, first3, buf3 = (Signal(bool(0)) for _ in range(3))
    bank3, bank4 = Signal(intbv(0)[len(bank) :]), Signal(intbv(0)[len(bank) :])
    acc3, acc7 = Signal(intbv(0)[len(acc) :]), Signal(intbv(0)[len(acc) :])
    (rlo, rhi), (ilo, ihi) = signal_range(w_re), signal_range(w_im)
    c3, c5 = signed_signal(rlo, rhi), signed_signal(rlo, rhi)
    dc3, dc5 = signed_signal(ilo - rhi, ihi - rlo), signed_signal(ilo - rhi, ihi - rlo)
    cd3, cd5 = signed_signal(rlo + ilo, rhi + ihi), signed_signal(rlo + ilo, rhi + ihi)
    x_re, x_im = signed_signal(*signal_range(bank_re[0])), signed_signal(*signal_range(bank_im[0]))
    v7, first7, buf7 = (Signal(bool(0)) for _ in range(3))
    p_re, p_im = signed_signal(*plan["product"]), signed_signal(*plan["product"])

    @always_seq(clk.posedge, reset=rst)
    def issue_control():
        v3.next = run and valid

    @always(clk.posedge)
    def issue():
        first3.next = first
        buf3.next = buf
        bank3.next = bank
        acc3.next = acc
        c3.next = w_re
        dc3.next = w_im - w_re
        cd3.next = w_re + w_im

    operand = (
        delay_line(clk, bank3, bank4, 1),
        _select(clk, bank4, bank_re, x_re),
        _select(clk, bank4, bank_im, x_im),
    )
    weight = (
        delay_line(clk, c3, c5, 2),
        delay_line(clk, dc3, dc5, 2),
        delay_line(clk, cd3, cd5, 2),
    )
    control = (
        delay_bits(clk, rst, v3, v7, 4),
        delay_bits(clk, rst, first3, first7, 4),
        delay_bits(clk, rst, buf3, buf7, 4),
        delay_line(clk, acc3, acc7, 4),
    )
    mac = _complex_mac(clk, x_re, x_im, c5, dc5, cd5, p_re, p_im)
    accumulate = _accumulator(
        clk,
        rst,
        v7,
        first7,
        buf7,
        acc7,
        p_re,
        p_im,
        rq_addr,
        q_re,
        q_im,
        acc_range=plan["accumulator"],
    )
    return issue_control, issue, operand, weight, control, mac, accumulate


# --- readout --------------------------------------------------------------------------------


@block
def _readout(
    clk,
    rst,
    rd_en,
    rd_pe,
    rd_buf,
    rd_addr,
    rq_addr,
    acc_re,
    acc_im,
    rd_valid,
    rd_re,
    rd_im,
    *,
    shift: int,
    fmt,
):
    """``(rd_pe, rd_buf, rd_addr)`` → ``round_shift(acc, shift)`` saturated to ``fmt``,
    :data:`READOUT_LATENCY` clocks later: request register (drives ``rq_addr`` of every
    accumulator), RAM read, PE/parity select, rounding, saturation.  ``acc_re[2·pe + parity]``."""
    rq_en = Signal(bool(0))
    key1, key2 = (Signal(intbv(0)[len(rd_pe) + 1 :]) for _ in range(2))
    sel_re, sel_im = (
        signed_signal(*signal_range(acc_re[0])),
        signed_signal(*signal_range(acc_im[0])),
    )
    half = (1 << (shift - 1)) if shift > 0 else 0
    lo, hi = signal_range(sel_re)
    span = (
        ((lo + half) >> shift, (hi + half) >> shift) if shift >= 0 else (lo << -shift, hi << -shift)
    )
    round_re, round_im = signed_signal(*span), signed_signal(*span)
    sat_re, sat_im = format_signal(fmt), format_signal(fmt)

    @always_seq(clk.posedge, reset=rst)
    def request_control():
        rq_en.next = rd_en

    @always(clk.posedge)
    def request():
        rq_addr.next = rd_addr
        key1.next = concat(rd_pe, rd_buf)

    @always(clk.posedge)
    def output():
        rd_re.next = sat_re
        rd_im.next = sat_im

    return (
        request_control,
        request,
        delay_line(clk, key1, key2, 1),
        _select(clk, key2, acc_re, sel_re),
        _select(clk, key2, acc_im, sel_im),
        round_shift_register(clk, sel_re, round_re, shift),
        round_shift_register(clk, sel_im, round_im, shift),
        saturate(round_re, sat_re, fmt),
        saturate(round_im, sat_im, fmt),
        output,
        delay_bits(clk, rst, rq_en, rd_valid, READOUT_LATENCY - 1),
    )


# --- the engine -----------------------------------------------------------------------------


@block
def hadamard_engine(
    clk,
    rst,
    wr_en,
    wr_bank,
    wr_addr,
    wr_buf,
    wr_re,
    wr_im,
    start,
    start_buf,
    done,
    rd_en,
    rd_pe,
    rd_addr,
    rd_buf,
    rd_valid,
    rd_re,
    rd_im,
    *,
    lm,
    cfg: FixedPointConfig | None = None,
):
    """The Hadamard stage of layer ``lm`` (a :class:`~codesign.mapping.LayerMap` with its memory
    image), bit-exact with ``fxpmodel.hadamard_fixed``.

    Write port (FFT side): when ``wr_en``, spectrum word ``(wr_re, wr_im)`` goes to bank
    ``wr_bank``, address ``wr_addr`` of buffer ``wr_buf``, at the end of the clock.  With U FFT
    units, ``wr_en``, ``wr_bank``, ``wr_addr``, ``wr_re`` and ``wr_im`` may be lists of U ports
    (``wr_buf`` shared or one per port) all writing in the same clock: port u serves banks
    u·B/U … (u+1)·B/U − 1, those of the channels c ≡ u (mod U) (docs/schedule-format.md, bank
    assignment).

    Tiles: a ``start`` pulse runs the schedule once on spectrum buffer ``start_buf``,
    accumulating into accumulator parity ``start_buf``; ``start`` is taken when idle or in the last
    slot of the running tile, so tiles can follow each other every ``cycles`` clocks.  A tile's
    words must be written by clock ``start + 2``; its buffer is read until clock
    ``start + cycles + 2`` (writes for the next tile using it may follow).  ``done`` is high in
    clock ``start + hadamard_latency(cycles)``.

    Readout: ``rd_en`` with ``(rd_pe, rd_addr, rd_buf)`` gives ``(rd_re, rd_im)`` with ``rd_valid``
    :data:`READOUT_LATENCY` clocks later: group ``acc_addr`` of PE ``pe_of_group`` of the tile with
    that buffer bit, ``round_shift(acc, spectrum.frac + conv_weight.frac − product.frac)``
    saturated to ``product``.  A tile's groups may be requested from its ``done`` clock until
    clock ``start' + 5``, ``start'`` being the next tile with the same buffer bit (which then
    takes the parity over).  Groups with ``acc_addr == −1`` hold nothing: their output is 0.
    With ``lanes = arch.ifft_units`` > 1 the read-out ports are lists of that many lanes, read in
    the same clock without conflict: lane l owns the PEs p ≡ l (mod lanes) (the map stage puts
    channel o's groups there, :func:`hadamard_plan` checks it); its ``rd_pe`` is ``p // lanes``."""
    cfg = cfg or FixedPointConfig()
    ports = (
        list(zip(wr_en, wr_bank, wr_addr, wr_re, wr_im))
        if isinstance(wr_en, (list, tuple))
        else [(wr_en, wr_bank, wr_addr, wr_re, wr_im)]
    )
    g = hadamard_plan(lm, cfg, len(ports))
    P, B, cycles, layout = g["pes"], g["banks"], g["cycles"], g["layout"]

    # spectrum banks, written by the FFT side (bank b by port b // group), read by the crossbar
    group = B // len(ports)
    waddr = [Signal(intbv(0)[g["addr_bits"] + 1 :]) for _ in ports]
    we = [Signal(bool(0)) for _ in range(B)]
    raddr = [Signal(intbv(0)[g["addr_bits"] + 1 :]) for _ in range(B)]
    bank_re = [format_signal(cfg.spectrum) for _ in range(B)]
    bank_im = [format_signal(cfg.spectrum) for _ in range(B)]
    w_word = [_complex_word(bank_re[0], bank_im[0]) for _ in ports]
    r_word = [_complex_word(bank_re[b], bank_im[b]) for b in range(B)]
    writes = []
    bufs = list(wr_buf) if isinstance(wr_buf, (list, tuple)) else [wr_buf] * len(ports)
    for u, (_, _, w_addr, x_re, x_im) in enumerate(ports):
        writes += [
            buffer_address(bufs[u], w_addr, waddr[u]),
            _pack(x_re, x_im, w_word[u], im_bits=len(bank_im[0])),
        ]
    banks = []
    for b in range(B):
        en, sel = ports[b // group][:2]
        banks += [
            _bank_enable(en, sel, we[b], index=b),
            sdp_ram(clk, we[b], waddr[b // group], w_word[b // group], raddr[b], r_word[b]),
            _unpack(r_word[b], bank_re[b], bank_im[b]),
        ]

    # slot counter; the ROM words of a slot appear one clock later
    run, buf, last, run_k, buf_k = (Signal(bool(0)) for _ in range(5))
    slot = Signal(intbv(0, min=0, max=max(cycles, 2)))
    control = (
        _slot_counter(clk, rst, start, start_buf, run, slot, buf, last, cycles=cycles),
        delay_bits(clk, rst, run, run_k, 1),
        delay_bits(clk, rst, buf, buf_k, 1),
        delay_bits(clk, rst, last, done, PIPELINE_DEPTH),
    )

    # kernel memories
    width = sum(w for _, w in layout.values())
    word = [Signal(intbv(0)[width:]) for _ in range(P)]
    valid, first = [Signal(bool(0)) for _ in range(P)], [Signal(bool(0)) for _ in range(P)]
    bank = [Signal(intbv(0)[g["bank_bits"] :]) for _ in range(P)]
    addr = [Signal(intbv(0)[g["addr_bits"] :]) for _ in range(P)]
    acc = [Signal(intbv(0)[g["acc_bits"] :]) for _ in range(P)]
    w_re = [format_signal(cfg.conv_weight) for _ in range(P)]
    w_im = [format_signal(cfg.conv_weight) for _ in range(P)]
    kernels = [
        (
            rom(
                clk,
                slot,
                word[p],
                words=g["words"][p],
                style=rom_style(len(g["words"][p]), width),
            ),
            _word_fields(
                word[p],
                valid[p],
                first[p],
                bank[p],
                addr[p],
                acc[p],
                w_re[p],
                w_im[p],
                layout=layout,
            ),
        )
        for p in range(P)
    ]

    # crossbar: per bank, the address of the PE reading it
    crossbar = []
    for b in range(B):
        tail = addr[0]
        for p in range(1, P):
            nxt = Signal(intbv(0)[g["addr_bits"] :])
            crossbar.append(_route(tail, valid[p], bank[p], addr[p], nxt, index=b))
            tail = nxt
        crossbar.append(_bank_address(clk, buf_k, tail, raddr[b]))

    # PEs and readout: lane l reads the PEs p ≡ l (mod lanes) at its own address
    lanes = g["lanes"]
    rq_addr = [Signal(intbv(0)[g["acc_bits"] :]) for _ in range(lanes)]
    acc_re = [signed_signal(*g["accumulator"]) for _ in range(2 * P)]
    acc_im = [signed_signal(*g["accumulator"]) for _ in range(2 * P)]
    pes = [
        _processing_element(
            clk,
            rst,
            run_k,
            buf_k,
            valid[p],
            first[p],
            bank[p],
            acc[p],
            w_re[p],
            w_im[p],
            bank_re,
            bank_im,
            rq_addr[p % lanes],
            acc_re[2 * p : 2 * p + 2],
            acc_im[2 * p : 2 * p + 2],
            plan=g,
        )
        for p in range(P)
    ]
    read = [rd_en, rd_pe, rd_buf, rd_addr, rd_valid, rd_re, rd_im]
    if lanes == 1:
        read = [[r] for r in read]
    readout = []
    for lane in range(lanes):
        mine = [i for p in range(lane, P, lanes) for i in (2 * p, 2 * p + 1)]
        en, pe, rbuf, raddr_l, valid_l, re_l, im_l = (r[lane] for r in read)
        readout.append(
            _readout(
                clk,
                rst,
                en,
                pe,
                rbuf,
                raddr_l,
                rq_addr[lane],
                [acc_re[i] for i in mine],
                [acc_im[i] for i in mine],
                valid_l,
                re_l,
                im_l,
                shift=g["shift"],
                fmt=cfg.product,
            )
        )
    return writes, banks, control, kernels, crossbar, pes, readout
