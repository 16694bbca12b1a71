"""Streaming FFT hardware (codesign.hdl.fft) against the fixed-point contract, bit for bit.

Every stimulus is run twice: in the MyHDL simulator and, after conversion to Verilog, in Icarus
through ``myhdl.Cosimulation``; both must equal ``fft_radix2`` / ``rfft2_fixed`` /
``irfft2_fixed`` exactly and show the documented latencies and throughput.
"""

import re

import numpy as np
import pytest
from myhdl import StopSimulation, instance

from codesign.hdl import sim
from codesign.spectral.cost import fft_unit_cost
from codesign.spectral.fixedpoint import (
    FixedPointConfig,
    Format,
    OverflowCounter,
    fft_radix2,
    irfft2_fixed,
    rfft2_fixed,
    round_shift,
    twiddles,
)
from codesign.spectral.hdl.fft import (
    fft1d,
    fft1d_latency,
    fft1d_signals,
    irfft2_latency,
    irfft2_signals,
    irfft2_unit,
    rfft2_latency,
    rfft2_signals,
    rfft2_unit,
    row_pass_range,
    stage_plan,
    stage_ranges,
)

CFG = FixedPointConfig()
START = 4  # first stimulus cycle; reset is held during cycles 0..2
ENGINES = sim.ENGINES


def _rev(i, bits):
    return int(format(i, f"0{bits}b")[::-1], 2)


# --- simulation harness ---------------------------------------------------------------------


def _run(*args):
    return sim.in_thread(_simulate, *args)


def _simulate(engine, top, make_signals, params, inputs, cycles, outputs, path, name):
    """Drive ``inputs`` (cycle → {port: value}, ``in_valid`` high on exactly those cycles) and
    return ``[(cycle, *outputs)]`` for every cycle with ``out_valid`` high."""
    sig = make_signals()
    dut = sim.device(engine, lambda **s: top(**s, **params), sig, path, name)
    clk, got = sig["clk"], []

    @instance
    def drive():
        for cycle in range(cycles):
            yield clk.negedge
            sig["rst"].next = cycle < START - 1
            if sig["out_valid"]:
                got.append((cycle,) + tuple(int(sig[p]) for p in outputs))
            step = inputs.get(cycle)
            sig["in_valid"].next = step is not None
            for port, value in (step or {}).items():
                sig[port].next = value
        raise StopSimulation

    sim.run(dut, sim.clock(clk), drive)
    return got


def _convert(top, sig, params, path, name):
    return sim.in_thread(lambda: sim.convert(top(**sig, **params), path, name))


# --- range analysis ------------------------------------------------------------------------


