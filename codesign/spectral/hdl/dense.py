"""A dense (fully connected) layer unit in MyHDL, bit-exact with ``fxpmodel.dense_layer_fixed``.

Micro-architecture (n_in inputs, n_out outputs, M = ``macs``, R = ceil(n_out / M) rounds,
S = ``steps`` clocks per round, see :func:`dense_plan`):

* **input buffer** — ping-pong: image k is written (one activation per ``in_valid``/``in_ready``
  handshake) into half k mod 2 of a simple dual-port block RAM while the other half is read.
  Dense weights: one RAM whose read is broadcast to all MACs; sparse: one copy per MAC (all copies
  written together), each read at its own index;
* **weight ROMs** — one block-RAM ROM per MAC (``rom.rom``, contents in ``mem/*.hex``) of R·S
  words: in round r MAC m computes output j = r·M + m and its word k is the k-th non-zero
  ``(index, weight)`` of column j, padded with weight 0 (dense: the weight of input k, no index
  field); j ≥ n_out is a dummy of zero weights;
* **MACs** — per clock one product ``x · w`` (activation × dense weight), summed exactly over a
  round's S words: one DSP48E1 each, with operand (A, B), product (M) and accumulator (P)
  registers, ``P ← (first ? 0 : P) + M`` (the accumulator is sized for S full-scale products);
* **results** — per MAC a ping-pong RAM of R sums (one write per round), so image k+1 computes
  while image k drains;
* **output path** — one shared pipeline reads the sums in order j = 0 … n_out−1 and computes
  ``relu(sat_act(round_shift(sat_acc(sum + (bias[j] << fw)), fw)))`` (fw = dense_weight.frac;
  the bias sum exact in a register sized for both terms, ``sat_acc`` built only when that range
  exceeds the accumulator format), stalling as a whole while ``out_valid`` and not
  ``out_ready``.

Clock edges are counted as in :mod:`codesign.hdl.timing`.  For image k let ``L_k`` be the edge
accepting its last input word.  Then

* the sequencer starts it (slot counter = 0) at edge
  ``S_k = max(L_k + 1, S_{k-1} + R·S, X_{k-2} + n_out + 1)`` (input loaded, previous image's last
  slot issued, result half free: the pass of image k−2 has read its last sum);
* slot t = r·S + s is counted at edge ``S_k + t``; its ROM word and input-read address are
  registered at ``+1``, operands at ``+2`` (input RAM data) and ``+3`` (DSP input registers), the
  product at ``+4``, the accumulator at ``+5``; a round's sum is written at ``+6`` of its last slot;
* the input half is released at edge ``S_k + R·S + 1`` (after its last read), so ``in_ready``
  is high for image k+2 from edge ``S_k + R·S + 2`` on;
* the output pass starts (first read request registered) at edge
  ``X_k = max(S_k + R·S + 6, X_{k-1} + n_out)``; with ``out_ready`` high the sums are read at edges
  ``X_k + 1 … X_k + n_out`` and output j is sampled by the consumer at edge ``X_k + 6 + j``:
  ``out_first = X_k + 6``, ``out_last = X_k + n_out + 5``.

Control registers have a synchronous active-high reset; data registers have none.
"""

from __future__ import annotations

import numpy as np
from myhdl import Signal, always, always_comb, always_seq, block, intbv

from codesign.hdl.buffers import buffer_address, pingpong_loader
from codesign.hdl.ram import sdp_ram
from codesign.hdl.rom import rom
from codesign.hdl.signals import (
    format_signal,
    pick,
    signed_bits,
    signed_signal,
    uint_signal,
)
from codesign.hdl.signals import (
    saturate as clamp_to_format,
)
from codesign.spectral.fixedpoint import FixedPointConfig

__all__ = [
    "dense_unit",
    "dense_signals",
    "dense_plan",
    "dense_timing",
    "COMPUTE_DEPTH",
    "OUTPUT_DEPTH",
]

