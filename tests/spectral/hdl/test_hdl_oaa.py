"""Overlap-add back end (codesign.hdl.oaa) against the fixed-point contract, bit for bit.

The expected layer output is ``spectral_layer_fixed`` itself with its ``irfft2_fixed`` replaced by
the random tile outputs the test streams in (the same code path after the inverse FFT), checked
once more against an independent ``overlap_add`` + rounding + saturation + ReLU + pool.  Images
are streamed back to back over U streams under random ``out_ready`` back-pressure, in the MyHDL
simulator and (after conversion to Verilog) in Icarus through ``myhdl.Cosimulation``.
"""

import re
from unittest import mock

import numpy as np
import pytest
from myhdl import StopSimulation, always, delay, instance

from codesign.hdl import sim
from codesign.spectral import fxpmodel
from codesign.spectral.conv import geometry, overlap_add
from codesign.spectral.fixedpoint import FixedPointConfig, Format, OverflowCounter, round_shift
from codesign.spectral.hdl.oaa import (
    oaa_latency,
    oaa_packed,
    oaa_packed_signals,
    oaa_plan,
    oaa_signals,
    oaa_unit,
    sum_levels,
)

CFG = FixedPointConfig()
ROUNDING = FixedPointConfig(product=Format(24, 14))  # shift 4: bias << 4, round half up
WIDENING = FixedPointConfig(product=Format(20, 8))  # shift −2: bias rounded >> 2, acc << 2
START = 4  # reset is held during cycles 0..2
OUT = ("out_o", "out_y", "out_x", "out_v")

# name: (O, H, K, N, pool, relu, units, cfg, slices, words)
LAYERS = {
    "conv1": (6, 28, 5, 8, 2, True, 3, ROUNDING, 1, 1),
    "conv1-u2": (6, 28, 5, 8, 2, True, 2, CFG, 1, 1),
    "conv1-s3": (6, 28, 5, 8, 2, True, 2, CFG, 3, 1),
    "conv1-w2": (6, 28, 5, 8, 2, True, 6, ROUNDING, 2, 2),
    "conv2-w2": (16, 12, 5, 8, 2, True, 4, CFG, 1, 2),
    "conv2": (16, 12, 5, 8, 2, True, 4, CFG, 2, 1),
    "small": (3, 11, 5, 8, 1, False, 2, WIDENING, 1, 1),
}


def _streams(p):
    return p["units"] * p["slices"]


