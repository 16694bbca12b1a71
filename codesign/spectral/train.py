"""Seeded, deterministic mini-batch training (Adam), optionally with fixed sparsity masks."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from codesign.progress import progress
from codesign.spectral.network import backward, forward, predict, softmax_xent
from codesign.spectral.settings import TrainConfig

__all__ = ["TrainConfig", "train", "to_input", "accuracy"]


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) → float (n, 1, 28, 28) = pixel / 256, the value the fixed-point input
    holds."""
    return images.astype(np.float64)[:, None] / 256.0


def accuracy(params: dict, layers: list[dict], images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predict(params, layers, to_input(images)) == labels))


def _real_view(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.float64) if np.iscomplexobj(a) else a


def _shifted(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image by a random (dy, dx) in [-s, s]², filling with zeros."""
    H, W = x.shape[-2:]
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(s, s), (s, s)])
    d = rng.integers(0, 2 * s + 1, size=(len(x), 2))
    return np.stack([p[i, ..., dy : dy + H, dx : dx + W] for i, (dy, dx) in enumerate(d)])


def train(
    params: dict,
    layers: list[dict],
    images: np.ndarray,
    labels: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    masks: dict | None = None,
    limits: dict | None = None,
    desc: str = "train",
    quiet: bool = False,
) -> tuple[dict, list[float]]:
    """Train a copy of ``params``; masked weights (``masks[key]`` False) stay exactly zero, and
    ``limits[key]`` bounds every real and imaginary part (the weight's fixed-point range).

    Returns the trained parameters and the mean loss of every epoch.
    """
    rng = np.random.default_rng(seed)
    params = {k: v.copy() for k, v in params.items()}
    masks = masks or {}
    for k, m in masks.items():
        params[k] = np.where(m, params[k], 0)
    m1 = {k: np.zeros_like(_real_view(v)) for k, v in params.items()}
    m2 = {k: np.zeros_like(_real_view(v)) for k, v in params.items()}
    x_all = to_input(images)
    n = len(images)
    steps_per_epoch = -(-n // cfg.batch)
    t = 0
    history = []
    # BLAS threads only slow these small matrix products down (and make sums order-dependent)
    with (
        threadpool_limits(limits=1),
        progress(desc, total=cfg.epochs * steps_per_epoch, quiet=quiet) as bar,
    ):
        for epoch in range(cfg.epochs):
            lr = cfg.lr * cfg.lr_decay**epoch
            order = rng.permutation(n)
            losses = []
            for s in range(steps_per_epoch):
                idx = order[s * cfg.batch : (s + 1) * cfg.batch]
                xb = _shifted(x_all[idx], cfg.shift, rng) if cfg.shift else x_all[idx]
                logits, caches = forward(params, layers, xb)
                loss, d = softmax_xent(logits, labels[idx])
                grads = backward(params, layers, caches, d)
                t += 1
                for k, g in grads.items():
                    p = _real_view(params[k])
                    g = _real_view(g)
                    if cfg.weight_decay and not k.endswith(".bias"):
                        g = g + cfg.weight_decay * p
                    m1[k] = cfg.beta1 * m1[k] + (1 - cfg.beta1) * g
                    m2[k] = cfg.beta2 * m2[k] + (1 - cfg.beta2) * g * g
                    mh = m1[k] / (1 - cfg.beta1**t)
                    vh = m2[k] / (1 - cfg.beta2**t)
                    p -= lr * mh / (np.sqrt(vh) + cfg.eps)
                    if limits and k in limits:
                        np.clip(p, -limits[k], limits[k], out=p)
                    if k in masks:
                        params[k] *= masks[k]
                losses.append(loss)
                bar.advance(f"epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses):.3f}")
            history.append(float(np.mean(losses)))
    return params, history
