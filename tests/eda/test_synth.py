"""The synthesis stage (codesign.synth): parsers on stored real Yosys 0.23 outputs
(tests/fixtures/yosys/), one real ``synth_xilinx`` run of a tiny accelerator (one dense layer over
16 pixels, 2 MACs), a two-multiplier design on a board with one DSP, and the failure modes."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from codesign.eda.boards import BoardError
from codesign.eda.synth import (
    SynthError,
    _estimate,
    parse_ltp,
    parse_stat,
    report_table,
    resources,
    synthesise,
    yosys_script,
)
from codesign.eda.tools import ToolError, ToolNotFound, has_tool
from codesign.hdl.convert import convert
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.network import accelerator, accelerator_signals

FIX = Path(__file__).parents[1] / "fixtures" / "yosys"
needs_yosys = pytest.mark.skipif(not has_tool("yosys"), reason="yosys not installed")
MACS = 2

TWO_MULT = """module two_mult(input clk, input signed [15:0] a, b, c, d,
                output reg signed [31:0] p, q);
  always @(posedge clk) begin
    p <= a * b;
    q <= c * d;
  end
endmodule
"""


def _manifest(d: Path, top: str, files: list, **extra) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(
        json.dumps(
            {
                "format": "codesign-rtl",
                "format_version": 2,
                "kind": "accelerator",
                "top": top,
                "files": files,
                **extra,
            }
        )
    )
    return d


def _tiny_rtl(d: Path) -> Path:
    """The accelerator top level around one dense layer (16 pixels → 5 classes, 2 MACs)."""
    cfg = FixedPointConfig()
    rng = np.random.default_rng(0)
    st = {
        "kind": "dense",
        "weight": rng.integers(-3000, 3000, (16, 5)),
        "mask": None,
        "bias": tuple(int(b) for b in rng.integers(-500, 500, 5)),
        "macs": MACS,
        "relu": False,
    }
    sig = accelerator_signals(5, cfg, 1)
    inst = accelerator(**sig, stages=[st], pixels=16, classes=5, cfg=cfg, per_beat=1)
    d.mkdir(parents=True)
    mems = convert(inst, d, "tiny_accel", testbench=False)  # weight ROMs: mem/rom_<hash>.hex
    return _manifest(d, "tiny_accel", ["tiny_accel.v"], memory_images=mems)


def _board(tmp: Path, dsp: int) -> Path:
    f = tmp / "onedsp.toml"
    f.write_text(f"""name = "onedsp"
