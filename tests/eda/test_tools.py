"""Tests for codesign.tools: tool discovery, error reporting and MyHDL co-simulation.

The external tools are run for real; the only stand-ins are tiny shell scripts used
to check that an environment override wins over PATH and how failures are reported.
"""

from __future__ import annotations

import random
import stat
import textwrap

import pytest
from myhdl import Cosimulation, Signal, StopSimulation, delay, intbv, negedge, posedge

from codesign.eda.tools import (
    ToolError,
    ToolNotFound,
    find_myhdl_vpi,
    find_tool,
    has_tool,
    run_tool,
    tool_env_var,
)
from codesign.hdl import sim


def _script(path, body):
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def empty_path(tmp_path, monkeypatch):
    """PATH containing only an empty directory, and no CODESIGN_* tool overrides."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for name in ("iverilog", "iverilog-vpi", "vvp", "yosys", "verilator", "vivado", "fusesoc"):
        monkeypatch.delenv(tool_env_var(name), raising=False)
    return empty


# --- discovery -------------------------------------------------------------------


def test_env_var_names():
    assert tool_env_var("iverilog") == "CODESIGN_IVERILOG"
    assert tool_env_var("iverilog-vpi") == "CODESIGN_IVERILOG_VPI"


def test_env_override_wins_over_path(tmp_path, monkeypatch):
    fake = _script(tmp_path / "my-yosys", 'echo "fake yosys $*"\n')
    monkeypatch.setenv("CODESIGN_YOSYS", str(fake))
    assert find_tool("yosys") == str(fake)
    proc = run_tool("yosys", ["-V"])
    assert proc.stdout == "fake yosys -V\n"


def test_env_override_may_be_a_command_name(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = _script(bindir / "yosys-custom", "exit 0\n")
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("CODESIGN_YOSYS", "yosys-custom")
    assert find_tool("yosys") == str(fake)


@pytest.mark.parametrize(
    ("name", "var", "package"),
    [
        ("iverilog", "CODESIGN_IVERILOG", "iverilog"),
        ("iverilog-vpi", "CODESIGN_IVERILOG_VPI", "iverilog"),
        ("vvp", "CODESIGN_VVP", "iverilog"),
        ("yosys", "CODESIGN_YOSYS", "yosys"),
        ("verilator", "CODESIGN_VERILATOR", "verilator"),
        ("vivado", "CODESIGN_VIVADO", "Xilinx Vivado (not a Debian package)"),
        ("fusesoc", "CODESIGN_FUSESOC", "pip install fusesoc"),
    ],
)
def test_missing_tool_message(empty_path, name, var, package):
    with pytest.raises(ToolNotFound) as excinfo:
        find_tool(name)
    message = str(excinfo.value)
    assert repr(name) in message
    assert var in message
    assert package in message
    assert "bash scripts/setup.sh" in message
    assert not has_tool(name)


def test_missing_tool_from_run_tool(empty_path):
    with pytest.raises(ToolNotFound, match="CODESIGN_YOSYS"):
        run_tool("yosys", ["-V"])


def test_env_override_to_missing_file(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-verilator"
    monkeypatch.setenv("CODESIGN_VERILATOR", str(missing))
    with pytest.raises(ToolNotFound) as excinfo:
        find_tool("verilator")
    assert "CODESIGN_VERILATOR" in str(excinfo.value)
    assert str(missing) in str(excinfo.value)


def test_env_override_to_non_executable_file(tmp_path, monkeypatch):
    plain = tmp_path / "iverilog.txt"
    plain.write_text("not a program\n")
    monkeypatch.setenv("CODESIGN_IVERILOG", str(plain))
    with pytest.raises(ToolNotFound, match="CODESIGN_IVERILOG"):
        find_tool("iverilog")


# --- running ---------------------------------------------------------------------


def test_run_tool_rejects_string_args():
    with pytest.raises(TypeError):
        run_tool("yosys", "-V")


def test_iverilog_syntax_error_is_reported(tmp_path):
    bad = tmp_path / "broken_adder.v"
    bad.write_text("module broken_adder(input a, output y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(ToolError) as excinfo:
        run_tool("iverilog", ["-o", tmp_path / "broken.vvp", bad], cwd=tmp_path)
    err = excinfo.value
    assert not isinstance(err, ToolNotFound)
    assert err.returncode not in (None, 0)
    message = str(err)
    assert "syntax error" in message
    assert "broken_adder.v" in message
    assert "iverilog" in message
    assert f"exited with code {err.returncode}" in message


def test_failure_message_keeps_tail_of_output(tmp_path, monkeypatch):
    noisy = _script(
        tmp_path / "noisy",
        """\
        i=1
        while [ $i -le 200 ]; do echo "diagnostic line $i" >&2; i=$((i + 1)); done
        echo "final stdout line"
        exit 3
        """,
    )
    monkeypatch.setenv("CODESIGN_YOSYS", str(noisy))
    with pytest.raises(ToolError) as excinfo:
        run_tool("yosys", ["-q"])
    err = excinfo.value
    message = str(err)
    assert err.returncode == 3
    assert "exited with code 3" in message
    assert "diagnostic line 200" in message
    assert "diagnostic line 141\n" in message
    assert "diagnostic line 140\n" not in message
    assert "final stdout line" in message
    assert err.stderr.count("\n") == 200


def test_timeout_is_reported(tmp_path, monkeypatch):
    slow = _script(tmp_path / "slow", "echo started\nexec sleep 30\n")
    monkeypatch.setenv("CODESIGN_VERILATOR", str(slow))
    with pytest.raises(ToolError, match=r"timed out after 0\.5 s"):
        run_tool("verilator", ["--version"], timeout=0.5)


def test_yosys_synthesis_succeeds(tmp_path):
    (tmp_path / "adder4.v").write_text(
        "module adder4(input [3:0] a, input [3:0] b, output [4:0] s);\n"
        "  assign s = a + b;\n"
        "endmodule\n"
    )
    proc = run_tool(
        "yosys",
        ["-q", "-p", "read_verilog adder4.v; synth -top adder4; tee -o stat.txt stat"],
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0
    report = (tmp_path / "stat.txt").read_text()
    assert "Number of cells" in report


# --- MyHDL co-simulation -----------------------------------------------------------

INC8_V = """\
module inc8(input wire clk, input wire rst, input wire en, output reg [7:0] q);
  always @(posedge clk) begin
    if (rst)
      q <= 8'd0;
    else if (en)
      q <= q + 8'd1;
  end
