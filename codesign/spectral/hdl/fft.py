"""Streaming radix-2 FFT units in MyHDL, bit-exact with :mod:`codesign.fixedpoint`.

Every transform is the decimation-in-time graph of :func:`~codesign.fixedpoint.fft_radix2`
(same butterflies, same twiddles, same rounding and per-stage saturation), laid out as a
*single-path delay-feedback* (SDF) pipeline: one complex sample per clock, one butterfly per
stage, so a stage whose twiddles are all trivial (``W^0 = 1``, ``W^(m/4) = ∓j``; quantised exactly,
so swapping/negating gives the very same integers as multiplying) needs no multiplier, and every
other stage owns ONE complex multiplier of three DSP48E1-sized products (``k1 = wr(br+bi)``,
``k2 = br(wi−wr)``, ``k3 = bi(wr+wi)``; ``Re = k1−k3``, ``Im = k1+k2`` exactly, then one rounding
each, as the contract requires).  :func:`codesign.spectral.cost.fft_unit_cost` models this unit.

Relabelling the DIT graph gives two stream orders (``bitrev_in`` of :func:`fft1d`):

* natural input order, bit-reversed output order (stage spans N/2, N/4, …, 1) — used where the
  samples arrive in raster order (the forward row pass);
* bit-reversed input order, natural output order (spans 1, 2, …, N/2) — used where the samples are
  read from a RAM in any order we like (column passes, inverse row pass).

A stream is a sequence of *frames* of N samples; each frame must be contiguous (N consecutive
valid clocks), frames may be separated by any gap.  Control registers have a synchronous
active-high reset; data registers have none (they are only looked at when qualified by a valid).
All latencies are in clocks from a sample at an input port to the registered output port, as
returned by :func:`fft1d_latency`, :func:`rfft2_latency` and :func:`irfft2_latency`.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, always_seq, block, concat, intbv, modbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import (
    delay_bits,
    delay_line,
    format_signal,
    round_shift_register,
    saturate,
    signal_range,
    signed_bits,
    signed_signal,
    sync_reset,
)
from codesign.spectral.fixedpoint import FixedPointConfig, Format, twiddles

__all__ = [
    "fft1d",
    "fft1d_latency",
    "fft1d_signals",
    "rfft2_unit",
    "rfft2_latency",
    "rfft2_signals",
    "irfft2_unit",
    "irfft2_latency",
    "irfft2_signals",
    "stage_plan",
    "stage_ranges",
    "butterfly_bound",
    "twiddle_bounds",
    "unclamped",
    "row_pass_range",
]

MULT_PIPELINE = 3  # operand/ROM register, product register, rounded-product register
_IDENTITY, _MINUS_J, _PLUS_J, _GENERAL = 0, 1, 2, 3


def _log2(n: int) -> int:
    if n < 2 or n & (n - 1):
        raise ValueError(f"FFT size must be a power of two >= 2, got {n}")
    return n.bit_length() - 1


def _rev(i: int, bits: int) -> int:
    return int(format(i, f"0{bits}b")[::-1], 2) if bits else 0


def stage_plan(n: int, cfg: FixedPointConfig, inverse: bool, bitrev_in: bool) -> list[dict]:
    """Per stage of the SDF pipeline: ``span`` (delay), ``bit`` (label bit selecting the lower
    butterfly input), ``twiddle`` (quantised ``(wr, wi)`` per frame label; identity where unused),
    ``kinds`` (trivial-twiddle code per label) and whether the stage needs a multiplier."""
    b = _log2(n)
    wr_all, wi_all = twiddles(n, cfg.twiddle, inverse)
    one = 1 << cfg.twiddle.frac
    plan = []
    for s in range(1, b + 1):
        m = 1 << s
        span = (m // 2) if bitrev_in else (n >> s)
        table, kinds = [], []
        for q in range(n):
            if not q & span:
                table.append((one, 0))
                kinds.append(_IDENTITY)
                continue
            k = (q & (span - 1)) if bitrev_in else _rev(q >> (b - s + 1), s - 1)
            w = (int(wr_all[k * (n // m)]), int(wi_all[k * (n // m)]))
            table.append(w)
            kinds.append(
                {(one, 0): _IDENTITY, (0, -one): _MINUS_J, (0, one): _PLUS_J}.get(w, _GENERAL)
            )
        plan.append(
            {
                "span": span,
                "bit": span.bit_length() - 1,
                "twiddle": table,
                "kinds": kinds,
                "multiplier": _GENERAL in kinds,
            }
        )
    return plan


def fft1d_latency(n: int, cfg: FixedPointConfig | None = None) -> int:
    """Clocks from a frame's first sample at the input to its first sample at the output.

    Stage s costs its span plus one output register, plus :data:`MULT_PIPELINE` if it has a
    multiplier: ``N − 1 + log2 N + 3·(stages with non-trivial twiddles)`` (13 for N = 8)."""
    cfg = cfg or FixedPointConfig()
    return sum(
        st["span"] + 1 + (MULT_PIPELINE if st["multiplier"] else 0)
        for st in stage_plan(n, cfg, False, False)
    )


# --- one butterfly stage -------------------------------------------------------------------


@block
def _trivial_rotate(i_re, i_im, cnt, t_re, t_im, plan: dict):
    """Twiddle of a stage whose twiddles are all 1 or ∓j: swap/negate, no register.
    ``t_im`` may be None (only the real part is used downstream)."""
    kinds = tuple(plan["kinds"])
    code = Signal(intbv(0)[2:])

    @always_comb
    def lookup():
        code.next = kinds[cnt]

    @always_comb
    def rotate_re():
        if code == _MINUS_J:
            t_re.next = i_im
        elif code == _PLUS_J:
            t_re.next = -i_im
        else:
            t_re.next = i_re

    @always_comb
    def rotate_im():
        if code == _MINUS_J:
            t_im.next = -i_re
        elif code == _PLUS_J:
            t_im.next = i_re
        else:
            t_im.next = i_im

    return (lookup, rotate_re) if t_im is None else (lookup, rotate_re, rotate_im)


@block
def _complex_multiply(clk, i_re, i_im, cnt, t_re, t_im, plan: dict, tw_frac: int):
    """``t = round(b · W)`` per part from three products, ``MULT_PIPELINE`` registers deep.
    ``t_im`` may be None (then ``k2`` is not built)."""
    wr_rom = tuple(w[0] for w in plan["twiddle"])
    wd_rom = tuple(w[1] - w[0] for w in plan["twiddle"])
    ws_rom = tuple(w[0] + w[1] for w in plan["twiddle"])
    re1, im1 = signed_signal(*signal_range(i_re)), signed_signal(*signal_range(i_im))
    sum1 = signed_signal(
        signal_range(i_re)[0] + signal_range(i_im)[0], signal_range(i_re)[1] + signal_range(i_im)[1]
    )
    wr1 = signed_signal(min(wr_rom), max(wr_rom))
    wd1 = signed_signal(min(wd_rom), max(wd_rom))
    ws1 = signed_signal(min(ws_rom), max(ws_rom))

    def product(a, w):
        (alo, ahi), (wlo, whi) = signal_range(a), signal_range(w)
        c = (alo * wlo, alo * whi, ahi * wlo, ahi * whi)
        return signed_signal(min(c), max(c))

    k1, k2, k3 = product(sum1, wr1), product(re1, wd1), product(im1, ws1)
    half = 1 << (tw_frac - 1) if tw_frac else 0
    pre_re = signed_signal(k1.val.min - k3.val.max + half, k1.val.max - k3.val.min + half)
    pre_im = signed_signal(k1.val.min + k2.val.min + half, k1.val.max + k2.val.max + half)

    @always(clk.posedge)
    def operands():
        sum1.next = i_re + i_im
        wr1.next = wr_rom[cnt]
        ws1.next = ws_rom[cnt]
        im1.next = i_im

    @always(clk.posedge)
    def products():
        k1.next = wr1 * sum1
        k3.next = im1 * ws1

    @always_comb
    def combine_re():
        pre_re.next = k1 - k3 + half

    @always(clk.posedge)
    def round_re():
        t_re.next = pre_re >> tw_frac

    @always(clk.posedge)
    def operands_im():
        wd1.next = wd_rom[cnt]
        re1.next = i_re

    @always(clk.posedge)
    def products_im():
        k2.next = re1 * wd1

    @always_comb
    def combine_im():
        pre_im.next = k1 + k2 + half

    @always(clk.posedge)
    def round_im():
        t_im.next = pre_im >> tw_frac

    real = (operands, products, combine_re, round_re)
    return real if t_im is None else real + (operands_im, products_im, combine_im, round_im)


def half_bounds(lo: int, hi: int, t: tuple[int, int], inverse: bool) -> tuple[tuple, tuple]:
    """Bounds ``((lo, hi) of a + t, (lo, hi) of a − t)`` for ``a`` in [lo, hi] and ``t`` in
    ``t``, halved for the inverse: the sum rounded half up, the difference floored."""
    t_lo, t_hi = t
    s_lo, s_hi, d_lo, d_hi = lo + t_lo, hi + t_hi, lo - t_hi, hi - t_lo
    if inverse:
        s_lo, s_hi, d_lo, d_hi = (s_lo + 1) >> 1, (s_hi + 1) >> 1, d_lo >> 1, d_hi >> 1
    return (s_lo, s_hi), (d_lo, d_hi)


def butterfly_bound(lo: int, hi: int, t: tuple[int, int], inverse: bool) -> tuple[int, int]:
    """Bounds of either of a butterfly's outputs (:func:`half_bounds`): what either part can
    reach before saturation."""
    (s_lo, s_hi), (d_lo, d_hi) = half_bounds(lo, hi, t, inverse)
    return min(s_lo, d_lo), max(s_hi, d_hi)


def unclamped(bound: tuple[int, int], fmt: Format) -> bool:
    """Whether a stage with butterfly outputs in ``bound`` is built without its clamp: its
    bound lies inside ``fmt`` (see :func:`stage_ranges`)."""
    return fmt.min <= bound[0] and bound[1] <= fmt.max


def stage_ranges(
    n: int, cfg: FixedPointConfig, inverse: bool, bitrev_in: bool, fmt: Format, lo: int, hi: int
) -> list[tuple[int, int, bool]]:
    """Per stage of :func:`fft1d` on inputs in [lo, hi] (both parts): ``(lo, hi, clamped)`` of
    its output.  A stage whose butterfly bound lies inside ``fmt`` cannot saturate, so it is
    built without the clamp and its output only as wide as the bound (two's-complement rounded
    up); else it saturates to ``fmt`` as the contract says.  Equal results either way: the
    clamp of a value inside ``fmt`` is the value.  No forward stage saturates on activation
    inputs.  Of the inverse stages at full range only the first (twiddles all 1) cannot: where
    a twiddle negates, ``t`` reaches ``−min`` and the halved sum overflows by one LSB; the
    floored difference still fits, and :func:`_butterfly_lane` drops that half's clamp."""
    out = []
    for st in stage_plan(n, cfg, inverse, bitrev_in):
        b_lo, b_hi = butterfly_bound(lo, hi, twiddle_bounds(lo, hi, st, cfg.twiddle.frac), inverse)
        if unclamped((b_lo, b_hi), fmt):
            w = signed_bits(min(b_lo, -1), b_hi)
            lo, hi, clamped = -(1 << (w - 1)), (1 << (w - 1)) - 1, False
        else:
            lo, hi, clamped = fmt.min, fmt.max, True
        out.append((lo, hi, clamped))
    return out