COMPUTE_DEPTH = 6  # slot counter → ROM/address, input RAM, DSP inputs, product, accumulator, write
OUTPUT_DEPTH = 6  # pass start → RAM read, select, bias add, round, clamp/ReLU, consumer sample


def _rounds(n_out: int, macs: int) -> int:
    return -(-n_out // macs)


def _check(weight, mask, macs) -> tuple[np.ndarray, np.ndarray | None]:
    w = np.asarray(weight)
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise ValueError(
            f"dense weight must be a non-empty n_in × n_out matrix, got shape {w.shape}"
        )
    if not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"dense weight must hold integers (quantized), got {w.dtype}")
    if isinstance(macs, bool) or not isinstance(macs, (int, np.integer)) or macs < 1:
        raise ValueError(f"macs must be an integer >= 1, got {macs!r}")
    if mask is None:
        return w.astype(np.int64), None
    m = np.asarray(mask)
    if m.shape != w.shape:
        raise ValueError(f"mask shape {m.shape} differs from the weight shape {w.shape}")
    m = m.astype(bool)
    if np.any(w[~m]):
        raise ValueError("dense weight has non-zeros outside the mask (pruned entries must be 0)")
    return w.astype(np.int64), (None if m.all() else m)


def dense_plan(weight, mask, macs: int, *, cfg: FixedPointConfig | None = None) -> dict:
    """What :func:`dense_unit` builds for ``weight`` (n_in × n_out integers), ``mask`` (None or
    bool, same shape) and ``macs``.

    ``n_in``, ``n_out``, ``macs``, ``rounds`` (R), ``steps`` (S: the most non-zeros of a column,
    n_in when dense, at least 1), ``sparse``; ``words``: per MAC the R·S ROM words (sparse:
    ``index << weight_bits | weight``, two's complement weight); widths ``index_bits``,
    ``weight_bits``, ``word_bits``; integer ranges ``product``, ``mac`` (a round's sum, the
    accumulator register) and ``sum`` (plus ``bias << fw``), ``acc_bits`` (of ``mac``) and
    ``sum_bits``; ``saturates``: whether ``sum`` can leave the accumulator format (then the
    output path clamps); ``memories``: name → (count, depth, width)."""
    cfg = cfg or FixedPointConfig()
    w, m = _check(weight, mask, macs)
    fmt = cfg.dense_weight
    if w.min() < fmt.min or w.max() > fmt.max:
        raise ValueError(
            f"dense weight outside the {fmt.name()} format "
            f"[{fmt.min}, {fmt.max}]: {w.min()} … {w.max()}"
        )
    n_in, n_out = w.shape
    R = _rounds(n_out, macs)
    sparse = m is not None
    steps = max(1, int(m.sum(axis=0).max())) if sparse else n_in
    wb = fmt.bits
    ib = len(uint_signal(n_in)) if sparse else 0
    low = (1 << wb) - 1
    words = []
    for mac in range(macs):
        rom = []
        for r in range(R):
            j = r * macs + mac
            if j >= n_out:
                entries = []
            elif sparse:
                entries = [(int(i), int(w[i, j])) for i in np.flatnonzero(m[:, j])]
            else:
                entries = [(i, int(w[i, j])) for i in range(n_in)]
            entries += [(0, 0)] * (steps - len(entries))
            rom += [((i << wb) if sparse else 0) | (v & low) for i, v in entries]
        words.append(tuple(rom))
    a = cfg.activation
    corners = [x * y for x in (a.min, a.max) for y in (fmt.min, fmt.max)]
    product = (min(corners), max(corners))
    mac_range = (steps * product[0], steps * product[1])
    fw = fmt.frac
    total = (mac_range[0] + (a.min << fw), mac_range[1] + (a.max << fw))
    acc_bits = signed_bits(*mac_range)
    memories = {
        "kernel": (macs, R * steps, wb + ib),
        "input": (macs if sparse else 1, 2 << len(uint_signal(n_in)), a.bits),
        "result": (macs, 2 << len(uint_signal(R)), acc_bits),
    }
    return {
        "n_in": n_in,
        "n_out": n_out,
        "macs": macs,
        "rounds": R,
        "steps": steps,
        "sparse": sparse,
        "words": words,
        "index_bits": ib,
        "weight_bits": wb,
        "word_bits": wb + ib,
        "product": product,
        "mac": mac_range,
        "sum": total,
        "acc_bits": acc_bits,
        "sum_bits": signed_bits(*total),
        "saturates": total[0] < cfg.accumulator.min or total[1] > cfg.accumulator.max,
        "memories": memories,
    }


