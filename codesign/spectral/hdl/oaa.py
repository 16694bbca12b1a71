"""The back end of a spectral conv layer engine: overlap-add, bias, rounding, ReLU, max-pool.

``units`` (U) inverse-FFT streams deliver N×N tile outputs in the product format (what
``irfft2_fixed`` returns); stream i carries the output channels o ≡ i (mod U).  Each sample
``(o, ty, tx, n, x)`` is added exactly into map pixel ``(ty·L + n // N, tx·L + n % N)`` of
channel o; pixels outside the valid region (rows/columns K−1 … H−1) — and, with pool = 2, the odd
last row/column that the pool drops — are never stored.  After ``finish`` a finalisation pass
emits, per channel o and pooled position (py, px) in raster order (o outer), exactly
``spectral_layer_fixed``'s ``maxpool(ReLU(sat(round_shift(acc + (bias << s), s))))`` with
``s = product.frac − activation.frac``, one value per clock under ``out_ready`` back-pressure.

Memory: per stream, two map buffers (ping-pong: image i is emitted from one while image i+1
accumulates into the other), each split into pool² banks by (y mod 2, x mod 2), so the four
pixels of a pool window share one address and are read in one clock.  A bank holds
``ceil(O/U)·(out_h//pool)·(out_w//pool)`` words of the exact overlap-add sum (product bits +
log2 of the ceil(N/L)² contributions per pixel): a simple dual-port block RAM with registered
read.  The finalisation pass clears every word it reads (one clock later, on the otherwise idle
write port), so a buffer is zero again when its pass ends; after reset both buffers are swept to
zero once (:func:`oaa_latency` ``scrub`` clocks, ``in_ready`` low).

Accumulation pipeline per stream: input register (pixel coordinates) → address register (RAM
read) → add and write.  A sample reads its word while the previous sample writes, so the add
takes the previous sample's sum instead of the RAM word when both hit the same word of the same
bank (forwarding): ANY sample sequence is exact, even consecutive samples on one pixel.

Control registers have a synchronous active-high reset; data registers have none.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, always_seq, block, concat, intbv, modbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import (
    format_signal,
    pack_words,
    signed_bits,
    signed_signal,
    sync_reset,
    uint_signal,
    words_signal,
)
from codesign.spectral.conv import geometry
from codesign.spectral.fixedpoint import FixedPointConfig, round_shift

__all__ = [
    "oaa_plan",
    "oaa_latency",
    "oaa_signals",
    "oaa_unit",
    "oaa_packed",
    "oaa_packed_signals",
    "sum_levels",
]

ACCUMULATE_STAGES = 3  # input register, address register, add-and-write
FINALISE_STAGES = 7  # pass start, RAM read, stream select, bias+round, clamp, max, max/output


def oaa_plan(
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    units: int = 1,
    cfg: FixedPointConfig | None = None,
    slices: int = 1,
    words: int = 1,
) -> dict:
    """Geometry and memory sizes of :func:`oaa_unit` (raises ValueError on unsupported shapes).

    ``Hp × Wp`` pooled outputs per channel; ``depth`` words per bank; ``banks`` = pool² per
    buffer; ``memories`` = 2·banks·units·slices RAMs of ``depth`` words of ``acc_bits`` bits;
    ``contributions`` = ceil(N/L)², the most tile samples one pixel receives; ``shift`` =
    product.frac − activation.frac; ``streams`` = units·slices; ``beats`` = O·Hp·Wp / ``words``,
    the clocks of an output pass that emits ``words`` channels per clock."""
    cfg = cfg or FixedPointConfig()
    g = geometry(H, W, K, N)
    if pool not in (1, 2):
        raise ValueError(f"pool must be 1 or 2, got {pool}")
    if not 1 <= units <= O:
        raise ValueError(f"units must be in 1..O={O}, got {units}")
    if slices < 1:
        raise ValueError(f"slices must be >= 1, got {slices}")
    if words < 1 or units % words or O % words:
        raise ValueError(
            f"{words} output words per clock need a divisor of both the {units} streams "
            f"and the {O} channels (each word comes from its own stream)"
        )
    Hp, Wp = g.out_h // pool, g.out_w // pool
    if Hp < 1 or Wp < 1:
        raise ValueError(f"output {g.out_h}x{g.out_w} is smaller than the pool window")
    contributions = (-(-N // g.L)) ** 2
    p = cfg.product
    acc_min, acc_max = contributions * p.min, contributions * p.max
    per_unit = -(-O // units)
    return {
        "L": g.L,
        "tiles_h": g.tiles_h,
        "tiles_w": g.tiles_w,
        "out_h": g.out_h,
        "out_w": g.out_w,
        "Hp": Hp,
        "Wp": Wp,
        "pool": pool,
        "units": units,
        "slices": slices,
        "streams": units * slices,
        "channels_per_unit": per_unit,
        "depth": per_unit * Hp * Wp,
        "banks": pool * pool,
        "memories": 2 * pool * pool * units * slices,
        "contributions": contributions,
        "acc_min": acc_min,
        "acc_max": acc_max,
        "acc_bits": signed_bits(acc_min, acc_max),
        "shift": cfg.product.frac - cfg.activation.frac,
        "outputs": O * Hp * Wp,
        "words": words,
        "beats": O * Hp * Wp // words,
    }


def oaa_latency(
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    units: int = 1,
    slices: int = 1,
    words: int = 1,
) -> dict:
    """Timing of :func:`oaa_unit` in clocks.

    ``first``: from the clock that presents ``finish`` to the first output (``out_valid``
    registered), unless an earlier pass is still running: the finish token follows the last
    sample through the accumulation pipeline (:data:`ACCUMULATE_STAGES` = 3), then the pass
    starts (1), reads (1), selects the stream (1), adds the bias and rounds (1), clamps (1) and
    max-pools in two levels (2): 10, plus :func:`sum_levels` with ``slices`` > 1 (the slices'
    partial sums are added in their own stages).  ``outputs``: the pass's beats, O·Hp·Wp /
    ``words``; ``last``: ``first + outputs − 1`` while ``out_ready`` stays high (one beat per
    clock).  ``scrub``: from the first clock without
    reset to the first with ``in_ready`` (the zero sweep writes one word of every bank per
    clock: ``depth``).  ``drain``: a buffer is free for the next image but one (``in_ready``)
    in the clock ``drain`` clocks before its pass's last output (the pass has read and
    cleared it all).
    """
    plan = oaa_plan(O, H, W, K, N, pool, units, slices=slices, words=words)
    first = ACCUMULATE_STAGES + FINALISE_STAGES + sum_levels(slices)
    return {
        "first": first,
        "last": first + plan["beats"] - 1,
        "outputs": plan["beats"],
        "scrub": plan["depth"],
        "drain": FINALISE_STAGES + sum_levels(slices) - 3,
    }


def _port_ranges(O: int, N: int, plan: dict) -> dict:
    return {"o": O, "ty": plan["tiles_h"], "tx": plan["tiles_w"], "n": N * N}


def oaa_signals(
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    units: int = 1,
    cfg: FixedPointConfig | None = None,
    slices: int = 1,
    words: int = 1,
) -> dict:
    """Fresh port signals for :func:`oaa_unit`; the ``in_*`` ports are lists, one per stream."""
    cfg = cfg or FixedPointConfig()
    plan = oaa_plan(O, H, W, K, N, pool, units, cfg, slices, words)
    n_in = plan["streams"]
    sig = {
        "clk": Signal(bool(0)),
        "rst": sync_reset(),
        "in_valid": [Signal(bool(0)) for _ in range(n_in)],
    }
    for name, n in _port_ranges(O, N, plan).items():
        sig[f"in_{name}"] = [uint_signal(n) for _ in range(n_in)]
    sig["in_x"] = [format_signal(cfg.product) for _ in range(n_in)]
    sig.update(_output_signals(O, plan, cfg))
    return sig


def _output_signals(O: int, plan: dict, cfg: FixedPointConfig) -> dict:
    return {
        "finish": Signal(bool(0)),
        "in_ready": Signal(bool(0)),
        "out_valid": Signal(bool(0)),
        "out_ready": Signal(bool(0)),
        "out_o": uint_signal(O),
        "out_y": uint_signal(plan["Hp"]),
        "out_x": uint_signal(plan["Wp"]),
        "out_v": words_signal(cfg.activation, plan["words"]),
    }


# --- one map bank -------------------------------------------------------------------------


@block
def _ram_ports(
    ren,
    raddr,
    we,
    waddr,
    wdata,
    fin,
    scrub,
    scrub_addr,
    advance,
    f_addr,
    clr,
    c_mine,
    c_addr,
    w_we,
    w_addr,
    w_sum,
    req_addr,
):
    """Port multiplexer of one buffer: zero sweep after reset, else finalisation (read under
    back-pressure, clear behind the read) while ``fin``, else accumulation."""

    @always_comb
    def read_port():
        if fin:
            raddr.next = f_addr
            ren.next = advance
        else:
            raddr.next = req_addr
            ren.next = True

    @always_comb
    def write_port():
        if scrub:
            we.next = True
            waddr.next = scrub_addr
            wdata.next = 0
        elif fin:
            we.next = clr and c_mine
            waddr.next = c_addr
            wdata.next = 0
        else:
            we.next = w_we
            waddr.next = w_addr
            wdata.next = w_sum

    return read_port, write_port


@block
def _map_bank(
    clk,
    rst,
    req,
    req_bank,
    req_addr,
    req_sel,
    req_x,
    scrub,
    scrub_addr,
    fin0,
    fin1,
    advance,
    f_addr,
    clr,
    c_sel,
    c_addr,
    f1_sel,
    fin_q,
    *,
    bank: int,
    depth: int,
):
    """Bank ``bank`` of one stream, both ping-pong buffers: the add-and-write stage with
    forwarding, and the buffer's word for the finalisation pass (``fin_q``)."""
    rng = (fin_q.min, fin_q.max)
    mine, w_en, w_sel, fwd = (Signal(bool(0)) for _ in range(4))
    w_we0, w_we1, c_mine0, c_mine1 = (Signal(bool(0)) for _ in range(4))
    w_addr = uint_signal(depth)
    w_x = Signal(intbv(0, min=req_x.min, max=req_x.max))
    rd0, rd1, operand, w_sum, fwd_val = (Signal(intbv(0, min=rng[0], max=rng[1])) for _ in range(5))
    ports, rams = [], []
    for rd, w_we, c_mine, fin in ((rd0, w_we0, c_mine0, fin0), (rd1, w_we1, c_mine1, fin1)):
        ren, we = Signal(bool(0)), Signal(bool(0))
        raddr, waddr = uint_signal(depth), uint_signal(depth)
        wdata = Signal(intbv(0, min=rng[0], max=rng[1]))
        ports.append(
            _ram_ports(
                ren,
                raddr,
                we,
                waddr,
                wdata,
                fin,
                scrub,
                scrub_addr,
                advance,
                f_addr,
                clr,
                c_mine,
                c_addr,
                w_we,
                w_addr,
                w_sum,
                req_addr,
            )
        )
        rams.append(sdp_ram(clk, we, waddr, wdata, raddr, rd, ren=ren, depth=depth))

    if req_bank is None:

        @always_comb
        def select():
            mine.next = req
    else:

        @always_comb
        def select():
            mine.next = req and req_bank == bank

    @always_comb
    def enables():
        w_we0.next = w_en and not w_sel
        w_we1.next = w_en and w_sel
        c_mine0.next = not c_sel
        c_mine1.next = c_sel

    @always_seq(clk.posedge, reset=rst)
    def stage_control():
        w_en.next = mine
        fwd.next = w_en and mine and req_addr == w_addr and req_sel == w_sel

    @always(clk.posedge)
    def stage_data():
        w_addr.next = req_addr
        w_sel.next = req_sel
        fwd_val.next = w_sum
        if mine:
            w_x.next = req_x
        else:
            w_x.next = 0

    @always_comb
    def forward():
        if fwd:
            operand.next = fwd_val
        elif w_sel:
            operand.next = rd1
        else:
            operand.next = rd0

    @always_comb
    def add():
        w_sum.next = operand + w_x

    @always_comb
    def finalise_word():
        if f1_sel:
            fin_q.next = rd1
        else:
            fin_q.next = rd0

    return (ports, rams, select, enables, stage_control, stage_data, forward, add, finalise_word)