def _params(name, seed=0):
    O, H, K, N, pool, relu, units, cfg, slices, words = LAYERS[name]
    rng = np.random.default_rng(seed)
    act = cfg.activation
    bias = rng.integers(act.min // 4, act.max // 4, O)
    bias[:2] = [act.max, act.min]
    return dict(
        O=O,
        H=H,
        W=H,
        K=K,
        N=N,
        pool=pool,
        relu=relu,
        bias=tuple(int(b) for b in bias),
        units=units,
        cfg=cfg,
        slices=slices,
        words=words,
    )


def _tile_outputs(p, rng):
    """Random product-format tile outputs (O, th, tw, N, N): mostly moderate, some extreme, and
    one pixel whose ceil(N/L)² contributions are all the product minimum (widest sum)."""
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    prod = p["cfg"].product
    shape = (p["O"], g.tiles_h, g.tiles_w, p["N"], p["N"])
    moderate = 1 << (prod.frac + 2)
    y = rng.integers(-moderate, moderate, shape)
    extreme = rng.random(shape) < 0.005
    y[extreme] = rng.choice([prod.min, prod.max], int(extreme.sum()))
    L, K = g.L, p["K"]
    py = px = K - 1 + L  # a stored pixel covered by tiles 0/1 in both directions
    for ty in range(g.tiles_h):
        for tx in range(g.tiles_w):
            r, c = py - ty * L, px - tx * L
            if 0 <= r < p["N"] and 0 <= c < p["N"]:
                y[2 % p["O"], ty, tx, r, c] = prod.min
    return y


def _reference(y, p):
    """``spectral_layer_fixed`` with its inverse FFT output replaced by ``y``."""
    O, N = p["O"], p["N"]
    layer = {"name": "conv", "kernel": p["K"], "fft": N, "relu": p["relu"], "pool": p["pool"]}
    zero = np.zeros((O, 1, N, N // 2 + 1), dtype=np.int64)
    q = {"conv.kernel_re": zero, "conv.kernel_im": zero, "conv.bias": np.array(p["bias"])}
    counter = OverflowCounter()
    with mock.patch.object(fxpmodel, "irfft2_fixed", lambda *a, **k: y[None]):
        out = fxpmodel.spectral_layer_fixed(
            np.zeros((1, 1, p["H"], p["W"]), dtype=np.int64), q, layer, p["cfg"], counter
        )
    return out[0], counter


def _independent(y, p):
    """The same steps written out from docs/fixed-point.md (steps 5 and 6)."""
    cfg, pool = p["cfg"], p["pool"]
    s = cfg.product.frac - cfg.activation.frac
    acc = overlap_add(y, geometry(p["H"], p["W"], p["K"], p["N"]))
    acc = acc + round_shift(np.array(p["bias"]), -s)[:, None, None]
    a = np.clip(round_shift(acc, s), cfg.activation.min, cfg.activation.max)
    a = np.maximum(a, 0) if p["relu"] else a
    O, h, w = a.shape
    a = a[:, : h // pool * pool, : w // pool * pool]
    return a.reshape(O, h // pool, pool, w // pool, pool).max(axis=(2, 4))


def test_reference_matches_the_documented_steps():
    for name in LAYERS:
        p = _params(name)
        y = _tile_outputs(p, np.random.default_rng(1))
        ref, counter = _reference(y, p)
        assert np.array_equal(ref, _independent(y, p)), name
        assert counter.saturated["conv.out"] > 0  # the activation saturates
        assert counter.saturated["conv.oaa"] == 0
        act = p["cfg"].activation
        lo = 0 if p["relu"] else act.min
        assert (ref == act.max).any() and (ref == lo).any()
        assert ((ref > lo) & (ref < act.max)).mean() > 0.3  # not all clipped


# --- stimulus -------------------------------------------------------------------------------


def _image_streams(y, p, rng, order, gaps):
    """Per stream, the samples (o, ty, tx, n, x) of one image: tiles in ``order``, per tile the
    stream's channels, N² samples each; ``None`` marks an idle clock (a gap).  Tile t (raster
    index) goes to slice t mod slices, channel o to stream o mod units of that slice."""
    N, U, S = p["N"], p["units"], p["slices"]
    tw = y.shape[2]
    lanes = [[] for _ in range(U * S)]
    for ty, tx in order:
        base = (ty * tw + tx) % S * U
        for o in range(p["O"]):
            for n in range(N * N):
                if gaps and rng.random() < gaps:
                    lanes[base + o % U].append(None)
                lanes[base + o % U].append((o, ty, tx, n, int(y[o, ty, tx, n // N, n % N])))
    return lanes


def _stress_streams(y, p):
    """Adversarial order on one stream: all contributions to a pixel back to back (then the
    next pixel), so consecutive samples read-modify-write the same word."""
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    N, L, U = p["N"], g.L, p["units"]
    lanes = [[] for _ in range(_streams(p))]
    for o in range(p["O"]):
        by_pixel = {}
        for ty in range(g.tiles_h):
            for tx in range(g.tiles_w):
                for n in range(N * N):
                    key = (ty * L + n // N, tx * L + n % N)
                    by_pixel.setdefault(key, []).append(
                        (o, ty, tx, n, int(y[o, ty, tx, n // N, n % N]))
                    )
        for key in sorted(by_pixel):
            lanes[o % U].extend(by_pixel[key])
    return lanes


# --- simulation harness ---------------------------------------------------------------------


def _convert(p, path, name):
    return sim.convert(oaa_packed(**oaa_packed_signals(**_shape(p)), **p), path, name)


def _shape(p):
    return {k: p[k] for k in ("O", "H", "W", "K", "N", "pool", "units", "cfg", "slices", "words")}


class _Ports:
    """Drives the per-stream input ports of either top (lists, or packed vectors)."""

    FIELDS = ("in_o", "in_ty", "in_tx", "in_n", "in_x")

    def __init__(self, sig, packed, p):
        self.sig, self.packed, self.U = sig, packed, _streams(p)
        if packed:
            lists = oaa_signals(**_shape(p))
            self.width = {f: len(lists[f][0]) for f in self.FIELDS}

    def drive(self, samples):
        """``samples[i]`` = (o, ty, tx, n, x) or None for stream i."""
        if not self.packed:
            for i, s in enumerate(samples):
                self.sig["in_valid"][i].next = s is not None
                for f, v in zip(self.FIELDS, s or (0,) * 5):
                    self.sig[f][i].next = v
            return
        words = {f: 0 for f in ("in_valid",) + self.FIELDS}
        for i, s in enumerate(samples):
            if s is None:
                continue
            words["in_valid"] |= 1 << i
            for f, v in zip(self.FIELDS, s):
                w = self.width[f]
                words[f] |= (v & ((1 << w) - 1)) << (i * w)
        for f, v in words.items():
            self.sig[f].next = v


def _run(*args):
    return sim.in_thread(_simulate, *args)


def _simulate(engine, p, images, ready_prob, finish_delays, path, name, limit=200_000):
    """Stream ``images`` (each a list of per-stream sample lists) back to back; every image
    starts in the clock after the previous ``finish`` as soon as ``in_ready`` allows.  Returns
    the accepted outputs [(cycle, o, y, x, v)], finish cycles and ``info``: the first
    ``in_ready`` cycle, the clocks a new image waited for ``in_ready``, the cycle each image's
    first sample was offered, per output the cycle it was first offered (``out_valid``), and
    ``in_ready`` in each ``finish`` clock (what an engine starting the next image in that clock
    sees)."""
    if engine == "myhdl":  # list ports (MyHDL converts none: the Verilog top packs them)
        sig, top = oaa_signals(**_shape(p)), oaa_unit
    else:
        sig, top = oaa_packed_signals(**_shape(p)), oaa_packed
    dut = sim.device(engine, lambda **s: top(**s, **p), sig, path, name)
    ports = _Ports(sig, engine != "myhdl", p)
    clk, rng = sig["clk"], np.random.default_rng(7)
    total = len(images) * oaa_plan(**_shape(p))["beats"]
    got, finishes = [], []
    info = {"ready": None, "waited": 0, "offered": [], "ready_at_finish": [], "starts": []}

    @always(clk.posedge)
    def at_finish():
        if sig["finish"]:
            info["ready_at_finish"].append(bool(sig["in_ready"]))

    @instance
    def drive():
        held, image, pos, finish_at, started = None, 0, [0] * _streams(p), None, False
        for cycle in range(limit):
            yield clk.negedge
            if sig["finish"]:  # this clock has none: let in_ready settle without it
                sig["finish"].next = False
                yield delay(1)
            sig["rst"].next = cycle < START - 1
            ready = bool(ready_prob(cycle, rng))
            sig["out_ready"].next = ready
            if held is not None:  # a stalled output must stay put
                assert sig["out_valid"] and held == tuple(int(sig[k]) for k in OUT)
            if sig["out_valid"]:
                now = tuple(int(sig[k]) for k in OUT)
                if held is None:
                    info["offered"].append(cycle)
                held = None
                if ready:
                    got.append((cycle,) + now)
                else:
                    held = now
            if sig["in_ready"] and info["ready"] is None and cycle >= START:
                info["ready"] = cycle
            samples = [None] * _streams(p)
            if image < len(images) and cycle >= START and finish_at is None:
                lanes = images[image]
                if not started and not sig["in_ready"]:
                    info["waited"] += info["ready"] is not None
                else:
                    if not started:
                        info["starts"].append(cycle)
                    started = True
                    samples = [lane[k] if k < len(lane) else None for k, lane in zip(pos, lanes)]
                    pos = [k + (k < len(lane)) for k, lane in zip(pos, lanes)]
                    if all(k == len(lane) for k, lane in zip(pos, lanes)):
                        finish_at = cycle + finish_delays[image]
            sig["finish"].next = finish_at == cycle
            if finish_at == cycle:
                finishes.append(cycle)
                image, pos, finish_at, started = image + 1, [0] * _streams(p), None, False
            ports.drive(samples)
            if len(got) >= total and image == len(images):
                break
        raise StopSimulation

    sim.run(dut, sim.clock(clk), drive, at_finish)
    return got, finishes, info


def _words(got, p):
    """Beats [(cycle, o, y, x, packed)] as words [(cycle, o + w, y, x, word w)]."""
    k, bits = p["words"], p["cfg"].activation.bits
    if k == 1:
        return got
    out = []
    for c, o, y, x, v in got:
        for w in range(k):
            u = (v >> (w * bits)) & ((1 << bits) - 1)
            out.append((c, o + w, y, x, u - (1 << bits) if u >> (bits - 1) else u))
    return out


def _check_outputs(got, refs, p):
    """Outputs complete, in order (image, o // words, py, px, o % words), bit-exact."""
    k = p["words"]
    got = _words(got, p)
    expected = [
        (g * k + w, py, px, int(ref[g * k + w, py, px]))
        for ref in refs
        for g in range(ref.shape[0] // k)
        for py in range(ref.shape[1])
        for px in range(ref.shape[2])
        for w in range(k)
    ]
    assert len(got) == len(expected)
    assert [g[1:4] for g in got] == [e[:3] for e in expected]  # order
    bad = [(g, e) for g, e in zip(got, expected) if g[4] != e[3]]
    assert not bad, f"{len(bad)} wrong values, first {bad[:3]}"


def _timing(p):
    return {k: p[k] for k in ("O", "H", "W", "K", "N", "pool", "units", "slices", "words")}


def _bursty(p_high):
    """Random back-pressure with long low stretches."""

    def ready(cycle, rng):
        return (cycle // 97) % 5 != 3 and rng.random() < p_high

    return ready


# --- tests ----------------------------------------------------------------------------------


def test_documented_latencies():
    lat = oaa_latency(6, 28, 28, 5, 8, pool=2, units=3)
    assert lat == {
        "first": 10,
        "last": 10 + 6 * 12 * 12 - 1,
        "outputs": 864,
        "scrub": 288,
        "drain": 4,
    }
    assert oaa_latency(16, 12, 12, 5, 8, 2, 4)["last"] == 10 + 16 * 16 - 1
    plan = oaa_plan(6, 28, 28, 5, 8, 2, 2)
    assert (plan["depth"], plan["acc_bits"], plan["memories"]) == (432, 26, 16)
    assert oaa_plan(3, 11, 11, 5, 8, 1, 2)["depth"] == 2 * 7 * 7
    with pytest.raises(ValueError):
        oaa_plan(6, 28, 28, 5, 8, pool=3)
    with pytest.raises(ValueError):
        oaa_unit(**oaa_signals(2, 12, 12, 5, 8), O=2, H=12, W=12, K=5, N=8, bias=(0,), cfg=CFG)


@pytest.mark.parametrize("name", ["conv1", "conv2", "conv2-w2"])
def test_two_images_back_to_back_under_back_pressure(name, tmp_path):
    p = _params(name)
    rng = np.random.default_rng(3)
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    ys = [_tile_outputs(p, rng) for _ in range(2)]
    tiles = [(ty, tx) for ty in range(g.tiles_h) for tx in range(g.tiles_w)]
    shuffled = [tiles[i] for i in rng.permutation(len(tiles))]
    images = [
        _image_streams(ys[0], p, rng, shuffled, 0.02),
        _image_streams(ys[1], p, rng, tiles, 0.0),
    ]
    got, finishes, info = _run(
        "myhdl", p, images, lambda c, r: r.random() < 0.7, [0, 3], tmp_path, name
    )
    refs = [_reference(y, p)[0] for y in ys]
    _check_outputs(got, refs, p)
    lat = oaa_latency(**_timing(p))
    n = lat["outputs"]
    # the second image streamed in while the first was emitted; each pass starts on time
    assert got[n - 1][0] > finishes[0] and got[0][0] < finishes[1]
    offered = info["offered"]
    assert len(offered) == len(got)
    assert [offered[0] - finishes[0], offered[n] - finishes[1]] == [lat["first"]] * 2
    assert info["ready"] - (START - 1) == lat["scrub"] and info["waited"] == 0


def test_hazards_queued_pass_and_negative_shift(tmp_path):
    """Consecutive samples on one pixel (forwarding), three images with heavy back-pressure
    (a finish arrives while the previous pass runs: queued, ``in_ready`` low), pool 1, no
    ReLU, product.frac < activation.frac."""
    p = _params("small")
    rng = np.random.default_rng(5)
    ys = [_tile_outputs(p, rng) for _ in range(3)]
    images = [_stress_streams(y, p) for y in ys]
    got, finishes, info = _run("myhdl", p, images, _bursty(0.08), [1, 0, 2], tmp_path, "small")
    _check_outputs(got, [_reference(y, p)[0] for y in ys], p)
    assert info["waited"] > 0  # the third image had to wait for the first pass to drain
    # image 1 finishes while image 0's pass still reads buffer 0, which image 2 would fill:
    # in_ready is low already in that finish clock (an engine starts an image in it)
    n = len(got) // 3
    assert got[n - 1][0] > finishes[1]
    assert info["ready_at_finish"][:2] == [True, False]
    assert any(g[4] < 0 for g in got)  # no ReLU here


@pytest.mark.parametrize("name", ["small", "conv1-s3"])
def test_the_image_after_next_starts_drain_clocks_before_the_last_output(name, tmp_path):
    """The sink holds the first pass until the second image has finished, then takes one output
    per clock: the third image, which fills the first image's buffer, gets ``in_ready`` exactly
    ``oaa_latency(...)["drain"]`` clocks before the first pass's last output (the timing model's
    rule)."""
    p = _params(name)
    rng = np.random.default_rng(3)
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    tiles = [(ty, tx) for ty in range(g.tiles_h) for tx in range(g.tiles_w)]
    ys = [_tile_outputs(p, rng) for _ in range(3)]
    images = [_image_streams(y, p, rng, tiles, 0.0) for y in ys]
    hold = 3 * max(len(s) for s in images[0])  # past the second image's finish
    got, finishes, info = _run("myhdl", p, images, lambda c, r: c > hold, [0, 0, 0], tmp_path, name)
    _check_outputs(got, [_reference(y, p)[0] for y in ys], p)
    lat = oaa_latency(**_timing(p))
    n = lat["outputs"]
    assert finishes[1] < hold < got[0][0]
    assert [g[0] for g in got[:n]] == list(range(got[0][0], got[0][0] + n))
    assert got[n - 1][0] - info["starts"][2] == lat["drain"]


def test_icarus_cosimulation(tmp_path):
    """One conv1 image (U = 2) in Icarus, ``out_ready`` always high: bit-exact, and the first
    and last outputs exactly at the documented latencies."""
    p = _params("conv1-u2")
    rng = np.random.default_rng(11)
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    y = _tile_outputs(p, rng)
    tiles = [(ty, tx) for ty in range(g.tiles_h) for tx in range(g.tiles_w)]
    images = [_image_streams(y, p, rng, tiles[::-1], 0.01)]
    got, finishes, info = _run("icarus", p, images, lambda c, r: True, [2], tmp_path, "oaa_c1")
    _check_outputs(got, [_reference(y, p)[0]], p)
    lat = oaa_latency(**_timing(p))
    assert got[0][0] - finishes[0] == lat["first"] and got[-1][0] - finishes[0] == lat["last"]
    assert info["offered"] == [g[0] for g in got]  # one output per clock, no bubble


def test_tile_slices_add_their_partial_sums_in_icarus(tmp_path):
    """Three tile slices of two streams each (conv1), overlapping tiles of different slices in
    the same clocks: the pass adds the slices' partial sums, bit-exact, and its first output
    comes ``sum_levels`` clocks later than with one slice."""
    p = _params("conv1-s3")
    rng = np.random.default_rng(13)
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    y = _tile_outputs(p, rng)
    tiles = [(ty, tx) for ty in range(g.tiles_h) for tx in range(g.tiles_w)]
    images = [_image_streams(y, p, rng, tiles, 0.01)]
    got, finishes, info = _run("icarus", p, images, lambda c, r: True, [1], tmp_path, "oaa_s3")
    _check_outputs(got, [_reference(y, p)[0]], p)
    lat = oaa_latency(**_timing(p))
    assert lat["first"] == 10 + sum_levels(3) == 12
    assert got[0][0] - finishes[0] == lat["first"] and got[-1][0] - finishes[0] == lat["last"]
    assert oaa_plan(6, 28, 28, 5, 8, 2, 2, slices=3)["memories"] == 2 * 4 * 2 * 3


def test_verilator_lint(tmp_path):
    for name in ("conv1-u2", "small"):
        top = "oaa_" + name.replace("-", "_")  # "small" is a Verilog keyword
        source = sim.in_thread(_convert, _params(name), tmp_path, top)
        assert sim.lint([source], top, tmp_path) == []


YOSYS_TEST = "test_yosys_maps_the_map_buffers_to_block_ram"


@pytest.fixture(scope="module", autouse=True)
def synthesis(request, tmp_path_factory):
    """Yosys ``synth_xilinx`` of the conv1 back end (U = 2), started before the first test of
    this module (when the Yosys test is selected) so that it overlaps the simulations."""
    if not any(item.name == YOSYS_TEST for item in request.session.items):
        yield None
        return
    path = tmp_path_factory.mktemp("yosys")
    source = sim.in_thread(_convert, _params("conv1-u2"), path, "oaa_c1")
    script = (
        f"read_verilog {source.name}; synth_xilinx -family xc7 -top oaa_c1; tee -q -o stat.txt stat"
    )
    with sim.tool_in_background("yosys", ["-q", "-p", script], cwd=path, timeout=300) as job:
        yield job, path


def test_yosys_maps_the_map_buffers_to_block_ram(synthesis):
    """2 streams × 2 buffers × 4 banks of 432 × 26 bits: 16 RAMB18E1 (512 × 36 each), no
    distributed RAM, no DSP."""
    job, path = synthesis
    job.result()
    stat = (path / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    assert cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0) == 16
    assert not [c for c in cells if c.startswith("RAM") and not c.startswith("RAMB")]
    assert "DSP48E1" not in cells


def test_two_words_per_clock_in_icarus(tmp_path):
    """Six streams in two slices emitting two channels per clock (conv1, rounding): bit-exact
    in Icarus, the pass takes O·Hp·Wp / 2 clocks with no bubble, each beat the channels
    (2j, 2j + 1) of one position."""
    p = _params("conv1-w2")
    rng = np.random.default_rng(17)
    g = geometry(p["H"], p["W"], p["K"], p["N"])
    y = _tile_outputs(p, rng)
    tiles = [(ty, tx) for ty in range(g.tiles_h) for tx in range(g.tiles_w)]
    images = [_image_streams(y, p, rng, tiles[::-1], 0.01)]
    got, finishes, info = _run("icarus", p, images, lambda c, r: True, [0], tmp_path, "oaa_w2")
    _check_outputs(got, [_reference(y, p)[0]], p)
    lat = oaa_latency(**_timing(p))
    assert lat["outputs"] == 6 * 12 * 12 // 2 == len(got)
    assert got[0][0] - finishes[0] == lat["first"] and got[-1][0] - finishes[0] == lat["last"]
    assert info["offered"] == [g[0] for g in got]
    with pytest.raises(ValueError, match="divisor"):
        oaa_plan(6, 28, 28, 5, 8, 2, units=3, words=2)
