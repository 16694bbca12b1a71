"""The library's one RAM (codesign.hdl.ram): :func:`sdp_ram` bit-exact against a Python model in
MyHDL and, converted, in Icarus (with and without read enable; a depth that is not a power of two,
signed words, reads of the address being written), lint-clean; its resource rule against the
yosys ``synth_xilinx`` runs of the block it was calibrated on, and a few of them run live."""

import random
import re

import pytest
from myhdl import Signal, StopSimulation, instance

from codesign.eda.tools import has_tool, run_tool
from codesign.hdl import sim
from codesign.hdl.ram import bram18, ram_bram18, ram_style, sdp_ram
from codesign.hdl.signals import signed_signal, uint_signal

DEPTH, LO, HI = 48, -512, 511


def _signals(enable: bool) -> dict:
    sig = {
        "clk": Signal(bool(0)),
        "we": Signal(bool(0)),
        "waddr": uint_signal(DEPTH),
        "wdata": signed_signal(LO, HI),
        "raddr": uint_signal(DEPTH),
        "rdata": signed_signal(LO, HI),
    }
    if enable:
        sig["ren"] = Signal(bool(0))
    return sig


def _steps(enable: bool, n: int = 400, seed: int = 0) -> list[tuple]:
    """(we, waddr, wdata, raddr, ren) per clock: every word written once, then random traffic,
    a third of whose reads are of the address written in the same clock."""
    rng = random.Random(seed)
    steps = [(1, a, rng.randint(LO, HI), 0, 1) for a in range(DEPTH)]
    for _ in range(n):
        wa = rng.randrange(DEPTH)
        ra = wa if rng.random() < 1 / 3 else rng.randrange(DEPTH)
        ren = rng.random() < 0.7 if enable else 1
        steps.append((int(rng.random() < 0.6), wa, rng.randint(LO, HI), ra, int(ren)))
    return steps


def _reference(steps: list[tuple]) -> list[int]:
    """``rdata`` before each clock: the read registers the word before that clock's write."""
    mem, rdata, out = [0] * DEPTH, 0, []
    for we, wa, wd, ra, ren in steps:
        out.append(rdata)
        if ren:
            rdata = mem[ra]
        if we:
            mem[wa] = wd
    return out


def _trace(engine: str, path, enable: bool, steps: list[tuple]) -> list[int]:
    sig = _signals(enable)
    dut = sim.device(engine, sdp_ram, sig, path, "ram_en" if enable else "ram")
    got = []

    @instance
    def drive():
        for we, wa, wd, ra, ren in steps:
            yield sig["clk"].negedge
            got.append(int(sig["rdata"]))
            sig["we"].next, sig["waddr"].next, sig["wdata"].next = we, wa, wd
            sig["raddr"].next = ra
            if enable:
                sig["ren"].next = ren
        raise StopSimulation

    sim.run(dut, sim.clock(sig["clk"]), drive)
    return got


@pytest.mark.parametrize("enable", [False, True], ids=["every-clock", "read-enable"])
def test_both_engines_give_the_reference_trace(tmp_path, enable):
    steps = _steps(enable)
    want = _reference(steps)
    traces = {e: sim.in_thread(_trace, e, tmp_path / e, enable, steps) for e in sim.ENGINES}
    assert traces["myhdl"] == want
    # the first two reads are of words Icarus has not written yet (x, taken as 0)
    assert traces["icarus"][2:] == want[2:]
    verilog = tmp_path / "icarus" / ("ram_en.v" if enable else "ram.v")
    assert f"reg signed [9:0] mem [0:{DEPTH}-1];" in verilog.read_text()
    assert sim.lint([verilog], None, tmp_path) == []


def test_depth_may_be_given_and_words_take_the_read_range(tmp_path):
    """``depth`` overrides the address range; the word is the read port's (here unsigned)."""
    sig = _signals(False)
    sig["rdata"] = uint_signal(256)  # 0 … 255 stored, 8 bits
    v = sim.in_thread(lambda: sim.convert(sdp_ram(**sig, depth=40), tmp_path, "ram40"))
    assert "reg [7:0] mem [0:40-1];" in v.read_text()