# --- one stream ---------------------------------------------------------------------------


@block
def _link(f1_lane, own, prev, out, *, lane: int):
    """Daisy chain across streams: the finalised word of stream ``f1_lane``."""
    if prev is None:

        @always_comb
        def pick():
            out.next = own
    else:

        @always_comb
        def pick():
            if f1_lane == lane:
                out.next = own
            else:
                out.next = prev

    return pick


@block
def _stream(
    clk,
    rst,
    valid,
    o,
    ty,
    tx,
    n,
    x,
    sel,
    scrub,
    scrub_addr,
    fin0,
    fin1,
    advance,
    f_addr,
    c_we,
    c_lane,
    c_sel,
    c_addr,
    f1_sel,
    f1_lane,
    chain_in,
    chain_out,
    *,
    lane: int,
    K: int,
    N: int,
    plan: dict,
    bases: tuple,
):
    """One input stream: pixel coordinates → bank address (dropping pixels outside the stored
    region) → pool² :func:`_map_bank`; its words join the cross-stream chain of its output
    word.  ``lane``: the stream's group of the pass (``f1_lane``/``c_lane`` count groups of
    ``plan["words"]`` streams)."""
    L, pool, depth = plan["L"], plan["pool"], plan["depth"]
    Hs, Ws, Wp = plan["Hp"] * pool, plan["Wp"] * pool, plan["Wp"]
    b = (N - 1).bit_length()
    ps = pool - 1
    wy = ((plan["tiles_h"] - 1) * L + N - 1).bit_length() + 1
    wx = ((plan["tiles_w"] - 1) * L + N - 1).bit_length() + 1
    a_valid, a_sel, req, req_sel, clr = (Signal(bool(0)) for _ in range(5))
    a_yy, a_xx = Signal(modbv(0)[wy:]), Signal(modbv(0)[wx:])
    a_base, req_addr = uint_signal(depth), uint_signal(depth)
    a_x = Signal(intbv(0, min=x.min, max=x.max))
    req_x = Signal(intbv(0, min=x.min, max=x.max))
    req_bank = Signal(intbv(0)[2:]) if pool == 2 else None

    @always_seq(clk.posedge, reset=rst)
    def input_control():
        a_valid.next = valid

    @always(clk.posedge)
    def input_data():
        a_base.next = bases[o]
        a_yy.next = ty * L + (n >> b) - (K - 1)
        a_xx.next = tx * L + (n & (N - 1)) - (K - 1)
        a_x.next = x
        a_sel.next = sel

    @always_seq(clk.posedge, reset=rst)
    def address_control():
        req.next = a_valid and a_yy < Hs and a_xx < Ws

    @always(clk.posedge)
    def address_data():
        if a_yy < Hs and a_xx < Ws:
            req_addr.next = a_base + (a_yy >> ps) * Wp + (a_xx >> ps)
        else:
            req_addr.next = 0
        req_sel.next = a_sel
        req_x.next = a_x

    if pool == 2:

        @always(clk.posedge)
        def address_bank():
            req_bank.next = concat(a_yy[0], a_xx[0])
    else:
        address_bank = ()

    @always_comb
    def clear_mine():
        clr.next = c_we and c_lane == lane

    banks, links = [], []
    for k in range(plan["banks"]):
        own = Signal(intbv(0, min=chain_out[k].min, max=chain_out[k].max))
        banks.append(
            _map_bank(
                clk,
                rst,
                req,
                req_bank,
                req_addr,
                req_sel,
                req_x,
                scrub,
                scrub_addr,
                fin0,
                fin1,
                advance,
                f_addr,
                clr,
                c_sel,
                c_addr,
                f1_sel,
                own,
                bank=k,
                depth=depth,
            )
        )
        links.append(
            _link(f1_lane, own, None if chain_in is None else chain_in[k], chain_out[k], lane=lane)
        )

    return (
        input_control,
        input_data,
        address_control,
        address_data,
        address_bank,
        clear_mine,
        banks,
        links,
    )


