"""The flow machinery (codesign.flow): steps skipped when inputs and outputs are unchanged, run
again when either changes or with force, no stamp for a failing step; the TOML configuration;
and ``codesign flow`` itself on a tiny pruning run up to the map stage."""

import json
import threading

import pytest
from click.testing import CliRunner

from codesign.cli import main
from codesign.flow import FlowError, Step, load_config, run_steps, tree_hash


def _steps(tmp_path, log, setting):
    a, b = tmp_path / "a.txt", tmp_path / "b"

    def run_a():
        log.append("a")
        a.write_text(f"a{setting['x']}")
        return "wrote a"

    def run_b():
        log.append("b")
        b.mkdir(exist_ok=True)
        (b / "f").write_text(a.read_text() * 2)
        return "wrote b"

    return [
        Step("a", lambda: {"x": setting["x"]}, [a], run_a),
        Step("b", lambda: {"a": tree_hash(a)}, [b], run_b),
    ]


def test_steps_run_once_and_again_only_when_something_changed(tmp_path):
    log, setting = [], {"x": 1}
    state = tmp_path / ".flow"
    rows = run_steps(_steps(tmp_path, log, setting), state)
    assert [r["status"] for r in rows] == ["ran", "ran"] and log == ["a", "b"]
    rows = run_steps(_steps(tmp_path, log, setting), state)
    assert [r["status"] for r in rows] == ["up to date"] * 2 and log == ["a", "b"]
    assert rows[1]["summary"] == "wrote b"
    (tmp_path / "b" / "f").write_text("corrupt")  # an edited output: that step only
    run_steps(_steps(tmp_path, log, setting), state)
    assert log == ["a", "b", "b"]
    setting["x"] = 2  # a changed setting: the step, then the one reading its output
    run_steps(_steps(tmp_path, log, setting), state)
    assert log == ["a", "b", "b", "a", "b"]
    run_steps(_steps(tmp_path, log, setting), state, force=True)
    assert log[-2:] == ["a", "b"] and len(log) == 7


def test_a_failing_step_writes_no_stamp_and_keeps_earlier_ones(tmp_path):
    log, setting = [], {"x": 1}
    steps = _steps(tmp_path, log, setting)

    def boom():
        raise RuntimeError("stage b broke")

    steps[1].run = boom
    with pytest.raises(RuntimeError) as e:
        run_steps(steps, tmp_path / ".flow")
    assert [r["status"] for r in e.value.flow_rows] == ["ran", "FAILED"]
    assert (tmp_path / ".flow" / "a.json").is_file()
    assert not (tmp_path / ".flow" / "b.json").exists()
    rows = run_steps(_steps(tmp_path, log, setting), tmp_path / ".flow")
    assert [r["status"] for r in rows] == ["up to date", "ran"]


def _alongside(tmp_path, log, fail_first=False):
    """Steps s (alongside), c, r: s and c each wait for the other to have started, so they
    finish only when they truly run at the same time; r must see s finished."""
    started = {"s": threading.Event(), "c": threading.Event()}
    out = {n: tmp_path / f"{n}.txt" for n in "scr"}

    def make(name, other):
        def run():
            started[name].set()
            assert started[other].wait(10), f"{name} ran without {other} beside it"
            if fail_first and name == "s":
                raise RuntimeError("yosys broke")
            out[name].write_text(name)
            log.append(name)
            return f"wrote {name}"

        return run

    def report():
        log.append("r")
        out["r"].write_text(out["s"].read_text() + out["c"].read_text())
        return "wrote r"

    return [
        Step("s", lambda: {}, [out["s"]], make("s", "c"), alongside=True),
        Step("c", lambda: {}, [out["c"]], make("c", "s")),
        Step("r", lambda: {"s": tree_hash(out["s"])}, [out["r"]], report),
    ]


