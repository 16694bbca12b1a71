"""Clock-exact timing model of the generated layer engine (docs/engine.md).

The engine's sequencer starts each tile stage one clock after the clock edge at which its last
condition becomes true; the stages themselves take fixed numbers of clocks (their blocks'
documented timings).  Replaying those rules gives, per image, the clock edge of the first and
the last output, which co-simulation must reproduce exactly.  Clock edges are counted from the
first edge after reset (the one that samples the first input word is ``in_first``); an input
image is presented one word per clock with no gaps.
"""

from __future__ import annotations

from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.engine import slice_tiles, spectrum_wait
from codesign.spectral.hdl.feed import front_end_timing
from codesign.spectral.hdl.hadamard import READOUT_LATENCY, hadamard_latency
from codesign.spectral.hdl.inverse import inverse_stage_timing
from codesign.spectral.hdl.oaa import oaa_latency

__all__ = [
    "engine_timing",
    "network_timing",
    "network_pace",
    "spectral_stage",
    "stage_interval",
    "stage_timing",
]


def engine_timing(
    layer: dict,
    fft_units: int,
    cycles: int,
    images: int = 1,
    in_first: int = 2,
    cfg: FixedPointConfig | None = None,
    offered: list | None = None,
    lead: int = 0,
    lanes: int = 1,
    slices: int = 1,
    pace: int = 0,
    in_words: int = 1,
    out_words: int = 1,
) -> dict:
    """Edges of the first/last output of each image, the latency and the initiation interval.

    ``layer``: C, O, H, W, K, N, pool; ``cycles``: the schedule's clocks per tile; ``lanes``:
    read-out / inverse-FFT lanes (lane 0, with ⌈O/lanes⌉ channels, paces the tile); ``slices``:
    tile slices (slice s runs the tiles t ≡ s mod slices on its own pipeline; the image is done
    when the last slice is); ``in_words`` / ``out_words``: activations per input / output
    beat (an image is C·H·W / in_words input beats, its pass O·Hp·Wp / out_words output
    beats).  Input: with ``offered`` None, a source that always has the next beat (from edge
    ``in_first``) and waits only for ``in_ready`` (its first beat ready ``lead`` clocks late)
    and, with ``pace``, takes an image's first beat no sooner than ``pace`` clocks after the
    previous one's (the loader's pacing); otherwise image i's beats are offered one per clock
    from edge ``offered[i]`` by a producer that cannot wait (an upstream layer), and ValueError
    is raised if the engine would hold it back.  The loader fills image i into buffer i mod 2,
    free again two edges after image i − 2's last output sample
    leaves the inverse stage.
    """
    C, O, H, W, K, N = (layer[k] for k in ("C", "O", "H", "W", "K", "N"))
    L = N - K + 1
    tiles = -(-H // L) * -(-W // L)
    words = C * H * W // in_words
    fe_t = front_end_timing(C, fft_units, N, cfg)
    fe, stream = fe_t["start_to_done"], fe_t["stream"]
    hl = hadamard_latency(cycles)
    wait = spectrum_wait(cycles, N, cfg)
    per_lane = -(-O // lanes)
    inv = inverse_stage_timing(per_lane, N, READOUT_LATENCY, cfg)
    busy = per_lane * N * N
    oaa = oaa_latency(O, H, W, K, N, layer["pool"], lanes, slices, out_words)
    firsts, lasts, accepted, dones = [], [], [], []
    per_slice = slice_tiles(tiles, slices)
    # edge after which the sequencer may activate the next image: at first, the overlap-add
    # unit's zero sweep after reset (one clock per word of its deepest bank)
    free = in_first - 1 + oaa["scrub"]
    for i in range(images):
        buffer_free = dones[i - 2] + 2 if i >= 2 else in_first
        if offered is None:
            offer = in_first + lead if i == 0 else accepted[-1] + max(words, pace)
        else:
            offer = offered[i]
        start = max(offer, buffer_free)
        if offered is not None and start > offer:
            raise ValueError(
                f"image {i} is offered at edge {offer} but the engine's input "
                f"buffer is busy until {start}: the model assumes no back-pressure "
                f"inside the network"
            )
        accepted.append(start)
        active = max(start + words - 1, free) + 1
        ends = [
            _slice_end(active, n, stream, fe, hl, wait, busy, inv["reads_done"]) + inv["done"]
            for n in per_slice
        ]
        done = max(ends)
        # the output pass follows the finish token, or queues behind the previous pass
        first = done + oaa["first"] + 1
        if firsts:
            first = max(first, firsts[-1] + oaa["outputs"])
        firsts.append(first)
        lasts.append(first + oaa["outputs"] - 1)
        # the next image fills the buffer of image i − 1: its pass must have read it all
        # (the overlap-add unit's in_ready is high from the clock drain clocks before that
        # pass's last output, and the sequencer goes in that clock)
        free = done if i == 0 else max(done, lasts[-2] - oaa["drain"] - 1)
        dones.append(done)
    return {
        "in_first": accepted,
        "out_first": firsts,
        "out_last": lasts,
        "latency": lasts[0] - accepted[0] + 1,
        "interval": (lasts[-1] - lasts[0]) // (images - 1) if images > 1 else None,
    }


def _slice_end(
    active: int, tiles: int, stream: int, fe: int, hl: int, wait: int, busy: int, reads: int
) -> int:
    """Edge at which one tile slice starts reading out its last tile (docs/engine.md)."""
    s_fe, s_h, s_i, r_done = [], [], [], []
    for t in range(tiles):
        f = active + 1 if t == 0 else s_fe[t - 1] + stream
        if t >= 2:
            f = max(f, s_h[t - 2] + wait + 1)
        s_fe.append(f)
        h = s_fe[t] + fe + 1
        if t >= 1:
            h = max(h, s_h[t - 1] + hl + 1)
        if t >= 2:
            h = max(h, r_done[t - 2] + 1)
        s_h.append(h)
        v = s_h[t] + hl + 1
        if t >= 1:
            v = max(v, s_i[t - 1] + busy + 1)
        s_i.append(v)
        r_done.append(s_i[t] + reads)
    return s_i[-1]


def network_timing(
    stages: list,
    images: int = 1,
    in_first: int = 2,
    cfg: FixedPointConfig | None = None,
    per_beat: int = 1,
) -> dict:
    """The whole accelerator fed by an AXI4-Stream source that always has the next pixel and a
    sink that is always ready: per image, the edges at which its first pixel is accepted and
    its first/last score leaves, the latency (first pixel in → last score out, in clocks) and
    the interval between images.

    ``stages``: per layer ``{"kind": "spectral", "layer", "fft_units", "cycles", "lanes",
    "slices", "in_words", "out_words"}`` (words per beat, default 1) or ``{"kind": "dense",
    "n_in", "n_out", "macs", "steps"}``. Each layer's output burst is the next layer's input
    (one beat per clock, the same edges); the AXI adapters add
    no clock, except that with ``per_beat`` > 1 pixels per beat the beat register delays the
    first pixel by one and an image's first beat is taken with the previous image's last pixel.
    """
    lead = 1 if per_beat > 1 else 0
    from codesign.spectral.hdl.dense import dense_timing

    pace = network_pace(stages, cfg)
    offered, first_in, per_stage = None, None, []
    for st in stages:
        if st["kind"] == "spectral":
            first = offered is None
            t = stage_timing(
                st,
                images,
                cfg,
                in_first=in_first,
                offered=offered,
                lead=lead if first else 0,
                pace=pace if first else 0,
            )
            words = st["layer"]["O"] * _pooled(st["layer"]) // st.get("out_words", 1)
        else:
            t = dense_timing(
                st["n_in"],
                st["n_out"],
                st["macs"],
                st["steps"],
                offered if offered is not None else _stream(st["n_in"], images, in_first + lead),
                cfg,
            )
            words = st["n_out"]
        if first_in is None:
            pixels = (
                st["layer"]["C"] * st["layer"]["H"] * st["layer"]["W"]
                if st["kind"] == "spectral"
                else st["n_in"]
            )
            taken = t.get("in_first") or _stream(pixels, images, in_first + lead)
            first_in = taken if not lead else [in_first] + [a + pixels - 1 for a in taken[:-1]]
        for a, b in zip(t["out_first"], t["out_last"]):
            if b - a + 1 != words:
                raise ValueError(
                    f"stage {len(per_stage)}: output burst of {b - a + 1} clocks for "
                    f"{words} words; the model needs gap-free bursts"
                )
        per_stage.append({"out_first": t["out_first"], "out_last": t["out_last"]})
        offered = t["out_first"]
    last = per_stage[-1]["out_last"]
    return {
        "in_first": first_in,
        "out_first": per_stage[-1]["out_first"],
        "out_last": last,
        "latency": last[0] - first_in[0] + 1,
        "interval": last[-1] - last[-2] if images > 1 else None,
        "stages": per_stage,
    }


STAGE_IMAGES = 4  # images replayed for a layer's own interval


def spectral_stage(layer: dict, arch, cycles: int) -> dict:
    """The :func:`network_timing` stage of a spectral layer dict built with ``arch`` (a
    SpectralArch) and ``cycles`` schedule slots per tile."""
    return {
        "kind": "spectral",
        "layer": layer,
        "fft_units": arch.fft_units,
        "lanes": arch.ifft_units,
        "slices": arch.tile_slices,
        "in_words": arch.in_words,
        "out_words": arch.out_words,
        "cycles": int(cycles),
    }


def stage_timing(st: dict, images: int, cfg: FixedPointConfig | None = None, **kw) -> dict:
    """:func:`engine_timing` of a spectral stage dict of :func:`network_timing`."""
    return engine_timing(
        st["layer"],
        st["fft_units"],
        st["cycles"],
        images,
        cfg=cfg,
        lanes=st.get("lanes", 1),
        slices=st.get("slices", 1),
        in_words=st.get("in_words", 1),
        out_words=st.get("out_words", 1),
        **kw,
    )


def stage_interval(st: dict, cfg: FixedPointConfig | None = None) -> int:
    """One layer's own image interval, its input always there: the longest spacing of
    consecutive images' last outputs over :data:`STAGE_IMAGES` replayed images."""
    if st["kind"] == "spectral":
        t = stage_timing(st, STAGE_IMAGES, cfg)
    else:
        from codesign.spectral.hdl.dense import dense_timing

        args = (st["n_in"], st["n_out"], st["macs"], st["steps"])
        firsts = [2]
        for k in range(1, STAGE_IMAGES):  # each image once the last is in and a half is free
            ready = dense_timing(*args, firsts + [firsts[-1] + 10**9], cfg)["in_ready"][k]
            firsts.append(max(firsts[-1] + st["n_in"], ready))
        t = dense_timing(*args, firsts, cfg)
    last = t["out_last"]
    return max(b - a for a, b in zip(last, last[1:]))


def network_pace(stages: list, cfg: FixedPointConfig | None = None) -> int:
    """Clocks the first (spectral) layer's loader keeps between images' first words: the own
    interval of the slowest later layer when that is slower than the first, else 0.  A layer
    slower than its producer would hold it back, which neither the network's links model nor
    this model replays; paced at its rate, every layer keeps up (:func:`network_timing`)."""
    if len(stages) < 2 or stages[0]["kind"] != "spectral":
        return 0
    own = [stage_interval(st, cfg) for st in stages]
    return max(own[1:]) if max(own[1:]) > own[0] else 0


def _pooled(layer: dict) -> int:
    p = layer["pool"]
    return ((layer["H"] - layer["K"] + 1) // p) * ((layer["W"] - layer["K"] + 1) // p)


def _stream(words: int, images: int, in_first: int) -> list:
    return [in_first + i * words for i in range(images)]
