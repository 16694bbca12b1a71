"""Artifact writers and readers: atomic, checked before work, no stale siblings, named errors."""

import os

import numpy as np
import pytest

from codesign.artifacts import (
    ArtifactError,
    atomic_directory,
    check_target,
    need,
    read_arrays,
    read_json,
    relative_to,
    save_arrays,
)
from codesign.errors import CodesignError


class StageError(CodesignError, ValueError):
    pass


def test_atomic_directory_replaces_or_keeps(tmp_path):
    t = tmp_path / "art"
    with atomic_directory(t) as d:
        (d / "a").write_text("1")
    assert (t / "a").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_directory(t) as d:
        (d / "a").write_text("2")
        raise RuntimeError("stage failed")
    assert (t / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_stale_siblings_of_dead_processes_are_removed(tmp_path):
    t = tmp_path / "art"
    dead = tmp_path / ".art.tmp-999999-abc"
    alive = tmp_path / f".art.tmp-{os.getpid()}-abc"
    old = tmp_path / ".art.old-999999-x"
    for d in (dead, alive, old):
        d.mkdir()
    with atomic_directory(t) as d:
        (d / "a").write_text("1")
    assert not dead.exists() and not old.exists() and alive.exists()


def test_check_target_before_work(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ArtifactError, match="exists and is not a directory"):
        check_target(f)
    with pytest.raises(ArtifactError, match="cannot be written"):
        check_target(f / "below")
    assert check_target(tmp_path / "new" / "deep") == (tmp_path / "new" / "deep").resolve()
    assert issubclass(ArtifactError, CodesignError)


def test_relative_paths_move_with_the_artifact(tmp_path):
    assert relative_to(tmp_path / "build" / "model", tmp_path / "build" / "schedule") == "../model"
    assert relative_to(tmp_path / "x", tmp_path) == "x"


def test_readers_name_the_file_and_field(tmp_path):
    p = tmp_path / "a.json"
    with pytest.raises(StageError, match=r"a\.json: missing; fix it"):
        read_json(p, StageError, "fix it")
    p.write_text('{"n": 1, "b": true')
    with pytest.raises(StageError, match=r"a\.json: not valid JSON"):
        read_json(p, StageError, "")
    p.write_text('{"n": 1, "b": true}')
    d = read_json(p, StageError, "")
    assert need(d, "n", int, p, StageError) == 1
    with pytest.raises(StageError, match="field 'x.b' must be int, got True"):
        need(d, "b", int, p, StageError, "x.")
    with pytest.raises(StageError, match="field 'm' is missing; re-run"):
        need(d, "m", int, p, StageError, fix="re-run")


def test_read_arrays_truncated_and_missing(tmp_path):
    p = tmp_path / "a.npz"
    save_arrays(p, {"x": np.arange(4)})
    assert read_arrays(p, ["x"], StageError, "")["x"].tolist() == [0, 1, 2, 3]
    with pytest.raises(StageError, match=r"arrays \['y'\] are missing"):
        read_arrays(p, ["x", "y"], StageError, "")
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(StageError, match=r"a\.npz: unreadable"):
        read_arrays(p, ["x"], StageError, "")