def test_a_step_alongside_runs_beside_the_next_one(tmp_path):
    log = []
    rows = run_steps(_alongside(tmp_path, log), tmp_path / ".flow")
    assert [r["step"] for r in rows] == ["s", "c", "r"] and log[-1] == "r"
    assert [r["status"] for r in rows] == ["ran"] * 3 and sorted(log[:2]) == ["c", "s"]
    assert (tmp_path / "r.txt").read_text() == "sc"
    rows = run_steps(_alongside(tmp_path, log), tmp_path / ".flow")  # all up to date
    assert [r["status"] for r in rows] == ["up to date"] * 3


def test_a_failing_step_alongside_stops_the_flow_after_the_next_one(tmp_path):
    log = []
    with pytest.raises(RuntimeError, match="yosys broke") as e:
        run_steps(_alongside(tmp_path, log, fail_first=True), tmp_path / ".flow")
    assert [(r["step"], r["status"]) for r in e.value.flow_rows] == [("s", "FAILED"), ("c", "ran")]
    assert log == ["c"] and not (tmp_path / ".flow" / "s.json").exists()
    assert (tmp_path / ".flow" / "c.json").is_file() and not (tmp_path / "r.txt").exists()


def test_tree_hash_sees_names_and_bytes(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "x").write_text("1")
    h = tree_hash(d)
    (d / "x").rename(d / "y")
    assert tree_hash(d) != h and tree_hash(tmp_path / "missing") is None


KEYS = {"prune": {"density"}, "map": {"board", "set"}}


def test_config_errors_name_the_file_and_key(tmp_path):
    f = tmp_path / "flow.toml"
    f.write_text("[prune]\ndensity = 0.5\n[map]\nboard = 'vc707'\nset = ['conv2.pes=2']\n")
    assert load_config(f, KEYS)["map"]["set"] == ["conv2.pes=2"]
    f.write_text("[prune]\ndensty = 0.5\n")
    with pytest.raises(FlowError, match=r"flow.toml: \[prune\] has unknown keys \['densty'\]"):
        load_config(f, KEYS)
    f.write_text("[synthesis]\n")
    with pytest.raises(FlowError, match="unknown table"):
        load_config(f, KEYS)
    f.write_text("[prune\n")
    with pytest.raises(FlowError, match="not valid TOML"):
        load_config(f, KEYS)
    with pytest.raises(FlowError, match="not found"):
        load_config(tmp_path / "none.toml", KEYS)


def _idx_dir(path, data):
    """``data`` as the four MNIST IDX files ``--data`` reads."""
    from codesign.data import write_idx

    path.mkdir()
    write_idx(path / "train-images-idx3-ubyte", data.train_x)
    write_idx(path / "train-labels-idx1-ubyte", data.train_y.astype("uint8"))
    write_idx(path / "t10k-images-idx3-ubyte", data.test_x)
    write_idx(path / "t10k-labels-idx1-ubyte", data.test_y.astype("uint8"))
    return path


def test_flow_cli_resumes_and_takes_its_settings_from_toml(tmp_path, small_data):
    """On the small subset (600 training images): the flow's bookkeeping, not accuracy."""
    data = _idx_dir(tmp_path / "idx", small_data)
    cfg = tmp_path / "flow.toml"
    cfg.write_text(
        f"[prune]\nepochs = 1\nretrain_epochs = 0\nadmm_iterations = 2\ndata = '{data}'\n"
        f"[flow]\nout = '{tmp_path / 'build'}'\nquiet = true\n"
    )
    args = ["flow", "--config", str(cfg), "--until", "map"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "ran" in r.output and (tmp_path / "build" / "schedule" / "schedule.json").is_file()
    model = json.loads((tmp_path / "build" / "model" / "model.json").read_text())
    assert model["settings"]["epochs"] == 1 and model["test_images"] == 200
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and r.output.count("up to date") >= 2, r.output
    r = CliRunner().invoke(main, args + ["--board", "vc707"])  # a flag wins over the file
    assert r.exit_code == 0, r.output
    sj = json.loads((tmp_path / "build" / "schedule" / "schedule.json").read_text())
    assert sj["board"]["name"] == "vc707"
    r = CliRunner().invoke(main, args + ["--board", "no-such-board"])
    assert r.exit_code != 0 and "no-such-board" in r.output
    assert (tmp_path / "build" / "schedule" / "schedule.json").is_file()