def dense_signals(n_in: int, n_out: int, cfg: FixedPointConfig | None = None) -> dict:
    """Fresh data-port signals of :func:`dense_unit` (``clk`` and ``rst`` are the caller's)."""
    cfg = cfg or FixedPointConfig()
    return {
        "in_valid": Signal(bool(0)),
        "in_ready": Signal(bool(0)),
        "in_x": format_signal(cfg.activation),
        "out_valid": Signal(bool(0)),
        "out_ready": Signal(bool(0)),
        "out_v": format_signal(cfg.activation),
    }


def dense_timing(
    n_in: int,
    n_out: int,
    macs: int,
    steps: int,
    in_first: list[int],
    cfg: FixedPointConfig | None = None,
) -> dict:
    """Clock edges of :func:`dense_unit`'s outputs when image k's words are accepted at edges
    ``in_first[k] … in_first[k] + n_in − 1`` and ``out_ready`` stays high.

    The rule (module docstring), with R = ceil(n_out / macs), ``L_k = in_first[k] + n_in − 1``::

        S_k = max(L_k + 1, S_{k-1} + R·steps, X_{k-2} + n_out + 1)   # compute start
        X_k = max(S_k + R·steps + 6, X_{k-1} + n_out)                # output pass start
        out_first[k] = X_k + 6,  out_last[k] = X_k + n_out + 5

    ``in_ready`` is high for image k ≥ 2 from edge ``S_{k-2} + R·steps + 2`` on; an earlier
    ``in_first[k]`` would need input back-pressure, which this model does not cover (ValueError).
    Returns ``out_first``, ``out_last``, ``in_ready`` (per image, the first edge at which its
    input half is free), ``latency`` (``out_last[0] − in_first[0] + 1``) and
    ``interval`` (mean spacing of ``out_last``, rounded down as in :mod:`codesign.hdl.timing`;
    None for one image).  ``cfg`` does not change the timing."""
    if macs < 1 or steps < 1 or n_in < 1 or n_out < 1:
        raise ValueError("n_in, n_out, macs and steps must be >= 1")
    if not in_first:
        raise ValueError("in_first: need at least one image")
    rs = _rounds(n_out, macs) * steps
    starts, passes, ready = [], [], []
    for k, e in enumerate(in_first):
        ready.append(2 if k < 2 else starts[k - 2] + rs + 2)
        if k == 0 and e < 2:
            raise ValueError(f"in_first[0] = {e}: edge 2 is the first that can accept a word")
        if k and e < in_first[k - 1] + n_in:
            raise ValueError(
                f"in_first[{k}] = {e} overlaps image {k - 1}'s words "
                f"(edges {in_first[k - 1]} … {in_first[k - 1] + n_in - 1})"
            )
        if e < ready[k]:
            raise ValueError(
                f"in_first[{k}] = {e}: in_ready is low until edge {ready[k]} "
                f"(both input buffers busy); the timing model assumes no input "
                f"back-pressure"
            )
        s = e + n_in
        if k:
            s = max(s, starts[k - 1] + rs)
        if k >= 2:
            s = max(s, passes[k - 2] + n_out + 1)
        starts.append(s)
        x = s + rs + COMPUTE_DEPTH
        if k:
            x = max(x, passes[k - 1] + n_out)
        passes.append(x)
    firsts = [x + OUTPUT_DEPTH for x in passes]
    lasts = [x + n_out + OUTPUT_DEPTH - 1 for x in passes]
    n = len(in_first)
    return {
        "out_first": firsts,
        "out_last": lasts,
        "in_ready": ready,
        "latency": lasts[0] - in_first[0] + 1,
        "interval": (lasts[-1] - lasts[0]) // (n - 1) if n > 1 else None,
    }