# --- finalisation -------------------------------------------------------------------------


@block
def _pixel(clk, advance, word, bias, q, *, shift: int, lo: int, hi: int):
    """One pool-window pixel: register the word, ``round_shift(word + bias', shift)`` (bias'
    holds the bias and the rounding half), then clamp to [lo, hi] (saturation and ReLU)."""
    a = Signal(intbv(0, min=word.min, max=word.max))
    t_lo = a.min + bias.min
    t_hi = a.max - 1 + bias.max - 1
    if shift > 0:
        t_lo, t_hi = t_lo >> shift, t_hi >> shift
    else:
        t_lo, t_hi = t_lo << -shift, t_hi << -shift
    t = signed_signal(t_lo, t_hi)

    @always(clk.posedge)
    def select():
        if advance:
            a.next = word

    if shift > 0:

        @always(clk.posedge)
        def rescale():
            if advance:
                t.next = (a + bias) >> shift
    elif shift < 0:

        @always(clk.posedge)
        def rescale():
            if advance:
                t.next = (a + bias) << -shift
    else:

        @always(clk.posedge)
        def rescale():
            if advance:
                t.next = a + bias

    @always(clk.posedge)
    def clamp():
        if advance:
            if t > hi:
                q.next = hi
            elif t < lo:
                q.next = lo
            else:
                q.next = t

    return select, rescale, clamp