def _worst_tiles(n: int) -> np.ndarray:
    """Full-scale activation tiles that drive each forward bin's real or imaginary part to its
    largest magnitude: the sign of cos / sin of that bin's basis function, at ±full scale."""
    a = CFG.activation
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    tiles = []
    for u in range(n):
        for v in range(n // 2 + 1):
            phase = 2 * np.pi * (u * r + v * c) / n
            for basis in (np.cos(phase), -np.sin(phase)):
                for sign in (1, -1):
                    tiles.append(np.where(sign * basis >= 0, a.max, a.min))
    return np.array(tiles, dtype=np.int64)


@pytest.mark.parametrize("n", [4, 8, 16])
def test_forward_fft_cannot_saturate_so_its_clamps_are_elided(n):
    """The forward unit is built without clamps (hdl/fft.py ``stage_ranges``): that is only
    exact if no activation tile saturates a stage of ``rfft2_fixed``.  The worst tiles (each
    bin's matched sign pattern at full scale) reach the largest magnitudes a linear transform
    can; none saturates, and the row pass stays inside the transpose buffer's range."""
    lo, hi = row_pass_range(n, CFG)
    tiles = _worst_tiles(n)
    counter = OverflowCounter()
    re, im = rfft2_fixed(tiles, CFG, counter)
    assert counter.total == 0
    assert int(np.abs(np.concatenate([re, im])).max()) >= n * n * CFG.activation.max  # DC bin
    row_counter = OverflowCounter()
    zero = np.zeros_like(tiles)
    r_re, r_im = fft_radix2(
        tiles, zero, -1, inverse=False, cfg=CFG, out_fmt=CFG.spectrum,
        counter=row_counter, where="row",
    )  # fmt: skip
    assert lo <= min(r_re.min(), r_im.min()) and max(r_re.max(), r_im.max()) <= hi
    plan = stage_ranges(n, CFG, False, False, CFG.spectrum, CFG.activation.min, CFG.activation.max)
    assert not any(clamped for *_, clamped in plan)
    inverse = stage_ranges(n, CFG, True, True, CFG.product, CFG.product.min, CFG.product.max)
    # inverse at full range: the first stage (t = b) halves into range, (max + max + 1) >> 1 =
    # max, (max − min) >> 1 = max, (min − max) >> 1 = min; later ones meet t = −min and overflow
    assert [clamped for *_, clamped in inverse] == [False] + [True] * (len(inverse) - 1)


def test_forward_range_narrows_the_transpose_buffer():
    """N = 8: full-scale activations (16 bits) grow to at most 20 bits in the row pass
    (×2, ×2, then ×(1 + √2) through the W8 stage: 32,768 · 4 · 2.414 < 2^19)."""
    assert row_pass_range(8, CFG) == (-(1 << 19), (1 << 19) - 1)
    assert row_pass_range(4, CFG) == (-(1 << 17), (1 << 17) - 1)


# --- twiddles -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [4, 8, 16, 32])
@pytest.mark.parametrize("inverse", [False, True])
def test_trivial_twiddles_are_exact_and_need_no_multiplier(n, inverse):
    rng = np.random.default_rng(n)
    br, bi = (rng.integers(CFG.spectrum.min, CFG.spectrum.max + 1, 200) for _ in range(2))
    ft = CFG.twiddle.frac
    plan = stage_plan(n, CFG, inverse, bitrev_in=False)
    for st in plan:
        for (wr, wi), kind in zip(st["twiddle"], st["kinds"]):
            tr = round_shift(br * wr - bi * wi, ft)
            ti = round_shift(br * wi + bi * wr, ft)
            if kind == 0:
                assert np.array_equal(tr, br) and np.array_equal(ti, bi)
            elif kind == 1:
                assert np.array_equal(tr, bi) and np.array_equal(ti, -br)
            elif kind == 2:
                assert np.array_equal(tr, -bi) and np.array_equal(ti, br)
    stages = n.bit_length() - 1
    assert [st["multiplier"] for st in plan] == [s > 2 for s in range(1, stages + 1)]
    # the cost model's count: one complex multiplier per non-trivial stage and pass
    assert 2 * sum(st["multiplier"] for st in plan) * 3 == fft_unit_cost(n, 24)["dsp"]
    wr, wi = twiddles(n, CFG.twiddle, inverse)
    assert wr[0] == 1 << ft and wi[0] == 0
    if n >= 4:
        assert wr[n // 4] == 0 and wi[n // 4] == (1 if inverse else -1) << ft


def test_documented_latencies():
    assert [fft1d_latency(n) for n in (4, 8, 16)] == [5, 13, 25]
    assert rfft2_latency(8) == {"first": 79, "last": 55, "interval": 64, "bins": 40, "fft1d": 13}
    assert rfft2_latency(4)["first"] == 23 and rfft2_latency(4)["last"] == 19
    assert irfft2_latency(8) == {
        "first": 64,
        "last": 127,
        "interval": 64,
        "samples": 64,
        "fft1d": 13,
    }


# --- 1-D transform --------------------------------------------------------------------------


def _frames(n, fmt, rng):
    """Random full-range frames, extreme-valued frames (they saturate) and a small one."""
    full = [
        (rng.integers(fmt.min, fmt.max + 1, n), rng.integers(fmt.min, fmt.max + 1, n))
        for _ in range(3)
    ]
    extreme = [
        (rng.choice([fmt.min, fmt.max], n), rng.choice([fmt.min, fmt.max], n)) for _ in range(4)
    ]
    edge = [(np.full(n, fmt.max), np.full(n, fmt.max)), (np.full(n, fmt.min), np.zeros(n, int))]
    # an inverse sum that overflows by one LSB: the second stage's a = (max − min) >> 1 = max
    # (x0, x[n/2]) meets t = i·b with Im b = (min − max) >> 1 = min (x[n/4], x[3n/4])
    re_, im_ = np.zeros(n, int), np.zeros(n, int)
    re_[0], re_[n // 2], im_[n // 4], im_[3 * n // 4] = fmt.max, fmt.min, fmt.min, fmt.max
    edge.append((re_, im_))
    small = [(rng.integers(-50, 51, n), rng.integers(-50, 51, n))]
    return full + extreme + edge + small


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bitrev_in", [False, True])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("n", [4, 8])
def test_fft1d_matches_fft_radix2(n, inverse, bitrev_in, engine, tmp_path):
    fmt = CFG.product if inverse else CFG.spectrum
    frames = _frames(n, fmt, np.random.default_rng(10 * n + inverse))
    bits = n.bit_length() - 1
    order = [_rev(i, bits) for i in range(n)] if bitrev_in else list(range(n))
    inputs, cycle, starts = {}, START, []
    for k, (re_, im_) in enumerate(frames):
        cycle += 5 if k == 5 else 0  # one gap between frames
        starts.append(cycle)
        for i in order:
            inputs[cycle] = {"in_re": int(re_[i]), "in_im": int(im_[i])}
            cycle += 1
    params = dict(n=n, inverse=inverse, bitrev_in=bitrev_in, cfg=CFG, fmt=fmt)
    got = _run(
        engine,
        fft1d,
        lambda: fft1d_signals(n, fmt),
        params,
        inputs,
        cycle + 40,
        ["out_re", "out_im"],
        tmp_path,
        f"fft1d_{n}",
    )

    counter = OverflowCounter()
    er, ei = fft_radix2(
        np.array([f[0] for f in frames]),
        np.array([f[1] for f in frames]),
        -1,
        inverse=inverse,
        cfg=CFG,
        out_fmt=fmt,
        counter=counter,
        where="fft",
    )
    out_order = list(range(n)) if bitrev_in else [_rev(i, bits) for i in range(n)]
    expected = [(int(er[k, j]), int(ei[k, j])) for k in range(len(frames)) for j in out_order]
    assert [g[1:] for g in got] == expected
    assert counter.saturated["fft"] > 0  # the corner cases did saturate
    lat = fft1d_latency(n)
    assert [got[k * n][0] - starts[k] for k in range(len(frames))] == [lat] * len(frames)


# --- 2-D forward transform ------------------------------------------------------------------

RFFT_CASES = {
    "n4": (4, CFG, 3),
    "n8": (8, CFG, 5),
    "n8-saturating": (8, FixedPointConfig(spectrum=Format(18, 10)), 5),
    "n4-left-align": (4, FixedPointConfig(spectrum=Format(22, 12)), 3),
    "n8-right-align": (8, FixedPointConfig(spectrum=Format(20, 7)), 5),
}


def _rfft2_tiles(n, cfg, kernel, rng):
    act = cfg.activation
    L = n - kernel + 1
    padded = []
    for _ in range(2):
        t = np.zeros((n, n), dtype=np.int64)
        t[:L, :L] = rng.integers(0, act.max + 1, (L, L))  # post-ReLU activations
        padded.append(t)
    full = [rng.integers(act.min, act.max + 1, (n, n)) for _ in range(2)]
    extreme = [np.full((n, n), act.max), rng.choice([act.min, act.max], (n, n))]
    return padded + full + extreme


def _stream_rfft2(n, tiles, gaps=False):
    """Raster-order input; with ``gaps`` idle clocks between the rows and tiles of the later
    tiles.  Returns (inputs, first-sample cycles, last-sample cycles, end)."""
    inputs, cycle, firsts, lasts = {}, START, [], []
    for k, t in enumerate(tiles):
        firsts.append(cycle)
        for r in range(n):
            for c in range(n):
                inputs[cycle] = {"in_x": int(t[r, c])}
                cycle += 1
            cycle += (r + k) % 3 if gaps and k >= 2 else 0
        lasts.append(max(inputs) if inputs else cycle)
        cycle += 7 if gaps and k == 3 else 0
    return inputs, firsts, lasts, cycle


def _rfft2_run(engine, n, cfg, tiles, gaps, tmp_path, name):
    inputs, firsts, lasts, end = _stream_rfft2(n, tiles, gaps)
    lat = rfft2_latency(n, cfg)
    got = _run(
        engine,
        rfft2_unit,
        lambda: rfft2_signals(n, cfg),
        dict(n=n, cfg=cfg),
        inputs,
        end + lat["last"] + 4,
        ["out_f", "out_re", "out_im"],
        tmp_path,
        name,
    )
    return got, firsts, lasts


def _spectra(got, n, count):
    bins = n * (n // 2 + 1)
    assert len(got) == count * bins
    out = []
    for k in range(count):
        chunk = got[k * bins : (k + 1) * bins]
        assert [c for c, *_ in chunk] == list(range(chunk[0][0], chunk[0][0] + bins))
        # column by column, natural row order inside a column
        assert [f for _, f, _, _ in chunk] == [
            u * (n // 2 + 1) + v for v in range(n // 2 + 1) for u in range(n)
        ]
        re_ = np.zeros((n, n // 2 + 1), dtype=np.int64)
        im_ = np.zeros_like(re_)
        for _, f, r, i in chunk:
            re_.flat[f], im_.flat[f] = r, i
        out.append((chunk[0][0], chunk[-1][0], re_, im_))
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", list(RFFT_CASES))
def test_rfft2_unit_matches_rfft2_fixed(case, engine, tmp_path):
    n, cfg, kernel = RFFT_CASES[case]
    tiles = _rfft2_tiles(n, cfg, kernel, np.random.default_rng(len(case)))
    got, firsts, lasts = _rfft2_run(
        engine, n, cfg, tiles, False, tmp_path, "rfft2_" + case.replace("-", "_")
    )
    counter = OverflowCounter()
    aligned = round_shift(np.array(tiles), cfg.activation.frac - cfg.spectrum.frac)
    er, ei = rfft2_fixed(aligned, cfg, counter)
    lat = rfft2_latency(n, cfg)
    spectra = _spectra(got, n, len(tiles))
    for k, (first, last, re_, im_) in enumerate(spectra):
        assert np.array_equal(re_, er[k]) and np.array_equal(im_, ei[k]), f"tile {k}"
        assert first - firsts[k] == lat["first"]
        assert last - lasts[k] == lat["last"]
    # back-to-back tiles: one tile every N² clocks, sustained
    assert lat["interval"] == n * n
    assert np.all(np.diff([s[0] for s in spectra]) == n * n)
    assert (counter.total > 0) == (case == "n8-saturating")


@pytest.mark.parametrize("engine", ENGINES)
def test_rfft2_unit_exact_on_full_scale_worst_tiles(engine, tmp_path):
    """The unclamped, bound-wide forward unit on the tiles that reach its bounds (N = 8)."""
    tiles = list(_worst_tiles(8)[::5])
    got, _, _ = _rfft2_run(engine, 8, CFG, tiles, False, tmp_path, "rfft2_worst")
    er, ei = rfft2_fixed(np.array(tiles), CFG, OverflowCounter())
    for k, (_, _, re_, im_) in enumerate(_spectra(got, 8, len(tiles))):
        assert np.array_equal(re_, er[k]) and np.array_equal(im_, ei[k]), f"tile {k}"


@pytest.mark.parametrize("engine", ENGINES)
def test_rfft2_unit_with_gaps_between_rows_and_tiles(engine, tmp_path):
    n, cfg, kernel = RFFT_CASES["n8"]
    tiles = _rfft2_tiles(n, cfg, kernel, np.random.default_rng(7))
    got, firsts, lasts = _rfft2_run(engine, n, cfg, tiles, True, tmp_path, "rfft2_gaps")
    er, ei = rfft2_fixed(np.array(tiles), cfg, OverflowCounter())
    for k, (_first, last, re_, im_) in enumerate(_spectra(got, n, len(tiles))):
        assert np.array_equal(re_, er[k]) and np.array_equal(im_, ei[k]), f"tile {k}"
        assert last - lasts[k] == rfft2_latency(n)["last"]


@pytest.mark.parametrize("n", [4, 8])
def test_rfft2_unit_close_to_numpy(n, tmp_path):
    """Independent of the contract: the integer spectrum is numpy's within the worst-case error
    of the fixed-point arithmetic (twiddle quantisation and one rounding per multiplier stage,
    each amplified at most 2× by every later stage; trivial stages are exact)."""
    act, spec = CFG.activation, CFG.spectrum
    rng = np.random.default_rng(3)
    tiles = [rng.integers(act.min, act.max + 1, (n, n)) for _ in range(3)]
    tiles.append(np.pad(rng.integers(0, act.max + 1, (n - 2, n - 2)), [(0, 2), (0, 2)]))
    got, _, _ = _rfft2_run("myhdl", n, CFG, tiles, False, tmp_path, "rfft2_numpy")
    wr, wi = twiddles(n, CFG.twiddle, False)
    k = np.arange(n // 2)
    dw = np.max(np.abs((wr + 1j * wi) / CFG.twiddle.scale - np.exp(-2j * np.pi * k / n)))
    plan = stage_plan(n, CFG, False, False)
    stages = [st["multiplier"] for st in plan] * 2
    for (_, _, re_, im_), tile in zip(_spectra(got, n, len(tiles)), tiles):
        peak = np.max(np.abs(tile)) / act.scale
        bound = sum(
            (np.sqrt(0.5) / spec.scale + dw * peak * 2**s) * 2 ** (len(stages) - 1 - s)
            for s, mult in enumerate(stages)
            if mult
        )
        err = np.abs((re_ + 1j * im_) / spec.scale - np.fft.rfft2(tile / act.scale))
        assert err.max() <= bound + 1e-9
        # sharp: N = 4 is exact, N = 8 within 10 LSB of a spectrum reaching 2**18 LSB
        assert bound * spec.scale <= {4: 0, 8: 10}[n]


# --- 2-D inverse transform ------------------------------------------------------------------


def _irfft2_spectra(n, cfg, rng):
    p = cfg.product
    shape = (n, n // 2 + 1)
    natural = rfft2_fixed(rng.integers(-4000, 4000, (n, n)), cfg, OverflowCounter())
    full = [
        (rng.integers(p.min, p.max + 1, shape), rng.integers(p.min, p.max + 1, shape))
        for _ in range(2)
    ]
    extreme = [(rng.choice([p.min, p.max], shape), rng.choice([p.min, p.max], shape))]
    # column 1 overflows its second stage by one LSB (the frame of test_fft1d_matches_fft_radix2)
    sr, si = extreme[0]
    sr[[0, n // 2], 1], si[[n // 4, 3 * n // 4], 1] = (p.max, p.min), (p.min, p.max)
    return [natural] + full + extreme


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n", [4, 8])
def test_irfft2_unit_matches_irfft2_fixed(n, engine, tmp_path):
    cfg = CFG
    rng = np.random.default_rng(n)
    spectra = _irfft2_spectra(n, cfg, rng)
    bins = n * (n // 2 + 1)
    orders = [np.arange(bins), np.arange(bins)[::-1], rng.permutation(bins), np.arange(bins)]
    inputs, cycle, lasts = {}, START, []
    for k, ((sr, si), order) in enumerate(zip(spectra, orders)):
        start = cycle
        for f in order:
            inputs[cycle] = {"in_f": int(f), "in_re": int(sr.flat[f]), "in_im": int(si.flat[f])}
            cycle += 1
        lasts.append(cycle - 1)
        cycle = start + n * n + (9 if k == 1 else 0)  # tiles N² apart (the minimum), one gap
    lat = irfft2_latency(n, cfg)
    got = _run(
        engine,
        irfft2_unit,
        lambda: irfft2_signals(n, cfg),
        dict(n=n, cfg=cfg),
        inputs,
        cycle + lat["last"] + 4,
        ["out_n", "out_x"],
        tmp_path,
        f"irfft2_{n}",
    )
    counter = OverflowCounter()
    expected = irfft2_fixed(
        np.array([s[0] for s in spectra]), np.array([s[1] for s in spectra]), cfg, counter
    )
    assert counter.total > 0
    assert len(got) == len(spectra) * n * n
    for k in range(len(spectra)):
        chunk = got[k * n * n : (k + 1) * n * n]
        assert [c for c, _, _ in chunk] == list(range(chunk[0][0], chunk[0][0] + n * n))
        assert [i for _, i, _ in chunk] == list(range(n * n))  # raster order
        assert np.array_equal(np.array([x for _, _, x in chunk]).reshape(n, n), expected[k])
        assert chunk[0][0] - lasts[k] == lat["first"]
        assert chunk[-1][0] - lasts[k] == lat["last"]


# --- Verilog: lint and synthesis ------------------------------------------------------------


@pytest.mark.parametrize(
    "name,top,make,params",
    [
        ("fft1d_n8", fft1d, lambda: fft1d_signals(8, CFG.spectrum), dict(n=8, cfg=CFG)),
        ("rfft2_n8", rfft2_unit, lambda: rfft2_signals(8, CFG), dict(n=8, cfg=CFG)),
        ("irfft2_n8", irfft2_unit, lambda: irfft2_signals(8, CFG), dict(n=8, cfg=CFG)),
    ],
)
def test_verilator_lint(name, top, make, params, tmp_path):
    source = _convert(top, make(), params, tmp_path, name)
    assert sim.lint([source], name, tmp_path) == []


YOSYS_TEST = "test_yosys_maps_twiddle_multipliers_to_dsp48"


@pytest.fixture(scope="module", autouse=True)
def synthesis(request, tmp_path_factory):
    """Yosys ``synth_xilinx`` of the N = 8 forward unit, started before the first test of this
    module (when the Yosys test is selected) so that the slow run overlaps the simulations."""
    if not any(item.name == YOSYS_TEST for item in request.session.items):
        yield None
        return
    path = tmp_path_factory.mktemp("yosys")
    source = _convert(rfft2_unit, rfft2_signals(8, CFG), dict(n=8, cfg=CFG), path, "rfft2_n8")
    script = (
        f"read_verilog {source.name}; synth_xilinx -family xc7 -top rfft2_n8; "
        "tee -q -o stat.txt stat"
    )
    with sim.tool_in_background("yosys", ["-q", "-p", script], cwd=path, timeout=300) as job:
        yield job, path


def test_yosys_maps_twiddle_multipliers_to_dsp48(synthesis):
    """N = 8: one complex multiplier (3 DSP48E1) in each of the row and column passes, the
    ±1/∓j stages none; the ping-pong transpose RAM is LUT RAM, as the cost model says (20-bit
    words: the row pass's bound)."""
    job, path = synthesis
    job.result()
    stat = (path / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    cost = fft_unit_cost(8, CFG.spectrum.bits)
    assert cells.get("DSP48E1") == 6 == cost["dsp"]
    assert cells.get("RAMB18E1", 0) == cost["bram18"] == 0
    assert cells.get("RAM64M", 0) > 0
