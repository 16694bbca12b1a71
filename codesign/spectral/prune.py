"""The prune stage: dense training → ADMM pruning (cvxpy W-steps) → masked retraining → fixed point.

``prune(dataset, settings)`` is a pure function from data and settings to a :class:`Model` (see
:mod:`codesign.model` for the artifact it is saved as).  Each step is a plain function over the
parameter dict, so scripts can run them one by one.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import scipy.fft as sfft

from codesign.data import Dataset
from codesign.nn.sparsity import project
from codesign.progress import progress
from codesign.spectral.admm import admm_layer, layer_problem
from codesign.spectral.conv import fold_kernel, geometry, live_bins, tiles_of
from codesign.spectral.fixedpoint import FixedPointConfig, Format, OverflowCounter
from codesign.spectral.fxpmodel import accuracy_fixed, quantize_params
from codesign.spectral.model import Model, weight_counts
from codesign.spectral.network import SPECTRAL, forward, init_params, lenet5, weight_key
from codesign.spectral.settings import PruneSettings
from codesign.spectral.train import accuracy, to_input, train

__all__ = [
    "PruneSettings",
    "prune",
    "train_dense",
    "admm_prune",
    "retrain",
    "layer_inputs",
    "weight_limits",
    "fold_spectral",
]


def _fmt_max(fmt: Format) -> float:
    return fmt.max / fmt.scale


def weight_limits(layers: list[dict], cfg: FixedPointConfig) -> dict:
    """Largest weight magnitude (per real/imag part) each layer's fixed-point format holds."""
    return {
        weight_key(l): _fmt_max(cfg.conv_weight if l["type"] == SPECTRAL else cfg.dense_weight)
        for l in layers
    }


def _fold_clipped(kernel: np.ndarray, limit: float) -> np.ndarray:
    f = fold_kernel(kernel)
    return np.clip(f.real, -limit, limit) + 1j * np.clip(f.imag, -limit, limit)


def fold_spectral(params: dict, layers: list[dict], limits: dict) -> dict:
    """``params`` with every spectral kernel folded (:func:`codesign.spectral.conv.fold_kernel`:
    the same layer, zero outside its live bins) and clipped to its format's range (a folded bin
    sums two)."""
    out = dict(params)
    for layer in layers:
        if layer["type"] == SPECTRAL:
            key = weight_key(layer)
            out[key] = _fold_clipped(params[key], limits[key])
    return out


def train_dense(layers, data: Dataset, s: PruneSettings, quiet=False):
    params = init_params(layers, np.random.default_rng(s.seed))
    cfg = replace(s.train, epochs=s.epochs)
    return train(
        params,
        layers,
        data.train_x,
        data.train_y,
        cfg,
        seed=s.seed + 1,
        limits=weight_limits(layers, s.fixed_point),
        desc="train dense",
        quiet=quiet,
    )[0]


def layer_inputs(params: dict, layers: list[dict], x: np.ndarray, upto: int) -> np.ndarray:
    """Activations entering layer ``upto`` (float model)."""
    return forward(params, layers[:upto], x)[0] if upto else x


def _statistics(layer: dict, xp: np.ndarray, xd: np.ndarray, Wd: np.ndarray):
    """Gram matrices G = X_pᴴX_p / M and cross terms B = X_pᴴX_d·W_d / M, per bin or once."""
    if layer["type"] == SPECTRAL:
        N, K = layer["fft"], layer["kernel"]
        g = geometry(xp.shape[-2], xp.shape[-1], K, N)

        def bins(x):
            X = sfft.rfft2(tiles_of(x, g), s=(N, N))
            return X.transpose(4, 5, 0, 2, 3, 1).reshape(g.bins, -1, X.shape[1])

        Xp, Xd = bins(xp), bins(xd)
        M = Xp.shape[1]
        Wb = Wd.reshape(Wd.shape[0], Wd.shape[1], -1).transpose(2, 1, 0)
        XpH = np.conj(np.swapaxes(Xp, 1, 2))
        return XpH @ Xp / M, XpH @ (Xd @ Wb) / M
    Xp, Xd = xp.reshape(len(xp), -1), xd.reshape(len(xd), -1)
    M = len(Xp)
    return (Xp.T @ Xp / M)[None], (Xp.T @ (Xd @ Wd) / M)[None]


def _check_layer_names(layers: list[dict], s: PruneSettings) -> None:
    if s.dense_method not in ("magnitude", "admm"):
        raise ValueError(f"dense_method must be 'magnitude' or 'admm', got {s.dense_method!r}")
    unknown = set(s.layer_density) - {layer["name"] for layer in layers}
    if unknown:
        raise ValueError(
            f"layer_density names unknown layers {sorted(unknown)}; the layers are "
            f"{[layer['name'] for layer in layers]}"
        )


