"""The model artifact written by ``codesign prune`` and read by ``codesign map``.

A directory holding ``model.json`` (description, see docs/model-format.md) and ``arrays.npz``
(float parameters, masks and the fixed-point integers).  :func:`save_model` writes it atomically
and deterministically; :func:`load_model` validates every field and names what is wrong.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign import __version__
from codesign.artifacts import atomic_directory, load_arrays, save_arrays, sha256_file, write_json
from codesign.errors import CodesignError
from codesign.spectral.conv import live_bins
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.fxpmodel import quantize_params
from codesign.spectral.network import DENSE, INPUT_SHAPE, SPECTRAL, layer_shapes, weight_key

__all__ = [
    "Model",
    "FORMAT",
    "FORMAT_VERSION",
    "ModelError",
    "save_model",
    "load_model",
    "describe",
    "weight_counts",
]

FORMAT = "codesign-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
ARRAYS = "arrays.npz"


@dataclass
class Model:
    """A (pruned) spectral network: layers, float parameters, masks, formats and measurements."""

    layers: list
    params: dict
    masks: dict
    fixed_point: FixedPointConfig
    metrics: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    data_source: dict = field(default_factory=dict)

    def quantized(self) -> dict:
        return quantize_params(self.params, self.layers, self.fixed_point)


class ModelError(CodesignError, ValueError):
    """A model artifact that cannot be used; the message names the file, the field and the fix."""


def weight_counts(layer: dict, weights: np.ndarray, mask: np.ndarray | None) -> dict:
    """A layer's ``weights`` (stored), ``live`` (those that can reach the output: a spectral
    kernel's live bins), ``nonzero`` (kept) and ``density`` = nonzero / live."""
    size = int(weights.size)
    live = size
    if layer["type"] == SPECTRAL:
        live = size // weights.shape[-1] // weights.shape[-2] * int(live_bins(layer["fft"]).sum())
    nz = int(mask.sum()) if mask is not None else size
    return {"weights": size, "live": live, "nonzero": nz, "density": nz / live}


def _layer_entry(layer: dict, shape: dict, masks: dict, params: dict) -> dict:
    key = weight_key(layer)
    e = dict(layer)
    e.update(
        {
            "input_shape": list(shape["in"]),
            "output_shape": list(shape["out"]),
            **weight_counts(layer, params[key], masks.get(key)),
            "masked": key in masks,
        }
    )
    if layer["type"] == SPECTRAL:
        e["tile"] = shape["L"]
        e["tiles"] = shape["tiles"]
        e["bins"] = shape["bins"]
    return e


def describe(model: Model) -> dict:
    """The JSON description of a model (without the arrays checksum)."""
    shapes = layer_shapes(model.layers)
    src = dict(model.data_source)
    if "files" in src:
        src["files"] = {k: Path(v).name for k, v in src["files"].items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "codesign_version": __version__,
        "seed": model.settings.get("seed"),
        "input": {
            "shape": list(INPUT_SHAPE),
            "pixel_bits": model.fixed_point.input_bits,
            "scale": "pixel / 2**pixel_bits",
        },
        "layers": [
            _layer_entry(l, s, model.masks, model.params) for l, s in zip(model.layers, shapes)
        ],
        "fixed_point": model.fixed_point.to_dict(),
        "accuracy": model.metrics.get("accuracy", {}),
        "test_images": model.metrics.get("test_images"),
        "saturations": model.metrics.get("saturations", {}),
        "settings": model.settings,
        "data": src,
    }


def save_model(model: Model, out: str | Path) -> Path:
    """Write the artifact directory ``out`` atomically; same model → byte-identical files."""
    arrays = {}
    for k, v in model.params.items():
        arrays[f"float/{k}"] = v
    for k, m in model.masks.items():
        arrays[f"mask/{k}"] = m.astype(np.bool_)
    for k, v in quantize_params(model.params, model.layers, model.fixed_point).items():
        arrays[f"fixed/{k}"] = v.astype(np.int64)
    with atomic_directory(out) as tmp:
        save_arrays(tmp / ARRAYS, arrays)
        desc = describe(model)
        desc["arrays"] = {
            "file": ARRAYS,
            "sha256": sha256_file(tmp / ARRAYS),
            "entries": {
                k: {"dtype": str(v.dtype), "shape": list(v.shape)}
                for k, v in sorted(arrays.items())
            },
        }
        write_json(tmp / MODEL_JSON, desc)
    return Path(out)


def _need(d: dict, key: str, typ, where: str, path: Path):
    if not isinstance(d, dict) or key not in d:
        raise ModelError(
            f"{path}: field '{where}{key}' is missing; re-run `codesign prune` to "
            f"write a complete artifact"
        )
    v = d[key]
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ModelError(f"{path}: field '{where}{key}' must be {names}, got {v!r}")
    return v


def _check_layer(e: dict, i: int, path: Path) -> dict:
    w = f"layers[{i}]."
    typ = _need(e, "type", str, w, path)
    _need(e, "name", str, w, path)
    _need(e, "relu", bool, w, path)
    if typ == SPECTRAL:
        for k in ("in_channels", "out_channels", "kernel", "fft", "pool"):
            if _need(e, k, int, w, path) < 1:
                raise ModelError(f"{path}: field '{w}{k}' must be >= 1, got {e[k]}")
        N, K = e["fft"], e["kernel"]
        if N & (N - 1):
            raise ModelError(f"{path}: field '{w}fft' must be a power of two, got {N}")
        if K > N:
            raise ModelError(f"{path}: field '{w}kernel' ({K}) exceeds '{w}fft' ({N})")
        keys = ("type", "name", "in_channels", "out_channels", "kernel", "fft", "relu", "pool")
    elif typ == DENSE:
        for k in ("in_features", "out_features"):
            if _need(e, k, int, w, path) < 1:
                raise ModelError(f"{path}: field '{w}{k}' must be >= 1, got {e[k]}")
        keys = ("type", "name", "in_features", "out_features", "relu")
    else:
        raise ModelError(f"{path}: field '{w}type' is '{typ}', expected '{SPECTRAL}' or '{DENSE}'")
    return {k: e[k] for k in keys}