@block
def _butterfly_lane(clk, pair, low_out, x, t, o, *, span: int, inverse: bool, fmt: Format):
    """One part (real or imaginary) of an SDF butterfly: ``a`` waits ``span`` clocks in the
    delay line for its partner ``t``; ``a + t`` leaves at once, ``a − t`` re-enters the line and
    leaves ``span`` clocks later (both halved for the inverse, the sum rounded half up and the
    difference floored, so neither adder needs a second carry-in; then saturated to ``fmt``).  A
    forward stage whose :func:`butterfly_bound` lies inside ``fmt`` has no clamp: its sums are
    formed in the output register and the line, as wide as the bound."""
    x_lo, x_hi = signal_range(x)
    t_lo, t_hi = signal_range(t)
    bound = butterfly_bound(x_lo, x_hi, (t_lo, t_hi), inverse)
    if not inverse and unclamped(bound, fmt):
        return _unclamped_lane(clk, pair, low_out, x, t, o, span=span, bound=bound)
    lo, hi = min(fmt.min, x_lo), max(fmt.max, x_hi)
    line = [signed_signal(lo, hi) for _ in range(span)]
    head = signed_signal(lo, hi)
    if inverse:  # each half as wide as its halved range: a half that fits needs no clamp
        top_range, bottom_range = half_bounds(lo, hi, (t_lo, t_hi), inverse)
        top, bottom = signed_signal(*top_range), signed_signal(*bottom_range)
    else:
        both = butterfly_bound(lo, hi, (t_lo, t_hi), inverse)
        top, bottom = signed_signal(*both), signed_signal(*both)
    top_sat, bottom_sat = format_signal(fmt), format_signal(fmt)
    clamps = (saturate(top, top_sat, fmt), saturate(bottom, bottom_sat, fmt))

    @always_comb
    def tap():
        head.next = line[span - 1]

    if inverse:
        diff = signed_signal(*half_bounds(lo, hi, (t_lo, t_hi), inverse=False)[1])

        @always_comb
        def add():
            top.next = (head + t + 1) >> 1
            diff.next = head - t

        @always_comb
        def halve():
            bottom.next = diff >> 1

        adders = (add, halve)
    else:

        @always_comb
        def add():
            top.next = head + t
            bottom.next = head - t

        adders = (add,)

    @always(clk.posedge)
    def datapath():
        if pair:
            o.next = top_sat
            line[0].next = bottom_sat
        else:
            if low_out:
                o.next = head
            line[0].next = x
        for i in range(1, span):
            line[i].next = line[i - 1]

    return clamps, tap, adders, datapath