# --- input side -----------------------------------------------------------------------------


@block
def _handshake(valid, ready, fire):
    """``fire``: a word moves this clock."""

    @always_comb
    def both():
        fire.next = valid and ready

    return both


# --- compute side ---------------------------------------------------------------------------


@block
def _sequencer(
    clk,
    rst,
    loaded,
    release,
    release_buf,
    unload,
    unload_buf,
    slot,
    step,
    rnd,
    cbuf,
    first1,
    last1,
    end1,
    step1,
    rnd1,
    buf1,
    *,
    rounds: int,
    steps: int,
):
    """Slot counter of one image (R·S slots, round ``rnd``, step ``step``).  Starts image k when
    its input half is ``loaded`` and its result half is not claimed (by image k−2 until the
    output pass ``release``s it), also in the last slot of the previous image; the stage-1
    registers ``*1`` describe the slot counted one clock earlier (``step1``, the dense input
    index, None when sparse)."""
    top = rounds * steps - 1
    run, nbuf, end, start = (Signal(bool(0)) for _ in range(4))
    claimed = Signal(intbv(0)[2:])

    @always_comb
    def decide():
        end.next = run and slot == top
        start.next = (not run or slot == top) and loaded[nbuf] and not claimed[nbuf]

    @always_seq(clk.posedge, reset=rst)
    def count():
        c = intbv(0)[2:]
        c[:] = claimed
        if release:
            c[int(release_buf)] = 0
        if start:
            run.next = True
            slot.next = 0
            step.next = 0
            rnd.next = 0
            cbuf.next = nbuf
            nbuf.next = not nbuf
            c[int(nbuf)] = 1
        elif run:
            if end:
                run.next = False
            else:
                slot.next = slot + 1
                if step == steps - 1:
                    step.next = 0
                    rnd.next = rnd + 1
                else:
                    step.next = step + 1
        claimed.next = c
        unload.next = end
        last1.next = run and step == steps - 1
        end1.next = end

    @always(clk.posedge)
    def stage1():
        unload_buf.next = cbuf
        first1.next = not run or step == 0
        rnd1.next = rnd
        buf1.next = cbuf

    if step1 is None:
        return decide, count, stage1

    @always(clk.posedge)
    def dense_index():
        step1.next = step

    return decide, count, stage1, dense_index


@block
def _pipeline_control(clk, rst, first1, last1, end1, rnd1, buf1, first4, we5, done5, rnd5, buf5):
    """The slot's control bits from stage 1 to the accumulator (``first4``, the sum's first
    product) and to the result write (``we5``: a round's last product is in the accumulator,
    ``done5``: the image's last)."""
    first2, first3 = Signal(bool(0)), Signal(bool(0))
    last2, last3, last4, end2, end3, end4 = (Signal(bool(0)) for _ in range(6))
    rnd2, rnd3, rnd4 = (Signal(intbv(0)[len(rnd1) :]) for _ in range(3))
    buf2, buf3, buf4 = (Signal(bool(0)) for _ in range(3))

    @always_seq(clk.posedge, reset=rst)
    def control():
        last2.next = last1
        last3.next = last2
        last4.next = last3
        we5.next = last4
        end2.next = end1
        end3.next = end2
        end4.next = end3
        done5.next = end4

    @always(clk.posedge)
    def data():
        first2.next = first1
        first3.next = first2
        first4.next = first3
        rnd2.next = rnd1
        rnd3.next = rnd2
        rnd4.next = rnd3
        rnd5.next = rnd4
        buf2.next = buf1
        buf3.next = buf2
        buf4.next = buf3
        buf5.next = buf4

    return control, data


