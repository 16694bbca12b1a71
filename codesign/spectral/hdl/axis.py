"""AXI4-Stream edges of the accelerator: pixels in, class scores and the predicted class out.

Both adapters are pass-through (no buffering, no added clock) with one pixel per beat: the slave
side hands each pixel to the first layer's input handshake (with several pixels per beat, a beat
register adds one clock), the master side hands the last layer's outputs to the
stream.  Images are framed by count (``pixels`` beats each); ``tlast`` is checked against the
count, and a disagreement sets the sticky ``frame_error`` flag until reset.  On the output, every
beat's ``tuser`` is the index of the highest score among the image's beats so far (ties to the
lower index, as ``numpy.argmax``), so on the ``tlast`` beat it is the predicted class.

Every top-level output comes from here: ``s_axis_tready`` is the first layer's ``in_ready`` (or,
with several pixels per beat, the beat register's state), the ``m_axis`` outputs follow the last
layer's ``out_valid``/``out_v`` and this block's count and running maximum, ``frame_error`` is a
register.  All are functions of registers with reset values, so with the initial values of
:func:`codesign.hdl.convert.convert` they are defined from time 0 (docs/accelerator.md).
"""

from __future__ import annotations

from myhdl import Signal, always_comb, always_seq, block, intbv

from codesign.hdl.signals import uint_signal

__all__ = ["axis_pixels_in", "axis_scores_out", "axis_signals"]


def axis_signals(
    classes: int, pixel_bits: int = 8, score_bits: int = 16, per_beat: int = 1
) -> dict:
    """Fresh AXI4-Stream port signals (``s_axis_*``, ``m_axis_*``, ``frame_error``)."""
    return {
        "s_axis_tdata": Signal(intbv(0)[pixel_bits * per_beat :]),
        "s_axis_tvalid": Signal(bool(0)),
        "s_axis_tready": Signal(bool(0)),
        "s_axis_tlast": Signal(bool(0)),
        "m_axis_tdata": Signal(intbv(0)[score_bits:]),
        "m_axis_tvalid": Signal(bool(0)),
        "m_axis_tready": Signal(bool(0)),
        "m_axis_tlast": Signal(bool(0)),
        "m_axis_tuser": uint_signal(classes),
        "frame_error": Signal(bool(0)),
    }


@block
def axis_pixels_in(
    clk,
    rst,
    s_tdata,
    s_tvalid,
    s_tready,
    s_tlast,
    in_valid,
    in_ready,
    in_x,
    frame_error,
    *,
    pixels: int,
    shift: int,
    per_beat: int = 1,
):
    """Pixel ``p`` (unsigned) becomes the activation ``p << shift``; ``tlast`` must mark the last
    beat of every image.  With ``per_beat`` > 1 pixels per beat (pixel 0 in the low bits), a beat
    register hands them on one per clock; the next beat is taken as the last pixel leaves, so a
    source that always has data keeps the first layer busy every clock."""
    take = Signal(bool(0))
    framing = _framing(clk, rst, take, s_tlast, frame_error, beats=pixels // per_beat)
    if per_beat > 1:
        return framing, _unpack(
            clk,
            rst,
            s_tdata,
            s_tvalid,
            s_tready,
            take,
            in_valid,
            in_ready,
            in_x,
            shift=shift,
            per_beat=per_beat,
        )

    @always_comb
    def forward():
        in_valid.next = s_tvalid
        s_tready.next = in_ready
        take.next = s_tvalid and in_ready
        in_x.next = s_tdata << shift

    return framing, forward


@block
def _framing(clk, rst, take, s_tlast, frame_error, *, beats: int):
    """Counts the beats taken; ``frame_error`` once a ``tlast`` disagrees with the count."""
    count = uint_signal(beats)

    @always_seq(clk.posedge, reset=rst)
    def check():
        if take:
            if count == beats - 1:
                count.next = 0
                if not s_tlast:
                    frame_error.next = True
            else:
                count.next = count + 1
                if s_tlast:
                    frame_error.next = True

    return check


@block
def _unpack(
    clk,
    rst,
    s_tdata,
    s_tvalid,
    s_tready,
    take,
    in_valid,
    in_ready,
    in_x,
    *,
    shift: int,
    per_beat: int,
):
    bits = len(s_tdata) // per_beat
    held = Signal(intbv(0)[len(s_tdata) :])
    left = uint_signal(per_beat + 1)

    @always_comb
    def forward():
        s_tready.next = left == 0 or (left == 1 and in_ready)
        take.next = s_tvalid and (left == 0 or (left == 1 and in_ready))
        in_valid.next = left != 0
        in_x.next = held[bits:] << shift

    @always_seq(clk.posedge, reset=rst)
    def shift_out():
        if take:
            held.next = s_tdata
            left.next = per_beat
        elif left != 0 and in_ready:
            held.next = held >> bits
            left.next = left - 1

    return forward, shift_out


@block
def axis_scores_out(
    clk,
    rst,
    out_valid,
    out_ready,
    out_v,
    m_tdata,
    m_tvalid,
    m_tready,
    m_tlast,
    m_tuser,
    *,
    classes: int,
):
    """Scores (signed) onto ``m_tdata`` as two's-complement bits; running argmax on ``m_tuser``."""
    count = uint_signal(classes)
    best = _fmt_signal_like(out_v)
    best_i = uint_signal(classes)
    width = len(m_tdata)
    leads = Signal(bool(0))

    @always_comb
    def compare():
        leads.next = count == 0 or out_v > best

    @always_comb
    def forward():
        m_tdata.next = out_v[width:]
        m_tvalid.next = out_valid
        out_ready.next = m_tready
        m_tlast.next = count == classes - 1
        if leads:
            m_tuser.next = count
        else:
            m_tuser.next = best_i

    @always_seq(clk.posedge, reset=rst)
    def track():
        if out_valid and m_tready:
            if count == classes - 1:
                count.next = 0
            else:
                count.next = count + 1
            if leads:
                best.next = out_v
                best_i.next = count

    return compare, forward, track


def _fmt_signal_like(sig) -> Signal:
    return Signal(intbv(0, min=sig.min, max=sig.max))
