"""The ROM's style rule (codesign.hdl.rom) against yosys: what it is built from and what it costs,
and the same words out of both styles in simulation."""

import numpy as np
import pytest
from myhdl import Signal, StopSimulation, instance, intbv

from codesign.eda.synth import parse_stat
from codesign.eda.tools import has_tool, run_tool
from codesign.hdl import sim
from codesign.hdl.rom import LUT_ROM_DEPTH, rom, rom_bram18, rom_luts, rom_style
from codesign.hdl.signals import uint_signal


def _words(depth: int, width: int) -> tuple:
    return tuple(int(w) for w in np.random.default_rng(depth).integers(0, 1 << width, depth))


def _signals(depth: int, width: int) -> dict:
    return {
        "clk": Signal(bool(0)),
        "slot": uint_signal(depth + 2),
        "word": Signal(intbv(0)[width:]),
    }


def test_the_rule():
    assert rom_style(LUT_ROM_DEPTH, 45) == "logic" and rom_luts(16, 45) == 45
    assert rom_bram18(16, 45) == 0
    assert rom_style(LUT_ROM_DEPTH + 1, 45) == "block" and rom_luts(144, 50) == 0
    assert rom_bram18(144, 50) == 2  # 512 × 36 twice
    with pytest.raises(ValueError, match="rom style"):
        rom(**_signals(4, 4), words=(1, 2, 3, 4), style="distributed")


def _read_all(engine: str, path, words: tuple, width: int, style: str) -> list[int]:
    """The ROM's output, sampled each clock, while the slot steps 0, 1, … past the end."""
    depth = len(words)
    sig = _signals(depth, width)
    got = []
    dut = sim.device(
        engine, lambda **s: rom(**s, words=words, style=style), sig, path, f"rom_{style}"
    )

    @instance
    def drive():
        for cycle in range(depth + 3):
            yield sig["clk"].negedge
            got.append(int(sig["word"]))
            sig["slot"].next = cycle % (depth + 2)
        raise StopSimulation

    sim.in_thread(sim.run, dut, sim.clock(sig["clk"]), drive)
    return got


@pytest.mark.parametrize("style", ["block", "logic"])
def test_both_styles_read_the_words_registered(tmp_path, style):
    depth, width = 24, 45
    words = _words(depth, width)
    for engine in sim.ENGINES:
        got = _read_all(engine, tmp_path / engine, words, width, style)
        # the slot set at sample k is read at the next edge: seen at sample k + 1
        assert got[1 : depth + 1] == list(words), engine
        assert got[depth + 1] == got[depth + 2] == 0, engine  # past the end


@pytest.mark.skipif(not has_tool("yosys"), reason="yosys not installed")
def test_yosys_builds_each_style_as_the_rule_costs_it(tmp_path):
    shapes = [(16, 45), (LUT_ROM_DEPTH, 45), (144, 50)]
    for depth, width in shapes:
        sig = _signals(depth, width)
        block = rom(**sig, words=_words(depth, width), style=rom_style(depth, width))
        sim.in_thread(sim.convert, block, tmp_path, f"rom{depth}x{width}", testbench=False)
    script = "".join(
        f"design -reset; read_verilog rom{d}x{w}.v; synth_xilinx -family xc7 -noiopad "
        f"-noclkbuf -top rom{d}x{w}; tee -q -o rom{d}x{w}.json stat -json; "
        for d, w in shapes
    )
    run_tool("yosys", ["-q", "-p", script], cwd=tmp_path, timeout=300)
    for depth, width in shapes:
        used = parse_stat((tmp_path / f"rom{depth}x{width}.json").read_text())["resources"]
        assert used["ramb18"] + 2 * used["ramb36"] == rom_bram18(depth, width), (depth, used)
        if rom_style(depth, width) == "logic":
            assert used["lut"] <= rom_luts(depth, width) + 2, (depth, width, used)  # + decode