@block
def _unclamped_lane(clk, pair, low_out, x, t, o, *, span: int, bound: tuple[int, int]):
    """:func:`_butterfly_lane` of a forward stage that cannot saturate: ``a ± t`` lie in
    ``bound``, which the line (and ``x``, ``t``) fit."""
    line = [signed_signal(*bound) for _ in range(span)]
    head = signed_signal(*bound)

    @always_comb
    def tap():
        head.next = line[span - 1]

    @always(clk.posedge)
    def datapath():
        if pair:
            o.next = head + t
            line[0].next = head - t
        else:
            if low_out:
                o.next = head
            line[0].next = x
        for i in range(1, span):
            line[i].next = line[i - 1]

    return tap, datapath


def twiddle_bounds(lo: int, hi: int, plan: dict, tw_frac: int) -> tuple[int, int]:
    """Bounds of either part of ``t = round(b · W)`` for both parts of ``b`` in [lo, hi] and
    every twiddle of the stage: ``b`` itself where every twiddle is 1 (the first stage in
    bit-reversed order), which spares that stage's clamps; ``b`` or its negation where some
    are ∓j."""
    if all(k == _IDENTITY for k in plan["kinds"]):
        return lo, hi
    if not plan["multiplier"]:
        return min(lo, -hi), max(hi, -lo)
    mag = max(abs(lo), abs(hi)) * max(abs(w) for tw in plan["twiddle"] for w in tw)
    return -((2 * mag) >> tw_frac) - 1, ((2 * mag) >> tw_frac) + 1


