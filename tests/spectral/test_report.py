"""`codesign report`: Markdown and PNG plots from the stage artifacts (small pruned LeNet)."""

import json
import re
import shutil
import time

import pytest

from codesign.eda.boards import load_board
from codesign.spectral.dse import sweep
from codesign.spectral.mapping import tasks_from_model
from codesign.spectral.model import load_model
from codesign.spectral.report import PLOTS, ReportError, report_data, write_report

PNG = b"\x89PNG\r\n\x1a\n"

COSIM = {
    "images": 20,
    "bit_exact": True,
    "score_mismatches": 0,
    "accuracy_rtl": 0.95,
    "accuracy_model": 0.95,
    "images_per_minute": 1200.0,
    "clocks": 400000,
    "timing": {
        "checked": True,
        "exact": True,
        "latency_cycles": {"rtl": 58450, "model": 58450},
        "interval_cycles": {"rtl": 19168, "model": 19168},
    },
}

SYNTH = {
    "resources": {
        "lut": {"yosys": 9100, "capacity": 63400, "estimate": 8000, "error_pct": -12.1},
        "ff": {"yosys": 5000, "capacity": 126800, "estimate": 4972, "error_pct": -0.6},
        "dsp": {"yosys": 30, "capacity": 240, "estimate": 32, "error_pct": 6.7},
        "ramb36": {"yosys": 40, "capacity": 135, "estimate": None, "error_pct": None},
        "ramb18": {"yosys": 6, "capacity": 270, "estimate": None, "error_pct": None},
    },
    "logic_depth": 14,
    "board": "nexys4ddr",
}


@pytest.fixture(scope="module")
def reports(small_model_dir, small_schedule_dir, tmp_path_factory):
    """The full report written twice (cosim/synth reports as files), and once without them."""
    root = tmp_path_factory.mktemp("report")
    cosim, synth = root / "cosim.json", root / "synth.json"
    cosim.write_text(json.dumps(COSIM))
    synth.write_text(json.dumps(SYNTH))
    full = [
        write_report(
            root / f"run{i}",
            model_dir=small_model_dir,
            schedule_dir=small_schedule_dir,
            cosim_report=cosim,
            synth_report=synth,
        )
        for i in (1, 2)
    ]
    bare = write_report(root / "bare", model_dir=small_model_dir, schedule_dir=small_schedule_dir)
    return full, bare


def _images(md: str) -> list:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_report_references_every_png(reports):
    (md_path, _), _ = reports
    assert md_path.name == "report.md" and md_path.is_file()
    md = md_path.read_text()
    pngs = sorted(p.name for p in md_path.parent.glob("*.png"))
    assert pngs == sorted(PLOTS.values())
    assert sorted(_images(md)) == pngs
    for name in pngs:
        assert (md_path.parent / name).read_bytes()[:8] == PNG
    assert "bit-exact" in md and "Yosys" in md and "| DSP |" in md
    assert not [p for p in md_path.parent.parent.iterdir() if ".tmp-" in p.name]


def test_report_is_deterministic(reports):
    (a, b), _ = reports
    assert a.read_bytes() == b.read_bytes()
    for name in PLOTS.values():
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes(), name


def test_missing_cosim_and_synth_give_notes(reports):
    _, bare = reports
    md = bare.read_text()
    assert "no co-simulation report given" in md and "no synthesis report given" in md
    assert not (bare.parent / PLOTS["cosim"]).exists()
    assert sorted(_images(md)) == sorted(p.name for p in bare.parent.glob("*.png"))
    assert len(_images(md)) == 5


