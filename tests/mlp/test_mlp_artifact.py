"""The network artifact: what train writes, byte-determinism, and a named error for every kind
of corruption the one reader can meet."""

import json
import shutil

import numpy as np
import pytest

from codesign.artifacts import save_arrays, sha256_file
from codesign.mlp.artifact import NetworkFormatError, array_names, load_network
from codesign.mlp.settings import read_settings
from codesign.mlp.steps import run_train

SMALL = {
    "network.layers": [784, 16, 16],
    "network.fo": [1, 4],
    "network.z": [49, 16],
    "train.eta_exponents": [3, 4],
    "train.train_images": 400,
}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp") / "net"
    meta = run_train(read_settings(**SMALL), out, quiet=True)
    return out, meta


def test_train_writes_what_the_reader_returns(artifact):
    out, meta = artifact
    art = load_network(out)
    assert art.net.layers == (784, 16, 16)
    assert [j.z for j in art.net.junctions] == [49, 16]
    assert len(art.meta["fixed"]["epochs"]) == 2
    assert art.meta["design"]["clocks_per_input"] == 16 + 4
    assert art.meta["fixed"]["test_accuracy"] > 0.3  # 400 digits, 16 hidden neurons, 2 epochs
    for w in art.trained_fixed.w:
        assert w.dtype == np.int64 and w.min() >= -512 and w.max() <= 511
    # the fixed-point start is the float start as words
    np.testing.assert_array_equal(
        art.init_fixed.w[0], np.clip(np.floor(art.init_float.w[0] * 128 + 0.5), -512, 511)
    )
    assert meta["fixed"]["saturations"] == art.meta["fixed"]["saturations"]


def test_same_settings_give_byte_identical_artifacts(artifact, tmp_path):
    out, _ = artifact
    again = tmp_path / "again"
    run_train(read_settings(**SMALL), again, quiet=True)
    for name in ("network.json", "arrays.npz"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    other = tmp_path / "other"
    run_train(read_settings(**SMALL, **{"train.seed": 1}), other, quiet=True)
    assert (other / "arrays.npz").read_bytes() != (out / "arrays.npz").read_bytes()


def _copy(artifact, tmp_path):
    dst = tmp_path / "net"
    shutil.copytree(artifact[0], dst)
    return dst


def _rewrite(path, change):
    """Change the arrays with ``change(arrays)`` and record their new sha256."""
    arrays = dict(np.load(path / "arrays.npz"))
    change(arrays)
    save_arrays(path / "arrays.npz", arrays)
    doc = json.loads((path / "network.json").read_text())
    doc["arrays"]["sha256"] = sha256_file(path / "arrays.npz")
    (path / "network.json").write_text(json.dumps(doc))


def _edit_json(path, change):
    doc = json.loads((path / "network.json").read_text())
    change(doc)
    (path / "network.json").write_text(json.dumps(doc))


def _clash(a):
    o = a["j2_order"]
    o[1] = o[0]  # two lanes of clock 0 read the same bank


CASES = {
    "missing json": (lambda p: (p / "network.json").unlink(), "network.json: missing"),
    "bad json": (lambda p: (p / "network.json").write_text("{"), "not valid JSON"),
    "other format": (
        lambda p: _edit_json(p, lambda d: d.update(format="x")),
        "field 'format' must be",
    ),
    "newer version": (
        lambda p: _edit_json(p, lambda d: d.update(version=9)),
        "field 'version' is 9",
    ),
    "non-integer fan-in": (
        lambda p: _edit_json(
            p, lambda d: (d.update(layers=[784, 16, 12]), d["junctions"][1].update(n_right=12))
        ),
        r"junctions\[1\].*not an integer",
    ),
    "layers disagree": (
        lambda p: _edit_json(p, lambda d: d.update(layers=[784, 16, 8])),
        "disagrees with 'layers'",
    ),
    "formats": (
        lambda p: _edit_json(p, lambda d: d["formats"]["word"].update(frac=8)),
        "field 'formats'",
    ),
    "missing field": (
        lambda p: _edit_json(p, lambda d: d["junctions"][0].pop("z")),
        r"field 'junctions\[0\]\.z' is missing",
    ),
    "changed arrays": (
        lambda p: (p / "arrays.npz").write_bytes((p / "arrays.npz").read_bytes()[:-9] + b"x" * 9),
        "sha256 differs",
    ),
    "missing arrays": (lambda p: (p / "arrays.npz").unlink(), "arrays.npz: missing"),
    "wrong dtype": (
        lambda p: _rewrite(p, lambda a: a.update(j1_w=a["j1_w"].astype(np.float32))),
        "array 'j1_w' is float32",
    ),
    "out of range": (
        lambda p: _rewrite(p, lambda a: a["j2_b"].__setitem__(0, 600)),
        "outside the 10-bit word",
    ),
    "nan": (
        lambda p: _rewrite(p, lambda a: a["j1_w_float"].__setitem__(3, np.nan)),
        "NaN",
    ),
    "clash": (lambda p: _rewrite(p, _clash), "not clash-free"),
    "dropped array": (
        lambda p: _rewrite(p, lambda a: a.pop("j2_w_init")),
        r"arrays \['j2_w_init'\] are missing",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_artifact_is_named(artifact, tmp_path, case):
    corrupt, words = CASES[case]
    p = _copy(artifact, tmp_path)
    corrupt(p)
    with pytest.raises(NetworkFormatError, match=words):
        load_network(p)


def test_array_names_cover_every_parameter_set():
    assert len(array_names(2)) == 18 and "j2_order" in array_names(2)