def _twiddled_range(i_re, i_im, plan: dict, tw_frac: int) -> tuple[int, int]:
    """:func:`twiddle_bounds` of the stage's input signals."""
    lo = min(signal_range(i_re)[0], signal_range(i_im)[0])
    hi = max(signal_range(i_re)[1], signal_range(i_im)[1])
    return twiddle_bounds(lo, hi, plan, tw_frac)


@block
def fft_stage(
    clk,
    rst,
    i_valid,
    i_re,
    i_im,
    o_valid,
    o_re,
    o_im,
    *,
    plan: dict,
    inverse: bool,
    fmt: Format,
    tw_frac: int,
):
    """One radix-2 DIT stage in SDF form (see :func:`_butterfly_lane`): a contiguous frame
    leaves contiguous, in the same label order, ``span + 1`` clocks after it entered, plus
    :data:`MULT_PIPELINE` when the stage has a multiplier.  ``o_im`` may be None."""
    n = len(plan["twiddle"])
    span, bit = plan["span"], plan["bit"]
    depth = MULT_PIPELINE if plan["multiplier"] else 0
    cnt = Signal(modbv(0)[_log2(n) :])
    second, t_valid, t_second, pair, low_out = (Signal(bool(0)) for _ in range(5))
    low_line = [Signal(bool(0)) for _ in range(span)]
    x_re = signed_signal(*signal_range(i_re))
    t_range = _twiddled_range(i_re, i_im, plan, tw_frac)
    t_re = signed_signal(*t_range)
    t_im = None if o_im is None else signed_signal(*t_range)
    if plan["multiplier"]:
        twiddle = _complex_multiply(clk, i_re, i_im, cnt, t_re, t_im, plan, tw_frac)
    else:
        twiddle = _trivial_rotate(i_re, i_im, cnt, t_re, t_im, plan)
    lanes = [
        delay_line(clk, i_re, x_re, depth),
        _butterfly_lane(clk, pair, low_out, x_re, t_re, o_re, span=span, inverse=inverse, fmt=fmt),
    ]
    if o_im is not None:
        x_im = signed_signal(*signal_range(i_im))
        lanes += [
            delay_line(clk, i_im, x_im, depth),
            _butterfly_lane(
                clk, pair, low_out, x_im, t_im, o_im, span=span, inverse=inverse, fmt=fmt
            ),
        ]

    @always_comb
    def label():
        second.next = cnt[bit]

    @always_seq(clk.posedge, reset=rst)
    def control():
        if i_valid:
            cnt.next = cnt + 1
        o_valid.next = pair or low_line[span - 1]
        low_line[0].next = pair
        for i in range(1, span):
            low_line[i].next = low_line[i - 1]

    @always_comb
    def butterfly():
        pair.next = t_valid and t_second
        low_out.next = low_line[span - 1]

    if depth:
        valid_line = [Signal(bool(0)) for _ in range(depth)]
        second_line = [Signal(bool(0)) for _ in range(depth)]

        @always_seq(clk.posedge, reset=rst)
        def align_control():
            valid_line[0].next = i_valid
            second_line[0].next = second
            for i in range(1, depth):
                valid_line[i].next = valid_line[i - 1]
                second_line[i].next = second_line[i - 1]

        @always_comb
        def aligned():
            t_valid.next = valid_line[depth - 1]
            t_second.next = second_line[depth - 1]

        timing = (align_control, aligned)
    else:

        @always_comb
        def aligned():
            t_valid.next = i_valid
            t_second.next = second

        timing = (aligned,)

    return twiddle, lanes, label, control, butterfly, timing


# --- 1-D transform --------------------------------------------------------------------------


def fft1d_signals(n: int, fmt: Format, in_fmt: Format | None = None) -> dict:
    """Fresh port signals for :func:`fft1d` (inputs in ``in_fmt``, default ``fmt``)."""
    in_fmt = in_fmt or fmt
    return {
        "clk": Signal(bool(0)),
        "rst": sync_reset(),
        "in_valid": Signal(bool(0)),
        "in_re": format_signal(in_fmt),
        "in_im": format_signal(in_fmt),
        "out_valid": Signal(bool(0)),
        "out_re": format_signal(fmt),
        "out_im": format_signal(fmt),
    }


