"""The whole network in the fixed-point arithmetic of :mod:`codesign.fixedpoint` — the reference
that generated hardware must match bit for bit.

:func:`quantize_params` turns float parameters into the integers the hardware stores;
:func:`run` evaluates images (uint8 pixels) and returns integer logits, optionally with every
layer's integer activations, and counts saturations.
"""

from __future__ import annotations

import numpy as np

from codesign.spectral.conv import geometry, overlap_add, tiles_of
from codesign.spectral.fixedpoint import (
    FixedPointConfig,
    OverflowCounter,
    irfft2_fixed,
    quantize,
    rfft2_fixed,
    round_shift,
)
from codesign.spectral.network import SPECTRAL

__all__ = [
    "quantize_params",
    "spectral_layer_fixed",
    "hadamard_fixed",
    "dense_layer_fixed",
    "run",
    "input_fixed",
    "accuracy_fixed",
]


def quantize_params(
    params: dict, layers: list[dict], cfg: FixedPointConfig, counter: OverflowCounter | None = None
) -> dict:
    """Float parameters → integer parameters (``<name>.kernel_re/_im``, ``.weight``, ``.bias``)."""
    q = {}
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            k = params[f"{n}.kernel"]
            q[f"{n}.kernel_re"] = quantize(k.real, cfg.conv_weight, counter, f"{n}.kernel")
            q[f"{n}.kernel_im"] = quantize(k.imag, cfg.conv_weight, counter, f"{n}.kernel")
        else:
            q[f"{n}.weight"] = quantize(
                params[f"{n}.weight"], cfg.dense_weight, counter, f"{n}.weight"
            )
        q[f"{n}.bias"] = quantize(params[f"{n}.bias"], cfg.activation, counter, f"{n}.bias")
    return q


def input_fixed(images: np.ndarray, cfg: FixedPointConfig) -> np.ndarray:
    """uint8 pixels → activation integers standing for pixel / 2**input_bits."""
    shift = cfg.activation.frac - cfg.input_bits
    if shift < 0:
        raise ValueError("activation format needs at least input_bits fractional bits")
    return images.astype(np.int64)[:, None] << shift


def hadamard_fixed(xr, xi, wr, wi, cfg: FixedPointConfig, counter: OverflowCounter, where: str):
    """Σ_c X[c]·W[o, c] per bin, exact in the accumulator, rounded once to the product format."""
    acc_r = np.einsum("bcijuv,ocuv->boijuv", xr, wr) - np.einsum("bcijuv,ocuv->boijuv", xi, wi)
    acc_i = np.einsum("bcijuv,ocuv->boijuv", xr, wi) + np.einsum("bcijuv,ocuv->boijuv", xi, wr)
    acc_r = counter.saturate(acc_r, cfg.accumulator, f"{where}.acc")
    acc_i = counter.saturate(acc_i, cfg.accumulator, f"{where}.acc")
    s = cfg.spectrum.frac + cfg.conv_weight.frac - cfg.product.frac
    yr = counter.saturate(round_shift(acc_r, s), cfg.product, f"{where}.product")
    yi = counter.saturate(round_shift(acc_i, s), cfg.product, f"{where}.product")
    return yr, yi


def spectral_layer_fixed(
    x: np.ndarray,
    q: dict,
    layer: dict,
    cfg: FixedPointConfig,
    counter: OverflowCounter,
    pre_pool: bool = False,
) -> np.ndarray:
    """One spectral conv layer (OaA, bias, rounding, saturation, ReLU, max-pool) on integers."""
    n = layer["name"]
    K, N = layer["kernel"], layer["fft"]
    g = geometry(x.shape[-2], x.shape[-1], K, N)
    t = tiles_of(x, g)
    t = np.pad(t, [(0, 0)] * (t.ndim - 2) + [(0, N - g.L), (0, N - g.L)])
    t = round_shift(t, cfg.activation.frac - cfg.spectrum.frac)
    xr, xi = rfft2_fixed(t, cfg, counter, f"{n}.fft")
    yr, yi = hadamard_fixed(xr, xi, q[f"{n}.kernel_re"], q[f"{n}.kernel_im"], cfg, counter, n)
    y = irfft2_fixed(yr, yi, cfg, counter, f"{n}.ifft")
    shift = cfg.product.frac - cfg.activation.frac
    acc = overlap_add(y, g) + round_shift(q[f"{n}.bias"], -shift)[None, :, None, None]
    acc = counter.saturate(acc, cfg.accumulator, f"{n}.oaa")
    a = counter.saturate(round_shift(acc, shift), cfg.activation, f"{n}.out")
    if layer["relu"]:
        a = np.maximum(a, 0)
    p = layer["pool"]
    if p > 1 and not pre_pool:
        B, C, H, W = a.shape
        a = a[:, :, : H // p * p, : W // p * p].reshape(B, C, H // p, p, W // p, p).max(axis=(3, 5))
    return a


def dense_layer_fixed(
    x: np.ndarray, q: dict, layer: dict, cfg: FixedPointConfig, counter: OverflowCounter
) -> np.ndarray:
    """Dense layer: exact dot products + bias in the accumulator, rounded to the activation
    format."""
    n = layer["name"]
    fw = cfg.dense_weight.frac
    acc = x.reshape(x.shape[0], -1) @ q[f"{n}.weight"] + round_shift(q[f"{n}.bias"], -fw)
    acc = counter.saturate(acc, cfg.accumulator, f"{n}.acc")
    a = counter.saturate(round_shift(acc, fw), cfg.activation, f"{n}.out")
    return np.maximum(a, 0) if layer["relu"] else a


def run(
    q: dict,
    layers: list[dict],
    cfg: FixedPointConfig,
    images: np.ndarray,
    counter: OverflowCounter | None = None,
    keep: bool = False,
    batch: int = 250,
):
    """Integer logits (n, classes) for uint8 images; with ``keep``, also each layer's outputs."""
    counter = counter if counter is not None else OverflowCounter()
    logits, acts = [], {layer["name"]: [] for layer in layers}
    for i in range(0, len(images), batch):
        h = input_fixed(images[i : i + batch], cfg)
        for layer in layers:
            if layer["type"] == SPECTRAL:
                h = spectral_layer_fixed(h, q, layer, cfg, counter)
            else:
                h = dense_layer_fixed(h, q, layer, cfg, counter)
            if keep:
                acts[layer["name"]].append(h)
        logits.append(h)
    out = np.concatenate(logits) if logits else np.zeros((0, 0), dtype=np.int64)
    if keep:
        return out, {k: np.concatenate(v) for k, v in acts.items()}
    return out


def accuracy_fixed(
    q: dict,
    layers: list[dict],
    cfg: FixedPointConfig,
    images: np.ndarray,
    labels: np.ndarray,
    counter: OverflowCounter | None = None,
) -> float:
    """Top-1 accuracy of the fixed-point model; ties in the logits go to the lowest class index."""
    return float(np.mean(run(q, layers, cfg, images, counter).argmax(axis=1) == labels))