# Yosys 0.23 ``synth_xilinx -family xc7 -noiopad -noclkbuf`` of sdp_ram (unsigned words, no read
# enable; with one, the same): depth, width, RAMB18E1, RAMB36E1, LUT RAM cells (RAM32M, RAM64M,
# RAM128X1D); none of them: flip-flops.  The calibration of codesign.hdl.ram's rule.
MEASURED = [
    (1, 8, 0, 0, 0), (2, 8, 0, 0, 2), (4, 1, 0, 0, 0), (4, 8, 0, 0, 2), (16, 8, 0, 0, 2),
    (32, 1, 0, 0, 1), (32, 8, 0, 0, 2), (32, 16, 0, 0, 3), (32, 24, 0, 0, 4), (32, 48, 0, 0, 8),
    (32, 82, 0, 0, 14), (64, 1, 0, 0, 1), (64, 8, 0, 0, 3), (64, 16, 0, 0, 6), (64, 24, 0, 0, 8),
    (64, 48, 0, 0, 16), (64, 82, 0, 0, 28), (64, 200, 0, 0, 67), (65, 1, 0, 0, 1),
    (65, 8, 0, 0, 6), (65, 16, 0, 0, 9), (65, 24, 0, 0, 12), (65, 25, 0, 0, 15), (65, 26, 1, 0, 0),
    (65, 48, 0, 0, 24), (65, 50, 0, 0, 27), (65, 51, 0, 1, 0), (65, 77, 0, 0, 39),
    (65, 78, 3, 0, 0), (65, 82, 3, 0, 0), (96, 1, 0, 0, 1), (96, 8, 0, 0, 6), (96, 16, 0, 0, 9),
    (96, 24, 0, 0, 12), (96, 48, 0, 0, 24), (96, 82, 3, 0, 0), (120, 39, 0, 0, 26),
    (128, 1, 0, 0, 1), (128, 8, 0, 0, 6), (128, 16, 0, 0, 12), (128, 21, 0, 0, 14),
    (128, 22, 1, 0, 0), (128, 24, 1, 0, 0), (128, 40, 0, 0, 28), (128, 43, 0, 0, 30),
    (128, 44, 0, 1, 0), (128, 48, 0, 1, 0), (128, 82, 3, 0, 0), (129, 1, 0, 0, 3),
    (129, 8, 0, 0, 9), (129, 14, 0, 0, 15), (129, 15, 1, 0, 0), (129, 16, 1, 0, 0),
    (129, 24, 1, 0, 0), (129, 48, 0, 1, 0), (129, 82, 3, 0, 0), (160, 1, 0, 0, 3),
    (160, 8, 0, 0, 9), (160, 16, 1, 0, 0), (160, 24, 1, 0, 0), (160, 48, 0, 1, 0),
    (160, 82, 3, 0, 0), (168, 39, 0, 1, 0), (192, 1, 0, 0, 3), (192, 8, 0, 0, 9),
    (192, 16, 1, 0, 0), (192, 24, 1, 0, 0), (192, 48, 0, 1, 0), (192, 82, 3, 0, 0),
    (240, 16, 1, 0, 0), (256, 1, 0, 0, 4), (256, 8, 0, 0, 12), (256, 10, 0, 0, 16),
    (256, 11, 1, 0, 0), (256, 16, 1, 0, 0), (256, 24, 1, 0, 0), (256, 26, 1, 0, 0),
    (256, 48, 0, 1, 0), (256, 82, 3, 0, 0), (256, 86, 3, 0, 0), (512, 1, 0, 0, 8),
    (512, 4, 0, 0, 16), (512, 5, 1, 0, 0), (512, 8, 1, 0, 0), (512, 16, 1, 0, 0),
    (512, 24, 1, 0, 0), (512, 26, 1, 0, 0), (512, 36, 1, 0, 0), (512, 48, 0, 1, 0),
    (512, 72, 0, 1, 0), (512, 82, 3, 0, 0), (600, 36, 0, 1, 0), (1024, 1, 0, 0, 16),
    (1024, 2, 0, 0, 16), (1024, 3, 1, 0, 0), (1024, 8, 1, 0, 0), (1024, 16, 1, 0, 0),
    (1024, 24, 0, 1, 0), (1024, 36, 0, 1, 0), (1024, 48, 3, 0, 0), (1024, 82, 5, 0, 0),
    (1568, 16, 0, 1, 0), (2048, 1, 1, 0, 0), (2048, 16, 0, 1, 0), (3000, 9, 0, 1, 0),
    (4096, 9, 0, 1, 0), (8192, 2, 1, 0, 0), (15360, 31, 31, 0, 0), (16384, 1, 1, 0, 0),
]  # fmt: skip