endmodule
"""

TB_INC8_V = """\
module tb_inc8;
  reg clk;
  reg rst;
  reg en;
  wire [7:0] q;
  initial begin
    $from_myhdl(clk, rst, en);
    $to_myhdl(q);
  end
  inc8 dut(.clk(clk), .rst(rst), .en(en), .q(q));
endmodule
"""


def test_myhdl_vpi_env_override(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "myhdl.vpi"
    monkeypatch.setenv("CODESIGN_MYHDL_VPI", str(missing))
    with pytest.raises(ToolNotFound) as excinfo:
        find_myhdl_vpi()
    assert "CODESIGN_MYHDL_VPI" in str(excinfo.value)
    assert str(missing) in str(excinfo.value)
    present = tmp_path / "myhdl.vpi"
    present.write_bytes(b"")
    monkeypatch.setenv("CODESIGN_MYHDL_VPI", str(present))
    assert find_myhdl_vpi() == str(present)


def test_cosimulation_registered_incrementer(tmp_path):
    (tmp_path / "inc8.v").write_text(INC8_V)
    (tmp_path / "tb_inc8.v").write_text(TB_INC8_V)
    compiled = tmp_path / "tb_inc8.vvp"
    run_tool(
        "iverilog",
        ["-g2005", "-s", "tb_inc8", "-o", compiled, "inc8.v", "tb_inc8.v"],
        cwd=tmp_path,
        timeout=60,
    )

    clk = Signal(bool(0))
    rst = Signal(bool(1))
    en = Signal(bool(0))
    q = Signal(intbv(0)[8:])
    dut = Cosimulation(
        [find_tool("vvp"), "-n", "-m", find_myhdl_vpi(), str(compiled)],
        clk=clk,
        rst=rst,
        en=en,
        q=q,
    )

    rng = random.Random(1234)
    cycles = 600  # enough enabled cycles to wrap past 255 before the mid-run reset
    enables = [rng.random() < 0.9 for _ in range(cycles)]
    resets = [i < 2 or i == 450 for i in range(cycles)]
    observed = []
    sampled = []

    def stimulus():
        for i in range(cycles):
            rst.next = resets[i]
            en.next = enables[i]
            yield negedge(clk)
        raise StopSimulation

    def monitor():
        while True:
            yield posedge(clk)
            sampled.append((bool(rst), bool(en)))
            yield delay(1)
            observed.append(int(q))

    sim.run(dut, sim.clock(clk), stimulus(), monitor())

    expected = []
    count = 0
    for reset, enable in sampled:
        count = 0 if reset else (count + 1) % 256 if enable else count
        expected.append(count)
    assert sampled == list(zip(resets, enables))[: len(sampled)]
    assert len(observed) >= cycles - 1
    assert observed == expected[: len(observed)]
    assert 255 in observed and 0 in observed[observed.index(255) :]
