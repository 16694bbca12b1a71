"""The Hadamard stage (codesign.hdl.hadamard) against the fixed-point contract, bit for bit.

Three tiles run through the engine — buffers 0, 1, 0, the first two back to back, the FFT side
writing the next tile (one write port per FFT unit) and the readout draining the previous one while
a tile accumulates, each at the tightest clock the documented timing allows — in the MyHDL
simulator and, converted to Verilog, in Icarus through ``myhdl.Cosimulation``.  Every group read
back must equal ``fxpmodel.hadamard_fixed`` exactly, ``done`` must come ``hadamard_latency`` clocks
after ``start``.
"""

import re
from collections import defaultdict
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from myhdl import StopSimulation, block, instance

from codesign.eda.boards import load_board
from codesign.hdl import sim
from codesign.nn.sparsity import project
from codesign.spectral import schedule as sch
from codesign.spectral.arch import SpectralArch
from codesign.spectral.cost import bram18
from codesign.spectral.dse import SpectralTask
from codesign.spectral.fixedpoint import FixedPointConfig, Format, OverflowCounter
from codesign.spectral.fxpmodel import hadamard_fixed
from codesign.spectral.hdl.hadamard import (
    PIPELINE_DEPTH,
    READOUT_LATENCY,
    hadamard_engine,
    hadamard_latency,
    hadamard_plan,
    hadamard_signals,
)
from codesign.spectral.mapping import LayerMap, map_tasks, memory_image, verify

CFG = FixedPointConfig()
START = 4  # first stimulus clock; reset is held during clocks 0..2
ENGINES = sim.ENGINES
# one read-out lane (the lanes' PE ownership is the engine's, tested there)
CASES = {
    "p3b4u2": dict(pes=3, banks=4, fft_units=2, ifft_units=1),
    "p4b4u1": dict(pes=4, banks=4, fft_units=1, ifft_units=1),
}


# --- layers ---------------------------------------------------------------------------------


def _weights(mask, rng):
    """Random conv-weight integers on the mask, one in eight at the format's extremes."""
    w = CFG.conv_weight
    out = []
    for _ in range(2):
        v = rng.integers(w.min, w.max + 1, mask.shape)
        v = np.where(rng.random(mask.shape) < 0.125, rng.choice([w.min, w.max], mask.shape), v)
        out.append(np.where(mask, v, 0))
    return out