@block
def _weight_field(word, weight, index):
    """A ROM word's weight (two's complement, low bits) and input index (above it, or None)."""
    wb = len(weight)

    if index is None:

        @always_comb
        def split():
            weight.next = word[wb:].signed()
    else:
        top = wb + len(index)

        @always_comb
        def split():
            weight.next = word[wb:].signed()
            index.next = word[top:wb]

    return split


@block
def _mac(clk, x2, w1, first4, acc):
    """``acc`` = Σ x·w over a round, exact: weight aligned with the input RAM data (stage 2),
    DSP input registers (3), product register (4), accumulator (5), restarted by ``first4``."""
    w2 = Signal(intbv(0, min=w1.min, max=w1.max))
    a3 = Signal(intbv(0, min=x2.min, max=x2.max))
    b3 = Signal(intbv(0, min=w1.min, max=w1.max))
    corners = [x * y for x in (x2.min, x2.max - 1) for y in (w1.min, w1.max - 1)]
    m4 = signed_signal(min(corners), max(corners))
    base = Signal(intbv(0, min=acc.min, max=acc.max))

    @always(clk.posedge)
    def operands():
        w2.next = w1
        a3.next = x2
        b3.next = w2

    @always(clk.posedge)
    def multiply():
        m4.next = a3 * b3

    @always_comb
    def feedback():
        if first4:
            base.next = 0
        else:
            base.next = acc

    @always(clk.posedge)
    def accumulate():
        acc.next = base + m4

    return operands, multiply, feedback, accumulate


# --- output side ----------------------------------------------------------------------------


@block
def _output_control(
    clk,
    rst,
    done5,
    buf5,
    out_valid,
    out_ready,
    advance,
    release,
    release_buf,
    o_buf,
    o_rnd,
    o_mac,
    v1,
    mac1,
    j1,
    *,
    n_out: int,
    macs: int,
):
    """The output pass: once an image's sums are all written (``done5``), read them in order
    j = r·M + m, one per ``advance`` (``out_ready`` or an empty output register); the last read
    ``release``s the result half.  Passes follow each other without a gap."""
    active, nxt = Signal(bool(0)), Signal(bool(0))
    filled = Signal(intbv(0)[2:])
    j = uint_signal(n_out)

    @always_comb
    def handshake():
        advance.next = out_ready or not out_valid
        release.next = active and (out_ready or not out_valid) and j == n_out - 1
        release_buf.next = o_buf

    @always_seq(clk.posedge, reset=rst)
    def count():
        f = intbv(0)[2:]
        f[:] = filled
        if done5:
            f[int(buf5)] = 1
        if (not active or release) and filled[nxt]:
            active.next = True
            o_buf.next = nxt
            nxt.next = not nxt
            f[int(nxt)] = 0
            j.next = 0
            o_rnd.next = 0
            o_mac.next = 0
        elif release:
            active.next = False
        elif active and advance:
            j.next = j + 1
            if o_mac == macs - 1:
                o_mac.next = 0
                o_rnd.next = o_rnd + 1
            else:
                o_mac.next = o_mac + 1
        filled.next = f
        if advance:
            v1.next = active

    @always(clk.posedge)
    def stage1():
        if advance:
            mac1.next = o_mac
            j1.next = j

    return handshake, count, stage1


@block
def _select(clk, advance, key, cands, out):
    """``out`` ← ``cands[key]`` when ``advance`` (a chain of two-input multiplexers)."""
    tail, links = cands[0], []
    for i in range(1, len(cands)):
        nxt = Signal(intbv(0, min=out.min, max=out.max))
        links.append(pick(tail, cands[i], key, nxt, index=i))
        tail = nxt

    @always(clk.posedge)
    def register():
        if advance:
            out.next = tail

    return links, register


