"""Online training of a pre-defined sparse MLP, in float or in the trainer's fixed point.

One engine runs both arithmetics (:class:`FloatArithmetic`, :class:`FixedArithmetic`) over the
same connectivity and the same *schedule*: which weight version each pass reads.

``PIPELINED`` (the hardware's, docs/mlp-fixed-point.md): with ``J`` junctions, input ``t``
enters in block cycle ``t``; junction ``j`` (1-based) runs its forward pass in cycle ``t + j``
and its back-propagation and update in cycle ``t + 2J − j + 1``; a pass reads the weights as
they stand at the start of its cycle (an update in the same cycle writes each word after every
pass has read it).  So the forward pass of junction ``j`` sees the updates of inputs
``≤ t − 2(J−j) − 2`` — version ``t − lag_j`` with ``lag_j = 2(J−j) + 1`` — while the
back-propagation and the update of input ``t`` see every earlier input's update (version
``t``).  ``SEQUENTIAL``: every pass of input ``t`` sees version ``t`` (lag 0): plain SGD.

``SPECULATIVE`` (docs/mlp-trainer.md, speculation): every pass sees version ``t``; input ``t`` of
label ``y`` is compared with the stored outputs of the last input of label ``y`` in the epoch,
``D = Σ_{q<10} |a_q − a_stored,q|`` in output LSBs; ``D ≤ threshold`` (a *hit*) updates the
weights from the stored input's activations, σ′ and output deltas instead of its own (a *miss*,
or the label's first input: its own).  The input's activations then become label ``y``'s stored
ones.  The store is empty at each epoch's start.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from codesign.fixed import OverflowCounter, quantize
from codesign.mlp.connectivity import Junction, occurrences
from codesign.mlp.fixedpoint import (
    WORD,
    Activation,
    accumulate,
    activation_table,
    delta_bias,
    mul,
    neuron_sum,
    pixels_to_word,
)

__all__ = [
    "Schedule",
    "Outcome",
    "Network",
    "Params",
    "FloatArithmetic",
    "FixedArithmetic",
    "EpochResult",
    "TrainResult",
    "glorot_normal",
    "quantize_params",
    "pad_inputs",
    "train_online",
    "predict",
    "OUTPUT_CLASSES",
]

OUTPUT_CLASSES = 10  # the first 10 output neurons are the digits; the rest learn y = 0


class Outcome(enum.IntEnum):
    """What the speculative schedule did with an input's update."""

    SERIAL = 0  # the label's first input in the epoch: its own update
    HIT = 1  # the stored input's update
    MISS = 2  # its own update


class Schedule(enum.Enum):
    """Which weight version each pass of an input reads (see the module docstring)."""

    PIPELINED = "pipelined"
    SEQUENTIAL = "sequential"
    SPECULATIVE = "speculative"

    def forward_lags(self, n_junctions: int) -> tuple[int, ...]:
        """Per junction (0-based), how many earlier inputs' updates its forward pass misses."""
        if self is not Schedule.PIPELINED:
            return (0,) * n_junctions
        return tuple(2 * (n_junctions - 1 - j) + 1 for j in range(n_junctions))


