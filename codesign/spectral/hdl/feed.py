"""The front end of a spectral conv layer engine: input-map buffer, tile feeders, spectrum writer.

The input map (C × H × W activations, raster order (c, y, x)) arrives as a stream and is stored
in ``units`` RAMs, RAM u holding the channels c ≡ u (mod units), two images deep (ping-pong), so
an image can load while the previous one is processed.  For a tile (ty, tx), feeder u streams
each of its channels' N×N tiles — the L×L window at (ty·L, tx·L), zero outside it and outside the
map — into its own :func:`~codesign.hdl.fft.rfft2_unit`, one sample per clock, channels back to
back (N² clocks each).  Every spectrum bin leaving the unit is written to the spectrum bank and
address the schedule assigns to (c, f) (``bank_of``, ``addr_of``), on write port u: FFT unit u
only ever writes its own bank group, so the ports never collide.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always_comb, always_seq, block, intbv

from codesign.hdl.ram import sdp_ram
from codesign.hdl.signals import format_signal, pick, uint_signal
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.fft import rfft2_latency, rfft2_signals, rfft2_unit

__all__ = ["tile_feeder", "front_end", "front_end_signals", "front_end_timing", "beat_routes"]


@block
def tile_feeder(
    clk,
    rst,
    start,
    ty,
    tx,
    buf,
    raddr,
    rdata,
    out_valid,
    out_x,
    ready,
    *,
    channels: int,
    H: int,
    W: int,
    K: int,
    N: int,
):
    """Stream ``channels`` N×N zero-padded tiles of one tile position from an input RAM.

    ``start`` (one clock, while ``ready``) latches (ty, tx, buf); the RAM address of (k, y, x)
    is ``((buf·channels + k)·H + y)·W + x``.  Samples leave one clock after their address (the
    RAM's registered read).  ``ready`` is high when idle and in the clock issuing the last
    address, so tiles can follow each other with no gap.
    """
    L = N - K + 1
    run = Signal(bool(0))
    k = uint_signal(channels)
    r = uint_signal(N)
    col = uint_signal(N)
    ty_l = Signal(intbv(0, min=0, max=ty.max))
    tx_l = Signal(intbv(0, min=0, max=tx.max))
    buf_l = Signal(bool(0))
    inside = Signal(bool(0))
    issued = Signal(bool(0))
    keep = Signal(bool(0))
    final = Signal(bool(0))

    @always_comb
    def finishing():
        final.next = run and col == N - 1 and r == N - 1 and k == channels - 1
        ready.next = not run or (col == N - 1 and r == N - 1 and k == channels - 1)

    @always_comb
    def address():
        y = ty_l * L + r
        x = tx_l * L + col
        inside.next = r < L and col < L and y < H and x < W
        if r < L and col < L and y < H and x < W:
            raddr.next = ((buf_l * channels + k) * H + y) * W + x
        else:
            raddr.next = 0

    @always_seq(clk.posedge, reset=rst)
    def count():
        issued.next = run
        keep.next = inside
        if start and (not run or final):
            run.next = True
            ty_l.next = ty
            tx_l.next = tx
            buf_l.next = buf
            k.next = 0
            r.next = 0
            col.next = 0
        elif run:
            if col == N - 1:
                col.next = 0
                if r == N - 1:
                    r.next = 0
                    if k == channels - 1:
                        run.next = False
                    else:
                        k.next = k + 1
                else:
                    r.next = r + 1
            else:
                col.next = col + 1

    @always_comb
    def output():
        out_valid.next = issued
        if keep:
            out_x.next = rdata
        else:
            out_x.next = 0

    return finishing, address, count, output


def front_end_signals(
    C: int, H: int, W: int, units: int, B: int, bank_depth: int, cfg: FixedPointConfig | None = None
) -> dict:
    """Port signals of :func:`front_end` (write ports are lists, one per FFT unit)."""
    cfg = cfg or FixedPointConfig()
    return {
        "in_valid": Signal(bool(0)),
        "in_x": format_signal(cfg.activation),
        "load_buf": Signal(bool(0)),
        "start": Signal(bool(0)),
        "ty": uint_signal(H),
        "tx": uint_signal(W),
        "img_buf": Signal(bool(0)),
        "tile_buf": Signal(bool(0)),
        "ready": Signal(bool(0)),
        "wr_en": [Signal(bool(0)) for _ in range(units)],
        "wr_bank": [uint_signal(B) for _ in range(units)],
        "wr_addr": [uint_signal(bank_depth) for _ in range(units)],
        "wr_re": [format_signal(cfg.spectrum) for _ in range(units)],
        "wr_im": [format_signal(cfg.spectrum) for _ in range(units)],
        "wr_buf": [Signal(bool(0)) for _ in range(units)],
        "done": Signal(bool(0)),
    }


def front_end_timing(C: int, units: int, N: int, cfg: FixedPointConfig | None = None) -> dict:
    """Clocks of one tile: ``stream`` = samples per unit, also the clocks from one ``start`` to
    the next when tiles follow back to back; ``start_to_done`` = from the clock edge that samples
    ``start`` to the edge at which ``done`` is first high: the feeder issues its first address
    one clock after ``start``, the RAM answers one clock later, the last of ``stream`` samples
    enters the FFT unit, leaves ``rfft2_latency(N)["last"]`` clocks later, is written (1) and
    reported (1)."""
    per = -(-C // units)
    stream = per * N * N
    return {"stream": stream, "start_to_done": 2 + stream - 1 + rfft2_latency(N, cfg)["last"] + 2}


@block
def _bank_writer(
    clk,
    rst,
    f_valid,
    f_bin,
    f_re,
    f_im,
    wr_en,
    wr_bank,
    wr_addr,
    wr_re,
    wr_im,
    wr_buf,
    last,
    start,
    tile_buf,
    *,
    banks: tuple,
    addrs: tuple,
    channels: int,
    F: int,
):
    """Tag the unit's bins with their channel (bins come F per channel, in channel order) and
    write each to its scheduled bank and address; ``last`` pulses with the tile's final word.

    The spectrum buffer of each tile (``tile_buf`` at its ``start``) waits in a two-entry queue
    until the tile's bins come out: a tile may start while the previous one is still in the FFT.
    ``last`` may be None (a unit whose end nobody watches).
    """
    queue = [Signal(bool(0)) for _ in range(2)]
    head, tail = Signal(bool(0)), Signal(bool(0))
    q0, q1 = queue
    k = uint_signal(channels)
    count = uint_signal(F)
    idx = uint_signal(channels * F)
    bank = Signal(intbv(0, min=0, max=max(max(banks) + 1, 2)))
    addr = Signal(intbv(0, min=0, max=max(max(addrs) + 1, 2)))

    @always_comb
    def index():
        idx.next = k * F + f_bin

    @always_comb
    def lookup():
        bank.next = banks[idx]
        addr.next = addrs[idx]

    @always_seq(clk.posedge, reset=rst)
    def enqueue():
        if start:
            tail.next = not tail
            if tail:
                q1.next = tile_buf
            else:
                q0.next = tile_buf

    @always_seq(clk.posedge, reset=rst)
    def tag():
        wr_en.next = f_valid
        if f_valid:
            wr_bank.next = bank
            wr_addr.next = addr
            wr_re.next = f_re
            wr_im.next = f_im
            wr_buf.next = q1 if head else q0
            if count == F - 1:
                count.next = 0
                if k == channels - 1:
                    k.next = 0
                    head.next = not head
                else:
                    k.next = k + 1
            else:
                count.next = count + 1

    if last is None:
        report = ()
    else:

        @always_seq(clk.posedge, reset=rst)
        def report():
            last.next = f_valid and count == F - 1 and k == channels - 1

    return index, lookup, enqueue, tag, report


def beat_routes(C: int, k: int, units: int, u: int, beats: int | None = None) -> list:
    """For each beat g of ``k`` channel words (channels g·k … g·k + k − 1), which word goes to
    FFT unit ``u`` (the channels c ≡ u mod ``units``) and its channel row in that unit's input
    memory: ``(w, (g·k + w) // units)``, or None when no word of the beat is the unit's.  With
    k ≤ units at most one word of a beat is; ``beats`` pads the table (default C / k)."""
    out = []
    for g in range(C // k if beats is None else beats):
        w = (u - g * k) % units
        out.append((w, (g * k + w) // units) if w < k else None)
    return out


@block
def _router(
    in_valid,
    in_x,
    lc,
    ly,
    lx,
    load_buf,
    we,
    waddr,
    wdata,
    *,
    u: int,
    units: int,
    channels: int,
    H: int,
    W: int,
):
    """Input words of the channels c ≡ u (mod units) go to this unit's RAM.  ``in_x``: the k
    words of a beat (channels lc·k … lc·k + k − 1, ``lc`` counting beats of channels); with
    k ≤ units at most one of them is this unit's."""
    k = len(in_x)
    if k == 1:
        x = in_x[0]

        @always_comb
        def route():
            we.next = in_valid and lc % units == u
            waddr.next = ((load_buf * channels + lc // units) * H + ly) * W + lx
            wdata.next = x

        return route
    routes = beat_routes(channels * units, k, units, u, beats=lc.max)
    hit = tuple(int(r is not None) for r in routes)
    pick_w = tuple(0 if r is None else r[0] for r in routes)
    index = tuple(0 if r is None else min(r[1], channels - 1) for r in routes)
    sel, mine, row = uint_signal(k), Signal(bool(0)), uint_signal(channels)
    chain = [in_x[0]] + [Signal(in_x[0].val) for _ in range(1, k)]
    links = [pick(chain[w - 1], in_x[w], sel, chain[w], index=w) for w in range(1, k)]
    last = chain[-1]

    @always_comb
    def which():
        sel.next = pick_w[lc]

    @always_comb
    def is_mine():
        mine.next = hit[lc]

    @always_comb
    def channel():
        row.next = index[lc]

    @always_comb
    def route():
        we.next = in_valid and mine
        waddr.next = ((load_buf * channels + row) * H + ly) * W + lx
        wdata.next = last

    return which, is_mine, channel, links, route


@block
def _unit_front(
    clk,
    rst,
    in_valid,
    in_x,
    lc,
    ly,
    lx,
    load_buf,
    start,
    ty,
    tx,
    img_buf,
    wr_en,
    wr_bank,
    wr_addr,
    wr_re,
    wr_im,
    wr_buf,
    last,
    tile_buf,
    ready,
    *,
    u: int,
    units: int,
    C: int,
    H: int,
    W: int,
    K: int,
    N: int,
    bank_of,
    addr_of,
    cfg: FixedPointConfig,
):
    """One FFT unit's share: its input RAM, tile feeder, forward FFT and spectrum writer."""
    F = N * (N // 2 + 1)
    chans = list(range(u, C, units))
    depth = 2 * len(chans) * H * W
    we = Signal(bool(0))
    waddr, raddr = uint_signal(depth), uint_signal(depth)
    wdata, rdata = format_signal(cfg.activation), format_signal(cfg.activation)
    s = rfft2_signals(N, cfg)
    return (
        _router(
            in_valid,
            in_x,
            lc,
            ly,
            lx,
            load_buf,
            we,
            waddr,
            wdata,
            u=u,
            units=units,
            channels=len(chans),
            H=H,
            W=W,
        ),
        sdp_ram(clk, we, waddr, wdata, raddr, rdata),  # the input map, two images deep
        tile_feeder(
            clk,
            rst,
            start,
            ty,
            tx,
            img_buf,
            raddr,
            rdata,
            s["in_valid"],
            s["in_x"],
            ready,
            channels=len(chans),
            H=H,
            W=W,
            K=K,
            N=N,
        ),
        rfft2_unit(
            clk,
            rst,
            s["in_valid"],
            s["in_x"],
            s["out_valid"],
            s["out_f"],
            s["out_re"],
            s["out_im"],
            n=N,
            cfg=cfg,
        ),
        _bank_writer(
            clk,
            rst,
            s["out_valid"],
            s["out_f"],
            s["out_re"],
            s["out_im"],
            wr_en,
            wr_bank,
            wr_addr,
            wr_re,
            wr_im,
            wr_buf,
            last,
            start,
            tile_buf,
            banks=tuple(int(bank_of[c, f]) for c in chans for f in range(F)),
            addrs=tuple(int(addr_of[c, f]) for c in chans for f in range(F)),
            channels=len(chans),
            F=F,
        ),
    )


@block
def front_end(
    clk,
    rst,
    in_valid,
    in_x,
    load_buf,
    start,
    ty,
    tx,
    img_buf,
    tile_buf,
    ready,
    wr_en,
    wr_bank,
    wr_addr,
    wr_re,
    wr_im,
    wr_buf,
    done,
    *,
    C: int,
    H: int,
    W: int,
    K: int,
    N: int,
    units: int,
    bank_of,
    addr_of,
    cfg: FixedPointConfig | None = None,
):
    """Input buffer, ``units`` tile feeders and forward FFT units, and the spectrum writers.

    Loading: ``in_x`` words in raster (c, y, x) order go to image buffer ``load_buf`` while
    ``in_valid`` (one per clock; the engine loads only the buffer it is not reading); ``in_x``
    a list of k ≤ ``units`` words: per clock the channels c … c + k − 1 of one position
    (c a multiple of k; the order (c // k, y, x, c mod k)).
    Processing: ``start`` (while ``ready``) with (ty, tx, ``img_buf``) runs one tile into
    spectrum buffer ``tile_buf``; its words leave on the write ports with ``wr_buf`` = that
    buffer, and ``done`` pulses once every unit has written its last bin
    (:func:`front_end_timing` clocks after ``start``).  ``ready`` rises in the clock a tile's
    last sample is read, so tiles follow back to back (``stream`` clocks apart) while earlier
    ones are still in the FFT units.
    """
    cfg = cfg or FixedPointConfig()
    words = list(in_x) if isinstance(in_x, (list, tuple)) else [in_x]
    k = len(words)
    if k > units or C % k:
        raise ValueError(f"{k} words per clock need at least {k} FFT units and C = {C} a multiple")
    lc, ly, lx = uint_signal(C // k), uint_signal(H), uint_signal(W)
    # unit 0 feeds the most channels and ends last: its ``last`` speaks for all
    lasts = [Signal(bool(0))] + [None] * (units - 1)
    readies = [Signal(bool(0)) for _ in range(units)]

    @always_seq(clk.posedge, reset=rst)
    def load_counter():
        if in_valid:
            if lx == W - 1:
                lx.next = 0
                if ly == H - 1:
                    ly.next = 0
                    lc.next = 0 if lc == C // k - 1 else lc + 1
                else:
                    ly.next = ly + 1
            else:
                lx.next = lx + 1

    units_blocks = [
        _unit_front(
            clk,
            rst,
            in_valid,
            words,
            lc,
            ly,
            lx,
            load_buf,
            start,
            ty,
            tx,
            img_buf,
            wr_en[u],
            wr_bank[u],
            wr_addr[u],
            wr_re[u],
            wr_im[u],
            wr_buf[u],
            lasts[u],
            tile_buf,
            readies[u],
            u=u,
            units=units,
            C=C,
            H=H,
            W=W,
            K=K,
            N=N,
            bank_of=bank_of,
            addr_of=addr_of,
            cfg=cfg,
        )
        for u in range(units)
    ]

    first_last = lasts[0]
    all_ready = ConcatSignal(*reversed(readies)) if units > 1 else readies[0]
    every = (1 << units) - 1

    @always_seq(clk.posedge, reset=rst)
    def report():
        done.next = first_last

    @always_comb
    def accept():
        ready.next = all_ready == every

    return load_counter, units_blocks, report, accept