@block
def _finalise(
    clk,
    rst,
    advance,
    v1,
    j1,
    sel2,
    out_valid,
    out_v,
    *,
    bias_rom: tuple,
    shift: int,
    acc_fmt,
    clamp_acc: bool,
    lo: int,
    hi: int,
):
    """``sel2`` (stage 2) → ``out_v``: add ``bias[j] << shift`` (3), saturate to the accumulator
    format and round by ``shift`` half up (4), saturate to [lo, hi] — the activation format, lo = 0
    with ReLU (5).  Every stage moves on ``advance``."""
    v2, v3, v4 = (Signal(bool(0)) for _ in range(3))
    bias2 = signed_signal(min(bias_rom), max(bias_rom))
    slo, shi = sel2.min + bias2.min, sel2.max - 1 + bias2.max - 1
    sum3 = signed_signal(slo, shi)
    if clamp_acc:
        slo, shi = acc_fmt.min, acc_fmt.max
        sat3 = format_signal(acc_fmt)
        clamp = clamp_to_format(sum3, sat3, acc_fmt)
    else:
        sat3, clamp = sum3, ()
    half = (1 << (shift - 1)) if shift else 0
    pre = signed_signal(slo + half, shi + half)
    rnd4 = signed_signal((slo + half) >> shift, (shi + half) >> shift)

    @always_seq(clk.posedge, reset=rst)
    def valid():
        if advance:
            v2.next = v1
            v3.next = v2
            v4.next = v3
            out_valid.next = v4

    @always(clk.posedge)
    def bias():
        if advance:
            bias2.next = bias_rom[j1]

    @always(clk.posedge)
    def add():
        if advance:
            sum3.next = sel2 + bias2

    @always_comb
    def round_half_up():
        pre.next = sat3 + half

    @always(clk.posedge)
    def rescale():
        if advance:
            rnd4.next = pre >> shift

    @always(clk.posedge)
    def saturate():
        if advance:
            if rnd4 > hi:
                out_v.next = hi
            elif rnd4 < lo:
                out_v.next = lo
            else:
                out_v.next = rnd4

    return clamp, valid, bias, add, round_half_up, rescale, saturate


# --- the unit -------------------------------------------------------------------------------