@block
def _max2(clk, advance, a, b, y):
    """``y = max(a, b)`` registered (``y = a`` when ``b`` is None)."""
    if b is None:

        @always(clk.posedge)
        def pick():
            if advance:
                y.next = a
    else:

        @always(clk.posedge)
        def pick():
            if advance:
                if b > a:
                    y.next = b
                else:
                    y.next = a

    return pick


def sum_levels(slices: int) -> int:
    """Registered adder levels that sum ``slices`` partial words (a binary tree)."""
    return (slices - 1).bit_length()


@block
def _add_register(clk, advance, a, b, y):
    """``y`` ← ``a + b`` (or ``a`` when ``b`` is None), registered while ``advance``."""
    if b is None:

        @always(clk.posedge)
        def add():
            if advance:
                y.next = a
    else:

        @always(clk.posedge)
        def add():
            if advance:
                y.next = a + b

    return add


@block
def _slice_sum(clk, advance, parts, total):
    """``total`` ← the sum of the slices' partial words, a binary tree of
    :func:`sum_levels` registered levels (one adder deep each)."""
    level, adders = list(parts), []
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            y = total if len(level) <= 2 else Signal(intbv(0, min=total.min, max=total.max))
            b = level[i + 1] if i + 1 < len(level) else None
            adders.append(_add_register(clk, advance, level[i], b, y))
            nxt.append(y)
        level = nxt
    return adders


