"""Speculative back-propagation, exactly, in numpy: the reference the compiled trainer must match.

The network (docs/specbp.md): layers ``sizes`` (784-16-16-10 by default), leaky ReLU of slope
0.01 on the hidden layers, softmax on the 10 outputs, cross-entropy loss.  Online: gradients are
summed over inputs and applied after input ``i`` of an epoch whenever ``i % batch == 0`` (batch
15; the published code's rule, so the first application follows input 0), each gradient
element clipped to ±5 and scaled by the learning rate 0.01; accumulated gradients carry over
an epoch's end.

Per input ``i`` with label ``y``, when an input of label ``y`` has been seen before:

1. forward pass of input ``i`` with the current weights;
2. speculative backward pass from the stored activations and pre-activations of the last input
   with label ``y``, with the current weights;
3. ``d = mean |softmax_i − softmax_stored|`` over the 10 outputs; ``d ≤ threshold``: the
   speculative gradients are added to the accumulators (hit); otherwise they are discarded and
   the ordinary backward pass of input ``i`` runs (miss).

The first input of each label runs serially (forward, ordinary backward).  Then the gradients
are applied if ``i % batch == 0`` and input ``i``'s activations become label ``y``'s stored ones.
``d`` is at most 0.2 (two distributions differ by at most 2 in total), so every threshold ≥ 0.2
hits on every input that has a stored label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from codesign.errors import CodesignError

__all__ = [
    "CLASSES",
    "Outcome",
    "Params",
    "ReferenceRun",
    "Setup",
    "SpecbpError",
    "accuracy",
    "forward",
    "gradients",
    "init_params",
    "pixels",
    "train_plain",
    "train_reference",
]

CLASSES = 10


class SpecbpError(CodesignError, ValueError):
    """A speculative back-propagation setting or input that cannot be used."""


class Outcome(IntEnum):
    """What happened to one input's backward pass."""

    SERIAL = 0  # no stored activations for the label yet: forward, then backward
    HIT = 1  # the speculative gradients were committed
    MISS = 2  # the speculative gradients were discarded; the ordinary pass ran