@block
def dense_unit(
    clk,
    rst,
    in_valid,
    in_ready,
    in_x,
    out_valid,
    out_ready,
    out_v,
    *,
    weight,
    bias,
    macs: int,
    relu: bool,
    mask=None,
    cfg: FixedPointConfig | None = None,
):
    """One dense layer ``relu?(sat(round_shift(sat(x @ weight + (bias << fw)), fw)))``.

    ``in_x``: the n_in activations of an image in order, one per ``in_valid and in_ready``;
    images may follow each other at once.  ``out_v``: the n_out outputs in order, one per
    ``out_valid and out_ready`` (held while not accepted).  ``weight``: n_in × n_out integers in
    the dense-weight format (zero where ``mask`` is False); ``bias``: n_out integers in the
    activation format; ``macs`` ≥ 1 MAC units.  Structure and timing: module docstring,
    :func:`dense_plan`, :func:`dense_timing`."""
    cfg = cfg or FixedPointConfig()
    g = dense_plan(weight, mask, macs, cfg=cfg)
    n_in, n_out, R, S, M = g["n_in"], g["n_out"], g["rounds"], g["steps"], macs
    act, fw = cfg.activation, cfg.dense_weight.frac
    if len(bias) != n_out:
        raise ValueError(f"need {n_out} biases (one per output), got {len(bias)}")
    bias = [int(b) for b in bias]
    if min(bias) < act.min or max(bias) > act.max:
        raise ValueError(f"bias outside the {act.name()} activation format")

    # input side
    in_we, load_buf, unload, unload_buf = (Signal(bool(0)) for _ in range(4))
    loaded, in_count = Signal(intbv(0)[2:]), uint_signal(n_in)
    ab = len(in_count)  # input word index bits
    in_waddr = Signal(intbv(0)[ab + 1 :])
    loader = [
        pingpong_loader(
            clk, rst, in_valid, in_ready, load_buf, in_count, loaded, unload, unload_buf, words=n_in
        ),
        _handshake(in_valid, in_ready, in_we),
        buffer_address(load_buf, in_count, in_waddr),
    ]

    # sequencer and the slot's control pipeline
    slot, step, rnd = uint_signal(R * S), uint_signal(S), uint_signal(R)
    step1 = None if g["sparse"] else uint_signal(S)
    rnd1, rnd5 = uint_signal(R), uint_signal(R)
    cbuf, first1, last1, end1, buf1 = (Signal(bool(0)) for _ in range(5))
    first4, we5, done5, buf5 = (Signal(bool(0)) for _ in range(4))
    release, release_buf = Signal(bool(0)), Signal(bool(0))
    control = (
        _sequencer(
            clk,
            rst,
            loaded,
            release,
            release_buf,
            unload,
            unload_buf,
            slot,
            step,
            rnd,
            cbuf,
            first1,
            last1,
            end1,
            step1,
            rnd1,
            buf1,
            rounds=R,
            steps=S,
        ),
        _pipeline_control(
            clk, rst, first1, last1, end1, rnd1, buf1, first4, we5, done5, rnd5, buf5
        ),
    )

    # weight ROMs, input buffers, MACs, result RAMs
    rb = len(rnd5)
    res_waddr, res_raddr = Signal(intbv(0)[rb + 1 :]), Signal(intbv(0)[rb + 1 :])
    o_buf, o_rnd, o_mac = Signal(bool(0)), uint_signal(R), uint_signal(M)
    advance = Signal(bool(0))
    words = [Signal(intbv(0)[g["word_bits"] :]) for _ in range(M)]
    w1 = [format_signal(cfg.dense_weight) for _ in range(M)]
    acc = [signed_signal(*g["mac"]) for _ in range(M)]
    rd = [signed_signal(*g["mac"]) for _ in range(M)]
    datapath = [buffer_address(buf5, rnd5, res_waddr), buffer_address(o_buf, o_rnd, res_raddr)]
    if g["sparse"]:
        index = [Signal(intbv(0)[ab:]) for _ in range(M)]
        raddr = [Signal(intbv(0)[ab + 1 :]) for _ in range(M)]
        x2 = [format_signal(act) for _ in range(M)]
        for m in range(M):
            datapath += [
                _weight_field(words[m], w1[m], index[m]),
                buffer_address(buf1, index[m], raddr[m]),
                sdp_ram(clk, in_we, in_waddr, in_x, raddr[m], x2[m]),
            ]
    else:
        raddr = Signal(intbv(0)[ab + 1 :])
        x2 = [format_signal(act)] * M
        datapath += [
            buffer_address(buf1, step1, raddr),
            sdp_ram(clk, in_we, in_waddr, in_x, raddr, x2[0]),
        ]
        datapath += [_weight_field(words[m], w1[m], None) for m in range(M)]
    for m in range(M):
        datapath += [
            rom(clk, slot, words[m], words=g["words"][m]),
            _mac(clk, x2[m], w1[m], first4, acc[m]),
            sdp_ram(clk, we5, res_waddr, acc[m], res_raddr, rd[m], ren=advance),
        ]

    # output pass and post-processing
    ov1, mac1, j1 = Signal(bool(0)), uint_signal(M), uint_signal(n_out)
    sel2 = signed_signal(*g["mac"])
    output = (
        _output_control(
            clk,
            rst,
            done5,
            buf5,
            out_valid,
            out_ready,
            advance,
            release,
            release_buf,
            o_buf,
            o_rnd,
            o_mac,
            ov1,
            mac1,
            j1,
            n_out=n_out,
            macs=M,
        ),
        _select(clk, advance, mac1, rd, sel2),
        _finalise(
            clk,
            rst,
            advance,
            ov1,
            j1,
            sel2,
            out_valid,
            out_v,
            bias_rom=tuple(b << fw for b in bias),
            shift=fw,
            acc_fmt=cfg.accumulator,
            clamp_acc=g["saturates"],
            lo=max(0, act.min) if relu else act.min,
            hi=act.max,
        ),
    )
    return loader, control, datapath, output
