"""The threshold sweep and its command: figures, files, errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.specbp import Setup, SpecbpError
from codesign.specbp.sweep import run_sweep, write_sweep


def test_sweep_figures_and_files(small_data, tmp_path):
    result = run_sweep(Setup(epochs=2), small_data, [0.0, 0.25], repeats=2, check_reference=True)
    assert result["deterministic"]
    zero, quarter = result["points"]
    assert zero["bit_identical_to_baseline"] and zero["hit_rate"] == 0
    assert not quarter["bit_identical_to_baseline"]
    assert quarter["hits"] + quarter["serial"] == 2 * len(small_data.train_y)  # ≥ 0.2: all hit
    assert quarter["serial"] == 10
    for p in result["points"]:
        assert p["reference"]["same_outcomes"]
        assert p["reference"]["max_abs_weight_difference"] < 1e-11
        assert len(p["time_ratios"]) == 2 and p["time_ratio"] > 0
        assert len(p["test_accuracy_per_epoch"]) == 2
    assert zero["test_accuracy"] == result["baseline"]["test_accuracy"]
    out = write_sweep(result, tmp_path / "sweep")
    assert json.loads((out / "sweep.json").read_text()) == json.loads(json.dumps(result))
    assert (out / "specbp.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "| 0.25 |" in report and "bit-identical" in report


def test_sweep_refuses_bad_values(small_data):
    with pytest.raises(SpecbpError, match="thresholds"):
        run_sweep(Setup(epochs=1), small_data, [-1.0])
    with pytest.raises(SpecbpError, match="repeats"):
        run_sweep(Setup(epochs=1), small_data, [0.1], repeats=0)


def test_sweep_command(tmp_path):
    out = tmp_path / "s"
    r = CliRunner().invoke(
        main,
        ["specbp", "sweep", "--epochs", "1", "--repeats", "1", "--thresholds", "0,0.25",
         "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "bit-identical" in r.output
    data = json.loads((out / "sweep.json").read_text())
    assert [p["threshold"] for p in data["points"]] == [0.0, 0.25]
    assert data["data"]["train_images"] == 4000
    assert np.isclose(data["points"][1]["hit_rate"], 1 - 10 / 4000)


def test_command_errors(tmp_path):
    r = CliRunner().invoke(main, ["specbp", "sweep", "--thresholds", "a,b"])
    assert r.exit_code == 2 and "comma-separated" in r.output
    r = CliRunner().invoke(main, ["specbp", "sweep", "--thresholds", "-1", "--quiet",
                                  "--out", str(tmp_path / "x")])  # fmt: skip
    assert r.exit_code == 1 and "≥ 0" in r.output
    (tmp_path / "file").write_text("")
    args = ["--epochs", "1", "--repeats", "1", "--thresholds", "0", "--quiet"]
    r = CliRunner().invoke(main, ["specbp", "sweep", *args, "--out", str(tmp_path / "file")])
    assert r.exit_code == 2 and "is a file" in r.output


def test_train_command():
    r = CliRunner().invoke(main, ["specbp", "train", "--epochs", "1", "--threshold", "0.1"])
    assert r.exit_code == 0, r.output
    assert "× the baseline" in r.output and "hit rate" in r.output