@block
def _finalise(clk, advance, g_o, total, y, *, bias_rom, shift: int, lo: int, hi: int, pool: int):
    """One output word of the pass: per pixel of the pool window, bias of channel ``g_o``,
    rounding and clamp (:func:`_pixel`), then the 2×2 max in two levels into ``y``."""
    f2_bias = signed_signal(min(bias_rom), max(bias_rom))
    q = [Signal(intbv(0, min=lo, max=hi + 1)) for _ in range(len(total))]
    m = [Signal(intbv(0, min=lo, max=hi + 1)) for _ in range(2)]

    @always(clk.posedge)
    def bias_of():
        if advance:
            f2_bias.next = bias_rom[g_o]

    pixels = [
        _pixel(clk, advance, total[b], f2_bias, q[b], shift=shift, lo=lo, hi=hi)
        for b in range(len(total))
    ]
    if pool == 2:
        pooling = [
            _max2(clk, advance, q[0], q[1], m[0]),
            _max2(clk, advance, q[2], q[3], m[1]),
            _max2(clk, advance, m[0], m[1], y),
        ]
    else:
        pooling = [_max2(clk, advance, q[0], None, m[0]), _max2(clk, advance, m[0], None, y)]
    return bias_of, pixels, pooling


@block
def _stage(clk, rst, advance, v, o, py, px, v_q, o_q, py_q, px_q):
    """One pipeline stage of the pass's (valid, o, py, px) tag."""

    @always_seq(clk.posedge, reset=rst)
    def control():
        if advance:
            v_q.next = v

    @always(clk.posedge)
    def data():
        if advance:
            o_q.next = o
            py_q.next = py
            px_q.next = px

    return control, data