@dataclass(frozen=True)
class Network:
    """The connectivity: junctions, the left neuron of every slot, the activation."""

    junctions: tuple[Junction, ...]
    orders: tuple[np.ndarray, ...]
    activation: Activation = Activation.SIGMOID
    occ: tuple[np.ndarray, ...] = field(init=False, repr=False)
    right: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(
            self, "occ", tuple(occurrences(j, o) for j, o in zip(self.junctions, self.orders))
        )
        object.__setattr__(self, "right", tuple(np.arange(j.edges) // j.fi for j in self.junctions))

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.junctions[0].n_left,) + tuple(j.n_right for j in self.junctions)


@dataclass
class Params:
    """Weights in slot order and biases, one pair per junction."""

    w: list[np.ndarray]
    b: list[np.ndarray]

    def copy(self) -> Params:
        return Params([x.copy() for x in self.w], [x.copy() for x in self.b])


def glorot_normal(net: Network, seed: int) -> Params:
    """Glorot-normal weights, σ = √(2 / (fi + fo)) per junction; zero biases."""
    rng = np.random.default_rng(seed)
    w = [rng.normal(0.0, np.sqrt(2.0 / (j.fi + j.fo)), j.edges) for j in net.junctions]
    return Params(w, [np.zeros(j.n_right) for j in net.junctions])


def quantize_params(p: Params) -> Params:
    """Float parameters as words (rounded half up, saturated)."""
    return Params([quantize(x, WORD) for x in p.w], [quantize(x, WORD) for x in p.b])


def pad_inputs(images: np.ndarray, width: int) -> np.ndarray:
    """uint8 images flattened and zero-padded to the first layer's ``width`` pixels."""
    flat = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    if flat.shape[1] > width:
        raise ValueError(f"images have {flat.shape[1]} pixels but the first layer {width}")
    out = np.zeros((len(flat), width), dtype=np.uint8)
    out[:, : flat.shape[1]] = flat
    return out


class FloatArithmetic:
    """Float64 reference: the exact functions, ``η = 2^-k``."""

    name = "float"

    def __init__(self, net: Network):
        self.net = net

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(pixels, np.float64) / 255.0

    def target(self, label: int, n_out: int) -> np.ndarray:
        y = np.zeros(n_out)
        y[label] = 1.0
        return y

    def threshold(self, mean: float) -> float:
        """The speculative threshold on the summed distance for a mean distance ``mean``."""
        return OUTPUT_CLASSES * mean

    def forward(self, j: int, a_left, w, b):
        jn = self.net.junctions[j]
        s = (a_left[..., self.net.orders[j]] * w).reshape(*a_left.shape[:-1], jn.n_right, jn.fi)
        s = s.sum(axis=-1) + b
        if self.net.activation is Activation.SIGMOID:
            a = 1.0 / (1.0 + np.exp(-s))
            return a, a * (1.0 - a)
        return np.maximum(s, 0.0), (s > 0).astype(np.float64)

    def cost(self, a, y):
        return a - y

    def backward(self, j: int, delta_right, d_left, w):
        jn = self.net.junctions[j]
        terms = delta_right[self.net.right[j]] * d_left[self.net.orders[j]] * w
        return np.bincount(self.net.orders[j], weights=terms, minlength=jn.n_left)

    def update(self, j: int, w, b, delta_right, a_left, k: int):
        eta = 2.0**-k
        db = -eta * delta_right
        return w + db[self.net.right[j]] * a_left[self.net.orders[j]], b + db


class FixedArithmetic:
    """The trainer's fixed point (codesign.mlp.fixedpoint); saturations counted in
    ``counter``."""

    name = "fixed"

    def __init__(self, net: Network, counter: OverflowCounter | None = None):
        self.net = net
        self.counter = counter if counter is not None else OverflowCounter()
        self.act, self.der = activation_table(net.activation)

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        return pixels_to_word(pixels)

    def target(self, label: int, n_out: int) -> np.ndarray:
        y = np.zeros(n_out, np.int64)
        y[label] = 1 << WORD.frac
        return y

    def threshold(self, mean: float) -> int:
        """The comparator's threshold: a mean distance ``mean`` of the 10 outputs as their
        summed distance in output LSBs (2^-7), rounded half up."""
        return int(np.floor(OUTPUT_CLASSES * mean * (1 << WORD.frac) + 0.5))

    def forward(self, j: int, a_left, w, b):
        jn, c = self.net.junctions[j], self.counter
        p = mul(a_left[..., self.net.orders[j]], w, c, f"forward j{j + 1}: a*w")
        s = neuron_sum(
            p.reshape(*a_left.shape[:-1], jn.n_right, jn.fi), b, c, f"forward j{j + 1}: sum"
        )
        return self.act[s - WORD.min], self.der[s - WORD.min]

    def cost(self, a, y):
        return a - y

    def backward(self, j: int, delta_right, d_left, w):
        c = self.counter
        dd = mul(
            delta_right[self.net.right[j]], d_left[self.net.orders[j]], c, f"back j{j + 1}: d*da"
        )
        terms = mul(dd, w, c, f"back j{j + 1}: *w")
        return accumulate(terms, self.net.occ[j], c, f"back j{j + 1}: accumulate")

    def update(self, j: int, w, b, delta_right, a_left, k: int):
        c = self.counter
        db = delta_bias(delta_right, k, c)
        dw = mul(db[self.net.right[j]], a_left[self.net.orders[j]], c, f"update j{j + 1}: dw")
        return (
            c.saturate(w + dw, WORD, f"update j{j + 1}: w"),
            c.saturate(b + db, WORD, f"update j{j + 1}: b"),
        )


@dataclass
class EpochResult:
    epoch: int
    eta_exponent: int
    train_accuracy: float  # online: the class each input's (stale) forward pass predicted
    test_accuracy: float
    predictions: np.ndarray | None = None  # the class of each training input, online
    outcomes: np.ndarray | None = None  # SPECULATIVE: per input, codesign.mlp.train.Outcome


@dataclass
class TrainResult:
    params: Params
    epochs: list[EpochResult]
    saturations: dict


def predict(net: Network, ops, params: Params, pixels: np.ndarray, batch: int = 250) -> np.ndarray:
    """The class (arg-max of the first 10 outputs, lowest index on a tie) of each padded
    image."""
    out = []
    for i in range(0, len(pixels), batch):
        a = ops.inputs(pixels[i : i + batch])
        for j in range(len(net.junctions)):
            a, _ = ops.forward(j, a, params.w[j], params.b[j])
        out.append(np.argmax(a[:, :OUTPUT_CLASSES], axis=1))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def train_online(
    net: Network,
    ops,
    params: Params,
    train_x: np.ndarray,
    train_y: np.ndarray,
    eta_exponents: list[int],
    schedule: Schedule = Schedule.PIPELINED,
    test_x: np.ndarray | None = None,
    test_y: np.ndarray | None = None,
    bar=None,
    threshold: float = 0,
) -> TrainResult:
    """Online SGD, one epoch per entry of ``eta_exponents`` (η = 2^-k for that epoch), inputs
    in the given order each epoch.  ``train_x``/``test_x`` are padded uint8 pixels;
    ``threshold``: the speculative schedule's on the summed distance of the 10 outputs, in the
    arithmetic's units (``ops.threshold`` converts a mean distance)."""
    J = len(net.junctions)
    n_out = net.layers[-1]
    if n_out < OUTPUT_CLASSES:
        raise ValueError(
            f"the output layer has {n_out} neurons; the first {OUTPUT_CLASSES} are the classes"
        )
    labels = np.asarray(train_y)
    if labels.size and (labels.min() < 0 or labels.max() >= OUTPUT_CLASSES):
        raise ValueError(
            f"labels must be 0 … {OUTPUT_CLASSES - 1}, got {labels.min()} … {labels.max()}"
        )
    lags = schedule.forward_lags(J)
    p = params.copy()
    epochs = []
    for e, k in enumerate(eta_exponents):
        # the pipeline is flushed at every epoch's end: the epoch starts from one version
        versions = [deque([(p.w[j], p.b[j])], maxlen=lags[j] + 1) for j in range(J)]
        hits = 0
        predicted = np.zeros(len(train_y), np.int64)
        outcomes = np.zeros(len(train_y), np.int8)
        store: dict[int, tuple] = {}
        for i, (x, label) in enumerate(zip(train_x, train_y)):
            acts, ders = [ops.inputs(x)], [None]
            for j in range(J):
                w, b = versions[j][0]
                a, d = ops.forward(j, acts[-1], w, b)
                acts.append(a)
                ders.append(d)
            predicted[i] = np.argmax(acts[-1][:OUTPUT_CLASSES])
            hits += int(predicted[i] == label)
            delta = ops.cost(acts[-1], ops.target(int(label), n_out))
            if schedule is Schedule.SPECULATIVE:
                acts, ders, delta, outcomes[i] = _speculate(
                    store, int(label), acts, ders, delta, threshold
                )
            for j in reversed(range(J)):
                w, b = versions[j][-1]
                below = ops.backward(j, delta, ders[j], w) if j > 0 else None
                versions[j].append(ops.update(j, w, b, delta, acts[j], k))
                delta = below
            if bar is not None:
                bar.advance(f"{ops.name} epoch {e + 1}")
        for j in range(J):
            p.w[j], p.b[j] = versions[j][-1]
        test_acc = float("nan")
        if test_x is not None and len(test_x):  # evaluated apart: its saturations not counted
            test_acc = float(np.mean(predict(net, type(ops)(net), p, test_x) == test_y))
        epochs.append(
            EpochResult(
                e + 1,
                int(k),
                hits / max(1, len(train_y)),
                test_acc,
                predicted,
                outcomes if schedule is Schedule.SPECULATIVE else None,
            )
        )
    saturations = dict(getattr(ops, "counter", OverflowCounter()).saturated)
    return TrainResult(p, epochs, saturations)


def _speculate(store: dict, label: int, acts, ders, delta, threshold: int):
    """The speculative schedule's choice for one input: the activations, σ′ and output deltas
    its update uses, and its outcome; the input becomes its label's stored one."""
    own = (acts, ders, delta)
    kept = store.get(label)
    store[label] = own
    if kept is None:
        return (*own, Outcome.SERIAL)
    d = np.abs(np.asarray(acts[-1][:OUTPUT_CLASSES]) - kept[0][-1][:OUTPUT_CLASSES]).sum()
    if d <= threshold:
        return (*kept, Outcome.HIT)
    return (*own, Outcome.MISS)