@block
def fft1d(
    clk,
    rst,
    in_valid,
    in_re,
    in_im,
    out_valid,
    out_re,
    out_im,
    *,
    n: int = 8,
    inverse: bool = False,
    bitrev_in: bool = False,
    cfg: FixedPointConfig | None = None,
    fmt: Format | None = None,
):
    """N-point radix-2 DIT FFT of a stream of contiguous N-sample complex frames.

    Equals ``fft_radix2(x, inverse=inverse, out_fmt=fmt)`` per frame (``fmt`` defaults to
    ``cfg.spectrum``; the inverse data path uses ``cfg.product``).  With ``bitrev_in=False``
    input sample ``i`` of a frame is ``x[i]`` and output sample ``i`` is ``X[rev(i)]``; with
    ``bitrev_in=True`` input sample ``i`` is ``x[rev(i)]`` and output sample ``i`` is ``X[i]``.
    ``out_im`` may be None when only the real part is wanted.  Latency :func:`fft1d_latency`
    (13 for N = 8); one frame per N clocks."""
    cfg = cfg or FixedPointConfig()
    fmt = fmt or cfg.spectrum
    plan = stage_plan(n, cfg, inverse, bitrev_in)
    lo = min(signal_range(in_re)[0], signal_range(in_im)[0])
    hi = max(signal_range(in_re)[1], signal_range(in_im)[1])
    inner = stage_ranges(n, cfg, inverse, bitrev_in, fmt, lo, hi)[:-1]
    valid = [in_valid] + [Signal(bool(0)) for _ in plan[:-1]] + [out_valid]
    re = [in_re] + [signed_signal(a, b) for a, b, _ in inner] + [out_re]
    im = [in_im] + [signed_signal(a, b) for a, b, _ in inner] + [out_im]
    return [
        fft_stage(
            clk,
            rst,
            valid[s],
            re[s],
            im[s],
            valid[s + 1],
            re[s + 1],
            im[s + 1],
            plan=st,
            inverse=inverse,
            fmt=fmt,
            tw_frac=cfg.twiddle.frac,
        )
        for s, st in enumerate(plan)
    ]


# --- 2-D forward real FFT -------------------------------------------------------------------


def _aligned_range(cfg: FixedPointConfig) -> tuple[int, int]:
    """Range of an activation sample aligned to the spectrum format (rfft2_unit's input)."""
    shift = cfg.activation.frac - cfg.spectrum.frac
    return tuple(
        sorted(
            ((v + (1 << (shift - 1))) >> shift) if shift > 0 else v << -shift
            for v in (cfg.activation.min, cfg.activation.max)
        )
    )


def row_pass_range(n: int, cfg: FixedPointConfig | None = None) -> tuple[int, int]:
    """Range of the forward row pass's outputs (:func:`stage_ranges` on aligned activations):
    what :func:`rfft2_unit`'s transpose buffer holds, narrower than the spectrum format."""
    cfg = cfg or FixedPointConfig()
    lo, hi = _aligned_range(cfg)
    return stage_ranges(n, cfg, False, False, cfg.spectrum, lo, hi)[-1][:2]


