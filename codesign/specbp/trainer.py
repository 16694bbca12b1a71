"""The compiled trainer: the reference's algorithm in C (``kernels.c``), with the forward and the
speculative backward pass of each input on two OS threads that meet at a barrier per input.

:func:`train` runs one epoch per call into the library (ctypes releases the GIL; OpenMP makes
the two threads) and evaluates the test set between epochs, outside the timed region.  With
``speculate=False`` the same kernels run the plain trainer on one thread: the baseline.
"""

from __future__ import annotations

import ctypes
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from codesign.native import load_library
from codesign.specbp.reference import (
    CLASSES,
    Outcome,
    Params,
    Setup,
    SpecbpError,
    accuracy,
    init_params,
)

__all__ = ["KERNELS", "Run", "kernels", "train"]

KERNELS = Path(__file__).with_name("kernels.c")
_ERRORS = {
    -1: "the network has more than 8 junctions",
    -2: f"the output layer must have {CLASSES} neurons",
    -3: f"a label is outside 0 … {CLASSES - 1}",
    -4: "out of memory",
    -5: "batch must be at least 1",
}


@functools.cache
def kernels() -> ctypes.CDLL:
    """The compiled kernels (built on first use; ``scripts/setup.sh`` builds them ahead)."""
    lib = load_library(KERNELS, ("-fopenmp",))
    f64 = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    i64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
    i32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
    i8 = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
    c_int, c_i64, c_f64 = ctypes.c_int, ctypes.c_int64, ctypes.c_double
    lib.specbp_epoch.restype = c_int
    u8 = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
    lib.specbp_epoch.argtypes = [
        c_int, i32, f64, f64, f64, f64, f64, f64, u8, i64, c_i64,
        c_f64, c_int, c_int, c_int, c_f64, c_f64, c_i64, c_f64, i64, f64, f64,
        i8, f64, i64, i64,
    ]  # fmt: skip
    return lib


@dataclass
class Run:
    """One training run: parameters, per-input outcomes and times, per-epoch figures."""

    threshold: float
    speculate: bool
    threads: int
    params: Params
    outcomes: np.ndarray  # (epochs, n) int8 Outcome
    distances: np.ndarray  # (epochs, n) float64, NaN for serial inputs
    step_ns: np.ndarray  # (epochs, n) int64, thread 0's wall time per input
    phase_ns: np.ndarray  # (epochs, n, 3) int64: forward, speculative backward, serial tail
    epoch_seconds: np.ndarray  # (epochs,) wall time of each epoch's training
    test_accuracy: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Wall time of the whole training (test evaluations excluded)."""
        return float(self.epoch_seconds.sum())

    @property
    def hit_rate(self) -> float:
        """Hits among all training inputs."""
        return float(np.mean(self.outcomes == Outcome.HIT))

    def step_mean_ns(self, outcome: Outcome) -> float:
        """Mean step time of the inputs with ``outcome`` (NaN if none)."""
        sel = self.outcomes == outcome
        return float(self.step_ns[sel].mean()) if sel.any() else float("nan")


def train(
    setup: Setup,
    x: np.ndarray,
    y: np.ndarray,
    *,
    threshold: float = 0.0,
    speculate: bool = True,
    threads: int = 2,
    pin: bool = True,
    params: Params | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch=None,
) -> Run:
    """Train ``setup.epochs`` epochs on uint8 images ``x`` (``(n, h, w)`` or ``(n, h·w)``; the
    kernels read pixel / 255 as :func:`pixels` does) and labels ``y``; ``test`` = (float64
    rows, labels).

    ``speculate`` with ``threads=2`` overlaps the passes; ``threads=1`` runs the same
    speculation on one thread; ``speculate=False`` is the plain trainer.  ``pin`` keeps the two
    threads on two CPUs during each epoch.  ``on_epoch(epoch,
    run)`` is called after each epoch.
    """
    if threads not in (1, 2):
        raise SpecbpError(f"threads = {threads}: the trainer runs on 1 or 2 threads")
    if not threshold >= 0:
        raise SpecbpError(f"threshold = {threshold}: must be ≥ 0")
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise SpecbpError(f"images must be uint8 pixels, got {x.dtype}")
    x = np.ascontiguousarray(x.reshape(len(x), -1))
    y = np.ascontiguousarray(y, dtype=np.int64)
    if x.shape[1] != setup.sizes[0] or len(y) != len(x):
        raise SpecbpError(
            f"{len(x)} images of {x.shape[1]} pixels and {len(y)} labels: the network's input "
            f"layer has {setup.sizes[0]} neurons; give one label per image"
        )
    params = (params or init_params(setup)).copy()
    n, epochs = len(y), setup.epochs
    run = Run(
        threshold, speculate, threads, params,
        outcomes=np.zeros((epochs, n), dtype=np.int8),
        distances=np.full((epochs, n), np.nan),
        step_ns=np.zeros((epochs, n), dtype=np.int64),
        phase_ns=np.zeros((epochs, n, 3), dtype=np.int64),
        epoch_seconds=np.zeros(epochs),
    )  # fmt: skip
    state = _State(setup, params)
    lib = kernels()
    with threadpool_limits(limits=1):  # idle BLAS threads spin on the cores the trainer needs
        for epoch in range(epochs):
            start = time.perf_counter()
            err = lib.specbp_epoch(
                len(setup.sizes) - 1, state.sizes, state.w, state.b, state.gw, state.gb,
                state.gw2, state.gb2, x, y, n, threshold, int(speculate), threads, int(pin),
                setup.lr, setup.clip, setup.batch, setup.slope,
                state.stored, state.s_act, state.s_pre,
                run.outcomes[epoch], run.distances[epoch], run.step_ns[epoch],
                run.phase_ns[epoch],
            )  # fmt: skip
            run.epoch_seconds[epoch] = time.perf_counter() - start
            if err:
                raise SpecbpError(
                    f"the compiled trainer refused its input: {_ERRORS.get(err, err)}"
                )
            state.unflatten(params)
            if test is not None:
                run.test_accuracy.append(accuracy(params, *test, setup.slope))
            if on_epoch is not None:
                on_epoch(epoch, run)
    return run


class _State:
    """What the kernels carry from epoch to epoch: flat parameters, both gradient buffers and
    the per-label store."""

    def __init__(self, setup: Setup, params: Params) -> None:
        self.sizes = np.array(setup.sizes, dtype=np.int32)
        self.w, self.b = params.flat()
        self.gw, self.gb = np.zeros_like(self.w), np.zeros_like(self.b)
        self.gw2, self.gb2 = np.zeros_like(self.w), np.zeros_like(self.b)
        width = int(sum(setup.sizes[1:]))
        self.stored = np.full(CLASSES, -1, dtype=np.int64)
        self.s_act = np.zeros(CLASSES * width)
        self.s_pre = np.zeros(CLASSES * width)

    def unflatten(self, params: Params) -> None:
        at = bt = 0
        for j, (wj, bj) in enumerate(zip(params.weights, params.biases)):
            params.weights[j] = self.w[at : at + wj.size].reshape(wj.shape).copy()
            params.biases[j] = self.b[bt : bt + bj.size].copy()
            at += wj.size
            bt += bj.size
