"""The block-simulation harness (codesign.hdl.sim) on a tiny block: a 2-stage delay line gives the
same trace in MyHDL and, converted, in Icarus; a conversion warning and a lint warning are
reported, the waived width warning is not."""

import myhdl._simulator
import numpy as np
import pytest
from myhdl import Signal, StopSimulation, always, block, instance, intbv

from codesign.eda.tools import ToolError, run_tool
from codesign.hdl import sim
from codesign.hdl.signals import delay_line, signed_signal


def _signals():
    return dict(clk=Signal(bool(0)), x=signed_signal(-128, 127), y=signed_signal(-128, 127))


def _trace(engine, path, values):
    """Drive ``values`` on x, one per clock (on the falling edge); y on every falling edge."""
    sig = _signals()
    dut = sim.device(engine, lambda **s: delay_line(**s, depth=2), sig, path, "delay2")
    got = []

    @instance
    def drive():
        for v in values:
            yield sig["clk"].negedge
            got.append(int(sig["y"]))
            sig["x"].next = v
        raise StopSimulation

    sim.run(dut, sim.clock(sig["clk"]), drive)
    return got


def test_both_engines_give_the_delayed_trace(tmp_path):
    values = [int(v) for v in np.random.default_rng(0).integers(-128, 128, 40)]
    signals = len(myhdl._simulator._signals)
    traces = {e: sim.in_thread(_trace, e, tmp_path / e, values) for e in sim.ENGINES}
    assert traces["myhdl"] == traces["icarus"]
    assert len(myhdl._simulator._signals) == signals  # MyHDL forgets those made in in_thread
    assert traces["myhdl"][3:] == values[1:-2]  # x set at edge k is y at edge k + 2
    assert (tmp_path / "icarus" / "delay2.v").is_file()
    assert not (tmp_path / "myhdl").exists()  # the MyHDL engine writes nothing
    with pytest.raises(ValueError, match="engine"):
        sim.device("verilator", delay_line, _signals(), tmp_path, "delay2")


@block
def _driven_not_read(clk, x, y):
    spare = Signal(intbv(0)[8:])

    @always(clk.posedge)
    def step():
        y.next = x
        spare.next = 1

    return step


def test_a_conversion_warning_fails(tmp_path):
    sig = dict(clk=Signal(bool(0)), x=Signal(intbv(0)[8:]), y=Signal(intbv(0)[8:]))
    with pytest.raises(sim.ConversionWarnings, match="not read") as err:
        sim.in_thread(lambda: sim.convert(_driven_not_read(**sig), tmp_path, "spare"))
    assert len(err.value.warnings) == 1
    ok = sim.in_thread(lambda: sim.convert(delay_line(**_signals(), depth=2), tmp_path, "ok"))
    assert ok == tmp_path / "ok.v" and (tmp_path / "tb_ok.v").is_file()


@block
def _two_registers(clk, x, y):
    mid = Signal(intbv(0)[8:])

    @always(clk.posedge)
    def step():
        mid.next = x
        y.next = mid

    return step


def test_a_conversion_takes_no_options_from_an_earlier_one(tmp_path):
    """MyHDL's converter keeps ``initial_values`` between conversions; :func:`sim.convert` not."""

    def thrice():
        out = {}
        for d, init in (("before", False), ("initial", True), ("after", False)):
            sig = dict(clk=Signal(bool(0)), x=Signal(intbv(0)[8:]), y=Signal(intbv(0)[8:]))
            inst = _two_registers(**sig)
            out[d] = sim.convert(inst, tmp_path / d, "regs", initial_values=init).read_text()
        return out

    v = sim.in_thread(thrice)
    assert "reg [7:0] mid;" in v["before"] and v["initial"] != v["before"]
    assert v["after"] == v["before"]


UNUSED = """module unused(input wire [7:0] a, output wire [7:0] y);
  wire [7:0] spare;
  assign spare = a;
  assign y = a;
endmodule
"""
WIDE_SUM = """module wide_sum(input wire [4:0] a, input wire [4:0] b, output wire [3:0] y);
  assign y = a + b;
endmodule
"""


def test_lint_reports_warnings_but_not_the_waived_width(tmp_path):
    (tmp_path / "unused.v").write_text(UNUSED)
    with pytest.raises(sim.LintWarnings, match="UNUSEDSIGNAL") as err:
        sim.lint(["unused.v"], "unused", tmp_path)
    assert [w.split(":")[0] for w in err.value.warnings] == ["%Warning-UNUSEDSIGNAL"]
    assert sim.lint(["unused.v"], "unused", tmp_path, check=False) == err.value.warnings
    assert sim.lint(["unused.v"], "unused", tmp_path, also_waive=["UNUSEDSIGNAL"]) == []
    # a 5-bit sum into 4 bits: a width warning without the waiver, none with it
    (tmp_path / "wide_sum.v").write_text(WIDE_SUM)
    plain = run_tool(
        "verilator", ["--lint-only", "-Wall", "-Wno-fatal", "wide_sum.v"], cwd=tmp_path
    )
    assert "%Warning-WIDTH" in plain.stderr + plain.stdout
    assert sim.lint(["wide_sum.v"], "wide_sum", tmp_path) == []
    (tmp_path / "broken.v").write_text("module broken(;\nendmodule\n")
    with pytest.raises(ToolError, match="broken.v"):
        sim.lint(["broken.v"], "broken", tmp_path)


def test_a_tool_in_the_background(tmp_path):
    with sim.tool_in_background("verilator", ["--version"], cwd=tmp_path, timeout=60) as job:
        _trace("icarus", tmp_path, [1, 2, 3])  # a co-simulation meanwhile (it sets the environment)
    assert job.done() and job.result().stdout.startswith("Verilator")
    with sim.tool_in_background("verilator", ["--no-such-option"], cwd=tmp_path, timeout=60) as job:
        pass
    with pytest.raises(ToolError, match="no-such-option"):
        job.result()