def admm_prune(
    params: dict, layers: list[dict], images: np.ndarray, s: PruneSettings, quiet=False
) -> tuple[dict, dict, dict]:
    """ADMM-prune every layer whose density is below 1, in order; returns (params, masks, report).

    Spectral kernels are first folded (:func:`fold_spectral`, the same network) and pruned within
    their live bins, so a spectral density is a fraction of the N² real degrees of freedom that
    reach the output and every spectral layer gets a mask, at density 1 too.  Pruned weights are
    set to zero; each later layer's statistics use the pruned earlier layers.  Dense layers with
    ``dense_method = "magnitude"`` keep their largest weights (the ADMM Z-step's projection of the
    trained weights, per output with ``balanced``); the masked retraining that follows recovers
    the accuracy, in seconds instead of fc1's minutes of cvxpy W-steps.
    """
    limits = weight_limits(layers, s.fixed_point)
    dense = fold_spectral(params, layers, limits)
    params = {k: v.copy() for k, v in dense.items()}
    masks, report = {}, {}
    x = to_input(images)
    _check_layer_names(layers, s)
    for i, layer in enumerate(layers):
        density = s.density_of(layer, output=i == len(layers) - 1)
        key = weight_key(layer)
        support = live_bins(layer["fft"]) if layer["type"] == SPECTRAL else None
        if density >= 1.0:
            if support is not None:
                masks[key] = np.broadcast_to(support, params[key].shape).copy()
            continue
        t0 = time.perf_counter()
        if layer["type"] != SPECTRAL and s.dense_method == "magnitude":
            keep = project(params[key], density, s.balanced)
            masks[key] = keep
            params[key] = np.where(keep, params[key], 0)
            report[layer["name"]] = {
                "seconds": time.perf_counter() - t0,
                "method": "magnitude",
                "kept": int(keep.sum()),
                "size": int(keep.size),
            }
            continue
        xd = layer_inputs(dense, layers, x, i)
        xp = layer_inputs(params, layers, x, i)
        G, B = _statistics(layer, xp, xd, dense[key])
        lp = layer_problem(G, B, limits[key])
        with progress(f"admm {layer['name']}", total=s.admm.iterations, quiet=quiet) as bar:
            W, keep, hist = admm_layer(
                lp,
                dense[key],
                density,
                s.balanced,
                s.admm,
                on_iter=lambda it, gap: bar.advance(f"gap {gap:.3g}"),
                support=support,
            )
        if support is not None:
            W = _fold_clipped(W, limits[key])
        masks[key] = keep
        params[key] = np.where(keep, W, 0)
        report[layer["name"]] = {
            "seconds": time.perf_counter() - t0,
            "final_gap": hist[-1]["gap"],
            "kept": int(keep.sum()),
            "size": int(keep.size),
        }
    return params, masks, report


def retrain(params, masks, layers, data: Dataset, s: PruneSettings, quiet=False) -> dict:
    cfg = replace(s.train, epochs=s.retrain_epochs, lr=s.train.lr * 0.5)
    return train(
        params,
        layers,
        data.train_x,
        data.train_y,
        cfg,
        seed=s.seed + 2,
        masks=masks,
        limits=weight_limits(layers, s.fixed_point),
        desc="retrain masked",
        quiet=quiet,
    )[0]


def prune(
    data: Dataset,
    s: PruneSettings = PruneSettings(),
    layers: list[dict] | None = None,
    quiet: bool = False,
) -> Model:
    """Run the whole prune stage and measure it."""
    layers = layers if layers is not None else lenet5()
    _check_layer_names(layers, s)
    t = {}
    t0 = time.perf_counter()
    dense = train_dense(layers, data, s, quiet)
    t["train_dense"] = time.perf_counter() - t0
    acc_dense = accuracy(dense, layers, data.test_x, data.test_y)

    calib = data.train_x[: s.calibration_images]
    t0 = time.perf_counter()
    admm_params, masks, admm_report = admm_prune(dense, layers, calib, s, quiet)
    t["admm"] = time.perf_counter() - t0
    acc_admm = accuracy(admm_params, layers, data.test_x, data.test_y)

    t0 = time.perf_counter()
    pruned = (
        retrain(admm_params, masks, layers, data, s, quiet) if s.retrain_epochs else admm_params
    )
    t["retrain"] = time.perf_counter() - t0
    acc_pruned = accuracy(pruned, layers, data.test_x, data.test_y)

    counter = OverflowCounter()
    q = quantize_params(pruned, layers, s.fixed_point, counter)
    acc_fixed = accuracy_fixed(q, layers, s.fixed_point, data.test_x, data.test_y, counter)

    per_layer = {}
    for layer in layers:
        key = weight_key(layer)
        per_layer[layer["name"]] = weight_counts(layer, pruned[key], masks.get(key))
        if layer["name"] in admm_report:
            per_layer[layer["name"]]["admm_seconds"] = admm_report[layer["name"]]["seconds"]
    metrics = {
        "accuracy": {
            "dense": acc_dense,
            "admm_before_retrain": acc_admm,
            "pruned": acc_pruned,
            "fixed_point": acc_fixed,
        },
        "test_images": int(len(data.test_y)),
        "layers": per_layer,
        "seconds": t,
        "saturations": {k: v for k, v in counter.saturated.items() if v},
    }
    return Model(
        layers=layers,
        params=pruned,
        masks=masks,
        fixed_point=s.fixed_point,
        metrics=metrics,
        settings=s.to_dict(),
        data_source=data.source,
    )
