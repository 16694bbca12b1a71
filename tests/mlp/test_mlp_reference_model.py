"""An independent checker of the sparse-MLP trainer's contract, written from
docs/mlp-fixed-point.md alone (not from codesign/mlp/train.py or fixedpoint.py).

The checker is plain Python on plain ints: per-slot products rounded half up and saturated, one
saturation of each pre-activation sum, the activation tables built here from the doc's
formulas, the output delta over all outputs, back-propagation accumulated slot by slot with a
saturating add each time, the bias step ``rs(sat(−δ), k)`` and the updates.  The schedule is
simulated as the doc's **block-cycle table** — in every block cycle each junction does the
passes the table gives it, all passes read the weights as they stood at the start of the block
cycle, updates are committed at its end, and every epoch ends with a flush of ``2J`` empty block
cycles — not by counting weight versions (the version counts the doc states are *checked*
against the simulation instead).  ``schedule = "sequential"`` is the same engine with the inputs
spaced ``2J + 1`` block cycles apart (each input completes before the next enters), and also a
textbook online-SGD loop.

The final weights, biases and per-epoch online train accuracy of
``codesign.mlp.train.train_online`` must equal the checker's bit for bit; the float run
(``FloatArithmetic``) must match the checker's float64 version of the same schedule to 1e-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from codesign.mlp import train as T
from codesign.mlp.connectivity import Interleaver, interleave, junctions

# ---------------------------------------------------------------------------------------------
# Numbers (docs/mlp-fixed-point.md, "Numbers")

WMIN, WMAX = -512, 511  # signed 10-bit word, q / 128
ONE = 128
CLASSES = 10  # "prediction: the lowest index of the maximum of a_J[0 … 9]"


def sat(x: int, counts: dict | None = None, key: str | None = None) -> int:
    """Clamp to the word; count a clamp that changed the value under ``key``."""
    y = WMIN if x < WMIN else WMAX if x > WMAX else x
    if counts is not None and key is not None and y != x:
        counts[key] = counts.get(key, 0) + 1
    return y


def rs(x: int, k: int) -> int:
    """Right shift by k rounding half up: ⌊(x + 2^(k−1)) / 2^k⌋, rs(x, 0) = x."""
    if k == 0:
        return x
    return (x + (1 << (k - 1))) // (1 << k)


def mul(x: int, y: int, counts: dict | None = None, key: str | None = None) -> int:
    return sat(rs(x * y, 7), counts, key)


def _round_half_up(v: float) -> int:
    return math.floor(v + 0.5)


def sigmoid_table() -> tuple[list[int], list[int]]:
    """(a, a′) for q = −512 … 511, indexed q + 512, from the exact logistic function."""
    act, der = [], []
    for q in range(WMIN, WMAX + 1):
        s = 1.0 / (1.0 + math.exp(-q / ONE))
        act.append(min(127, _round_half_up(128 * s)))
        der.append(min(31, max(1, _round_half_up(128 * s * (1 - s)))))
    return act, der


def relu_table() -> tuple[list[int], list[int]]:
    """The clipped relu: a = q on 0 < q < 128, 1 at or below 0, 127 from 128; a′ = 127 or 1."""
    act, der = [], []
    for q in range(WMIN, WMAX + 1):
        if 0 < q < 128:
            act.append(q)
            der.append(127)
        else:
            act.append(1 if q <= 0 else 127)
            der.append(1)
    return act, der


def predict(a_out) -> int:
    """The lowest index of the maximum of a_J[0 … 9]."""
    best = 0
    for r in range(1, CLASSES):
        if a_out[r] > a_out[best]:
            best = r
    return best


# ---------------------------------------------------------------------------------------------
# The two arithmetics of the checker, one junction pass at a time, scalar loops over slots.


@dataclass(frozen=True)
class Topo:
    """One junction as the checker sees it: sizes and the left neuron of every slot."""

    n_left: int
    n_right: int
    fi: int
    left: tuple[int, ...]


class RefFixed:
    """The doc's fixed point; ``counts`` tallies clamps per datapath point."""

    def __init__(self, activation: str):
        self.act, self.der = sigmoid_table() if activation == "sigmoid" else relu_table()
        self.counts: dict = {}
        self.transient = 0  # sums whose running total left the word but came back

    def inputs(self, pixels, n0: int) -> list[int]:
        a = [int(p) >> 1 for p in np.asarray(pixels).reshape(-1)]
        assert len(a) <= n0
        return a + [0] * (n0 - len(a))  # zero padding

    def target(self, label: int, n: int) -> list[int]:
        return [ONE if r == label else 0 for r in range(n)]

    def forward(self, j: int, tp: Topo, a_left, w, b):
        a, d = [], []
        for r in range(tp.n_right):
            acc, left_word = b[r], False
            for i in range(r * tp.fi, (r + 1) * tp.fi):
                acc += mul(a_left[tp.left[i]], w[i], self.counts, f"forward j{j}: a*w")
                left_word |= sat(acc) != acc
            s = sat(acc, self.counts, f"forward j{j}: sum")  # one saturation, at the end
            self.transient += left_word and s == acc
            a.append(self.act[s - WMIN])
            d.append(self.der[s - WMIN])
        return a, d

    def output_delta(self, a, y):
        return [a[r] - y[r] for r in range(len(a))]  # all n_J outputs

    def backprop(self, j: int, tp: Topo, delta_right, d_left, w):
        c = self.counts
        delta_left = [0] * tp.n_left
        for i in range(len(tp.left)):  # increasing slot order
            r, l = i // tp.fi, tp.left[i]
            term = mul(
                mul(delta_right[r], d_left[l], c, f"back j{j}: d*da"), w[i], c, f"back j{j}: *w"
            )
            delta_left[l] = sat(delta_left[l] + term, c, f"back j{j}: accumulate")
        return delta_left

    def update(self, j: int, tp: Topo, w, b, delta_right, a_left, k: int):
        c = self.counts
        db = [rs(sat(-d, c, "update: -delta"), k) for d in delta_right]
        nb = [sat(b[r] + db[r], c, f"update j{j}: b") for r in range(tp.n_right)]
        nw = [
            sat(
                w[i] + mul(db[i // tp.fi], a_left[tp.left[i]], c, f"update j{j}: dw"),
                c,
                f"update j{j}: w",
            )
            for i in range(len(tp.left))
        ]
        return nw, nb


class RefFloat:
    """float64, the exact functions, η = 2^−k, inputs pixel / 255, targets 1 / 0.

    The doc defines the float run's activation only as "exact"; for the relu this takes the
    plain (unclipped) max(0, s) with derivative 1 for s > 0, else 0."""

    def __init__(self, activation: str):
        self.relu = activation == "relu"

    def inputs(self, pixels, n0: int) -> list[float]:
        a = [int(p) / 255.0 for p in np.asarray(pixels).reshape(-1)]
        return a + [0.0] * (n0 - len(a))

    def target(self, label: int, n: int) -> list[float]:
        return [1.0 if r == label else 0.0 for r in range(n)]

    def forward(self, j: int, tp: Topo, a_left, w, b):
        a, d = [], []
        for r in range(tp.n_right):
            s = b[r]
            for i in range(r * tp.fi, (r + 1) * tp.fi):
                s += a_left[tp.left[i]] * w[i]
            if self.relu:
                a.append(max(0.0, s))
                d.append(1.0 if s > 0 else 0.0)
            else:
                g = 1.0 / (1.0 + math.exp(-s))
                a.append(g)
                d.append(g * (1.0 - g))
        return a, d

    def output_delta(self, a, y):
        return [a[r] - y[r] for r in range(len(a))]

    def backprop(self, j: int, tp: Topo, delta_right, d_left, w):
        delta_left = [0.0] * tp.n_left
        for i in range(len(tp.left)):
            r, l = i // tp.fi, tp.left[i]
            delta_left[l] += delta_right[r] * d_left[l] * w[i]
        return delta_left

    def update(self, j: int, tp: Topo, w, b, delta_right, a_left, k: int):
        eta = 2.0**-k
        db = [-eta * d for d in delta_right]
        nb = [b[r] + db[r] for r in range(tp.n_right)]
        nw = [w[i] + db[i // tp.fi] * a_left[tp.left[i]] for i in range(len(tp.left))]
        return nw, nb


# ---------------------------------------------------------------------------------------------
# The schedule as a block-cycle table.


@dataclass
class RunLog:
    correct: list[int]  # per epoch: inputs whose own forward pass predicted the label
    cycles: list[int]  # per epoch: block cycles simulated, flush included
    versions: dict  # (epoch, j, t) -> updates of w_j committed (this epoch) when forward j read it
    latency: set  # block cycles from an input's entry to the end of its last update


def _entered(c: int, offset: int, spacing: int, n: int):
    """The input whose entry block cycle plus ``offset`` is ``c``, if any."""
    t, rem = divmod(c - offset, spacing)
    return t if rem == 0 and 0 <= t < n else None


def _take(mem, t: int, name, c: int):
    """A value of input ``t`` made in an earlier block cycle than ``c``."""
    produced, value = mem[t][name]
    assert produced < c, f"{name} of input {t} used in block cycle {c}, made in {produced}"
    return value


def block_cycle_train(topo, ref, w, b, images, labels, etas, spacing: int) -> tuple:
    """Train epoch by epoch on the block-cycle table of docs/mlp-fixed-point.md.

    Input ``t`` enters in block cycle ``e_t = t·spacing`` (1: the pipeline; ``2J+1``: each input
    done before the next, the sequential schedule).  Junction ``j`` does the forward pass of
    input ``t`` in block cycle ``e_t + j``; the output delta is formed at the end of block cycle
    ``e_t + J``; back-propagation (``j ≥ 2``) and the update of junction ``j`` happen in block
    cycle ``e_t + 2J − j + 1``.  Every pass reads the weights as they stand at the start of its
    block cycle; the updates are written back at its end.  The epoch runs until the last input's
    last update is done (the flush)."""
    J = len(topo)
    w = [list(x) for x in w]
    b = [list(x) for x in b]
    n0 = topo[0].n_left
    log = RunLog(correct=[], cycles=[], versions={}, latency=set())
    for epoch, k in enumerate(etas):
        n = len(images)
        n_cycles = (n - 1) * spacing + 2 * J + 1
        # per input: value -> (block cycle produced, value); the "memories that rotate per input"
        mem = [dict() for _ in range(n)]
        committed = [0] * (J + 1)  # updates of w_j written back so far this epoch
        correct = 0

        for c in range(n_cycles):
            w_start = [tuple(x) for x in w]  # the weights as they stand at the start
            b_start = [tuple(x) for x in b]
            writes = {}
            t = _entered(c, 0, spacing, n)
            if t is not None:  # input t enters
                mem[t]["a", 0] = (c, ref.inputs(images[t], n0))
            for j in range(1, J + 1):  # forward passes
                t = _entered(c, j, spacing, n)
                if t is None:
                    continue
                log.versions[epoch, j, t] = committed[j]
                a, d = ref.forward(
                    j, topo[j - 1], _take(mem, t, ("a", j - 1), c), w_start[j], b_start[j]
                )
                mem[t]["a", j] = (c, a)
                mem[t]["d", j] = (c, d)
            for j in range(J, 0, -1):  # back-propagation and updates
                t = _entered(c, 2 * J - j + 1, spacing, n)
                if t is None:
                    continue
                delta_j = _take(mem, t, ("delta", j), c)
                if j >= 2:
                    d_left = _take(mem, t, ("d", j - 1), c)
                    mem[t]["delta", j - 1] = (
                        c,
                        ref.backprop(j, topo[j - 1], delta_j, d_left, w_start[j]),
                    )
                a_left = _take(mem, t, ("a", j - 1), c)
                assert j not in writes, "two updates of one junction in one block cycle"
                writes[j] = ref.update(j, topo[j - 1], w_start[j], b_start[j], delta_j, a_left, k)
                if j == 1:
                    log.latency.add(c + 1 - t * spacing)
            t = _entered(c, J, spacing, n)  # end of the block cycle: the output delta
            if t is not None:
                produced, a_out = mem[t]["a", J]
                assert produced == c
                y = ref.target(int(labels[t]), topo[-1].n_right)
                mem[t]["delta", J] = (c, ref.output_delta(a_out, y))
                correct += predict(a_out) == int(labels[t])
            for j, (nw, nb) in writes.items():  # commit at the end of the block cycle
                w[j], b[j] = list(nw), list(nb)
                committed[j] += 1
        assert committed[1:] == [n] * J, "the flush must complete every update"
        log.correct.append(correct)
        log.cycles.append(n_cycles)
    return w, b, log


def plain_online_sgd(topo, ref, w, b, images, labels, etas):
    """Textbook online SGD (the doc's "sequential": lag 0 everywhere)."""
    J = len(topo)
    w = [list(x) for x in w]
    b = [list(x) for x in b]
    correct = []
    for k in etas:
        ok = 0
        for x, label in zip(images, labels):
            a = [ref.inputs(x, topo[0].n_left)]
            d = [None]
            for j in range(1, J + 1):
                aj, dj = ref.forward(j, topo[j - 1], a[j - 1], w[j], b[j])
                a.append(aj)
                d.append(dj)
            ok += predict(a[J]) == int(label)
            delta = {J: ref.output_delta(a[J], ref.target(int(label), topo[-1].n_right))}
            for j in range(J, 1, -1):
                delta[j - 1] = ref.backprop(j, topo[j - 1], delta[j], d[j - 1], w[j])
            for j in range(J, 0, -1):
                w[j], b[j] = ref.update(j, topo[j - 1], w[j], b[j], delta[j], a[j - 1], k)
        correct.append(ok)
    return w, b, correct


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass(frozen=True)
class Case:
    name: str
    layers: tuple
    fo: tuple
    z: tuple
    activation: str
    kind: Interleaver
    dither: bool
    etas: tuple
    n_inputs: int
    pixels: int  # image size before zero padding to layers[0]
    big_weights: bool = False  # random words over the whole range: saturates everywhere
    pixel_max: int = 255  # dim images keep some relu pre-activations in 0 < q < 128


CASES = [
    # name, layers, fo, z, activation, interleaver, dither, eta exponents, inputs, pixels
    Case("sig-2j", (32, 16, 16), (4, 4), (8, 4), "sigmoid", Interleaver.START, False,
         (2, 4), 20, 32),
    Case("relu-2j", (32, 16, 10), (4, 5), (8, 8), "relu", Interleaver.RANDOM, True,
         (3, 1), 16, 32),
    Case("sig-3j", (32, 16, 16, 16), (4, 4, 4), (8, 8, 4), "sigmoid", Interleaver.START_ZERO,
         False, (1, 4), 24, 24),  # 24-pixel images, zero-padded to 32
    Case("sig-2j-sat", (32, 16, 16), (4, 8), (8, 8), "sigmoid", Interleaver.START, False,
         (2, 3), 16, 32, big_weights=True),
    Case("relu-3j-sat", (32, 16, 16, 12), (4, 4, 3), (8, 4, 4), "relu", Interleaver.START, True,
         (0, 2), 20, 32, big_weights=True, pixel_max=31),
]  # fmt: skip
SCHEDULES = [T.Schedule.PIPELINED, T.Schedule.SEQUENTIAL]


def build(case: Case, seed: int = 7):
    js = junctions(case.layers, case.fo, case.z)
    orders = tuple(
        interleave(j, case.kind, seed=seed + i, dither=case.dither) for i, j in enumerate(js)
    )
    net = T.Network(js, orders, T.Activation(case.activation))
    topo = [
        Topo(j.n_left, j.n_right, j.n_left * j.fo // j.n_right, tuple(int(v) for v in o))
        for j, o in zip(js, orders)
    ]
    rng = np.random.default_rng(seed + 100)
    images = rng.integers(0, case.pixel_max + 1, (case.n_inputs, case.pixels), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, case.n_inputs)
    return net, topo, images, labels


def my_glorot(topo, seed: int):
    """The doc's start: one normal draw of E_j values per junction, σ² = 2/(fi + fo)."""
    rng = np.random.default_rng(seed)
    w, b = [], []
    for tp in topo:
        fo = len(tp.left) // tp.n_left
        w.append(rng.normal(0.0, math.sqrt(2.0 / (tp.fi + fo)), len(tp.left)))
        b.append(np.zeros(tp.n_right))
    return w, b


def start_params(case: Case, net, topo, seed: int = 3):
    """(impl Params, checker w, checker b) — the fixed-point start for both sides."""
    if case.big_weights:
        rng = np.random.default_rng(seed)
        w = [rng.integers(WMIN, WMAX + 1, len(tp.left)) for tp in topo]
        b = [rng.integers(-64, 65, tp.n_right) for tp in topo]
        params = T.Params([x.astype(np.int64) for x in w], [x.astype(np.int64) for x in b])
    else:
        wf, _ = my_glorot(topo, seed)
        w = [[sat(math.floor(128 * v + 0.5)) for v in x] for x in wf]
        b = [[0] * tp.n_right for tp in topo]
        params = T.quantize_params(T.glorot_normal(net, seed))
    # the checker's arrays are indexed by junction, 1 … J
    return params, [[]] + [[int(v) for v in x] for x in w], [[]] + [[int(v) for v in x] for x in b]


def padded(net, images):
    return T.pad_inputs(images, net.layers[0])


def run_impl(net, arith, params, images, labels, etas, schedule):
    return T.train_online(
        net, arith, params.copy(), padded(net, images), labels, list(etas), schedule=schedule
    )


def checker_fixed(case, topo, w, b, images, labels, schedule):
    ref = RefFixed(case.activation)
    J = len(topo)
    spacing = 1 if schedule is T.Schedule.PIPELINED else 2 * J + 1
    fw, fb, log = block_cycle_train(topo, ref, w, b, images, labels, case.etas, spacing)
    return fw, fb, log, ref


@pytest.fixture(scope="module")
def runs():
    """Every case × schedule: the implementation's result and the checker's."""
    out = {}
    for case in CASES:
        net, topo, images, labels = build(case)
        params, w, b = start_params(case, net, topo)
        for schedule in SCHEDULES:
            res = run_impl(net, T.FixedArithmetic(net), params, images, labels, case.etas, schedule)
            mine = checker_fixed(case, topo, w, b, images, labels, schedule)
            out[case.name, schedule] = (res, mine, topo, images, labels)
    return out


# ---------------------------------------------------------------------------------------------
# The worked cases and the tables


def test_worked_cases():
    assert mul(64, 64) == 32
    assert mul(1, 64) == 1  # half rounds up
    assert mul(-1, 64) == 0
    assert mul(511, 511) == 511
    act, der = sigmoid_table()
    assert (act[0 - WMIN], der[0 - WMIN]) == (64, 31)
    assert (act[-512 - WMIN], der[-512 - WMIN]) == (2, 2)
    assert act[511 - WMIN] == 126
    delta = -90
    assert rs(sat(-delta), 3) == 11
    assert mul(11, 127) == 11
    delta = -512
    assert sat(-delta) == 511
    assert rs(-3, 0) == -3 and rs(-3, 1) == -1 and rs(-5, 1) == -2 and rs(5, 1) == 3
    assert len(act) == len(der) == 1024
    assert min(act) >= 0 and max(act) <= 127 and min(der) >= 1 and max(der) <= 31
    ract, rder = relu_table()
    assert [ract[q - WMIN] for q in (-512, -1, 0, 1, 64, 127, 128, 511)] == [
        1, 1, 1, 1, 64, 127, 127, 127
    ]  # fmt: skip
    assert [rder[q - WMIN] for q in (-512, 0, 1, 127, 128, 511)] == [1, 1, 127, 127, 1, 1]


def test_sigmoid_table_has_no_near_ties():
    """The table does not depend on how the exact σ is evaluated: no entry is within 1e-9 of a
    rounding tie."""
    for q in range(WMIN, WMAX + 1):
        s = 1.0 / (1.0 + math.exp(-q / ONE))
        for v in (128 * s, 128 * s * (1 - s)):
            assert abs((v - math.floor(v)) - 0.5) > 1e-9, q


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_tables_match_implementation(activation):
    from codesign.mlp.fixedpoint import activation_table

    act, der = activation_table(T.Activation(activation))
    mine = sigmoid_table() if activation == "sigmoid" else relu_table()
    assert [int(v) for v in act] == mine[0]
    assert [int(v) for v in der] == mine[1]


def test_initial_weights_follow_doc():
    case = CASES[2]
    net, topo, _, _ = build(case)
    for seed in (0, 5):
        p = T.glorot_normal(net, seed)
        wf, bf = my_glorot(topo, seed)
        for j in range(len(topo)):
            np.testing.assert_array_equal(p.w[j], wf[j])
            assert np.all(p.b[j] == 0)
        q = T.quantize_params(p)
        for j in range(len(topo)):
            assert [int(v) for v in q.w[j]] == [sat(math.floor(128 * v + 0.5)) for v in p.w[j]]
            assert np.all(q.b[j] == 0)
    # saturation and half-up at the edges of the quantizer
    edge = T.Params([np.array([5.0, -5.0, 0.5 / 128, -0.5 / 128, 3.99])], [np.zeros(1)])
    assert [int(v) for v in T.quantize_params(edge).w[0]] == [511, -512, 1, 0, 511]


# ---------------------------------------------------------------------------------------------
# Bit-exact comparison with the implementation


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.value)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fixed_point_bit_exact(runs, case, schedule):
    res, (w, b, log, _), topo, images, labels = runs[case.name, schedule]
    for j in range(1, len(topo) + 1):
        got_w = [int(v) for v in res.params.w[j - 1]]
        got_b = [int(v) for v in res.params.b[j - 1]]
        assert got_w == w[j], f"junction {j} weights differ at slots " + str(
            [i for i, (x, y) in enumerate(zip(got_w, w[j])) if x != y][:10]
        )
        assert got_b == b[j], f"junction {j} biases differ"
    n = len(images)
    assert [e.eta_exponent for e in res.epochs] == list(case.etas)
    assert [e.epoch for e in res.epochs] == list(range(1, len(case.etas) + 1))
    for e, ok in zip(res.epochs, log.correct):
        assert e.train_accuracy == pytest.approx(ok / n, abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_schedules_differ(runs, case):
    """Pipelined and sequential give different weights, on both sides (the comparison above is
    not vacuous), and the pipeline really reads stale weights."""
    res_p, (wp, _, log_p, _), topo, _, _ = runs[case.name, T.Schedule.PIPELINED]
    res_s, (ws, _, _, _), _, _, _ = runs[case.name, T.Schedule.SEQUENTIAL]
    assert wp != ws
    assert any(not np.array_equal(res_p.params.w[j], res_s.params.w[j]) for j in range(len(topo)))
    stale = [key for key, v in log_p.versions.items() if v < key[2]]  # missed updates in flight
    assert stale


def test_saturations_are_exercised_and_counted(runs):
    """The big-weight cases drive the clamps of the datapath that can clamp at all (so the
    slot order of the accumulation, the single saturation of the sum and sat(−(−512)) matter),
    and the implementation's counters equal the checker's count of clamps that changed a
    value.  (Forward a·w, back δ·a′, update Δb·a and back-propagation of the output junction
    cannot clamp: activations are at most 127 and δ_J lies in −128 … 127.)"""
    total: dict = {}
    for case in CASES:
        for schedule in SCHEDULES:
            res, (_, _, _, ref), _, _, _ = runs[case.name, schedule]
            for key, value in res.saturations.items():
                assert value == ref.counts.get(key, 0), (case.name, schedule, key)
            assert set(ref.counts) <= set(res.saturations)
            if case.name == "relu-3j-sat":
                for key, value in ref.counts.items():
                    total[key] = total.get(key, 0) + value
            if case.name == "sig-2j-sat":  # running sums that overflow and come back
                assert ref.transient > 0
    for key in (
        "forward j1: sum",
        "forward j2: sum",
        "forward j3: sum",
        "back j2: *w",
        "back j3: accumulate",
        "back j2: accumulate",
        "update: -delta",
        "update j1: w",
        "update j1: b",
        "update j2: b",
    ):
        assert total.get(key, 0) > 0, key


def test_block_cycle_table_matches_doc_version_counts(runs):
    """The doc's consequences of its table: forward j of input t reads w_j^(max(0, t − lag_j)),
    lag_j = 2(J − j) + 1, relative to the epoch's start (the flush); sequential reads w^(t); an
    epoch of N inputs takes N + 2J block cycles; an input's last update ends 2J + 1 block cycles
    after it enters."""
    for case in CASES:
        J = len(case.layers) - 1
        _, (_, _, log, _), _, images, _ = runs[case.name, T.Schedule.PIPELINED]
        n = len(images)
        for (_, j, t), v in log.versions.items():
            assert v == max(0, t - (2 * (J - j) + 1)), (case.name, j, t)
        assert log.cycles == [n + 2 * J] * len(case.etas)
        assert log.latency == {2 * J + 1}
        _, (_, _, log_s, _), _, _, _ = runs[case.name, T.Schedule.SEQUENTIAL]
        for (_, _j, t), v in log_s.versions.items():
            assert v == t


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sequential_block_cycles_equal_plain_sgd(runs, case):
    """The checker's own two views of "sequential" agree."""
    _, (w, b, log, _), topo, images, labels = runs[case.name, T.Schedule.SEQUENTIAL]
    net = build(case)[0]
    _, w0, b0 = start_params(case, net, topo)
    pw, pb, correct = plain_online_sgd(
        topo, RefFixed(case.activation), w0, b0, images, labels, case.etas
    )
    assert pw[1:] == w[1:] and pb[1:] == b[1:] and correct == log.correct


# ---------------------------------------------------------------------------------------------
# Float


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.value)
@pytest.mark.parametrize("case", [c for c in CASES if not c.big_weights], ids=lambda c: c.name)
def test_float_matches_reference(case, schedule):
    """FloatArithmetic on the same schedule; the relu case follows this file's reading of the
    doc's "exact functions" (see RefFloat)."""
    net, topo, images, labels = build(case)
    seed = 11
    params = T.glorot_normal(net, seed)
    res = run_impl(net, T.FloatArithmetic(net), params, images, labels, case.etas, schedule)
    wf, bf = my_glorot(topo, seed)
    J = len(topo)
    spacing = 1 if schedule is T.Schedule.PIPELINED else 2 * J + 1
    w, b, log = block_cycle_train(
        topo,
        RefFloat(case.activation),
        [[]] + [list(map(float, x)) for x in wf],
        [[]] + [list(map(float, x)) for x in bf],
        images,
        labels,
        case.etas,
        spacing,
    )
    for j in range(1, J + 1):
        np.testing.assert_allclose(res.params.w[j - 1], w[j], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.params.b[j - 1], b[j], rtol=1e-12, atol=1e-12)
        assert not np.allclose(res.params.w[j - 1], wf[j - 1], atol=1e-6)  # it did train
    for e, ok in zip(res.epochs, log.correct):
        assert e.train_accuracy == pytest.approx(ok / len(images), abs=1e-12)