def test_numbers_equal_the_artifacts(small_model_dir, small_schedule_dir):
    d = report_data(small_model_dir, small_schedule_dir, COSIM, SYNTH)
    mj = json.loads((small_model_dir / "model.json").read_text())
    sj = json.loads((small_schedule_dir / "schedule.json").read_text())
    assert d["accuracy"] == mj["accuracy"]
    assert [(r["name"], r["weights"], r["nonzero"]) for r in d["layers"]] == [
        (e["name"], e["weights"], e["nonzero"]) for e in mj["layers"]
    ]
    spec = [e for e in sj["layers"] if e["type"] == "spectral_conv"]
    assert [
        (r["name"], r["cycles_per_tile"], r["dense_cycles_per_tile"], r["pe_utilisation"])
        for r in d["spectral"]
    ] == [
        (
            e["name"],
            e["schedule"]["cycles_per_tile"],
            e["schedule"]["dense_cycles_per_tile"],
            e["schedule"]["pe_utilisation"],
        )
        for e in spec
    ]
    assert [r["ii"] for r in d["layer_ii"]] == [e["cost"]["cycles"]["ii"] for e in sj["layers"]]
    net = sj["network"]
    assert d["network"]["ii_cycles"] == net["ii_cycles"]
    assert d["network"]["images_per_second"] == net["images_per_second"]
    for k in ("dsp", "bram36", "lut", "ff"):
        assert d["resources"]["estimate"][k] == net["resources"][k]
        assert d["resources"]["capacity"][k] == net["capacity"][k]
    assert d["resources"]["yosys"] == {"dsp": 30, "bram36": 43, "lut": 9100, "ff": 5000}
    assert d["cosim"]["latency_cycles"] == COSIM["timing"]["latency_cycles"]
    assert d["cosim"]["interval_cycles"] == COSIM["timing"]["interval_cycles"]
    assert d["dse"]["runners_up"] == sj["runners_up"]
    json.dumps(d)


def test_partial_synth_report_is_noted(small_model_dir, small_schedule_dir):
    d = report_data(
        small_model_dir, small_schedule_dir, synth_report={"resources": {"lut": {"yosys": 100}}}
    )
    assert d["resources"]["yosys"] == {"lut": 100}
    assert any("no Yosys count for DSP" in n for n in d["notes"])
    d = report_data(small_model_dir, small_schedule_dir, synth_report={"board": "nexys4ddr"})
    assert d["resources"]["yosys"] is None
    assert any("no 'resources'" in n for n in d["notes"])


def test_corrupt_schedule_names_the_file(small_model_dir, small_schedule_dir, tmp_path):
    bad = tmp_path / "schedule"
    shutil.copytree(small_schedule_dir, bad)
    sj = bad / "schedule.json"
    sj.write_text(sj.read_text()[:500])
    with pytest.raises(ReportError, match=re.escape(str(sj))):
        report_data(small_model_dir, bad)
    d = json.loads((small_schedule_dir / "schedule.json").read_text())
    del d["network"]["resources"]
    sj.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="network.resources"):
        report_data(small_model_dir, bad)
    with pytest.raises(ReportError, match="missing"):
        report_data(small_model_dir, tmp_path / "nowhere")


def test_sweep_is_monotone_and_covers_the_chosen_design(small_model_dir, tmp_path):
    from click.testing import CliRunner

    from codesign.cli import main

    out = tmp_path / "schedule"  # the DSE's own choice (small_schedule_dir holds conv2 down)
    args = ["map", "--model", str(small_model_dir), "--board", "nexys4ddr", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    sj = json.loads((out / "schedule.json").read_text())
    tasks = tasks_from_model(load_model(small_model_dir))
    t0 = time.perf_counter()
    rows = sweep(tasks, load_board(sj["board"]["name"]))
    assert time.perf_counter() - t0 < 5
    assert rows and set(rows[0]) == {
        "ii_cycles",
        "images_per_second",
        "dsp",
        "bram36",
        "lut",
        "ff",
        "fits",
        "parallelism",
    }
    iis = [r["ii_cycles"] for r in rows]
    assert iis == sorted(set(iis))
    ips = [r["images_per_second"] for r in rows]
    assert all(a >= b for a, b in zip(ips, ips[1:]))
    for ii in [sj["network"]["ii_cycles"]] + [
        r["ii_cycles"] for r in sj["runners_up"] if r["fits"]
    ]:
        assert iis[0] <= ii <= iis[-1]
    assert sj["network"]["ii_cycles"] in iis
