"""A spectral sweep on a real local Dask cluster of two worker processes: LeNet from 300 images
on two boards (one prune task shared by both) under a 40-DSP budget (small designs, so quick
Verilator builds), generated and co-simulated; a second run skips every task; a bad point is
refused before anything runs."""

import json

import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.data import write_idx


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory, mnist):
    d = tmp_path_factory.mktemp("idx")
    write_idx(d / "train-images-idx3-ubyte", mnist.train_x[:300])
    write_idx(d / "train-labels-idx1-ubyte", mnist.train_y[:300].astype("uint8"))
    write_idx(d / "t10k-images-idx3-ubyte", mnist.test_x[:100])
    write_idx(d / "t10k-labels-idx1-ubyte", mnist.test_y[:100].astype("uint8"))
    return d


def _sweep_file(tmp_path, idx_dir, extra=""):
    f = tmp_path / "sweep.toml"
    f.write_text(
        f'[sweep]\nsystem = "spectral"\nout = "{tmp_path / "out"}"\nworkers = 2\n'
        f'[base]\nepochs = 1\nretrain_epochs = 0\nadmm_iterations = 2\ndata = "{idx_dir}"\n'
        "cosim_images = 2\nsynth = false\nmax_dsp = 40\n"
        '[grid]\nboard = ["nexys4ddr", "vc707"]\ndensity = [0.25]\n' + extra
    )
    return f


def test_sweep_on_a_local_cluster(tmp_path, idx_dir):
    f = _sweep_file(tmp_path, idx_dir)
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 0, r.output
    assert "2 design points, 7 tasks" in r.output  # one prune; two maps, generates, cosims
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [x["point"] for x in rows] == [0, 1]
    assert [x["board"] for x in rows] == ["nexys4ddr", "vc707"]
    for x in rows:
        assert x["status"] == "ok", x
        assert x["cosim_verdict"] == "bit- and clock-exact" and x["cosim_images"] == 2
        assert x["rtl_interval"] == x["interval_cycles"] > 0
        assert x["images_per_second"] == pytest.approx(x["clock_mhz"] * 1e6 / x["interval_cycles"])
        assert 0 < x["accuracy_fixed"] <= 1 and x["dsp"] == x["dsp_estimate"] <= 40
    assert rows[0]["accuracy_fixed"] == rows[1]["accuracy_fixed"]  # the same prune task
    tasks = sorted(p.name.split("-")[0] for p in (tmp_path / "out" / "tasks").iterdir())
    assert tasks == ["cosim", "cosim", "generate", "generate", "map", "map", "prune"]
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "## nexys4ddr" in report and "accuracy_vs_rate_vc707.png" in report
    assert (tmp_path / "out" / "results.csv").read_text().count("\n") == 3
    # a second run: every task is up to date, the same figures
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 0, r.output
    assert r.output.count("up to date") == 7
    again = json.loads((tmp_path / "out" / "results.json").read_text())
    drop = lambda rs: [{k: v for k, v in x.items() if not k.endswith("_seconds")} for x in rs]
    assert drop(again) == drop(rows)


def test_bad_points_are_refused_before_anything_runs(tmp_path, idx_dir):
    f = _sweep_file(tmp_path, idx_dir, "[[points]]\ndensity = 2.0\n")
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 1 and "point 2: density = 2.0 must be in (0, 1]" in r.output
    f = _sweep_file(tmp_path, idx_dir, '[[points]]\nboard = "nexys9"\n')
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 1 and "nexys9" in r.output
    f = _sweep_file(tmp_path, idx_dir, "[[points]]\nmax_dsp = -4\n")
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 1 and "point 2: max_dsp = -4 must be ≥ 0" in r.output
    f = _sweep_file(tmp_path, idx_dir, "[[points]]\nspeed = 3\n")
    r = CliRunner().invoke(main, ["sweep", str(f)])
    assert r.exit_code == 1 and "unknown key 'speed'" in r.output
    assert not (tmp_path / "out").exists()