def _style(ramb18: int, ramb36: int, lutram: int) -> str:
    return "block" if ramb18 + ramb36 else "distributed" if lutram else "logic"


def test_the_rule_gives_every_measured_mapping():
    for depth, width, ramb18, ramb36, lutram in MEASURED:
        assert ram_style(depth, width) == _style(ramb18, ramb36, lutram), (depth, width)
        assert ram_bram18(depth, width) == ramb18 + 2 * ramb36, (depth, width)
        if ramb18 + ramb36 and (depth, width) != (15360, 31):
            assert bram18(depth, width) == ramb18 + 2 * ramb36, (depth, width)
    assert bram18(15360, 31) == 30  # yosys spends one more to save read multiplexers


def test_the_documented_thresholds():
    # up to 64 words LUT RAM at any width (the small accumulators), but the tiniest: flip-flops
    assert {ram_style(d, w) for d in (8, 16, 33, 64) for w in range(1, 300)} == {"distributed"}
    assert ram_style(1, 8) == ram_style(2, 1) == ram_style(4, 1) == "logic"
    # 65 … 128 words: block RAM only where the width fills it well
    assert [w for w in range(1, 100) if ram_style(80, w) == "block"] == [
        *range(26, 37),
        *range(51, 73),
        *range(78, 100),
    ]
    assert [w for w in range(1, 100) if ram_style(128, w) == "block"] == [
        *range(22, 37),
        *range(44, 100),
    ]
    # deeper: the widest LUT RAM
    widest = {d: max(w for w in range(1, 64) if ram_style(d, w) != "block") for d in (192, 256)}
    assert widest == {192: 14, 256: 10}
    assert ram_style(512, 4) == "distributed" != ram_style(512, 5)
    assert ram_style(1024, 2) == "distributed" != ram_style(1024, 3)
    assert ram_style(2048, 1) == "block"
    assert ram_bram18(64, 82) == 0 and ram_bram18(0, 8) == 0 and bram18(0, 8) == 0


# a few of MEASURED, run live (about 2 s each): 64 words of any width are LUT RAM; either side of
# the first threshold (a tie of the costs, which goes to LUT RAM); a RAMB36
LIVE = [(64, 82), (65, 25), (65, 26), (128, 44)]


@pytest.mark.skipif(not has_tool("yosys"), reason="yosys not installed")
def test_yosys_builds_the_block_as_measured(tmp_path):
    for depth, width in LIVE:
        sig = {
            "clk": Signal(bool(0)),
            "we": Signal(bool(0)),
            "waddr": uint_signal(depth),
            "wdata": uint_signal(1 << width),
            "raddr": uint_signal(depth),
            "rdata": uint_signal(1 << width),
        }
        block = sdp_ram(**sig, depth=depth)
        sim.in_thread(sim.convert, block, tmp_path, f"ram{depth}x{width}", testbench=False)
    script = "".join(
        f"design -reset; read_verilog ram{d}x{w}.v; synth_xilinx -family xc7 -noiopad "
        f"-noclkbuf -top ram{d}x{w}; tee -q -o ram{d}x{w}.txt stat; "
        for d, w in LIVE
    )
    run_tool("yosys", ["-q", "-p", script], cwd=tmp_path, timeout=300)
    measured = {(d, w): tuple(cells) for d, w, *cells in MEASURED}
    for depth, width in LIVE:
        stat = (tmp_path / f"ram{depth}x{width}.txt").read_text()
        cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stat, re.M)}
        lutram = sum(n for c, n in cells.items() if re.match(r"RAM\d+(X|M)", c))
        got = (cells.get("RAMB18E1", 0), cells.get("RAMB36E1", 0), lutram)
        assert got == measured[depth, width], (depth, width, cells)
        assert ram_bram18(depth, width) == got[0] + 2 * got[1]
        assert ram_style(depth, width) == _style(*got)
