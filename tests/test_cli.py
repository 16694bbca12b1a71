"""The command line: prune writes a loadable artifact; bad input gives a clear error and no
artifact."""

from click.testing import CliRunner

from codesign.cli import main
from codesign.spectral.model import load_model


def test_prune_on_user_idx_directory(tmp_path, mnist):
    """--data DIR with the four IDX files (here: a slice of real MNIST written as IDX)."""
    from codesign.data import write_idx

    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", mnist.train_x[:300])
    write_idx(d / "train-labels-idx1-ubyte.gz", mnist.train_y[:300].astype("uint8"))
    write_idx(d / "t10k-images-idx3-ubyte", mnist.test_x[:100])
    write_idx(d / "t10k-labels-idx1-ubyte", mnist.test_y[:100].astype("uint8"))
    out = tmp_path / "model"
    r = CliRunner().invoke(
        main,
        [
            "prune",
            "--data",
            str(d),
            "--epochs",
            "1",
            "--retrain-epochs",
            "0",
            "--admm-iterations",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "fixed point" in r.output and "conv2" in r.output
    m = load_model(out)
    assert m.masks["conv1.kernel"].mean() == 8 / 40  # 8 of each kernel's 34 live bins
    assert m.data_source["kind"] and m.settings["epochs"] == 1


def test_corrupt_idx_gets_clear_error_and_no_artifact(tmp_path, mnist):
    from codesign.data import write_idx

    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", mnist.train_x[:50])
    write_idx(d / "train-labels-idx1-ubyte", mnist.train_y[:50].astype("uint8"))
    write_idx(d / "t10k-images-idx3-ubyte", mnist.test_x[:20])
    bad = d / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x07" + b"\x00" * 20)
    out = tmp_path / "model"
    r = CliRunner().invoke(main, ["prune", "--data", str(d), "--quiet", "--out", str(out)])
    assert r.exit_code != 0
    assert "t10k-labels-idx1-ubyte" in r.output and "magic" in r.output.lower()
    assert not out.exists()


def test_inspect_rejects_non_artifact(tmp_path):
    r = CliRunner().invoke(main, ["inspect", str(tmp_path)])
    assert r.exit_code != 0 and "model.json: missing" in r.output


def test_exit_status_separates_expected_failures_usage_errors_and_bugs(tmp_path, monkeypatch):
    """0 success; 1 an expected failure (one paragraph, no traceback); 2 a usage error; anything
    else is a bug and keeps its exception (the CLI does not catch ValueError or OSError)."""
    r = CliRunner().invoke(main, ["synth", "--rtl", str(tmp_path / "none")])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    assert r.output.startswith("Error: ") and "not a directory" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["map", "--no-such-flag"])
    assert r.exit_code == 2 and "No such option" in r.output

    def bug(*a, **kw):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr("codesign.eda.synth.synthesise_and_print", bug)
    r = CliRunner().invoke(main, ["synth", "--rtl", str(tmp_path)])
    assert isinstance(r.exception, ValueError) and r.exit_code == 1


def test_every_error_class_is_a_codesign_error():
    """The CLI catches CodesignError only: every error class the package defines derives from it."""
    import importlib
    import pkgutil

    import codesign
    from codesign.errors import CodesignError

    found = []
    for info in pkgutil.walk_packages(codesign.__path__, "codesign."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, type) and name.endswith("Error") and obj.__module__ == info.name:
                found.append(obj)
    assert len(found) >= 10
    assert [c.__name__ for c in found if not issubclass(c, CodesignError)] == []