@dataclass(frozen=True)
class Setup:
    """The training recipe (the reference setup of Centeno et al. by default)."""

    sizes: tuple[int, ...] = (784, 16, 16, 10)
    slope: float = 0.01
    lr: float = 0.01
    batch: int = 15
    clip: float = 5.0
    epochs: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if len(sizes) < 2 or len(sizes) > 9 or any(int(s) != s or s < 1 for s in sizes):
            raise SpecbpError(
                f"sizes {sizes}: give 2 to 9 positive layer widths, e.g. 784,16,16,10"
            )
        if sizes[-1] != CLASSES:
            raise SpecbpError(f"sizes {sizes}: the output layer must have {CLASSES} neurons")
        for name, lo in (("lr", 0.0), ("clip", 0.0)):
            if not getattr(self, name) > lo:
                raise SpecbpError(f"{name} = {getattr(self, name)}: must be positive")
        if not 0 <= self.slope < 1:
            raise SpecbpError(f"slope = {self.slope}: the leaky-ReLU slope must be in [0, 1)")
        for name in ("batch", "epochs"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise SpecbpError(f"{name} = {getattr(self, name)}: must be a positive integer")


@dataclass
class Params:
    """Weights ``(n_l, n_{l+1})`` and biases ``(n_{l+1},)`` per junction, float64."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def copy(self) -> Params:
        return Params([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All weights and all biases, each concatenated in junction order (C order)."""
        return (
            np.concatenate([w.ravel() for w in self.weights]),
            np.concatenate([b.ravel() for b in self.biases]),
        )


def init_params(setup: Setup) -> Params:
    """The published initialisation: integers −10 … 10 drawn uniformly, divided by 100, with
    0 replaced by 0.01 (weights and biases); numpy's ``default_rng(seed)``, junction by
    junction, weights before biases."""
    rng = np.random.default_rng(setup.seed)
    weights, biases = [], []
    for left, right in zip(setup.sizes[:-1], setup.sizes[1:]):
        for shape, out in (((left, right), weights), ((right,), biases)):
            v = rng.integers(-10, 11, size=shape).astype(np.float64) / 100.0
            v[v == 0] = 0.01
            out.append(v)
    return Params(weights, biases)


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images ``(n, h, w)`` → float64 rows ``(n, h·w)`` of pixel / 255."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise SpecbpError(f"images must be uint8, got {images.dtype}")
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def forward(params: Params, x: np.ndarray, slope: float) -> tuple[list, list]:
    """Activations and pre-activations of layers 1 … J (the last activation is the softmax)."""
    acts, pres = [], []
    a = x
    last = len(params.weights) - 1
    for j, (w, b) in enumerate(zip(params.weights, params.biases)):
        z = a @ w + b
        if j < last:
            a = np.where(z > 0, z, slope * z)
        else:
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            a = e / e.sum(axis=-1, keepdims=True)
        pres.append(z)
        acts.append(a)
    return acts, pres


def gradients(
    params: Params, x: np.ndarray, acts: list, pres: list, label: int, slope: float
) -> tuple[list, list]:
    """Cross-entropy gradients of one input, per junction (weights, biases)."""
    J = len(params.weights)
    gw, gb = [None] * J, [None] * J
    delta = acts[-1].copy()
    delta[label] -= 1.0
    for j in range(J - 1, -1, -1):
        a = x if j == 0 else acts[j - 1]
        gw[j] = np.outer(a, delta)
        gb[j] = delta
        if j:
            delta = (params.weights[j] @ delta) * np.where(pres[j - 1] > 0, 1.0, slope)
    return gw, gb


def _apply(params: Params, gw: list, gb: list, setup: Setup) -> None:
    for j in range(len(params.weights)):
        params.weights[j] -= setup.lr * np.clip(gw[j], -setup.clip, setup.clip)
        params.biases[j] -= setup.lr * np.clip(gb[j], -setup.clip, setup.clip)
        gw[j][...] = 0.0
        gb[j][...] = 0.0


@dataclass
class ReferenceRun:
    """A finished reference training: parameters and, per epoch and input, what happened."""

    params: Params
    outcomes: np.ndarray  # (epochs, n) int8 Outcome
    distances: np.ndarray  # (epochs, n) float64, NaN for serial inputs
    test_accuracy: list = field(default_factory=list)


def train_reference(
    setup: Setup,
    x: np.ndarray,
    y: np.ndarray,
    threshold: float,
    *,
    params: Params | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
) -> ReferenceRun:
    """Train ``setup.epochs`` epochs with speculation at ``threshold`` (see the module)."""
    params = (params or init_params(setup)).copy()
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    gw = [np.zeros_like(w) for w in params.weights]
    gb = [np.zeros_like(b) for b in params.biases]
    stored: dict[int, tuple[int, list, list]] = {}
    outcomes = np.zeros((setup.epochs, n), dtype=np.int8)
    distances = np.full((setup.epochs, n), np.nan)
    run = ReferenceRun(params, outcomes, distances)
    for epoch in range(setup.epochs):
        for i in range(n):
            label = int(y[i])
            acts, pres = forward(params, x[i], setup.slope)
            outcome = Outcome.SERIAL
            if label in stored:
                k, s_acts, s_pres = stored[label]
                spec = gradients(params, x[k], s_acts, s_pres, label, setup.slope)
                d = float(np.abs(acts[-1] - s_acts[-1]).sum() / CLASSES)
                distances[epoch, i] = d
                outcome = Outcome.HIT if d <= threshold else Outcome.MISS
            grads = spec if outcome is Outcome.HIT else None
            if grads is None:
                grads = gradients(params, x[i], acts, pres, label, setup.slope)
            for j in range(len(gw)):
                gw[j] += grads[0][j]
                gb[j] += grads[1][j]
            if i % setup.batch == 0:
                _apply(params, gw, gb, setup)
            stored[label] = (i, acts, pres)
            outcomes[epoch, i] = outcome
        if test is not None:
            run.test_accuracy.append(accuracy(params, *test, setup.slope))
    return run


def train_plain(setup: Setup, x: np.ndarray, y: np.ndarray, params: Params | None = None) -> Params:
    """The plain online trainer (no speculation): what threshold 0 must reproduce bit for bit."""
    params = (params or init_params(setup)).copy()
    gw = [np.zeros_like(w) for w in params.weights]
    gb = [np.zeros_like(b) for b in params.biases]
    for _ in range(setup.epochs):
        for i, label in enumerate(np.asarray(y, dtype=np.int64)):
            acts, pres = forward(params, x[i], setup.slope)
            dw, db = gradients(params, x[i], acts, pres, int(label), setup.slope)
            for j in range(len(gw)):
                gw[j] += dw[j]
                gb[j] += db[j]
            if i % setup.batch == 0:
                _apply(params, gw, gb, setup)
    return params


def accuracy(params: Params, x: np.ndarray, y: np.ndarray, slope: float) -> float:
    """Fraction of rows of ``x`` whose arg-max output is the label."""
    acts, _ = forward(params, x, slope)
    return float(np.mean(np.argmax(acts[-1], axis=1) == np.asarray(y)))
