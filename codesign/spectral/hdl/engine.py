"""One spectral conv layer engine: front end, Hadamard stage, read-out/inverse FFT, overlap-add.

Generated from a scheduled layer (:class:`~codesign.mapping.LayerMap` with its memory image) and
the layer's fixed-point biases.  Ports: the layer's input map in raster (c, y, x) order, one
activation per clock (``in_valid``/``in_ready``), and the pooled output map in (o, y, x) raster
order (``out_valid``/``out_ready``).  The sequencer follows docs/engine.md: tiles in raster order,
the three tile stages double-buffered, input and overlap-add maps double-buffered per image.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always_comb, always_seq, block, intbv

from codesign.hdl.buffers import pingpong_loader
from codesign.hdl.signals import format_signal, uint_signal, unpack_words, words_signal
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.feed import front_end
from codesign.spectral.hdl.fft import rfft2_latency
from codesign.spectral.hdl.hadamard import (
    READ_PORTS,
    READOUT_LATENCY,
    hadamard_engine,
    hadamard_signals,
)
from codesign.spectral.hdl.inverse import inverse_stage
from codesign.spectral.hdl.oaa import oaa_unit

__all__ = [
    "spectral_engine",
    "engine_signals",
    "generatable",
    "lane_channels",
    "slice_tiles",
    "spectrum_wait",
]


def spectrum_wait(cycles: int, N: int, cfg: FixedPointConfig | None = None) -> int:
    """Clocks the front end waits after the Hadamard stage starts tile t − 2 before it starts
    tile t into the same spectrum buffer: the Hadamard stage reads it for ``cycles`` + 3 clocks
    after its start, the front end writes its first word ``rfft2_latency(N)["first"]`` + 3
    clocks after its own start."""
    return max(0, cycles + 4 - (rfft2_latency(N, cfg)["first"] + 3))


def lane_channels(O: int, lanes: int) -> list[tuple]:
    """The output channels of each read-out / inverse-FFT lane: lane l takes o ≡ l (mod lanes)
    (the overlap-add unit's streams split the channels the same way)."""
    return [tuple(range(lane, O, lanes)) for lane in range(lanes)]


def generatable(arch, O: int | None = None, C: int | None = None) -> str | None:
    """None if :func:`spectral_engine` builds a layer of ``arch`` (a SpectralArch) with ``O``
    output and ``C`` input channels, else why not: the one rule that decides between the exact
    cycle model and the analytic one, and what ``codesign generate`` accepts."""
    lanes, k_in, k_out = arch.ifft_units, arch.in_words, arch.out_words
    if lanes % k_out or (O is not None and O % k_out):
        return (
            f"out_words = {k_out} needs a divisor of ifft_units = {lanes} and of the "
            f"{O} output channels (each word of a beat comes from its own lane)"
        )
    if k_in > arch.fft_units or (C is not None and C % k_in):
        return (
            f"in_words = {k_in} needs fft_units >= {k_in} (got {arch.fft_units}) and a "
            f"divisor of the {C} input channels (each word of a beat goes to its own unit's "
            f"input memory)"
        )
    if arch.pes % lanes:
        return (
            f"ifft_units = {lanes} read-out lanes need pes a multiple of {lanes} "
            f"(lane l owns the PEs p ≡ l mod {lanes}), got pes = {arch.pes}"
        )
    if O is not None and lanes > O:
        return f"ifft_units = {lanes} read-out lanes for {O} output channels"
    if arch.ports != READ_PORTS:
        return (
            f"ports = {arch.ports}; the generated engine's spectrum banks have {READ_PORTS} "
            f"read port"
        )
    return None


def engine_signals(
    layer: dict, cfg: FixedPointConfig | None = None, in_words: int = 1, out_words: int = 1
) -> dict:
    """Fresh port signals of :func:`spectral_engine` for a layer dict (O, H, W, K, pool);
    ``in_x`` / ``out_v`` carry ``in_words`` / ``out_words`` activations per beat
    (:func:`~codesign.hdl.signals.words_signal`)."""
    cfg = cfg or FixedPointConfig()
    out_h = (layer["H"] - layer["K"] + 1) // layer["pool"]
    out_w = (layer["W"] - layer["K"] + 1) // layer["pool"]
    return {
        "in_valid": Signal(bool(0)),
        "in_ready": Signal(bool(0)),
        "in_x": words_signal(cfg.activation, in_words),
        "out_valid": Signal(bool(0)),
        "out_ready": Signal(bool(0)),
        "out_o": uint_signal(layer["O"]),
        "out_y": uint_signal(out_h),
        "out_x": uint_signal(out_w),
        "out_v": words_signal(cfg.activation, out_words),
    }


@block
def _image_control(
    clk, rst, loaded, oaa_ready, go, active, ends, unload, unload_buf, img_buf, finish
):
    """Starts every tile slice on an image (``go``, while the image is loaded and the
    overlap-add unit may take it); when the last slice ends its last tile (``ends``, one flag
    per slice, high in that clock), frees the image's input buffer and pulses ``finish``."""
    S = len(ends)
    full = (1 << S) - 1
    ended, now = Signal(intbv(0)[S:]), Signal(intbv(0)[S:])
    over = Signal(bool(0))
    if S > 1:
        now = ConcatSignal(*reversed(ends))
        gather = ()
    else:
        one = ends[0]

        @always_comb
        def gather():
            now.next = one

    @always_comb
    def start():
        go.next = not active and loaded[img_buf] and oaa_ready
        over.next = (ended | now) == full

    @always_seq(clk.posedge, reset=rst)
    def control():
        finish.next = False
        unload.next = False
        if go:
            active.next = True
            ended.next = 0
        elif active and over:
            finish.next = True
            unload.next = True
            unload_buf.next = img_buf
            active.next = False
            img_buf.next = not img_buf
            ended.next = 0
        else:
            ended.next = ended | now

    return gather, start, control


@block
def _tile_control(
    clk,
    rst,
    go,
    active,
    fe_start,
    fe_ready,
    fe_done,
    fe_ty,
    fe_tx,
    fe_buf,
    had_start,
    had_done,
    had_buf,
    inv_start,
    inv_busy,
    inv_reads_done,
    inv_done,
    inv_ty,
    inv_tx,
    inv_buf,
    end,
    *,
    tiles: int,
    tw: int,
    first: int,
    stride: int,
    spectrum_wait: int,
):
    """One tile slice's sequencer: its tiles ``first``, ``first + stride``, … (``tiles`` of
    them, raster order) through its front end, Hadamard stage and read-out, each stage started
    when its inputs are ready and its output buffer is free; ``end`` is high in the clock its
    last tile's last inverse-FFT sample is reported.  The front end takes tile t + 1 as soon
    as it has read tile t (``fe_ready``), into spectrum buffer ``fe_buf`` = (t + 1) mod 2, once
    the Hadamard stage has started tile t − 1 and ``spectrum_wait`` clocks have passed, so
    that its reads of that buffer end before the front end's first write
    (:func:`spectrum_wait`)."""
    fe_t, had_t, inv_t = uint_signal(tiles + 1), uint_signal(tiles + 1), uint_signal(tiles + 1)
    fe_n, had_n, reads_n, inv_n = (uint_signal(tiles + 1) for _ in range(4))
    had_busy = Signal(bool(0))
    hold = Signal(intbv(0, min=0, max=spectrum_wait + 2))
    fe_x, inv_x = uint_signal(tw), uint_signal(tw)
    x0, y0 = first % tw, first // tw

    @always_comb
    def decide():
        fe_start.next = (
            active
            and fe_t < tiles
            and fe_ready
            and (fe_t < 2 or fe_t <= had_t or (fe_t == had_t + 1 and hold == 0))
        )
        fe_buf.next = fe_t[0]
        had_start.next = (
            active and had_t < tiles and not had_busy and fe_n > had_t and had_t <= reads_n + 1
        )
        inv_start.next = active and inv_t < tiles and not inv_busy and had_n > inv_t
        had_buf.next = had_t[0]
        inv_buf.next = inv_t[0]
        end.next = active and inv_done and inv_n == tiles - 1

    @always_seq(clk.posedge, reset=rst)
    def advance():
        if go:
            fe_t.next = 0
            had_t.next = 0
            inv_t.next = 0
            fe_n.next = 0
            had_n.next = 0
            reads_n.next = 0
            inv_n.next = 0
            fe_ty.next = y0
            fe_x.next = x0
            inv_ty.next = y0
            inv_x.next = x0
        elif active:
            if fe_start:
                fe_t.next = fe_t + 1
                if fe_t == tiles - 1:
                    pass
                elif fe_x + stride >= tw:
                    fe_x.next = fe_x + stride - tw
                    fe_ty.next = fe_ty + 1
                else:
                    fe_x.next = fe_x + stride
            if fe_done:
                fe_n.next = fe_n + 1
            if had_start:
                had_busy.next = True
                had_t.next = had_t + 1
                hold.next = spectrum_wait
            elif hold > 0:
                hold.next = hold - 1
            if had_done:
                had_busy.next = False
                had_n.next = had_n + 1
            if inv_start:
                inv_t.next = inv_t + 1
                if inv_t == tiles - 1:
                    pass
                elif inv_x + stride >= tw:
                    inv_x.next = inv_x + stride - tw
                    inv_ty.next = inv_ty + 1
                else:
                    inv_x.next = inv_x + stride
            if inv_reads_done:
                reads_n.next = reads_n + 1
            if inv_done:
                inv_n.next = inv_n + 1

    @always_comb
    def columns():
        fe_tx.next = fe_x
        inv_tx.next = inv_x

    return decide, advance, columns


def slice_tiles(tiles: int, slices: int) -> list[int]:
    """Tiles of each slice: slice s takes the tiles t ≡ s (mod slices) of an image."""
    return [len(range(s, tiles, slices)) for s in range(slices)]


@block
def _tile_slice(
    clk,
    rst,
    go,
    active,
    in_valid,
    in_x,
    load_buf,
    img_buf,
    end,
    v_valid,
    v_o,
    v_ty,
    v_tx,
    v_n,
    v_x,
    *,
    lm,
    layer: dict,
    first: int,
    stride: int,
    cfg: FixedPointConfig,
):
    """One tile slice: its sequencer, front end (its own copy of the input map), Hadamard
    stage and read-out / inverse-FFT lanes; lane l's samples leave on ``v_*[l]``."""
    C, O, H, W, K, N = (layer[k] for k in ("C", "O", "H", "W", "K", "N"))
    L = N - K + 1
    th, tw = -(-H // L), -(-W // L)
    U, lanes = lm.arch.fft_units, lm.arch.ifft_units
    hs = hadamard_signals(lm, cfg)
    rd_ports = ("rd_en", "rd_pe", "rd_addr", "rd_buf", "rd_re", "rd_im")
    rd = {k: hs[k] if lanes > 1 else [hs[k]] for k in rd_ports}
    chans = lane_channels(O, lanes)
    fe_start, fe_ready, fe_done, fe_buf = (Signal(bool(0)) for _ in range(4))
    fe_ty, fe_tx = uint_signal(th), uint_signal(tw)
    had_start, had_done, had_buf = hs["start"], hs["done"], hs["start_buf"]
    inv_start, inv_busy, inv_buf = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    inv_ty, inv_tx = uint_signal(th), uint_signal(tw)
    reads_done, inv_done = Signal(bool(0)), Signal(bool(0))
    wr_en = [Signal(bool(0)) for _ in range(U)]
    wr_bank = [Signal(hs["wr_bank"].val) for _ in range(U)]
    wr_addr = [Signal(hs["wr_addr"].val) for _ in range(U)]
    wr_re = [format_signal(cfg.spectrum) for _ in range(U)]
    wr_im = [format_signal(cfg.spectrum) for _ in range(U)]
    wr_buf = [Signal(bool(0)) for _ in range(U)]
    # lane 0 has the most channels: its flags pace the sequencer, the others end no later
    lane_flags = [(reads_done, inv_done, inv_busy)] + [
        tuple(Signal(bool(0)) for _ in range(3)) for _ in range(1, lanes)
    ]
    return (
        _tile_control(
            clk,
            rst,
            go,
            active,
            fe_start,
            fe_ready,
            fe_done,
            fe_ty,
            fe_tx,
            fe_buf,
            had_start,
            had_done,
            had_buf,
            inv_start,
            inv_busy,
            reads_done,
            inv_done,
            inv_ty,
            inv_tx,
            inv_buf,
            end,
            tiles=slice_tiles(th * tw, stride)[first],
            tw=tw,
            first=first,
            stride=stride,
            spectrum_wait=spectrum_wait(int(lm.schedule.cycles), N, cfg),
        ),
        front_end(
            clk,
            rst,
            in_valid,
            in_x,
            load_buf,
            fe_start,
            fe_ty,
            fe_tx,
            img_buf,
            fe_buf,
            fe_ready,
            wr_en,
            wr_bank,
            wr_addr,
            wr_re,
            wr_im,
            wr_buf,
            fe_done,
            C=C,
            H=H,
            W=W,
            K=K,
            N=N,
            units=U,
            bank_of=lm.bank_of,
            addr_of=lm.addr_of,
            cfg=cfg,
        ),
        hadamard_engine(
            clk,
            rst,
            *(w if U > 1 else w[0] for w in (wr_en, wr_bank, wr_addr, wr_buf, wr_re, wr_im)),
            had_start,
            had_buf,
            had_done,
            hs["rd_en"],
            hs["rd_pe"],
            hs["rd_addr"],
            hs["rd_buf"],
            hs["rd_valid"],
            hs["rd_re"],
            hs["rd_im"],
            lm=lm,
            cfg=cfg,
        ),
        [
            inverse_stage(
                clk,
                rst,
                inv_start,
                inv_buf,
                inv_ty,
                inv_tx,
                *(rd[k][lane] for k in rd_ports),
                v_valid[lane],
                v_o[lane],
                v_ty[lane],
                v_tx[lane],
                v_n[lane],
                v_x[lane],
                *lane_flags[lane],
                O=len(chans[lane]),
                N=N,
                pe_of_group=lm.pe_of_group[list(chans[lane])] // lanes,
                acc_addr=lm.acc_addr[list(chans[lane])],
                readout_latency=READOUT_LATENCY,
                channels=chans[lane],
                cfg=cfg,
            )
            for lane in range(lanes)
        ],
    )


@block
def spectral_engine(
    clk,
    rst,
    in_valid,
    in_ready,
    in_x,
    out_valid,
    out_ready,
    out_o,
    out_y,
    out_x,
    out_v,
    *,
    lm,
    layer: dict,
    bias: tuple,
    cfg: FixedPointConfig | None = None,
    pace: int = 0,
):
    """The whole layer: ``layer`` holds C, O, H, W, K, N, pool, relu; ``bias`` the O biases in
    the activation format; ``lm`` the scheduled layer with its memory image.  A beat carries
    ``arch.in_words`` input channels (c … c + k − 1 of one position, c a multiple of k) and
    ``arch.out_words`` output channels (:func:`engine_signals`).  ``tile_slices``
    (S) copies of the tile pipeline share the input stream and the overlap-add unit; slice s
    takes the tiles t ≡ s (mod S).  ``pace``: the loader's least clocks between images' first
    words (:func:`~codesign.hdl.buffers.pingpong_loader`; the network's first layer)."""
    cfg = cfg or FixedPointConfig()
    C, O, H, W, K, N = (layer[k] for k in ("C", "O", "H", "W", "K", "N"))
    L = N - K + 1
    th, tw = -(-H // L), -(-W // L)
    lanes, S = lm.arch.ifft_units, lm.arch.tile_slices
    k_in, k_out = lm.arch.in_words, lm.arch.out_words
    why = generatable(lm.arch, O, C)
    if why is not None:
        raise ValueError(f"{lm.arch.name}: {why}")
    if S > min(tw, th * tw):
        raise ValueError(f"{S} tile slices for {th}x{tw} tiles: at most {tw} (a tile row)")

    load_buf, img_buf, unload = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    unload_buf = Signal(bool(0))
    loaded = Signal(intbv(0)[2:])
    go, active, finish, oaa_ready = (Signal(bool(0)) for _ in range(4))
    ends = [Signal(bool(0)) for _ in range(S)]
    n = S * lanes
    v_valid = [Signal(bool(0)) for _ in range(n)]
    v_o = [uint_signal(O) for _ in range(n)]
    v_ty, v_tx = [uint_signal(th) for _ in range(n)], [uint_signal(tw) for _ in range(n)]
    v_n = [uint_signal(N * N) for _ in range(n)]
    v_x = [format_signal(cfg.product) for _ in range(n)]
    fe_valid = Signal(bool(0))
    in_w = [format_signal(cfg.activation) for _ in range(k_in)]

    @always_comb
    def gate():
        fe_valid.next = in_valid and in_ready

    def lanes_of(s, sigs):
        return sigs[s * lanes : (s + 1) * lanes]

    return (
        gate,
        unpack_words(in_x, in_w),
        pingpong_loader(
            clk,
            rst,
            in_valid,
            in_ready,
            load_buf,
            uint_signal(C * H * W // k_in),
            loaded,
            unload,
            unload_buf,
            words=C * H * W // k_in,
            pace=pace,
        ),
        _image_control(
            clk, rst, loaded, oaa_ready, go, active, ends, unload, unload_buf, img_buf, finish
        ),
        [
            _tile_slice(
                clk,
                rst,
                go,
                active,
                fe_valid,
                in_w,
                load_buf,
                img_buf,
                ends[s],
                *(lanes_of(s, v) for v in (v_valid, v_o, v_ty, v_tx, v_n, v_x)),
                lm=lm,
                layer=layer,
                first=s,
                stride=S,
                cfg=cfg,
            )
            for s in range(S)
        ],
        oaa_unit(
            clk,
            rst,
            v_valid,
            v_o,
            v_ty,
            v_tx,
            v_n,
            v_x,
            finish,
            oaa_ready,
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
            pool=layer["pool"],
            relu=layer["relu"],
            bias=bias,
            units=lanes,
            cfg=cfg,
            slices=S,
            words=k_out,
        ),
    )