@cache
def _mapped(case):
    """C = 6, O = 16, N = 8 at 25 % density (balanced), scheduled by the map stage."""
    rng = np.random.default_rng(sorted(CASES).index(case))
    C, O, N = 6, 16, 8
    F = N * (N // 2 + 1)
    mask = project(rng.random((O, C, F)), 0.25, balanced=True)
    w_re, w_im = _weights(mask, rng)
    task = SpectralTask("conv", C, O, N, 5, 1, sch.nonzeros_from_mask(mask), (O, 4, 4), (C, 8, 8))
    m = map_tasks(
        "hadamard-test",
        [task],
        load_board("nexys4ddr"),
        {"conv": {k: str(v) for k, v in CASES[case].items()}},
        weights={"conv": (w_re, w_im)},
    )
    return m.layers["conv"], w_re, w_im


HAND_OPS = (  # (pe, clock, o, c, f): one group's updates 1, 2, 3 and 4 clocks apart, others 1, 2
    [(0, t, 0, c, 1) for c, t in enumerate((0, 1, 3, 6, 10))]
    + [(0, t, 0, c, 2) for c, t in enumerate((2, 4, 5, 7, 8))]
    + [(0, 9, 0, 0, 3)]
    + [(1, t, 1, c, 1) for t, c in enumerate((1, 2, 3, 4, 0))]
    + [(1, 5, 1, 0, 0), (1, 9, 1, 1, 0)]
)


@cache
def _hand_mapped():
    """A hand-made schedule (C = 5, O = 2, N = 4, P = 2, B = 4) whose updates of one group are
    1 clock apart and of another 1, 2, 3 and 4 apart: valid for ``mac_latency`` 1 only."""
    C, O, N, P = 5, 2, 4, 2
    F = N * (N // 2 + 1)
    ops = np.array(sorted(HAND_OPS, key=lambda r: (r[2], r[3], r[4])), dtype=np.int64)
    nz = ops[:, 2:]
    task = SpectralTask("hand", C, O, N, 3, 1, nz, (O, 2, 2), (C, 4, 4))
    arch = SpectralArch("hand", fft=N, pes=P, banks=4, mac_latency=1)
    pe_of_group = np.repeat(np.arange(O)[:, None], F, axis=1)
    bank_of = np.repeat(np.arange(C)[:, None] % 4, F, axis=1)
    cycles = int(ops[:, 1].max()) + 1
    program = np.full((P, cycles), -1, dtype=np.int64)
    program[ops[:, 0], ops[:, 1]] = np.arange(len(ops))
    s = sch.Schedule(ops[:, 1].copy(), ops[:, 0].copy(), cycles, program, 0, cycles)
    acc_addr = np.full((O, F), -1, dtype=np.int64)
    for o in range(O):
        used = np.unique(nz[nz[:, 0] == o, 2])
        acc_addr[o, used] = np.arange(len(used))
    lm = LayerMap(
        task,
        arch,
        pe_of_group,
        bank_of,
        sch.bank_addresses(bank_of),
        acc_addr,
        s,
        sch.lower_bound(nz, pe_of_group, bank_of, P, 4, 1, 1),
        0,
    )
    rng = np.random.default_rng(5)
    w = CFG.conv_weight
    mask = np.zeros((O, C, F), dtype=bool)
    mask[nz[:, 0], nz[:, 1], nz[:, 2]] = True
    w_re, w_im = (np.where(mask, rng.integers(w.min, w.max + 1, mask.shape), 0) for _ in range(2))
    w_re[0, :, 1], w_im[0, :, 1] = w.min, w.max  # with X = (min, min): the largest Re sum
    w_re[1, :, 1], w_im[1, :, 1] = w.min, w.min  # the largest Im sum
    w_re[0, 0, 3], w_im[0, 0, 3] = 1024, 0  # × X = ±3: sums of ±1.5 output LSB (ties)
    lm.image = memory_image(lm, w_re, w_im)
    return lm, w_re, w_im


def _spectra(lm, rng, kinds):
    """Spectrum tiles (C, F): ``full`` range, ``extreme`` (min/max), ``large`` (±2^19: outputs
    around the product format's full scale, some saturated), ``small`` (±2^13: none)."""
    s = CFG.spectrum
    shape = (lm.task.C, lm.task.F)
    out = []
    for kind in kinds:
        if kind == "full":
            out.append([rng.integers(s.min, s.max + 1, shape) for _ in range(2)])
        elif kind == "extreme":
            out.append([rng.choice([s.min, s.max, s.max - 1, s.min + 1], shape) for _ in range(2)])
        else:
            m = 1 << (19 if kind == "large" else 13)
            out.append([rng.integers(-m, m, shape) for _ in range(2)])
    return out


def _reference(lm, w_re, w_im, spectra, counter):
    """``fxpmodel.hadamard_fixed`` of every tile: (tiles, O, F) real and imaginary parts."""
    C, O, N = lm.task.C, lm.task.O, lm.task.N
    shape = (len(spectra), C, 1, 1, N, N // 2 + 1)
    xr = np.array([t[0] for t in spectra]).reshape(shape)
    xi = np.array([t[1] for t in spectra]).reshape(shape)
    wshape = (O, C, N, N // 2 + 1)
    yr, yi = hadamard_fixed(xr, xi, w_re.reshape(wshape), w_im.reshape(wshape), CFG, counter, "had")
    return yr.reshape(len(spectra), O, -1), yi.reshape(len(spectra), O, -1)


# --- stimulus -------------------------------------------------------------------------------


def _stimulus(lm, spectra):
    """Tiles k = 0, 1, 2 on buffer k % 2, every step at its earliest documented clock, a spurious
    ``start`` inside tile 0 (ignored).  With U FFT units, U write ports ``wr_*0``, ``wr_*1``, …
    write channels c ≡ u (mod U) in parallel.  Words are written in the order the PEs first need
    them, reversed (the last word written is read in slot 0), and groups read in the reverse order
    of their last update (the first group read was updated in the last slot).

    Returns (inputs: clock → {port: value}, starts, reads: [(clock, tile, o, f)], end)."""
    cycles, lat = int(lm.schedule.cycles), hadamard_latency(int(lm.schedule.cycles))
    C, F = lm.task.C, lm.task.F
    nz, when = lm.task.nz, lm.schedule.cycle
    first_read = np.full((C, F), cycles)
    np.minimum.at(first_read, (nz[:, 1], nz[:, 2]), when)
    U = lm.arch.fft_units
    words = sorted(np.ndindex(C, F), key=lambda cf: -first_read[cf])
    unit_words = [[(c, f) for c, f in words if c % U == u] for u in range(U)]
    suffix = [str(u) if U > 1 else "" for u in range(U)]
    last_update = np.full(lm.acc_addr.shape, -1)
    np.maximum.at(last_update, (nz[:, 0], nz[:, 2]), when)
    groups = [
        (int(lm.pe_of_group[o, f]), int(lm.acc_addr[o, f]), o, f)
        for o, f in sorted(zip(*np.nonzero(lm.acc_addr >= 0)), key=lambda of: -last_update[of])
    ]
    inputs = defaultdict(dict)
    reads = []

    def write(t, k):
        xr, xi = spectra[k]
        for u, x in enumerate(suffix):
            for i, (c, f) in enumerate(unit_words[u]):
                assert "wr_en" + x not in inputs[t + i]  # one word per clock and port
                inputs[t + i].update(
                    {
                        "wr_en" + x: 1,
                        "wr_bank" + x: int(lm.bank_of[c, f]),
                        "wr_addr" + x: int(lm.addr_of[c, f]),
                        "wr_buf": k % 2,
                        "wr_re" + x: int(xr[c, f]),
                        "wr_im" + x: int(xi[c, f]),
                    }
                )
        return t + max(len(w) for w in unit_words)

    def read(t, k):
        for pe, a, o, f in groups:
            assert "rd_en" not in inputs[t]
            inputs[t].update(rd_en=1, rd_pe=pe, rd_addr=a, rd_buf=k % 2)
            reads.append((t, k, o, f))
            t += 1
        return t

    def start(t, k):
        inputs[t].update(start=1, start_buf=k % 2)
        return t

    w0 = write(START, 0)
    s0 = start(w0 - 3, 0)  # words written by start + 2
    inputs[s0 + cycles // 2].update(start=1, start_buf=1)  # busy: ignored
    w1 = write(w0, 1)
    s1 = start(max(s0 + cycles, w1 - 3), 1)  # back to back when written in time
    w2 = write(max(w1, s0 + cycles + 3), 2)  # buffer 0 is free after clock s0 + cycles + 2
    r0 = read(s0 + lat, 0)  # from done
    s2 = start(max(s1 + cycles, w2 - 3, r0 - 1 - 5), 2)  # tile 0 read by clock s2 + 5
    r1 = read(max(r0, s1 + lat), 1)
    r2 = read(max(r1, s2 + lat), 2)
    return inputs, [s0, s1, s2], reads, r2 + READOUT_LATENCY + 2


# --- simulation harness ---------------------------------------------------------------------

WRITE_PORT = ("wr_en", "wr_bank", "wr_addr", "wr_re", "wr_im")


@block
def _two_unit_engine(
    clk,
    rst,
    wr_en0,
    wr_bank0,
    wr_addr0,
    wr_re0,
    wr_im0,
    wr_en1,
    wr_bank1,
    wr_addr1,
    wr_re1,
    wr_im1,
    wr_buf,
    start,
    start_buf,
    done,
    rd_en,
    rd_pe,
    rd_addr,
    rd_buf,
    rd_valid,
    rd_re,
    rd_im,
    *,
    lm,
    cfg,
):
    """:func:`hadamard_engine` with one write port per FFT unit (U = 2), as the engine top
    connects it."""
    return hadamard_engine(
        clk,
        rst,
        [wr_en0, wr_en1],
        [wr_bank0, wr_bank1],
        [wr_addr0, wr_addr1],
        wr_buf,
        [wr_re0, wr_re1],
        [wr_im0, wr_im1],
        start,
        start_buf,
        done,
        rd_en,
        rd_pe,
        rd_addr,
        rd_buf,
        rd_valid,
        rd_re,
        rd_im,
        lm=lm,
        cfg=cfg,
    )


def _top(lm):
    """The block under test and its port signals: one write port per FFT unit."""
    sig = hadamard_signals(lm, CFG)
    if lm.arch.fft_units == 1:
        return hadamard_engine, sig
    assert lm.arch.fft_units == 2
    more = hadamard_signals(lm, CFG)
    for port in WRITE_PORT:
        sig[port + "0"], sig[port + "1"] = sig.pop(port), more[port]
    return _two_unit_engine, sig


def _convert(lm, path, name):
    top, sig = _top(lm)
    return sim.convert(top(**sig, lm=lm, cfg=CFG), path, name)


def _simulate(engine, lm, inputs, end, path, name):
    """Drive ``inputs``; return (clocks with ``done`` high, [(clock, rd_re, rd_im)] with
    ``rd_valid`` high)."""
    top, sig = _top(lm)
    pulses = [p for p in sig if p.startswith(("wr_en", "rd_en")) or p == "start"]
    dut = sim.device(engine, lambda **s: top(**s, lm=lm, cfg=CFG), sig, path, name)
    clk, done, got = sig["clk"], [], []

    @instance
    def drive():
        for cycle in range(end):
            yield clk.negedge
            sig["rst"].next = cycle < START - 1
            if sig["done"]:
                done.append(cycle)
            if sig["rd_valid"]:
                got.append((cycle, int(sig["rd_re"]), int(sig["rd_im"])))
            for port in pulses:
                sig[port].next = 0
            for port, value in inputs.get(cycle, {}).items():
                sig[port].next = value
        raise StopSimulation

    sim.run(dut, sim.clock(clk), drive)
    return done, got


def _check_run(engine, lm, w_re, w_im, spectra, path, name):
    """Run three tiles; assert bit-exactness and timing; return the reference's counter."""
    inputs, starts, reads, end = _stimulus(lm, spectra)
    done, got = sim.in_thread(_simulate, engine, lm, inputs, end, path, name)
    counter = OverflowCounter()
    yr, yi = _reference(lm, w_re, w_im, spectra, counter)
    assert done == [s + hadamard_latency(int(lm.schedule.cycles)) for s in starts]
    assert [g[0] for g in got] == [r[0] + READOUT_LATENCY for r in reads]
    expected = [(int(yr[k, o, f]), int(yi[k, o, f])) for _, k, o, f in reads]
    assert [g[1:] for g in got] == expected
    unused = lm.acc_addr < 0  # groups without a non-zero are 0 upstream, and in the model
    assert not np.any(yr[:, unused]) and not np.any(yi[:, unused])
    return counter


# --- bit-exactness --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", list(CASES))
def test_engine_matches_hadamard_model(case, engine, tmp_path):
    lm, w_re, w_im = _mapped(case)
    assert lm.arch.ports == 1 and lm.arch.mac_latency == 4
    assert (lm.arch.pes, lm.arch.banks, lm.arch.fft_units, lm.arch.ifft_units) == tuple(
        CASES[case].values()
    )
    spectra = _spectra(lm, np.random.default_rng(11), ["large", "small", "extreme"])
    counter = _check_run(engine, lm, w_re, w_im, spectra, tmp_path, f"hadamard_{case}")
    # the readout both rounded and saturated (the large and extreme tiles saturate some groups)
    assert counter.saturated["had.product"] > 0
    assert counter.saturated["had.acc"] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_updates_one_clock_apart(engine, tmp_path):
    """Read-modify-write hazards: updates of one group 1, 2, 3 and 4 clocks apart, the extreme
    sums of C full-scale products, and rounding ties."""
    lm, w_re, w_im = _hand_mapped()
    assert verify(lm.task, lm.arch, lm.pe_of_group, lm.bank_of, lm.schedule) == []
    strict = SpectralArch("hand", fft=4, pes=2, banks=4, mac_latency=2)
    assert "hazard: updates 1 clocks apart" in " ".join(
        verify(lm.task, strict, lm.pe_of_group, lm.bank_of, lm.schedule)
    )
    s = CFG.spectrum
    spectra = _spectra(lm, np.random.default_rng(6), ["large", "full", "small"])
    spectra[1][0][:, 1] = spectra[1][1][:, 1] = s.min  # group sums at the accumulator bound
    spectra[0][0][0, 3], spectra[0][1][0, 3] = 3, 0  # Re sum 3·2^10 → 2 (half up)
    spectra[2][0][0, 3], spectra[2][1][0, 3] = -3, 0  # Re sum −3·2^10 → −1
    counter = _check_run(engine, lm, w_re, w_im, spectra, tmp_path, "hadamard_hand")
    yr, yi = _reference(lm, w_re, w_im, spectra, OverflowCounter())
    assert (yr[0, 0, 3], yr[2, 0, 3]) == (2, -1)
    assert yr[1, 0, 1] == yi[1, 1, 1] == CFG.product.max
    assert counter.saturated["had.acc"] == 0
    g = hadamard_plan(lm, CFG)
    assert g["accumulator"][1] == lm.task.C * 2**39  # the Im sum of (min, min)·(min, min)


@pytest.mark.parametrize("engine", ENGINES)
def test_scheduler_at_mac_latency_one(engine, tmp_path):
    """The map stage's own schedule at ``mac_latency`` 1: a dense layer (C = 6, O = 4, N = 4) on
    8 PEs and 8 banks, 36 clocks for 288 updates, many of one group 1, 2 or 3 clocks apart."""
    rng = np.random.default_rng(2)
    C, O, N = 6, 4, 4
    F = N * (N // 2 + 1)
    mask = np.ones((O, C, F), dtype=bool)
    w_re, w_im = _weights(mask, rng)
    task = SpectralTask("conv", C, O, N, 3, 1, sch.nonzeros_from_mask(mask), (O, 2, 2), (C, 4, 4))
    m = map_tasks(
        "hadamard-test",
        [task],
        load_board("nexys4ddr"),
        {"conv": dict(pes=8, banks=8, fft_units=1, ifft_units=1, mac_latency=1)},
        weights={"conv": (w_re, w_im)},
    )
    lm = m.layers["conv"]
    nz, cyc = lm.task.nz, lm.schedule.cycle
    g = nz[:, 0] * F + nz[:, 2]
    o = np.lexsort((cyc, g))
    gaps = np.bincount(np.diff(cyc[o])[g[o][1:] == g[o][:-1]])
    assert gaps[0] == 0 and min(gaps[1:4]) > 0
    spectra = _spectra(lm, np.random.default_rng(3), ["large", "extreme", "small"])
    _check_run(engine, lm, w_re, w_im, spectra, tmp_path, "hadamard_lat1")


# --- elaboration ----------------------------------------------------------------------------


def test_latency_and_plan():
    lm, _, _ = _mapped("p3b4u2")
    assert PIPELINE_DEPTH == 8 and READOUT_LATENCY == 5
    assert hadamard_latency(320) == 328 == hadamard_latency(int(lm.schedule.cycles))
    g = hadamard_plan(lm, CFG)
    assert g["shift"] == 11 and g["product"] == (-(2**39) + 2**15, 2**39)
    assert all(len(words) == lm.schedule.cycles for words in g["words"])
    assert g["accumulator"][1] < 2**47  # the contract's 48-bit saturation is unreachable


def test_rejects_what_it_cannot_build():
    lm, w_re, w_im = _mapped("p3b4u2")
    wide = replace(lm, arch=replace(lm.arch, spectrum_bits=32))
    with pytest.raises(ValueError, match="could saturate"):
        hadamard_plan(wide, FixedPointConfig(spectrum=Format(32, 10)))
    with pytest.raises(ValueError, match="differ from the fixed-point formats"):
        hadamard_plan(wide, CFG)
    with pytest.raises(ValueError, match="one read port"):
        hadamard_plan(replace(lm, arch=replace(lm.arch, ports=2)), CFG)
    with pytest.raises(ValueError, match="memory image"):
        hadamard_plan(replace(lm, image={}), CFG)
    with pytest.raises(ValueError, match="bank group"):
        hadamard_plan(_mapped("p4b4u1")[0], CFG, 2)  # banks assigned for one FFT unit
    clash = memory_image(lm, w_re, w_im)
    clash["fields"]["valid"][:, 0] = 1
    clash["fields"]["bank"][:, 0] = 0
    with pytest.raises(ValueError, match="read twice"):
        hadamard_plan(replace(lm, image=clash), CFG)


# --- Verilog: lint and synthesis ------------------------------------------------------------


def test_verilator_lint(tmp_path):
    lm, _, _ = _mapped("p3b4u2")
    source = sim.in_thread(_convert, lm, tmp_path, "hadamard_lint")
    assert sim.lint([source], "hadamard_lint", tmp_path) == []


YOSYS_TEST = "test_yosys_maps_products_to_dsp48_and_memories_to_block_ram"


@pytest.fixture(scope="module", autouse=True)
def synthesis(request, tmp_path_factory):
    """Yosys ``synth_xilinx`` of the P = 3 engine, started before the first test of this module
    (when the Yosys test is selected) so that the slow run overlaps the simulations."""
    if not any(item.name == YOSYS_TEST for item in request.session.items):
        yield None
        return
    path = tmp_path_factory.mktemp("yosys")
    lm, _, _ = _mapped("p3b4u2")
    source = sim.in_thread(_convert, lm, path, "hadamard_p3")
    script = (
        f"read_verilog {source.name}; synth_xilinx -family xc7 -top hadamard_p3; "
        "tee -q -o stat.txt stat"
    )
    with sim.tool_in_background("yosys", ["-q", "-p", script], cwd=path, timeout=300) as job:
        yield job, path


def test_yosys_maps_products_to_dsp48_and_memories_to_block_ram(synthesis):
    """Three DSP48E1 per PE (k1, k2, k3) and no other multiplier; every memory — kernel ROMs,
    spectrum banks, accumulators — in block RAM at the cheapest RAMB18 aspect ratio, no LUT RAM."""
    job, path = synthesis
    job.result()
    stat = (path / "stat.txt").read_text()
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
    lm, _, _ = _mapped("p3b4u2")
    assert cells.get("DSP48E1") == 3 * lm.arch.pes
    assert not [c for c in cells if re.match(r"RAM\d+(X|M)", c)]  # LUT RAM
    assert re.search(r"Number of memories:\s+0\n", stat)  # none left to flip-flops
    mem = hadamard_plan(lm, CFG)["memories"]
    assert mem == {"kernel": (3, 320, 50), "spectrum": (4, 128, 48), "accumulator": (6, 256, 86)}
    expected = sum(n * bram18(depth, width) for n, depth, width in mem.values())
    assert cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0) == expected == 32
