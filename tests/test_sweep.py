"""The sweep platform: sweep files, task keys, Pareto fronts, results files, and a scheduler
that does not answer."""

import csv
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codesign.sweep import (
    SweepError,
    Task,
    pareto,
    read_sweep,
    run_sweep,
    task_key,
    write_results,
)


def test_grid_and_points_expand(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        '[sweep]\nsystem = "spectral"\nout = "x"\n[base]\nepochs = 1\n'
        '[grid]\ndensity = [0.1, 0.2]\nboard = ["a", "b"]\n[[points]]\ndensity = 0.5\n'
    )
    s = read_sweep(f)
    assert s.system == "spectral" and s.base == {"epochs": 1} and str(s.out) == "x"
    assert s.points == [
        {"board": "a", "density": 0.1},
        {"board": "a", "density": 0.2},
        {"board": "b", "density": 0.1},
        {"board": "b", "density": 0.2},
        {"density": 0.5},
    ]


@pytest.mark.parametrize(
    "text, words",
    [
        ("[sweep]\n", "system is missing"),
        ('[sweep]\nsystem = "x"\n', "no design points"),
        ('[sweep]\nsystem = "x"\n[grid]\nd = 3\n', r"\[grid\] d must be a non-empty list"),
        ('[sweep]\nsystem = "x"\nspeed = 1\n', "unknown keys"),
        ('[sweep]\nsystem = "x"\nworkers = 0\n[[points]]\na = 1\n', "workers must be"),
        ("[swep]\n", "unknown tables"),
        ("[sweep\n", "not valid TOML"),
    ],
)
def test_bad_sweep_files_are_named(tmp_path, text, words):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(SweepError, match=words) as e:
        read_sweep(f)
    assert str(f) in str(e.value)
    with pytest.raises(SweepError, match="not found"):
        read_sweep(tmp_path / "none.toml")


def test_task_keys_depend_on_everything_and_only_that():
    assert task_key("prune", {"d": 0.25}, None) == task_key("prune", {"d": 0.25}, None)
    assert task_key("prune", {"d": 0.25}) != task_key("prune", {"d": 0.5})
    assert task_key("map", "prune-1", "a").startswith("map-")


rows = st.lists(
    st.fixed_dictionaries({"x": st.integers(0, 20), "y": st.integers(0, 20)}), max_size=25
)


@given(rows)
def test_pareto_front_is_exactly_the_undominated_points(rs):
    front = pareto(rs, "x", "y")
    for r in rs:
        dominated = any(
            o["x"] >= r["x"] and o["y"] >= r["y"] and (o["x"] > r["x"] or o["y"] > r["y"])
            for o in rs
        )
        assert (r in front) == (not dominated)
    assert [r["x"] for r in front] == sorted(r["x"] for r in front)
    low = pareto(rs, "x", "y", x_max=False)
    for r in low:
        assert not any(o["x"] < r["x"] and o["y"] >= r["y"] for o in rs)


def test_results_table_has_one_row_per_point(tmp_path):
    rows = [
        {"point": 0, "density": 0.1, "z": [1, 2], "status": "ok", "error": ""},
        {"point": 1, "density": 0.2, "status": "failed", "error": "map: boom"},
    ]
    c, j = write_results(tmp_path, rows)
    got = list(csv.DictReader(c.open()))
    assert [r["point"] for r in got] == ["0", "1"] and got[0]["z"] == "[1, 2]"
    assert got[1]["z"] == "" and got[1]["error"] == "map: boom"
    assert json.loads(j.read_text()) == rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json"]


def test_a_scheduler_that_does_not_answer_fails_fast_with_its_address():
    t0 = time.perf_counter()
    with pytest.raises(SweepError, match=r"scheduler tcp://127\.0\.0\.1:9 does not answer"):
        run_sweep({"a": Task("a", "a", (), dict)}, [], scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < 30