@block
def oaa_unit(
    clk,
    rst,
    in_valid,
    in_o,
    in_ty,
    in_tx,
    in_n,
    in_x,
    finish,
    in_ready,
    out_valid,
    out_ready,
    out_o,
    out_y,
    out_x,
    out_v,
    *,
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    relu: bool = True,
    bias=(),
    units: int = 1,
    cfg: FixedPointConfig | None = None,
    slices: int = 1,
    words: int = 1,
):
    """Overlap-add, bias, rounding, saturation, ReLU and max-pool of one spectral conv layer.

    ``slices`` (S) groups of ``units`` (U) streams: stream s·U + i carries the channels
    o ≡ i (mod U) of the tiles of slice s; each stream sums into its own memories and the
    finalisation pass adds the S partial sums of a pixel (:func:`sum_levels` more stages), so tiles
    that overlap may come from different slices in the same clock.
    In (lists of S·U signals, stream i carrying the channels o ≡ i mod U): ``in_valid``,
    ``in_o``, ``in_ty``, ``in_tx``, ``in_n`` (raster index in the N×N tile), ``in_x`` (product
    format).  Every (o, tile) of an image arrives once; samples may come in any order, with any
    gaps, interleaved with other tiles (no spacing rule: forwarding makes every sequence exact).
    ``finish`` pulses once per image, with or after its last sample (samples in the ``finish``
    clock belong to the finishing image).  The first sample of an image needs ``in_ready``
    (which then stays high until that image's ``finish``): it is low during the zero sweep
    after reset, and from a ``finish`` clock on (already in it, so that the next image may
    start there) while the previous image is still being emitted from the buffer the next
    image would fill (that queued pass then follows the running one at once).  Out:
    ``(out_o, out_y, out_x, out_v)`` per pooled position, o outer then raster order,
    valid/ready handshake (all held while ``out_valid`` and not ``out_ready``).  With ``words``
    (k) > 1 a beat carries the channels ``out_o`` … ``out_o`` + k − 1 at one position
    (``out_o`` a multiple of k; word w in bits [w·b, (w + 1)·b) of ``out_v``,
    :func:`~codesign.hdl.signals.words_signal`): the k streams of a group are read in the
    same clock, so a pass takes O·Hp·Wp / k clocks.
    ``bias``: O integers in the activation format.  Timing :func:`oaa_latency`; sizes
    :func:`oaa_plan`."""
    cfg = cfg or FixedPointConfig()
    plan = oaa_plan(O, H, W, K, N, pool, units, cfg, slices, words)
    if len(bias) != O:
        raise ValueError(f"need {O} biases, got {len(bias)}")
    act, shift = cfg.activation, plan["shift"]
    depth, Hp, Wp, U, k = plan["depth"], plan["Hp"], plan["Wp"], units, words
    G = U // k  # groups of k streams, read out together
    HW = Hp * Wp
    bias_acc = [int(round_shift(int(v), -shift)) for v in bias]
    lo_sum = plan["acc_min"] + min(bias_acc)
    hi_sum = plan["acc_max"] + max(bias_acc)
    if lo_sum < cfg.accumulator.min or hi_sum > cfg.accumulator.max:
        raise ValueError("the accumulator format cannot hold the exact overlap-add sums")
    half = 1 << (shift - 1) if shift > 0 else 0
    bias_rom = tuple(v + half for v in bias_acc)
    # word w's bias, indexed by the beat's first channel
    bias_roms = [tuple(bias_rom[(o + w) % O] for o in range(O)) for w in range(k)]
    bases = tuple((o // U) * HW for o in range(O))

    # accumulation side: image buffer select and the finish token behind the last sample
    acc_sel, scrub = Signal(bool(0)), Signal(bool(1))
    scrub_addr = uint_signal(depth)
    tok_a, tok_b, tok_c, tsel_a, tsel_b, tsel_c = (Signal(bool(0)) for _ in range(6))

    @always_seq(clk.posedge, reset=rst)
    def image_control():
        if finish:
            acc_sel.next = not acc_sel
        tok_a.next = finish
        tsel_a.next = acc_sel
        tok_b.next = tok_a
        tsel_b.next = tsel_a
        tok_c.next = tok_b
        tsel_c.next = tsel_b

    @always_seq(clk.posedge, reset=rst)
    def zero_sweep():
        if scrub:
            if scrub_addr == depth - 1:
                scrub.next = False
                scrub_addr.next = 0
            else:
                scrub_addr.next = scrub_addr + 1

    # finalisation pass: read address counters, one step per advancing clock
    advance, f_active, f_sel, f_last, pend, pend_sel = (Signal(bool(0)) for _ in range(6))
    f_lane, f_o, f_py, f_px = uint_signal(G), uint_signal(O), uint_signal(Hp), uint_signal(Wp)
    f_base, f_addr = uint_signal(depth), uint_signal(depth)
    f1_valid, f1_sel, c_we, c_sel = (Signal(bool(0)) for _ in range(4))
    f1_lane, c_lane, f1_o, f1_py, f1_px = (
        uint_signal(G),
        uint_signal(G),
        uint_signal(O),
        uint_signal(Hp),
        uint_signal(Wp),
    )
    c_addr = uint_signal(depth)
    fin0, fin1 = Signal(bool(0)), Signal(bool(0))

    @always_comb
    def handshake():
        advance.next = out_ready or not out_valid
        f_last.next = f_o == O - k and f_py == Hp - 1 and f_px == Wp - 1

    @always_comb
    def buffer_roles():
        fin0.next = (f_active and not f_sel) or (f1_valid and not f1_sel) or (c_we and not c_sel)
        fin1.next = (f_active and f_sel) or (f1_valid and f1_sel) or (c_we and c_sel)

    @always_comb
    def ready():
        # in the finish clock the next image already asks for the other buffer
        if acc_sel ^ finish:
            in_ready.next = not scrub and not fin1
        else:
            in_ready.next = not scrub and not fin0

    @always_seq(clk.posedge, reset=rst)
    def pass_control():
        c_we.next = advance and f_active
        if advance:
            f1_valid.next = f_active
        if advance and f_active:
            if f_px == Wp - 1:
                f_px.next = 0
                if f_py == Hp - 1:
                    f_py.next = 0
                    if f_o == O - k:
                        f_active.next = False
                        f_o.next = 0
                        f_lane.next = 0
                        f_base.next = 0
                        f_addr.next = 0
                    else:
                        f_o.next = f_o + k
                        if f_lane == G - 1:
                            f_lane.next = 0
                            f_base.next = f_base + HW
                            f_addr.next = f_base + HW
                        else:
                            f_lane.next = f_lane + 1
                            f_addr.next = f_base
                else:
                    f_py.next = f_py + 1
                    f_addr.next = f_addr + 1
            else:
                f_px.next = f_px + 1
                f_addr.next = f_addr + 1
        if tok_c:
            if f_active and not (advance and f_last):
                pend.next = True
                pend_sel.next = tsel_c
            else:
                f_active.next = True
                f_sel.next = tsel_c
        elif pend and (not f_active or (advance and f_last)):
            pend.next = False
            f_active.next = True
            f_sel.next = pend_sel

    @always(clk.posedge)
    def pass_data():
        c_sel.next = f_sel
        c_lane.next = f_lane
        c_addr.next = f_addr
        if advance:
            f1_sel.next = f_sel
            f1_lane.next = f_lane
            f1_o.next = f_o
            f1_py.next = f_py
            f1_px.next = f_px

    # the streams and their map banks; per slice, the chain selects stream f1_lane's words
    word = dict(min=plan["acc_min"], max=plan["acc_max"] + 1)
    S = slices
    chains = [[Signal(intbv(0, **word)) for _ in range(plan["banks"])] for _ in range(S * U)]
    streams = [
        _stream(
            clk,
            rst,
            in_valid[i],
            in_o[i],
            in_ty[i],
            in_tx[i],
            in_n[i],
            in_x[i],
            acc_sel,
            scrub,
            scrub_addr,
            fin0,
            fin1,
            advance,
            f_addr,
            c_we,
            c_lane,
            c_sel,
            c_addr,
            f1_sel,
            f1_lane,
            chains[i - k] if i % U >= k else None,
            chains[i],
            lane=(i % U) // k,
            K=K,
            N=N,
            plan=plan,
            bases=bases,
        )
        for i in range(S * U)
    ]
    # the chain of word w in slice s ends at stream s·U + U − k + w
    ends = [[chains[s * U + U - k + w] for s in range(S)] for w in range(k)]
    if S == 1:
        totals, summing = [e[0] for e in ends], []
    else:
        totals = [[Signal(intbv(0, **word)) for _ in range(plan["banks"])] for _ in range(k)]
        summing = [
            _slice_sum(clk, advance, [ends[w][s][b] for s in range(S)], totals[w][b])
            for w in range(k)
            for b in range(plan["banks"])
        ]
    g_valid, g_o, g_py, g_px = f1_valid, f1_o, f1_py, f1_px
    for _ in range(sum_levels(S)):
        tag = Signal(bool(0)), uint_signal(O), uint_signal(Hp), uint_signal(Wp)
        summing.append(_stage(clk, rst, advance, g_valid, g_o, g_py, g_px, *tag))
        g_valid, g_o, g_py, g_px = tag

    lo = max(0, act.min) if relu else act.min
    values = [format_signal(act) for _ in range(k)]
    finals = [
        _finalise(
            clk,
            advance,
            g_o,
            totals[w],
            values[w],
            bias_rom=bias_roms[w],
            shift=shift,
            lo=lo,
            hi=act.max,
            pool=pool,
        )
        for w in range(k)
    ]
    packing = pack_words(values, out_v)

    # (valid, o, py, px) of stages select, round, clamp, max; then the output registers
    v2, v3, v4, v5 = (Signal(bool(0)) for _ in range(4))
    o2, o3, o4, o5 = (uint_signal(O) for _ in range(4))
    y2, y3, y4, y5 = (uint_signal(Hp) for _ in range(4))
    x2, x3, x4, x5 = (uint_signal(Wp) for _ in range(4))

    @always_seq(clk.posedge, reset=rst)
    def output_control():
        if advance:
            v2.next = g_valid
            v3.next = v2
            v4.next = v3
            v5.next = v4
            out_valid.next = v5

    @always(clk.posedge)
    def output_position():
        if advance:
            o2.next = g_o
            y2.next = g_py
            x2.next = g_px
            o3.next = o2
            y3.next = y2
            x3.next = x2
            o4.next = o3
            y4.next = y3
            x4.next = x3
            o5.next = o4
            y5.next = y4
            x5.next = x4
            out_o.next = o5
            out_y.next = y5
            out_x.next = x5

    return (
        image_control,
        zero_sweep,
        handshake,
        buffer_roles,
        ready,
        pass_control,
        pass_data,
        streams,
        summing,
        finals,
        packing,
        output_control,
        output_position,
    )


# --- a flat top for stand-alone conversion ------------------------------------------------


def oaa_packed_signals(
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    units: int = 1,
    cfg: FixedPointConfig | None = None,
    slices: int = 1,
    words: int = 1,
) -> dict:
    """Port signals of :func:`oaa_packed`: stream i's field occupies bits [i·w, (i+1)·w) of
    the packed ``in_*`` word (``in_x`` two's complement)."""
    cfg = cfg or FixedPointConfig()
    plan = oaa_plan(O, H, W, K, N, pool, units, cfg, slices, words)
    n = plan["streams"]
    sig = {"clk": Signal(bool(0)), "rst": sync_reset(), "in_valid": Signal(intbv(0)[n:])}
    for name, r in _port_ranges(O, N, plan).items():
        sig[f"in_{name}"] = Signal(intbv(0)[n * len(uint_signal(r)) :])
    sig["in_x"] = Signal(intbv(0)[n * cfg.product.bits :])
    sig.update(_output_signals(O, plan, cfg))
    return sig


@block
def _unpack(packed, field, *, lo: int, signed: bool):
    """``field`` = bits [lo, lo + len(field)) of ``packed`` (two's complement if ``signed``)."""
    hi = lo + len(field)
    if signed:

        @always_comb
        def take():
            field.next = packed[hi:lo].signed()
    else:

        @always_comb
        def take():
            field.next = packed[hi:lo]

    return take


@block
def oaa_packed(
    clk,
    rst,
    in_valid,
    in_o,
    in_ty,
    in_tx,
    in_n,
    in_x,
    finish,
    in_ready,
    out_valid,
    out_ready,
    out_o,
    out_y,
    out_x,
    out_v,
    *,
    O: int,
    H: int,
    W: int,
    K: int,
    N: int,
    pool: int = 2,
    relu: bool = True,
    bias=(),
    units: int = 1,
    cfg: FixedPointConfig | None = None,
    slices: int = 1,
    words: int = 1,
):
    """:func:`oaa_unit` with the per-stream ports packed into vectors (MyHDL converts no list
    ports): the top to convert the block on its own, for any ``units``, ``slices`` and
    ``words``."""
    cfg = cfg or FixedPointConfig()
    lists = oaa_signals(O, H, W, K, N, pool, units, cfg, slices, words)
    packed = {
        "in_valid": in_valid,
        "in_o": in_o,
        "in_ty": in_ty,
        "in_tx": in_tx,
        "in_n": in_n,
        "in_x": in_x,
    }
    unpack = []
    for name, vec in packed.items():
        for i, field in enumerate(lists[name]):
            width = len(field) if name != "in_valid" else 1
            unpack.append(_unpack(vec, field, lo=i * width, signed=name == "in_x"))
    core = oaa_unit(
        clk,
        rst,
        *(lists[k] for k in packed),
        finish,
        in_ready,
        out_valid,
        out_ready,
        out_o,
        out_y,
        out_x,
        out_v,
        O=O,
        H=H,
        W=W,
        K=K,
        N=N,
        pool=pool,
        relu=relu,
        bias=bias,
        units=units,
        cfg=cfg,
        slices=slices,
        words=words,
    )
    return unpack, core