def rfft2_latency(n: int, cfg: FixedPointConfig | None = None) -> dict:
    """Timing of :func:`rfft2_unit` in clocks (a tile's samples contiguous, N² clocks).

    ``first``: first input sample → first output bin; ``last``: last input sample → last output
    bin; ``interval``: clocks per tile sustained (N², input-bound); ``bins`` per tile.  With
    L = :func:`fft1d_latency`: the last row enters at N² − N, passes the input register (1) and
    the row FFT (L); the column reads start N − 2 clocks before its first bin leaves the row FFT,
    then RAM read (1), column FFT (L) and output register (1):
    ``first = N² − 2N + 5 + 2L``, ``last = first + N(N/2+1) − N² = N²/2 − N + 5 + 2L``
    (79 and 55 for N = 8; 23 and 19 for N = 4)."""
    lat = fft1d_latency(n, cfg)
    first = n * n - 2 * n + 5 + 2 * lat
    bins = n * (n // 2 + 1)
    return {
        "first": first,
        "last": first + bins - 1 - (n * n - 1),
        "interval": n * n,
        "bins": bins,
        "fft1d": lat,
    }


def rfft2_signals(n: int, cfg: FixedPointConfig | None = None) -> dict:
    """Fresh port signals for :func:`rfft2_unit`."""
    cfg = cfg or FixedPointConfig()
    return {
        "clk": Signal(bool(0)),
        "rst": sync_reset(),
        "in_valid": Signal(bool(0)),
        "in_x": format_signal(cfg.activation),
        "out_valid": Signal(bool(0)),
        "out_f": Signal(intbv(0, min=0, max=n * (n // 2 + 1))),
        "out_re": format_signal(cfg.spectrum),
        "out_im": format_signal(cfg.spectrum),
    }


@block
def rfft2_unit(
    clk,
    rst,
    in_valid,
    in_x,
    out_valid,
    out_f,
    out_re,
    out_im,
    *,
    n: int = 8,
    cfg: FixedPointConfig | None = None,
):
    """Streaming forward 2-D real FFT of N×N tiles, bit-exact with ``rfft2_fixed``.

    In: one activation-format sample per clock when ``in_valid``, tiles in row-major order; each
    row of N samples must be contiguous (any gap between rows and tiles is allowed).  The unit
    aligns the samples to the spectrum format (``round_shift(x, act.frac − spec.frac)``, as the
    layer model does before ``rfft2_fixed``).  Out: the N×(N/2+1) half spectrum as bins
    ``(out_f = u·(N/2+1) + v, out_re, out_im)`` qualified by ``out_valid``, column by column
    (v = 0…N/2, u = 0…N−1 inside), N·(N/2+1) consecutive clocks per tile.

    Structure: row FFT (natural in, bit-reversed out; imaginary input 0) → bins 0…N/2 written
    into one half of a double-buffered transpose RAM (2·N² words) → N/2+1 column FFTs read from
    it (bit-reversed row order in, natural order out).  The column reads of a tile start N−2
    clocks before its last row leaves the row FFT (every word is still written before it is
    read), so the next tile streams in at full rate: one tile per N² clocks.  Latencies are
    :func:`rfft2_latency` (first input → first output 79, last input → last output 55, N = 8).
    """
    cfg = cfg or FixedPointConfig()
    b = _log2(n)
    half = n // 2
    act, spec = cfg.activation, cfg.spectrum
    shift = act.frac - spec.frac
    aligned = _aligned_range(cfg)
    lat = fft1d_latency(n, cfg)
    rev = tuple(_rev(i, b) for i in range(n))
    keep = tuple(int(_rev(i, b) <= half) for i in range(n))

    # input: alignment register, tile position, start-of-last-row trigger
    x_valid, x_trig, x_par = (Signal(bool(0)) for _ in range(3))
    x_re, x_im = signed_signal(*aligned), signed_signal(0, 0)
    icol, irow = Signal(modbv(0)[b:]), Signal(modbv(0)[b:])
    ipar = Signal(bool(0))
    align = round_shift_register(clk, in_x, x_re, shift)

    @always_seq(clk.posedge, reset=rst)
    def input_position():
        x_valid.next = in_valid
        x_trig.next = in_valid and irow == n - 1 and icol == 0
        x_par.next = ipar
        if in_valid:
            icol.next = icol + 1
            if icol == n - 1:
                irow.next = irow + 1
                if irow == n - 1:
                    ipar.next = not ipar

    @always(clk.posedge)
    def imag_zero():
        x_im.next = 0

    # row pass → transpose RAM
    r_valid = Signal(bool(0))
    r_re, r_im = signed_signal(*row_pass_range(n, cfg)), signed_signal(*row_pass_range(n, cfg))
    rows = fft1d(
        clk,
        rst,
        x_valid,
        x_re,
        x_im,
        r_valid,
        r_re,
        r_im,
        n=n,
        inverse=False,
        bitrev_in=False,
        cfg=cfg,
        fmt=spec,
    )
    wq, wrow, wv = (Signal(modbv(0)[b:]) for _ in range(3))
    wpar, we, kept = (Signal(bool(0)) for _ in range(3))
    waddr, raddr = Signal(intbv(0)[2 * b + 1 :]), Signal(intbv(0)[2 * b + 1 :])

    @always_seq(clk.posedge, reset=rst)
    def write_position():
        if r_valid:
            wq.next = wq + 1
            if wq == n - 1:
                wrow.next = wrow + 1
                if wrow == n - 1:
                    wpar.next = not wpar

    @always_comb
    def write_column():
        wv.next = rev[wq]
        kept.next = keep[wq]

    @always_comb
    def write_enable():
        we.next = r_valid and kept

    @always_comb
    def write_address():
        waddr.next = concat(wpar, wrow, wv)

    # column reads: start N−2 clocks before the tile's last row leaves the row pass
    start, start_par = Signal(bool(0)), Signal(bool(0))
    trigger = delay_bits(clk, rst, x_trig, start, lat + 1 - n)
    parity = delay_bits(clk, rst, x_par, start_par, lat + 1 - n)
    ractive, rpar, c_valid = (Signal(bool(0)) for _ in range(3))
    rp, rv, ru = (Signal(modbv(0)[b:]) for _ in range(3))
    c_re, c_im = signed_signal(*row_pass_range(n, cfg)), signed_signal(*row_pass_range(n, cfg))
    ram = [sdp_ram(clk, we, waddr, r_re, raddr, c_re), sdp_ram(clk, we, waddr, r_im, raddr, c_im)]

    @always_seq(clk.posedge, reset=rst)
    def read_sequence():
        c_valid.next = ractive
        if start:
            ractive.next = 1
            rpar.next = start_par
            rp.next = 0
            rv.next = 0
        elif ractive:
            rp.next = rp + 1
            if rp == n - 1:
                rv.next = rv + 1
                if rv == half:
                    ractive.next = 0

    @always_comb
    def read_row():
        ru.next = rev[rp]

    @always_comb
    def read_address():
        raddr.next = concat(rpar, ru, rv)

    # column pass → output bins
    o_valid = Signal(bool(0))
    o_re, o_im = format_signal(spec), format_signal(spec)
    cols = fft1d(
        clk,
        rst,
        c_valid,
        c_re,
        c_im,
        o_valid,
        o_re,
        o_im,
        n=n,
        inverse=False,
        bitrev_in=True,
        cfg=cfg,
        fmt=spec,
    )
    ou, ov = Signal(modbv(0)[b:]), Signal(modbv(0)[b:])
    fcur = Signal(intbv(0, min=0, max=n * (half + 1)))

    @always_seq(clk.posedge, reset=rst)
    def output_position():
        out_valid.next = o_valid
        if o_valid:
            out_f.next = fcur
            if ou == n - 1:
                ou.next = 0
                if ov == half:
                    ov.next = 0
                    fcur.next = 0
                else:
                    ov.next = ov + 1
                    fcur.next = ov + 1
            else:
                ou.next = ou + 1
                fcur.next = fcur + half + 1

    @always(clk.posedge)
    def output_data():
        out_re.next = o_re
        out_im.next = o_im

    return (
        align,
        input_position,
        imag_zero,
        rows,
        write_position,
        write_column,
        write_enable,
        write_address,
        trigger,
        parity,
        ram,
        read_sequence,
        read_row,
        read_address,
        cols,
        output_position,
        output_data,
    )


# --- 2-D inverse real FFT -------------------------------------------------------------------


def irfft2_latency(n: int, cfg: FixedPointConfig | None = None) -> dict:
    """Timing of :func:`irfft2_unit` in clocks, from a tile's LAST input bin.

    ``first`` → its first output sample: RAM write and read (2), column FFT (L =
    :func:`fft1d_latency`), the row pass waits for the first output of the last column (N·N/2),
    then start, RAM read and Hermitian extension registers (3), row FFT (L), output register (1):
    ``2L + N²/2 + 6`` (64 for N = 8); ``last`` → its last output sample (``first + N² − 1``);
    ``interval``: minimum clocks between the last bins of consecutive tiles (N², the row pass);
    ``samples`` per tile."""
    lat = fft1d_latency(n, cfg)
    first = 2 * lat + n * n // 2 + 6
    return {
        "first": first,
        "last": first + n * n - 1,
        "interval": n * n,
        "samples": n * n,
        "fft1d": lat,
    }


def irfft2_signals(n: int, cfg: FixedPointConfig | None = None) -> dict:
    """Fresh port signals for :func:`irfft2_unit`."""
    cfg = cfg or FixedPointConfig()
    return {
        "clk": Signal(bool(0)),
        "rst": sync_reset(),
        "in_valid": Signal(bool(0)),
        "in_f": Signal(intbv(0, min=0, max=n * (n // 2 + 1))),
        "in_re": format_signal(cfg.product),
        "in_im": format_signal(cfg.product),
        "out_valid": Signal(bool(0)),
        "out_n": Signal(intbv(0, min=0, max=n * n)),
        "out_x": format_signal(cfg.product),
    }


@block
def irfft2_unit(
    clk,
    rst,
    in_valid,
    in_f,
    in_re,
    in_im,
    out_valid,
    out_n,
    out_x,
    *,
    n: int = 8,
    cfg: FixedPointConfig | None = None,
):
    """Streaming inverse 2-D real FFT of N×(N/2+1) half spectra, bit-exact with ``irfft2_fixed``.

    In: bins ``(in_f = u·(N/2+1) + v, in_re, in_im)`` in the product format, one per clock when
    ``in_valid``, in ANY order; a tile is complete after N·(N/2+1) bins, and the last bins of
    consecutive tiles must be at least N² clocks apart (the row pass takes N² clocks).  Out:
    the real N×N tile in raster order, ``(out_n = y·N + x, out_x)`` qualified by ``out_valid``,
    N² consecutive clocks per tile.

    Structure: bins written into a double-buffered RAM → N/2+1 inverse column FFTs (bit-reversed
    row order in, natural out) → double-buffered RAM → per row, the Hermitian extension
    ``[Re A0, A1 … A(N/2−1), Re A(N/2), conj A(N/2−1) … conj A1]`` read in bit-reversed order →
    inverse row FFT, real part out.  Latencies are :func:`irfft2_latency` (last input → first
    output 64, → last output 127, N = 8)."""
    cfg = cfg or FixedPointConfig()
    b = _log2(n)
    half = n // 2
    bins = n * (half + 1)
    prod = cfg.product
    fbits = len(in_f)
    bitrev = [_rev(i, b) for i in range(n)]  # the row pass reads bin k = rev(i) at step i
    row_offset = tuple(k * (half + 1) for k in bitrev)
    hermitian_v = tuple(k if k <= half else n - k for k in bitrev)
    real_only = tuple(int(k in (0, half)) for k in bitrev)
    conjugate = tuple(int(k > half) for k in bitrev)

    # bins → RAM A; a complete tile starts its column pass
    icnt = Signal(intbv(0, min=0, max=bins))
    ipar, a_we = Signal(bool(0)), Signal(bool(0))
    a_waddr, a_raddr = Signal(intbv(0)[fbits + 1 :]), Signal(intbv(0)[fbits + 1 :])
    cactive, cpar, c_valid = (Signal(bool(0)) for _ in range(3))
    cp, cv = Signal(modbv(0)[b:]), Signal(modbv(0)[b:])
    c_off = Signal(intbv(0, min=0, max=bins))
    c_f = Signal(intbv(0, min=0, max=1 << fbits))
    c_re, c_im = format_signal(prod), format_signal(prod)
    ram_a = [
        sdp_ram(clk, a_we, a_waddr, in_re, a_raddr, c_re),
        sdp_ram(clk, a_we, a_waddr, in_im, a_raddr, c_im),
    ]

    @always_comb
    def input_port():
        a_we.next = in_valid
        a_waddr.next = concat(ipar, in_f)

    @always_seq(clk.posedge, reset=rst)
    def column_sequence():
        c_valid.next = cactive
        if cactive:
            cp.next = cp + 1
            if cp == n - 1:
                cv.next = cv + 1
                if cv == half:
                    cactive.next = 0
        if in_valid:
            if icnt == bins - 1:
                icnt.next = 0
                ipar.next = not ipar
                cactive.next = 1
                cpar.next = ipar
                cp.next = 0
                cv.next = 0
            else:
                icnt.next = icnt + 1

    @always_comb
    def column_offset():
        c_off.next = row_offset[cp]

    @always_comb
    def column_bin():
        c_f.next = c_off + cv

    @always_comb
    def column_address():
        a_raddr.next = concat(cpar, c_f)

    # inverse column FFTs → RAM B; the last column's first output starts the row pass
    m_valid = Signal(bool(0))
    m_re, m_im = format_signal(prod), format_signal(prod)
    cols = fft1d(
        clk,
        rst,
        c_valid,
        c_re,
        c_im,
        m_valid,
        m_re,
        m_im,
        n=n,
        inverse=True,
        bitrev_in=True,
        cfg=cfg,
        fmt=prod,
    )
    mu, mv = Signal(modbv(0)[b:]), Signal(modbv(0)[b:])
    mpar = Signal(bool(0))
    b_waddr, b_raddr = Signal(intbv(0)[2 * b + 1 :]), Signal(intbv(0)[2 * b + 1 :])
    ractive, rpar, d_valid, d_real, d_conj = (Signal(bool(0)) for _ in range(5))
    rp, ru, rv = (Signal(modbv(0)[b:]) for _ in range(3))
    d_re, d_im = format_signal(prod), format_signal(prod)
    ram_b = [
        sdp_ram(clk, m_valid, b_waddr, m_re, b_raddr, d_re),
        sdp_ram(clk, m_valid, b_waddr, m_im, b_raddr, d_im),
    ]

    @always_seq(clk.posedge, reset=rst)
    def row_sequence():
        d_valid.next = ractive
        if m_valid:
            mu.next = mu + 1
            if mu == n - 1:
                mv.next = mv + 1
                if mv == half:
                    mv.next = 0
                    mpar.next = not mpar
        if ractive:
            rp.next = rp + 1
            if rp == n - 1:
                ru.next = ru + 1
                if ru == n - 1:
                    ractive.next = 0
        if m_valid and mu == 0 and mv == half:
            ractive.next = 1
            rpar.next = mpar
            rp.next = 0
            ru.next = 0

    @always_comb
    def column_write():
        b_waddr.next = concat(mpar, mu, mv)

    @always_comb
    def row_column():
        rv.next = hermitian_v[rp]

    @always_comb
    def row_address():
        b_raddr.next = concat(rpar, ru, rv)

    @always_seq(clk.posedge, reset=rst)
    def row_flags():
        d_real.next = real_only[rp]
        d_conj.next = conjugate[rp]

    # Hermitian extension → inverse row FFT → raster output
    h_valid = Signal(bool(0))
    h_re, h_im = format_signal(prod), signed_signal(prod.min, -prod.min)
    y_valid = Signal(bool(0))
    y_re = format_signal(prod)
    rows = fft1d(
        clk,
        rst,
        h_valid,
        h_re,
        h_im,
        y_valid,
        y_re,
        None,
        n=n,
        inverse=True,
        bitrev_in=True,
        cfg=cfg,
        fmt=prod,
    )
    ocnt = Signal(modbv(0)[2 * b :])

    @always_seq(clk.posedge, reset=rst)
    def extend_control():
        h_valid.next = d_valid

    @always(clk.posedge)
    def extend():
        h_re.next = d_re
        if d_real:
            h_im.next = 0
        elif d_conj:
            h_im.next = -d_im
        else:
            h_im.next = d_im

    @always_seq(clk.posedge, reset=rst)
    def output_position():
        out_valid.next = y_valid
        if y_valid:
            out_n.next = ocnt
            ocnt.next = ocnt + 1

    @always(clk.posedge)
    def output_data():
        out_x.next = y_re

    return (
        ram_a,
        input_port,
        column_sequence,
        column_offset,
        column_bin,
        column_address,
        cols,
        ram_b,
        row_sequence,
        column_write,
        row_column,
        row_address,
        row_flags,
        rows,
        extend_control,
        extend,
        output_position,
        output_data,
    )
