"""The engine front end: input buffer → tile feeders → forward FFT units → scheduled spectrum
banks.  Every written word must equal ``rfft2_fixed`` of the tile at the bank and address the
schedule gives (c, f), at the documented clock, in MyHDL and in Icarus."""

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from myhdl import Signal, StopSimulation, block, instance

from codesign.hdl import sim
from codesign.hdl.ram import ram_bram18
from codesign.hdl.signals import sync_reset
from codesign.nn.sparsity import project
from codesign.spectral import schedule as sch
from codesign.spectral.arch import SpectralArch
from codesign.spectral.conv import geometry, tiles_of
from codesign.spectral.cost import fft_unit_cost
from codesign.spectral.dse import SpectralTask, assign
from codesign.spectral.fixedpoint import FixedPointConfig, OverflowCounter, rfft2_fixed
from codesign.spectral.hdl.feed import beat_routes, front_end, front_end_signals, front_end_timing

CFG = FixedPointConfig()
K, N, F = 5, 8, 40


def _layer(C, O, H, units, banks, seed=0):
    rng = np.random.default_rng(seed)
    mask = project(rng.random((O, C, F)), 0.25, balanced=True)
    task = SpectralTask("t", C, O, N, K, 1, sch.nonzeros_from_mask(mask), (O, 1, 1), (C, H, H))
    _, bank_of = assign(task, SpectralArch("t", N, pes=3, banks=banks, fft_units=units))
    image = rng.integers(-(1 << 12), 1 << 12, size=(C, H, H))
    image[0, 0, :4] = [CFG.activation.max, CFG.activation.min, CFG.activation.max, 0]
    return bank_of, sch.bank_addresses(bank_of), image


def _flat(units):
    """A top with one port per write lane (MyHDL converts no list ports)."""
    if units != 2:
        raise ValueError("the test wrapper has two lanes")

    @block
    def top(
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
        wr_en0,
        wr_bank0,
        wr_addr0,
        wr_re0,
        wr_im0,
        wr_buf0,
        wr_en1,
        wr_bank1,
        wr_addr1,
        wr_re1,
        wr_im1,
        wr_buf1,
        done,
        **p,
    ):
        return front_end(
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
            [wr_en0, wr_en1],
            [wr_bank0, wr_bank1],
            [wr_addr0, wr_addr1],
            [wr_re0, wr_re1],
            [wr_im0, wr_im1],
            [wr_buf0, wr_buf1],
            done,
            **p,
        )

    return top


def _signals(C, H, units, banks, depth):
    s = front_end_signals(C, H, H, units, banks, depth, CFG)
    flat = {"clk": Signal(bool(0)), "rst": sync_reset()}
    for k, v in s.items():
        if isinstance(v, list):
            flat.update({f"{k}{u}": x for u, x in enumerate(v)})
        else:
            flat[k] = v
    return flat


def _run(engine, C, H, units, banks, tiles, path, back_to_back=False):
    return sim.in_thread(_simulate, engine, C, H, units, banks, tiles, path, back_to_back)


def _params(C, H, units, banks):
    bank_of, addr_of, image = _layer(C, 16, H, units, banks)
    params = dict(C=C, H=H, W=H, K=K, N=N, units=units, bank_of=bank_of, addr_of=addr_of, cfg=CFG)
    return params, _signals(C, H, units, banks, int(addr_of.max()) + 1), image


def _lists(s, units):
    """The flat per-lane ports of ``s`` as the lists :func:`front_end` takes."""
    lists = {
        k: [s[f"{k}{u}"] for u in range(units)]
        for k in ("wr_en", "wr_bank", "wr_addr", "wr_re", "wr_im", "wr_buf")
    }
    return {k: v for k, v in s.items() if not re.fullmatch(r"wr_\w+\d", k)} | lists


def _simulate(engine, C, H, units, banks, tiles, path, back_to_back):
    """Load the image, then run ``tiles``: each started once the previous one is done, or
    (``back_to_back``) whenever the front end is ready.  Tile t goes to spectrum buffer t mod 2;
    a written word belongs to the oldest unfinished tile of its buffer."""
    params, sig, image = _params(C, H, units, banks)
    if engine == "myhdl":
        make = lambda **s: front_end(**_lists(s, units), **params)  # noqa: E731
    else:
        make = lambda **s: _flat(units)(**s, **params)  # noqa: E731
    dut = sim.device(engine, make, sig, path, "front")
    clk = sig["clk"]
    result = []

    @instance
    def drive():
        sig["rst"].next = 1
        yield clk.negedge
        sig["rst"].next = 0
        sig["load_buf"].next = 1
        for v in image.ravel():
            sig["in_valid"].next = 1
            sig["in_x"].next = int(v)
            yield clk.negedge
        sig["in_valid"].next = 0
        words = [{} for _ in tiles]
        starts, dones, nxt, clock = [], [], 0, 0
        while len(dones) < len(tiles):
            open_ = [t for t in range(len(starts)) if t >= len(dones)]
            for u in range(units):
                if sig[f"wr_en{u}"]:
                    t = next(t for t in open_ if t % 2 == int(sig[f"wr_buf{u}"]))
                    key = (int(sig[f"wr_bank{u}"]), int(sig[f"wr_addr{u}"]))
                    assert key not in words[t], f"word {key} written twice"
                    words[t][key] = (int(sig[f"wr_re{u}"]), int(sig[f"wr_im{u}"]))
            if sig["done"]:
                dones.append(clock)
            idle = len(dones) == len(starts)
            go = nxt < len(tiles) and bool(sig["ready"]) and (back_to_back or idle)
            if go:
                ty, tx = tiles[nxt]
                sig["ty"].next, sig["tx"].next, sig["img_buf"].next = ty, tx, 1
                sig["tile_buf"].next = nxt % 2
                starts.append(clock)
                nxt += 1
            sig["start"].next = go
            yield clk.negedge
            clock += 1
        for t, (ty, tx) in enumerate(tiles):
            result.append((ty, tx, words[t], dones[t] - starts[t], starts[t]))
        raise StopSimulation

    sim.run(dut, sim.clock(clk), drive)
    return result, params["bank_of"], params["addr_of"], image


