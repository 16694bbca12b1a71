"""codesign.export: the Vivado build and the FuseSoC core of a generated accelerator.

The RTL directory is a tiny accelerator built here (one dense stage over 16-pixel images, as in
tests/test_hdl_network.py) with a hand-written manifest.  The exported build.tcl, build.sh,
constraints.xdc and tiny.core are compared byte for byte with tests/golden/export/; after an
intended change, rewrite them with

    CODESIGN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_export.py

and review the diff.  build.sh runs against a stand-in `vivado` (a bash script recording its
arguments and working directory); the real `fusesoc` (pip install fusesoc) parses the core and
runs its Icarus target, whose scores are compared with the fixed-point model.
"""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from codesign.eda.boards import BoardError
from codesign.eda.export import ExportError, export, export_fusesoc, export_vivado
from codesign.eda.tools import ToolNotFound, find_tool
from codesign.hdl.convert import convert, fresh_names, normalise
from codesign.hdl.sim import in_thread
from codesign.spectral.bench import bench_source
from codesign.spectral.fixedpoint import FixedPointConfig, OverflowCounter
from codesign.spectral.fxpmodel import dense_layer_fixed, input_fixed

GOLDEN = Path(__file__).parents[1] / "golden" / "export"
CFG = FixedPointConfig()
PIXELS, CLASSES = 16, 5
VLNV = "codesign:accel:tiny:0.1.0"
NEXYS = {
    "name": "nexys4ddr",
    "part": "xc7a100tcsg324-1",
    "family": "artix7",
    "target_clock_mhz": 100.0,
}


def _stage():
    rng = np.random.default_rng(0)
    w = rng.integers(-3000, 3000, (PIXELS, CLASSES))
    bias = tuple(int(b) for b in rng.integers(-500, 500, CLASSES))
    return {"kind": "dense", "weight": w, "mask": None, "bias": bias, "macs": 2, "relu": False}


