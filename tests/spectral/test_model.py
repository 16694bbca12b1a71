"""The model artifact: round trip, determinism, atomic writes and clear errors on bad input."""

import json
import os

import numpy as np
import pytest

from codesign.spectral.model import FORMAT_VERSION, ModelError, load_model, save_model
from codesign.spectral.prune import prune


def _bytes(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_round_trip(small_model, tmp_path):
    out = save_model(small_model, tmp_path / "m")
    m = load_model(out)
    assert m.layers == small_model.layers
    for k, v in small_model.params.items():
        np.testing.assert_array_equal(m.params[k], v)
    for k, v in small_model.masks.items():
        np.testing.assert_array_equal(m.masks[k], v)
    assert m.fixed_point == small_model.fixed_point
    d = json.loads((out / "model.json").read_text())
    assert d["format_version"] == FORMAT_VERSION
    conv2 = d["layers"][1]
    assert (conv2["fft"], conv2["kernel"], conv2["tile"], conv2["bins"]) == (8, 5, 4, 40)
    # 16 × 6 kernels of 40 bins, 34 live: 8 kept in each (floor(0.25 · 34))
    assert (conv2["weights"], conv2["live"], conv2["nonzero"]) == (3840, 3264, 768)
    assert conv2["density"] == 768 / 3264
    assert d["accuracy"]["pruned"] == small_model.metrics["accuracy"]["pruned"]
    assert d["data"]["kind"] and d["seed"] == 0
    fixed = np.load(out / "arrays.npz")["fixed/conv2.kernel_re"]
    np.testing.assert_array_equal(fixed, m.quantized()["conv2.kernel_re"])


def test_same_inputs_and_seed_give_byte_identical_artifacts(
    small_data, small_settings, small_model, tmp_path
):
    again = prune(small_data, small_settings, quiet=True)
    a = _bytes(save_model(small_model, tmp_path / "a"))
    b = _bytes(save_model(again, tmp_path / "b"))
    assert a == b


def test_overwrite_is_atomic_and_failure_leaves_old_artifact(small_model, tmp_path, monkeypatch):
    out = save_model(small_model, tmp_path / "m")
    before = _bytes(out)
    import codesign.spectral.model as cm

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cm, "write_json", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(small_model, out)
    assert _bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "no temporary directory left"


@pytest.fixture
def artifact(small_model, tmp_path):
    return save_model(small_model, tmp_path / "m")


def _edit(path, fn):
    d = json.loads((path / "model.json").read_text())
    fn(d)
    (path / "model.json").write_text(json.dumps(d))


def test_truncated_arrays_file_is_reported(artifact):
    f = artifact / "arrays.npz"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"arrays\.npz: checksum differs.*truncated"):
        load_model(artifact)


def test_truncated_json_is_reported(artifact):
    f = artifact / "model.json"
    f.write_text(f.read_text()[:100])
    with pytest.raises(ModelError, match=r"model\.json: not valid JSON.*truncated"):
        load_model(artifact)


def test_wrong_format_version_is_reported(artifact):
    _edit(artifact, lambda d: d.update(format_version=99))
    with pytest.raises(ModelError, match=r"'format_version' is 99.*reads version 1"):
        load_model(artifact)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("layers"), r"field 'layers' is missing"),
        (lambda d: d["layers"][0].update(fft=6), r"'layers\[0\]\.fft' must be a power of two"),
        (lambda d: d["layers"][1].update(in_channels=5), r"inconsistent.*conv2.*6"),
        (lambda d: d["layers"][2].update(type="conv3d"), r"layers\[2\]\.type"),
        (lambda d: d["layers"][0].update(kernel="5"), r"'layers\[0\]\.kernel' must be int"),
        (lambda d: d.update(format="something-else"), r"field 'format'"),
        (lambda d: d["fixed_point"].pop("twiddle"), r"field 'fixed_point' is invalid"),
        (
            lambda d: d["fixed_point"]["activation"].update(bits=99),
            r"field 'fixed_point' is invalid",
        ),
    ],
)
def test_bad_fields_are_named(artifact, mutate, message):
    _edit(artifact, mutate)
    with pytest.raises(ModelError, match=message):
        load_model(artifact)


def test_missing_directory_and_files(tmp_path, artifact):
    with pytest.raises(ModelError, match="not a directory"):
        load_model(tmp_path / "nope")
    os.remove(artifact / "arrays.npz")
    with pytest.raises(ModelError, match=r"arrays\.npz: missing"):
        load_model(artifact)
