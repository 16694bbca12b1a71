"""The read-out and inverse-FFT stage of a spectral conv layer engine.

Per tile, for each output channel o in turn, the stage reads the F accumulator groups (o, f) from
the Hadamard stage's read-out port — PE ``pe_of_group[o, f]``, address ``acc_addr[o, f]``; groups
without non-zeros are zero and not read — and streams them into one
:func:`~codesign.hdl.fft.irfft2_unit`.  Channels are paced N² clocks apart, the inverse unit's
minimum interval, so each channel's N×N output leaves exactly N² clocks after the previous one and
its (o, ty, tx) tag is the one registered at its last bin, delayed by the unit's latency.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, always_seq, block, intbv

from codesign.hdl.signals import delay_bits, delay_line, uint_signal
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.fft import irfft2_latency, irfft2_signals, irfft2_unit

__all__ = ["inverse_stage", "inverse_stage_timing"]


def inverse_stage_timing(
    O: int, N: int, readout_latency: int, cfg: FixedPointConfig | None = None
) -> dict:
    """Clocks from the edge sampling ``start``: ``reads_done`` (accumulators no longer needed)
    and ``done`` (last output sample), with ``period`` = N² clocks per channel."""
    lat = irfft2_latency(N, cfg)
    F = N * (N // 2 + 1)
    # counted like front_end_timing: edges after the one sampling ``start`` up to and including
    # the one that raises the flag, plus one.  Channel o's bin f is requested at edge 1 + o·N² + f
    # and enters the inverse unit readout_latency edges later.
    last_bin = (O - 1) * N * N + (F - 1) + readout_latency + 2
    return {"period": N * N, "reads_done": last_bin + 1, "done": last_bin + lat["last"] + 1}


@block
def inverse_stage(
    clk,
    rst,
    start,
    start_buf,
    ty,
    tx,
    rd_en,
    rd_pe,
    rd_addr,
    rd_buf,
    rd_re,
    rd_im,
    out_valid,
    out_o,
    out_ty,
    out_tx,
    out_n,
    out_x,
    reads_done,
    done,
    busy,
    *,
    O: int,
    N: int,
    pe_of_group,
    acc_addr,
    readout_latency: int,
    channels: tuple | None = None,
    cfg: FixedPointConfig | None = None,
):
    """Read out one tile's accumulators channel by channel into an inverse FFT unit.

    ``O`` channels, rows of ``pe_of_group`` / ``acc_addr``; ``channels`` their output-channel
    numbers for the ``out_o`` tag (default 0 … O − 1): one read-out lane of an engine with
    several takes the channels o ≡ lane (mod lanes).  The tag travels beside the inverse FFT as
    the lane-local index and becomes the channel number in the last clock: a lane's numbers
    share constant low bits, and a 60-stage delay line of a constant bit costs Yosys one
    optimisation pass per stage.

    ``start`` (one clock, while not ``busy``) latches (``start_buf``, ty, tx); the read-out port
    returns ``rd_re``/``rd_im`` ``readout_latency`` clocks after a request.  ``reads_done`` pulses
    after the last bin has been taken, ``done`` after the last output sample; ``busy`` is high
    while channels are being read (O·N² clocks from ``start``).
    """
    cfg = cfg or FixedPointConfig()
    F = N * (N // 2 + 1)
    period = N * N
    pes = tuple(int(p) for p in pe_of_group.reshape(-1))
    addrs = tuple(max(int(a), 0) for a in acc_addr.reshape(-1))
    used = tuple(int(a >= 0) for a in acc_addr.reshape(-1))
    first = irfft2_latency(N, cfg)["first"]
    ids = tuple(range(O)) if channels is None else tuple(int(c) for c in channels)
    if len(ids) != O:
        raise ValueError(f"channels has {len(ids)} entries for O = {O}")
    last_o = ids[-1]

    run, buf_l = Signal(bool(0)), Signal(bool(0))
    o, phase, idx = uint_signal(O), uint_signal(period), uint_signal(O * F)
    ty_l = Signal(intbv(0, min=0, max=ty.max))
    tx_l = Signal(intbv(0, min=0, max=tx.max))
    used_now = Signal(bool(0))
    pe_now = Signal(intbv(0, min=0, max=rd_pe.max))
    addr_now = Signal(intbv(0, min=0, max=rd_addr.max))
    req, req_zero = Signal(bool(0)), Signal(bool(0))
    req_f, req_o = uint_signal(F), uint_signal(O)
    got, got_zero = Signal(bool(0)), Signal(bool(0))
    got_f, got_o = uint_signal(F), uint_signal(O)
    s = irfft2_signals(N, cfg)
    u_valid, u_f, u_re, u_im = s["in_valid"], s["in_f"], s["in_re"], s["in_im"]
    v_valid, v_n, v_x = s["out_valid"], s["out_n"], s["out_x"]
    tag_o, late_o = uint_signal(O), uint_signal(O)
    tag_ty, tag_tx = uint_signal(ty.max), uint_signal(tx.max)

    @always_comb
    def index():
        if phase < F:
            idx.next = o * F + phase
        else:
            idx.next = o * F

    @always_comb
    def lookup():
        used_now.next = used[idx]
        pe_now.next = pes[idx]
        addr_now.next = addrs[idx]

    @always_seq(clk.posedge, reset=rst)
    def walk():
        req.next = False
        if start and not run:
            run.next = True
            buf_l.next = start_buf
            ty_l.next = ty
            tx_l.next = tx
            o.next = 0
            phase.next = 0
        elif run:
            if phase < F:
                req.next = True
                req_zero.next = not used_now
                req_f.next = phase
                req_o.next = o
                rd_pe.next = pe_now
                rd_addr.next = addr_now
            if phase == period - 1:
                phase.next = 0
                if o == O - 1:
                    run.next = False
                else:
                    o.next = o + 1
            else:
                phase.next = phase + 1

    @always_comb
    def request():
        rd_en.next = req and not req_zero
        rd_buf.next = buf_l
        busy.next = run

    delays = [
        delay_bits(clk, rst, req, got, readout_latency),
        delay_bits(clk, rst, req_zero, got_zero, readout_latency),
        delay_line(clk, req_f, got_f, readout_latency),
        delay_line(clk, req_o, got_o, readout_latency),
    ]

    @always_comb
    def feed():
        u_valid.next = got
        u_f.next = got_f
        if got_zero:
            u_re.next = 0
            u_im.next = 0
        else:
            u_re.next = rd_re
            u_im.next = rd_im

    @always_seq(clk.posedge, reset=rst)
    def tag():
        reads_done.next = False
        if got and got_f == F - 1:
            tag_o.next = got_o
            tag_ty.next = ty_l
            tag_tx.next = tx_l
            reads_done.next = got_o == O - 1

    unit = irfft2_unit(clk, rst, u_valid, u_f, u_re, u_im, v_valid, v_n, v_x, n=N, cfg=cfg)
    tags = [
        delay_line(clk, tag_o, late_o, first - 2),
        delay_line(clk, tag_ty, out_ty, first - 1),
        delay_line(clk, tag_tx, out_tx, first - 1),
    ]

    @always(clk.posedge)
    def channel():
        out_o.next = ids[late_o]

    @always_comb
    def output():
        out_valid.next = v_valid
        out_n.next = v_n
        out_x.next = v_x

    @always_seq(clk.posedge, reset=rst)
    def finished():
        done.next = v_valid and v_n == period - 1 and out_o == last_o

    return index, lookup, walk, request, delays, feed, tag, unit, tags, channel, output, finished
