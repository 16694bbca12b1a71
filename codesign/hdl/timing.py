"""Clock-exact timing model of the generated layer engine (docs/engine.md).

The engine's sequencer starts each tile stage one clock after the clock edge at which its last
condition becomes true; the stages themselves take fixed numbers of clocks (their blocks'
documented timings).  Replaying those rules gives, per image, the clock edge of the first and
the last output, which co-simulation must reproduce exactly.  Clock edges are counted from the
first edge after reset (the one that samples the first input word is ``in_first``); an input
image is presented one word per clock with no gaps.
"""
from __future__ import annotations

from ..fixedpoint import FixedPointConfig
from .feed import front_end_timing
from .hadamard import READOUT_LATENCY, hadamard_latency
from .inverse import inverse_stage_timing
from .oaa import oaa_latency

__all__ = ["engine_timing"]


def engine_timing(layer: dict, fft_units: int, cycles: int, images: int = 1, in_first: int = 2,
                  cfg: FixedPointConfig | None = None) -> dict:
    """Edges of the first/last output of each image, the latency and the initiation interval.

    ``layer``: C, O, H, W, K, N, pool; ``cycles``: the schedule's clocks per tile.
    """
    C, O, H, W, K, N = (layer[k] for k in ("C", "O", "H", "W", "K", "N"))
    L = N - K + 1
    tiles = -(-H // L) * -(-W // L)
    words = C * H * W
    fe = front_end_timing(C, fft_units, N, cfg)["start_to_done"]
    hl = hadamard_latency(cycles)
    inv = inverse_stage_timing(O, N, READOUT_LATENCY, cfg)
    busy = O * N * N
    oaa = oaa_latency(O, H, W, K, N, layer["pool"])
    firsts, lasts, loaded_at = [], [], []
    # edge after which the sequencer may activate the next image: at first, the overlap-add
    # unit's zero sweep after reset (one clock per word of its deepest bank)
    free = in_first - 1 + oaa["scrub"]
    for i in range(images):
        loaded_at.append(in_first + (i + 1) * words - 1)
    for i in range(images):
        active = max(loaded_at[i], free) + 1
        s_fe, s_h, s_i, r_done = [], [], [], []
        for t in range(tiles):
            f = active + 1 if t == 0 else s_fe[t - 1] + fe + 1
            if t >= 2:
                f = max(f, s_h[t - 2] + hl + 1)
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
            r_done.append(s_i[t] + inv["reads_done"])
        done = s_i[-1] + inv["done"]
        first = done + oaa["first"] + 1
        firsts.append(first)
        lasts.append(done + oaa["last"] + 1)
        free = done
    return {"out_first": firsts, "out_last": lasts,
            "latency": lasts[0] - in_first + 1,
            "interval": (lasts[-1] - lasts[0]) // (images - 1) if images > 1 else None}