description = "test board with {dsp} DSP"
part = "xc7a35tcpg236-1"
family = "artix7"
lut = 20800
ff = 41600
dsp = {dsp}
bram36 = 50
dram_gbytes_per_s = 1.0
target_clock_mhz = 100.0
[clock]
port = "clk"
pins = ["W5"]
iostandard = "LVCMOS33"
frequency_mhz = 100.0
""")
    return f


# ---- parsers on stored Yosys 0.23 output ---------------------------------------------------


def test_parse_stat_tiny_accelerator():
    """Read off tiny_accel_stat.json: LUT2 54, LUT3 20, LUT4 18, LUT5 49, LUT6 116 (257 logic
    LUTs); RAM32M 15 (60 LUTs as memory); SRL16E 4; FDRE 262 + FDSE 19 = 281; DSP48E1 2;
    RAMB18E1 2; CARRY4 75; MUXF7 23; MUXF8 4; INV 67."""
    s = parse_stat((FIX / "tiny_accel_stat.json").read_text())
    assert s["yosys"].startswith("Yosys 0.23")
    assert s["cells"]["LUT6"] == 116 and s["cells"]["FDRE"] == 262
    r = s["resources"]
    assert (r["lut"], r["lutram"], r["srl"], r["lut_total"]) == (257, 60, 4, 321)
    assert (r["ff"], r["dsp"], r["ramb18"], r["ramb36"], r["bram36"]) == (281, 2, 2, 0, 1)
    assert (r["carry4"], r["muxf7"], r["muxf8"], r["inv"], r["other"]) == (75, 23, 4, 67, {})


def test_parse_stat_lenet_accelerator():
    """The LeNet accelerator (codesign_accel, 2 conv engines + 3 dense units, this file's Yosys
    0.23 run with -noiopad -noclkbuf), read off lenet_accel_stat.json by hand: LUT1 4, LUT2 2979,
    LUT3 2109, LUT4 169, LUT5 1958, LUT6 2084 (9303); RAM32M 5 + RAM64M 96 (404 LUTs as memory);
    SRL16E 778 + SRLC32E 34 (812); FDRE 6626 + FDSE 167 (6793); DSP48E1 36; RAMB18E1 43;
    RAMB36E1 28 (49.5 BRAM36); CARRY4 1568; MUXF7 106; MUXF8 12; INV 2644."""
    r = parse_stat((FIX / "lenet_accel_stat.json").read_text())["resources"]
    assert r == {
        "lut": 9303,
        "lutram": 404,
        "srl": 812,
        "lut_total": 10519,
        "ff": 6793,
        "dsp": 36,
        "ramb18": 43,
        "ramb36": 28,
        "bram36": 49.5,
        "carry4": 1568,
        "muxf7": 106,
        "muxf8": 12,
        "inv": 2644,
        "other": {},
    }


def test_parse_stat_with_io_buffers():
    """The tiny accelerator synthesised with IO pads and a clock buffer (tiny_accel_iopad_stat
    .json): IBUF 13 (aclk, aresetn, 8 tdata, tvalid, tlast, tready), OBUF 23 (tready, 16 tdata,
    tvalid, tlast, 3 tuser, frame_error), BUFG 1 cost no slice resource and are not listed as
    unknown; everything else is as out of context."""
    s = parse_stat((FIX / "tiny_accel_iopad_stat.json").read_text())
    assert (s["cells"]["IBUF"], s["cells"]["OBUF"], s["cells"]["BUFG"]) == (13, 23, 1)
    ooc = parse_stat((FIX / "tiny_accel_stat.json").read_text())
    assert s["resources"] == ooc["resources"]


def test_parse_ltp():
    assert parse_ltp((FIX / "tiny_accel_ltp.txt").read_text()) == 16  # "(length=16)"
    assert parse_ltp((FIX / "lenet_accel_ltp.txt").read_text()) == 16  # "(length=16)"
    two = "Longest topological path in a (length=3):\nLongest topological path in b (length=7):"
    assert parse_ltp(two) == 7
    with pytest.raises(SynthError, match="Longest topological path"):
        parse_ltp("ERROR: nothing here")


def test_parse_stat_rejects_what_is_not_stat_json():
    with pytest.raises(SynthError, match="not JSON"):
        parse_stat("Printing statistics.")
    with pytest.raises(SynthError, match="num_cells_by_type"):
        parse_stat('{"creator": "Yosys", "modules": {}}')


def test_resources_counts_lut_memory_as_vivado_does():
    r = resources(
        {
            "RAM64M": 2,
            "RAM128X1D": 1,
            "RAM32X1D": 3,
            "RAM64X1S": 1,
            "SRLC32E": 2,
            "LUT1": 1,
            "FDCE": 4,
            "LDCE": 1,
            "RAMB36E1": 3,
            "RAMB18E1": 3,
            "MYSTERY": 5,
            "VCC": 1,
        }
    )
    assert r["lutram"] == 2 * 4 + 4 + 3 * 2 + 1
    assert (r["srl"], r["lut"], r["lut_total"]) == (2, 1, 1 + 19 + 2)
    assert (r["ff"], r["bram36"], r["other"]) == (5, 4.5, {"MYSTERY": 5})


def test_yosys_script():
    s = yosys_script(["/a/b.v", "/with space/c.v"], "top_1")
    lines = s.splitlines()
    assert "read_verilog /a/b.v" in lines and 'read_verilog "/with space/c.v"' in lines
    assert "synth_xilinx -family xc7 -top top_1 -noiopad -noclkbuf" in lines
    assert "tee -q -o stat.json stat -json" in lines
    assert lines[-1] == "tee -q -o ltp.txt ltp -noff @comb"
    assert any(x.startswith("select -set comb * t:FD* %d") for x in lines)
    with pytest.raises(SynthError, match="identifier"):
        yosys_script(["a.v"], "top; shell")


def test_estimate_is_the_schedule_when_unchanged(tmp_path):
    sched = tmp_path / "schedule"
    sched.mkdir()
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    res = {"dsp": 2, "bram18": 2, "bram36": 1, "lut": 300, "ff": 250}
    (sched / "schedule.json").write_text(json.dumps({"network": {"resources": res}}))
    sha = hashlib.sha256((sched / "schedule.json").read_bytes()).hexdigest()
    v3 = {"format_version": 3}  # paths relative to the RTL directory
    e = _estimate({**v3, "schedule": {"path": "../schedule", "sha256": sha}}, rtl)
    assert e["status"] == "used" and e["resources"] == res
    e = _estimate({**v3, "schedule": {"path": "../schedule", "sha256": "0" * 64}}, rtl)
    assert e["resources"] is None and "sha256 differs" in e["status"]
    assert _estimate({**v3, "schedule": {"path": "../gone"}}, rtl)["status"] == "not found"
    assert _estimate({"schedule": {"path": str(sched), "sha256": sha}}, rtl)["status"] == "used"
    assert _estimate({"schedule": {"cycles_per_tile": 4}}, rtl)["resources"] is None


# ---- real Yosys runs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    rtl = _tiny_rtl(tmp_path_factory.mktemp("tiny") / "rtl")
    return rtl, synthesise(rtl, "nexys4ddr")


@needs_yosys
def test_synthesise_tiny_accelerator(tiny_run):
    rtl, r = tiny_run
    out = rtl.parent / "synth"
    assert sorted(p.name for p in out.iterdir()) == [
        "ltp.txt",
        "report.json",
        "stat.json",
        "synth.ys",
        "yosys.log",
    ]
    assert json.loads((out / "report.json").read_text()) == r
    assert r["format"] == "codesign-synth" and r["fits"] and r["over_capacity"] == []
    assert r["board"] == {
        "name": "nexys4ddr",
        "part": "xc7a100tcsg324-1",
        "family": "artix7",
        "capacity": {"lut": 63400, "ff": 126800, "dsp": 240, "bram36": 135},
    }
    assert r["rtl"]["top"] == "tiny_accel" and r["rtl"]["kind"] == "accelerator"
    sha = hashlib.sha256((rtl / "tiny_accel.v").read_bytes()).hexdigest()
    assert r["rtl"]["files"] == [{"file": "tiny_accel.v", "sha256": sha}]
    mems = json.loads((rtl / "manifest.json").read_text())["memory_images"]
    assert [m["file"] for m in r["rtl"]["memory_images"]] == mems
    assert r["tool"]["version"].startswith("Yosys ")
    res = r["resources"]
    assert set(res) == {"lut", "ff", "dsp", "ramb18", "ramb36", "bram36"}
    assert res["dsp"]["yosys"] == MACS  # one DSP48E1 per dense MAC unit
    assert res["lut"]["yosys"] == r["primitives"]["lut_total"] > 0
    assert res["ff"]["yosys"] > 0 and res["ff"]["capacity"] == 126800
    assert res["lut"]["utilisation"] == round(res["lut"]["yosys"] / 63400, 4)
    assert all(v["estimate"] is None and v["error_pct"] is None for v in res.values())
    assert r["estimate"]["resources"] is None
    assert 0 < r["logic_depth"] < 100 and r["logic_depth_loops"] == 0
    assert r["yosys_seconds"] > 0
    assert (
        "synth_xilinx -family xc7 -top tiny_accel -noiopad -noclkbuf"
        in (out / "synth.ys").read_text()
    )
    assert "Executing SYNTH_XILINX pass" in (out / "yosys.log").read_text()
    assert parse_stat((out / "stat.json").read_text())["resources"] == r["primitives"]
    text = _render(report_table(r))
    assert "DSP48E1" in text and "fits" in text


def _render(table) -> str:
    c = Console(width=200, record=True)
    c.print(table)
    return c.export_text()


@needs_yosys
def test_design_that_does_not_fit_still_writes_the_report(tmp_path):
    rtl = _manifest(tmp_path / "rtl", "two_mult", ["two_mult.v"])
    (rtl / "two_mult.v").write_text(TWO_MULT)
    out = tmp_path / "out"
    with pytest.raises(SynthError, match=r"two_mult does not fit onedsp .*DSP48E1 2/1") as e:
        synthesise(rtl, str(_board(tmp_path, dsp=1)), out)
    assert "LUT" not in str(e.value).split(":", 1)[1].split(";")[0]  # only DSP is over
    r = json.loads((out / "report.json").read_text())
    assert not r["fits"]
    assert r["over_capacity"] == [{"resource": "dsp", "label": "DSP48E1", "used": 2, "capacity": 1}]
    assert "DOES NOT FIT" in _render(report_table(r))


@needs_yosys
def test_failing_yosys_run_leaves_no_artifact(tmp_path):
    rtl = _manifest(tmp_path / "rtl", "bad", ["bad.v"])
    (rtl / "bad.v").write_text("module bad(input a, output b);\nassign b = a &;\nendmodule\n")
    with pytest.raises(ToolError, match="syntax error"):
        synthesise(rtl, "nexys4ddr", tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "marker").write_text("previous run")
    with pytest.raises(ToolError, match="bad.v:2: ERROR"):
        synthesise(rtl, "nexys4ddr", old)
    assert [p.name for p in old.iterdir()] == ["marker"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old", "rtl"]  # no temporary left


def test_unknown_board(tmp_path):
    rtl = _manifest(tmp_path / "rtl", "m", ["m.v"])
    (rtl / "m.v").write_text("module m; endmodule\n")
    with pytest.raises(BoardError, match="unknown board 'no_such_board'"):
        synthesise(rtl, "no_such_board")


def test_yosys_override_pointing_nowhere(tmp_path, monkeypatch):
    rtl = _manifest(tmp_path / "rtl", "m", ["m.v"])
    (rtl / "m.v").write_text("module m; endmodule\n")
    monkeypatch.setenv("CODESIGN_YOSYS", str(tmp_path / "no-yosys"))
    with pytest.raises(ToolNotFound, match="CODESIGN_YOSYS"):
        synthesise(rtl, "nexys4ddr", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_rtl_directories(tmp_path):
    with pytest.raises(SynthError, match=r"manifest\.json: missing \(file not found\)"):
        synthesise(tmp_path, "nexys4ddr")
    _manifest(tmp_path / "a", "m", ["missing.v"])
    with pytest.raises(SynthError, match="'missing.v'"):
        synthesise(tmp_path / "a", "nexys4ddr")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text('{"kind": "schedule", "top": "m"}')
    with pytest.raises(SynthError, match="field 'kind'"):
        synthesise(tmp_path / "b", "nexys4ddr")
    rtl = _manifest(tmp_path / "e", "m", ["m.v"], memory_images=["mem/gone.hex"])
    (rtl / "m.v").write_text("module m; endmodule\n")
    with pytest.raises(SynthError, match="'memory_images' names 'mem/gone.hex'"):
        synthesise(rtl, "nexys4ddr")
    _manifest(tmp_path / "c", "m", [])
    with pytest.raises(SynthError, match="field 'files'"):
        synthesise(tmp_path / "c", "nexys4ddr")
    rtl = _manifest(tmp_path / "d", "m", ["m.v"])
    (rtl / "m.v").write_text("module m; endmodule\n")
    with pytest.raises(SynthError, match="would replace the RTL directory"):
        synthesise(rtl, "nexys4ddr", tmp_path)