@pytest.fixture(scope="module")
def tiny_rtl(tmp_path_factory):
    """An accelerator RTL directory: tiny.v, codesign_bench.v, mem/*.hex (the weight ROMs the
    Verilog reads), manifest.json."""
    from codesign.spectral.hdl.network import accelerator, accelerator_signals

    d = tmp_path_factory.mktemp("rtl") / "tiny"
    d.mkdir(parents=True)
    st = _stage()

    def elaborate_and_convert():
        fresh_names()
        sig = accelerator_signals(CLASSES, CFG, 1)
        inst = accelerator(**sig, stages=[st], pixels=PIXELS, classes=CLASSES, cfg=CFG, per_beat=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert(inst, d, "tiny", testbench=False)

    mems = in_thread(elaborate_and_convert)
    (d / "tiny.v").write_text(normalise((d / "tiny.v").read_text()))
    (d / "codesign_bench.v").write_text(bench_source("tiny", PIXELS, CLASSES, CFG, 1))
    manifest = {
        "format": "codesign-rtl",
        "format_version": 2,
        "kind": "accelerator",
        "codesign_version": "0.1.0",
        "top": "tiny",
        "files": ["tiny.v"],
        "memory_images": mems,
        "testbench": {"file": "codesign_bench.v", "top": "codesign_bench"},
        "clock": {"port": "aclk", "edge": "rising"},
        "reset": {"port": "aresetn", "active": "low", "synchronous": True},
        "s_axis": {
            "image": [1, 4, 4],
            "pixel_bits": 8,
            "pixels_per_beat": 1,
            "beats_per_image": PIXELS,
        },
        "m_axis": {"beats_per_image": CLASSES, "format": {"bits": 16, "frac": 10}, "signed": True},
        "board": NEXYS,
        # network_timing of the dense stage (n_in 16, n_out 5, 2 MACs) for two images
        "cycle_model": {
            "images": 2,
            "in_first": 2,
            "latency_cycles": 81,
            "interval_cycles": 48,
            "out_last": [82, 130],
        },
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return d, st


def _copy_rtl(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    man = json.loads((dst / "manifest.json").read_text())
    for k, v in changes.items():
        if v is None:
            man.pop(k, None)
        else:
            man[k] = v
    (dst / "manifest.json").write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    return dst


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CODESIGN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"{path} missing: run with CODESIGN_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from {path} (CODESIGN_UPDATE_GOLDEN=1)"


@pytest.fixture(scope="module")
def exported(tiny_rtl, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "export"
    return export(tiny_rtl[0], "nexys4ddr", out), out


# ---------------------------------------------------------------------------------------------
# files


@pytest.mark.parametrize(
    "name", ["vivado/build.tcl", "vivado/constraints.xdc", "vivado/build.sh", "fusesoc/tiny.core"]
)
def test_exported_scripts_match_the_golden_files(exported, name):
    _, out = exported
    _golden(Path(name).name, (out / name).read_text())


def test_differential_board_clock_in_the_constraints(tiny_rtl, tmp_path):
    r = export_vivado(tiny_rtl[0], "vc707", tmp_path / "v")
    xdc = (tmp_path / "v" / "constraints.xdc").read_text()
    _golden("constraints_vc707.xdc", xdc)
    assert "create_clock -period 5.000 -name aclk [get_ports aclk]" in xdc
    assert r["part"] == "xc7vx485tffg1761-2" and r["clock_period_ns"] == 5.0


def test_layout_and_result(exported, tiny_rtl):
    r, out = exported
    rtl = tiny_rtl[0]
    assert r["dir"] == str(out)
    mems = json.loads((rtl / "manifest.json").read_text())["memory_images"]
    assert len(mems) == 2  # one weight ROM per MAC
    assert r["vivado"]["files"] == ["build.sh", "build.tcl", "constraints.xdc", *mems, "tiny.v"]
    assert r["fusesoc"]["files"] == [
        "codesign_bench.v",
        "constraints.xdc",
        *mems,
        "pixels.hex",
        "tiny.core",
        "tiny.v",
    ]
    assert r["fusesoc"]["vlnv"] == VLNV
    assert r["fusesoc"]["targets"] == ["default", "sim", "synth", "synth_vivado"]
    assert sorted(r["files"]) == sorted(
        ["export.json"]
        + [f"vivado/{f}" for f in r["vivado"]["files"]]
        + [f"fusesoc/{f}" for f in r["fusesoc"]["files"]]
    )
    for sub in ("vivado", "fusesoc"):  # self-contained copies
        for f in ("tiny.v", *mems):
            assert (out / sub / f).read_bytes() == (rtl / f).read_bytes()
    assert os.access(out / "vivado" / "build.sh", os.X_OK)
    info = json.loads((out / "export.json").read_text())
    assert info["board"] == "nexys4ddr" and info["fusesoc"]["vlnv"] == VLNV
    tcl = (out / "vivado" / "build.tcl").read_text()
    for cmd in (
        "read_verilog tiny.v",
        *(f"read_mem {m}" for m in mems),
        "read_xdc constraints.xdc",
        "synth_design -top $top -part $part -mode out_of_context",
        "opt_design",
        "place_design",
        "route_design",
        "report_utilization -hierarchical -file",
        "report_timing_summary -file",
        "write_checkpoint",
        "write_bitstream",
    ):
        assert cmd in tcl
    px = np.array([int(v, 16) for v in (out / "fusesoc" / "pixels.hex").read_text().split()])
    assert len(px) == 4 * PIXELS and px.max() > 100  # real digits: dark background, bright ink
    assert (out / "fusesoc" / "tiny.core").read_text().startswith("CAPI=2:\n")


def test_export_is_deterministic_and_independent_of_location(tiny_rtl, tmp_path):
    rtl2 = _copy_rtl(tiny_rtl[0], tmp_path / "elsewhere" / "tiny")
    a = export(tiny_rtl[0], "nexys4ddr", tmp_path / "a")
    export(rtl2, "nexys4ddr", tmp_path / "b")
    export(rtl2, "nexys4ddr", tmp_path / "b")  # replaces its own earlier export
    for f in a["files"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_default_out_and_a_single_flow(tiny_rtl, tmp_path):
    rtl = _copy_rtl(tiny_rtl[0], tmp_path / "rtl_out" / "tiny")
    r = export(rtl, "arty-a7-35t", fusesoc=False)
    assert Path(r["dir"]) == tmp_path / "rtl_out" / "export"
    assert r["fusesoc"] is None and not (tmp_path / "rtl_out" / "export" / "fusesoc").exists()
    assert "set part xc7a35ticsg324-1L\n" in (Path(r["dir"]) / "vivado" / "build.tcl").read_text()
    with pytest.raises(ExportError, match="nothing to export"):
        export(rtl, "arty-a7-35t", vivado=False, fusesoc=False)


def test_fusesoc_without_a_board_has_no_synthesis_targets(tiny_rtl, tmp_path):
    rtl = _copy_rtl(tiny_rtl[0], tmp_path / "tiny", board=None)
    r = export_fusesoc(rtl, tmp_path / "core", version="1.2.3", library="nn")
    assert r["targets"] == ["default", "sim"] and r["vlnv"] == "codesign:nn:tiny:1.2.3"
    core = (tmp_path / "core" / "tiny.core").read_text()
    assert "synth" not in core and "constraints" not in core
    assert not (tmp_path / "core" / "constraints.xdc").exists()
    with pytest.raises(ExportError, match="version"):
        export_fusesoc(rtl, tmp_path / "core2", version="latest")


# ---------------------------------------------------------------------------------------------
# errors and atomicity


def test_unknown_board(tiny_rtl, tmp_path):
    with pytest.raises(BoardError, match="unknown board 'nope'"):
        export(tiny_rtl[0], "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_manifest_names_the_file(tmp_path):
    (tmp_path / "rtl").mkdir()
    with pytest.raises(ExportError, match=r"rtl/manifest\.json: missing"):
        export(tmp_path / "rtl", "nexys4ddr", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kind": None}, "field 'kind'"),
        ({"files": ["gone.v"]}, r"gone\.v: listed in manifest\.json"),
        ({"files": ["../tiny.v"]}, r"field 'files\[0\]'"),
        ({"top": "not a name"}, "field 'top'"),
        ({"s_axis": [1, 4, 4]}, "field 's_axis' must be an object"),
    ],
)
def test_bad_manifests_name_the_field(tiny_rtl, tmp_path, change, message):
    rtl = _copy_rtl(tiny_rtl[0], tmp_path / "tiny", **change)
    with pytest.raises(ExportError, match=message):
        export(rtl, "nexys4ddr", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failure_leaves_no_output_and_keeps_an_old_one(tiny_rtl, tmp_path, monkeypatch):
    import codesign.eda.export as ex

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ex, "_write_fusesoc", boom)
    with pytest.raises(RuntimeError):
        export(tiny_rtl[0], "nexys4ddr", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither out nor a temporary directory
    monkeypatch.undo()
    export(tiny_rtl[0], "nexys4ddr", tmp_path / "out")
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    monkeypatch.setattr(ex, "_write_fusesoc", boom)
    with pytest.raises(RuntimeError):
        export(tiny_rtl[0], "vc707", tmp_path / "out")
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_to_replace_a_directory_that_is_not_an_export(tiny_rtl, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="not an export directory"):
        export(tiny_rtl[0], "nexys4ddr", tmp_path / "mine")
    with pytest.raises(ExportError, match="not a Vivado export"):
        export_vivado(tiny_rtl[0], "nexys4ddr", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    for out in (tiny_rtl[0], tiny_rtl[0].parent):
        with pytest.raises(ExportError, match="holds the RTL directory"):
            export(tiny_rtl[0], "nexys4ddr", out)
    assert (tiny_rtl[0] / "manifest.json").is_file()


# ---------------------------------------------------------------------------------------------
# build.sh with a stand-in vivado

STUB = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$STUB_LOG.args"
pwd > "$STUB_LOG.cwd"
[[ -f build.tcl ]] || { echo "stand-in vivado: no build.tcl in $(pwd)" >&2; exit 3; }
exit "${STUB_EXIT:-0}"
"""


def _stub(d: Path, name: str = "vivado") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(STUB)
    p.chmod(0o755)
    return p


def _build_sh(vivado_dir: Path, args=(), cwd=None, **env):
    full = {k: v for k, v in os.environ.items() if k != "CODESIGN_VIVADO"}
    full.update(env)
    return subprocess.run(
        ["bash", str(vivado_dir / "build.sh"), *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_build_sh_runs_vivado_in_batch_from_its_own_directory(exported, tmp_path):
    _, out = exported
    stub = _stub(tmp_path / "bin")
    log = tmp_path / "log"
    r = _build_sh(
        out / "vivado",
        cwd=tmp_path,
        PATH=f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        STUB_LOG=str(log),
    )
    assert r.returncode == 0, r.stderr
    assert (log.with_suffix(".args")).read_text().splitlines() == [
        "-mode",
        "batch",
        "-nojournal",
        "-log",
        "vivado.log",
        "-source",
        "build.tcl",
    ]
    assert Path(log.with_suffix(".cwd").read_text().strip()) == (out / "vivado").resolve()
    assert f"reports in {(out / 'vivado').resolve()}/reports" in r.stdout


def test_build_sh_bitstream_arguments_and_codesign_vivado(exported, tmp_path):
    _, out = exported
    stub = _stub(tmp_path / "xilinx", "vivado-2023.2")
    (tmp_path / "top.v").write_text("module top; endmodule\n")
    (tmp_path / "pins.xdc").write_text("\n")
    log = tmp_path / "log"
    r = _build_sh(
        out / "vivado",
        ["bitstream", "top.v", "pins.xdc"],
        cwd=tmp_path,
        CODESIGN_VIVADO=str(stub.relative_to(tmp_path)),
        STUB_LOG=str(log),
    )
    assert r.returncode == 0, r.stderr
    assert log.with_suffix(".args").read_text().splitlines() == [
        "-mode",
        "batch",
        "-nojournal",
        "-log",
        "vivado.log",
        "-source",
        "build.tcl",
        "-tclargs",
        "bitstream",
        str((tmp_path / "top.v").resolve()),
        str((tmp_path / "pins.xdc").resolve()),
    ]


def test_build_sh_fails_when_vivado_fails_or_is_missing(exported, tmp_path):
    _, out = exported
    stub = _stub(tmp_path / "bin")
    r = _build_sh(
        out / "vivado", CODESIGN_VIVADO=str(stub), STUB_LOG=str(tmp_path / "log"), STUB_EXIT="1"
    )
    assert r.returncode == 1
    assert "vivado exited with status 1" in r.stderr and "vivado.log" in r.stderr
    bare = "/usr/bin:/bin"
    if shutil.which("vivado", path=bare):  # pragma: no cover
        pytest.skip("a real vivado is on /usr/bin:/bin")
    r = _build_sh(out / "vivado", PATH=bare)
    assert r.returncode == 127 and "Vivado not found" in r.stderr
    assert "CODESIGN_VIVADO" in r.stderr


# ---------------------------------------------------------------------------------------------
# build.tcl in tclsh, with stand-ins for the Vivado commands

VIVADO_TCL = """set log [open $env(TCL_LOG) w]
foreach cmd {read_verilog read_mem read_xdc synth_design opt_design place_design route_design
             report_utilization report_timing_summary write_checkpoint write_bitstream} {
    proc $cmd args [string map [list CMD $cmd] {
        puts $::log [concat CMD $args]
        flush $::log
        if {[info exists ::env(FAIL)] && $::env(FAIL) eq "CMD"} { error "stand-in CMD failed" }
    }]
}
proc get_timing_paths args { return {path0} }
proc get_property {name object} { return -0.250 }
set script [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $script
"""


def _tclsh(vivado_dir: Path, tmp_path: Path, args=(), **env):
    tclsh = shutil.which("tclsh")
    if tclsh is None:  # pragma: no cover
        pytest.skip("tclsh not installed")
    (tmp_path / "vivado.tcl").write_text(VIVADO_TCL)
    log = tmp_path / "calls.txt"
    r = subprocess.run(
        [tclsh, str(tmp_path / "vivado.tcl"), str(vivado_dir / "build.tcl"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=dict(os.environ, TCL_LOG=str(log), **env),
    )
    return r, log.read_text().splitlines() if log.is_file() else []


def test_build_tcl_runs_the_non_project_flow(tiny_rtl, tmp_path):
    export_vivado(tiny_rtl[0], "nexys4ddr", tmp_path / "v")
    r, calls = _tclsh(tmp_path / "v", tmp_path)
    assert r.returncode == 0, r.stderr
    mems = json.loads((tiny_rtl[0] / "manifest.json").read_text())["memory_images"]
    assert calls == [
        "read_verilog tiny.v",
        *(f"read_mem {m}" for m in mems),
        "read_xdc constraints.xdc",
        "synth_design -top tiny -part xc7a100tcsg324-1 -mode out_of_context",
        "opt_design",
        "place_design",
        "route_design",
        "report_utilization -hierarchical -file reports/utilization_hierarchical.rpt",
        "report_utilization -file reports/utilization.rpt",
        "report_timing_summary -file reports/timing_summary.rpt",
        "write_checkpoint -force checkpoints/tiny_routed.dcp",
    ]
    assert "timing not met at 100 MHz" in r.stdout
    assert (tmp_path / "v" / "reports").is_dir()


def test_build_tcl_stops_at_the_first_failing_step(tiny_rtl, tmp_path):
    export_vivado(tiny_rtl[0], "nexys4ddr", tmp_path / "v")
    r, calls = _tclsh(tmp_path / "v", tmp_path, FAIL="place_design")
    assert r.returncode == 1
    assert "place_design failed: stand-in place_design failed" in r.stderr
    assert calls[-1] == "place_design"


def test_build_tcl_bitstream_needs_a_wrapper(tiny_rtl, tmp_path):
    export_vivado(tiny_rtl[0], "nexys4ddr", tmp_path / "v")
    r, calls = _tclsh(tmp_path / "v", tmp_path, ["bitstream"])
    assert r.returncode == 2 and calls == []
    assert "out-of-context core" in r.stderr and "cannot be a bitstream alone" in r.stderr
    r, calls = _tclsh(
        tmp_path / "v",
        tmp_path,
        ["bitstream", str(tmp_path / "board_top.v"), str(tmp_path / "pins.xdc")],
    )
    assert r.returncode == 0, r.stderr
    mems = json.loads((tiny_rtl[0] / "manifest.json").read_text())["memory_images"]
    assert calls[:6] == [
        "read_verilog tiny.v",
        *(f"read_mem {m}" for m in mems),
        f"read_verilog {tmp_path / 'board_top.v'}",
        f"read_xdc {tmp_path / 'pins.xdc'}",
        "synth_design -top board_top -part xc7a100tcsg324-1",
    ]
    assert calls[-2:] == [
        "write_checkpoint -force checkpoints/board_top_routed.dcp",
        "write_bitstream -force board_top.bit",
    ]


# ---------------------------------------------------------------------------------------------
# the real FuseSoC


def _fusesoc() -> str:
    try:
        return find_tool("fusesoc")
    except ToolNotFound:
        beside = Path(sys.executable).with_name("fusesoc")
        if beside.is_file():
            return str(beside)
        raise


def _run_fusesoc(args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        XDG_CACHE_HOME=str(cwd / ".xdg" / "cache"),
        XDG_CONFIG_HOME=str(cwd / ".xdg" / "config"),
        XDG_DATA_HOME=str(cwd / ".xdg" / "data"),
    )
    r = subprocess.run(
        [_fusesoc(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_fusesoc_parses_the_core(exported, tmp_path):
    _, out = exported
    r = _run_fusesoc(["--cores-root", str(out / "fusesoc"), "core", "show", VLNV], tmp_path)
    assert f"Name:        {VLNV}" in r.stdout
    for t in ("default", "sim", "synth", "synth_vivado"):
        assert f"\n{t} " in r.stdout
    _run_fusesoc(
        [
            "--cores-root",
            str(out / "fusesoc"),
            "run",
            "--setup",
            "--target",
            "synth",
            "codesign:accel:tiny",
        ],
        tmp_path,
    )
    synth = tmp_path / "build" / "codesign_accel_tiny_0.1.0" / "synth"
    assert "yosys -l yosys.log" in (synth / "Makefile").read_text()
    _run_fusesoc(
        [
            "--cores-root",
            str(out / "fusesoc"),
            "run",
            "--setup",
            "--target",
            "synth_vivado",
            "codesign:accel:tiny",
        ],
        tmp_path,
    )
    tcl = (
        tmp_path
        / "build"
        / "codesign_accel_tiny_0.1.0"
        / "synth_vivado"
        / "codesign_accel_tiny_0.1.0.tcl"
    ).read_text()
    assert "set_property part xc7a100tcsg324-1" in tcl and "constraints.xdc" in tcl


def test_fusesoc_runs_the_bench_in_icarus(exported, tiny_rtl, tmp_path):
    _, out = exported
    r = _run_fusesoc(
        [
            "--cores-root",
            str(out / "fusesoc"),
            "run",
            "--target",
            "sim",
            "codesign:accel:tiny",
            "--images=4",
        ],
        tmp_path,
    )
    assert "+images=4 +timeout=10450" in r.stdout
    work = tmp_path / "build" / "codesign_accel_tiny_0.1.0" / "sim"
    events = [ln.split() for ln in (work / "events.txt").read_text().splitlines()]
    assert events[-1][0] == "E" and events[-1][2] == "0"  # every beat seen, no frame error
    beats = [[int(v) for v in e[2:]] for e in events if e[0] == "O"]
    assert len(beats) == 4 * CLASSES
    pixels = np.array(
        [int(v, 16) for v in (out / "fusesoc" / "pixels.hex").read_text().split()], dtype=np.uint8
    ).reshape(4, 1, 4, 4)
    st = tiny_rtl[1]
    want = dense_layer_fixed(
        input_fixed(pixels, CFG),
        {"d.weight": st["weight"], "d.bias": np.array(st["bias"])},
        {"name": "d", "relu": False},
        CFG,
        OverflowCounter(),
    )
    got = [d - (1 << 16) if d >> 15 else d for d, _, _ in beats]
    assert got == list(want.ravel())
    assert [last for _, last, _ in beats] == [
        c == CLASSES - 1 for _ in range(4) for c in range(CLASSES)
    ]
    assert [u for _, _, u in beats[CLASSES - 1 :: CLASSES]] == list(want.argmax(axis=1))