def load_model(path: str | Path) -> Model:
    """Read and validate an artifact directory; every problem is a :class:`ModelError`."""
    root = Path(path)
    mj = root / MODEL_JSON
    if not root.is_dir():
        raise ModelError(
            f"{root}: not a directory; pass the directory `codesign prune --out` wrote"
        )
    if not mj.is_file():
        raise ModelError(f"{mj}: missing; {root} is not a codesign model artifact")
    try:
        d = json.loads(mj.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(
            f"{mj}: not valid JSON ({e}); the file is truncated or corrupt — "
            f"re-run `codesign prune`"
        ) from None
    if not isinstance(d, dict):
        raise ModelError(f"{mj}: top level must be a JSON object")
    if d.get("format") != FORMAT:
        raise ModelError(f"{mj}: field 'format' is {d.get('format')!r}, expected '{FORMAT}'")
    ver = _need(d, "format_version", int, "", mj)
    if ver != FORMAT_VERSION:
        raise ModelError(
            f"{mj}: field 'format_version' is {ver}, this codesign reads version "
            f"{FORMAT_VERSION}; re-run `codesign prune` with this version"
        )
    layers = [_check_layer(e, i, mj) for i, e in enumerate(_need(d, "layers", list, "", mj))]
    if not layers:
        raise ModelError(f"{mj}: field 'layers' is empty")
    try:
        layer_shapes(layers)
    except ValueError as e:
        raise ModelError(f"{mj}: field 'layers' is inconsistent: {e}") from None
    fp = _need(d, "fixed_point", dict, "", mj)
    try:
        cfg = FixedPointConfig.from_dict(fp)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{mj}: field 'fixed_point' is invalid ({e!r})") from None
    arr = _need(d, "arrays", dict, "", mj)
    name = _need(arr, "file", str, "arrays.", mj)
    digest = _need(arr, "sha256", str, "arrays.", mj)
    entries = _need(arr, "entries", dict, "arrays.", mj)
    af = root / name
    if not af.is_file():
        raise ModelError(f"{af}: missing (named by 'arrays.file' in {mj})")
    if sha256_file(af) != digest:
        raise ModelError(
            f"{af}: checksum differs from 'arrays.sha256' in {mj}; the file is "
            f"truncated or modified — re-run `codesign prune`"
        )
    try:
        arrays = load_arrays(af)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ModelError(f"{af}: cannot be read as .npz ({e})") from None
    for k, spec in entries.items():
        if k not in arrays:
            raise ModelError(f"{af}: array '{k}' listed in {mj} is missing")
        a = arrays[k]
        if str(a.dtype) != spec.get("dtype") or list(a.shape) != spec.get("shape"):
            raise ModelError(
                f"{af}: array '{k}' is {a.dtype}{list(a.shape)}, {mj} says "
                f"{spec.get('dtype')}{spec.get('shape')}"
            )
    params, masks = {}, {}
    for layer in layers:
        n, wk = layer["name"], weight_key(layer)
        for k in (wk, f"{n}.bias"):
            if f"float/{k}" not in arrays:
                raise ModelError(f"{af}: array 'float/{k}' for layer '{n}' is missing")
            params[k] = arrays[f"float/{k}"]
        if layer["type"] == SPECTRAL:
            exp = (layer["out_channels"], layer["in_channels"], layer["fft"], layer["fft"] // 2 + 1)
        else:
            exp = (layer["in_features"], layer["out_features"])
        if params[wk].shape != exp:
            raise ModelError(
                f"{af}: array 'float/{wk}' has shape {params[wk].shape}, layer '{n}' needs {exp}"
            )
        if f"mask/{wk}" in arrays:
            m = arrays[f"mask/{wk}"]
            if m.shape != exp:
                raise ModelError(f"{af}: array 'mask/{wk}' has shape {m.shape}, expected {exp}")
            if np.any(params[wk][~m] != 0):
                raise ModelError(f"{af}: weights of '{n}' are non-zero outside their mask")
            masks[wk] = m
    for k, v in params.items():
        if not np.isfinite(v).all():
            raise ModelError(
                f"{af}: array 'float/{k}' holds {int(np.size(v) - np.isfinite(v).sum())} NaN or "
                f"infinite values; re-run `codesign prune`"
            )
    for k, v in quantize_params(params, layers, cfg).items():
        stored = arrays.get(f"fixed/{k}")
        if stored is None:
            raise ModelError(f"{af}: array 'fixed/{k}' is missing; re-run `codesign prune`")
        if stored.shape != v.shape or not np.array_equal(stored, v):
            raise ModelError(
                f"{af}: array 'fixed/{k}' is not the quantised 'float/' weights in the "
                f"formats of {mj} (docs/fixed-point.md); re-run `codesign prune`"
            )
    metrics = {
        "accuracy": d.get("accuracy", {}),
        "test_images": d.get("test_images"),
        "saturations": d.get("saturations", {}),
    }
    return Model(
        layers=layers,
        params=params,
        masks=masks,
        fixed_point=cfg,
        metrics=metrics,
        settings=d.get("settings", {}),
        data_source=d.get("data", {}),
    )