def _check(result, bank_of, addr_of, image, C, H, units):
    g = geometry(H, H, K, N)
    t = np.pad(tiles_of(image, g), [(0, 0)] * 3 + [(0, N - g.L), (0, N - g.L)])
    for ty, tx, words, clocks, _ in result:
        re_, im_ = rfft2_fixed(t[:, ty, tx], CFG, OverflowCounter())
        want = {
            (int(bank_of[c, f]), int(addr_of[c, f])): (
                int(re_[c].ravel()[f]),
                int(im_[c].ravel()[f]),
            )
            for c in range(C)
            for f in range(F)
        }
        assert words == want, f"tile ({ty}, {tx})"
        assert clocks == front_end_timing(C, units, N, CFG)["start_to_done"]


@pytest.mark.parametrize(
    "C, H, units, banks, tiles",
    [
        (6, 12, 2, 4, [(1, 2), (0, 0), (2, 2)]),  # LeNet conv2 shape, two FFT units
        (1, 28, 1, 1, [(0, 0), (6, 6), (3, 5)]),  # LeNet conv1 shape, one unit
    ],
)
def test_front_end_writes_the_scheduled_spectra(C, H, units, banks, tiles, tmp_path):
    res = _run("myhdl", C, H, units, banks, tiles, tmp_path)
    _check(*res, C, H, units)


def test_front_end_takes_tiles_back_to_back(tmp_path):
    """Each tile starts in the clock its predecessor's last sample is read (``stream`` clocks
    apart) while the earlier tiles are still in the FFT units; every word still lands in its
    tile's spectrum buffer, each tile's ``done`` at the documented clock."""
    C, H, units, banks = 6, 12, 2, 4
    tiles = [(1, 2), (0, 0), (2, 2), (2, 1)]
    res = _run("myhdl", C, H, units, banks, tiles, tmp_path, back_to_back=True)
    _check(*res, C, H, units)
    starts = [r[4] for r in res[0]]
    stream = front_end_timing(C, units, N, CFG)["stream"]
    assert [b - a for a, b in zip(starts, starts[1:])] == [stream] * (len(tiles) - 1)


def test_front_end_in_icarus(tmp_path):
    res = _run("icarus", 6, 12, 2, 4, [(2, 1), (0, 1), (1, 1)], tmp_path, back_to_back=True)
    _check(*res, 6, 12, 2)
    assert sim.lint(["front.v"], "front", tmp_path) == []


YOSYS_TEST = "test_front_end_synthesises_to_block_ram_and_dsp"


@pytest.fixture(scope="module", autouse=True)
def synthesis(request, tmp_path_factory):
    """Yosys ``synth_xilinx`` of the two-unit front end, started before the first test of this
    module (when the Yosys test is selected) so that the slow run overlaps the simulations."""
    if not any(item.name == YOSYS_TEST for item in request.session.items):
        yield None
        return
    path = tmp_path_factory.mktemp("yosys")
    params, sig, _ = _params(6, 12, 2, 4)
    sim.in_thread(lambda: sim.convert(_flat(2)(**sig, **params), path, "front"))
    script = "read_verilog front.v; synth_xilinx -family xc7 -top front; tee -q -o stat.txt stat"
    with sim.tool_in_background("yosys", ["-q", "-p", script], cwd=path, timeout=300) as job:
        yield job, path


def test_front_end_synthesises_to_block_ram_and_dsp(synthesis):
    """Two FFT units' DSP48E1; block RAM for the input buffers only, as the cost model says."""
    job, path = synthesis
    job.result()
    stat = (path / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    assert cells.get("DSP48E1") == 2 * 6  # two FFT units
    # two input buffers (2 images × 3 channels × 144 words × 16 bit) in block RAM; the FFT
    # units' transpose RAMs (20-bit words, the row pass's bound) in LUT RAM
    inputs = 2 * ram_bram18(2 * 3 * 144, 16)
    assert (
        cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0)
        == inputs + 2 * fft_unit_cost(8, 24)["bram18"]
    )
    assert inputs == 2 and cells.get("RAM64M", 0) >= 2 * 2 * 14  # 2 units × re, im × 128 × 20


@settings(max_examples=200, deadline=None)
@given(units=st.integers(1, 8), k=st.integers(1, 8), beats=st.integers(1, 6))
def test_every_word_of_a_beat_reaches_its_channels_unit_once(units, k, beats):
    """k ≤ units words per beat: word w of beat g (channel c = g·k + w) goes to unit c mod units
    only, at row c // units, and no unit gets two words of one beat."""
    assume(k <= units)
    C = k * beats
    seen = {}
    for u in range(units):
        for g, r in enumerate(beat_routes(C, k, units, u)):
            if r is not None:
                w, row = r
                c = g * k + w
                assert 0 <= w < k and c % units == u and row == c // units
                assert c not in seen
                seen[c] = u
    assert sorted(seen) == list(range(C))
