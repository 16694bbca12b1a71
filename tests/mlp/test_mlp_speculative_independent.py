"""An independent model of the sparse-MLP trainer's ``speculative`` schedule, written from
docs/mlp-fixed-point.md alone (not from codesign/mlp/train.py), checked bit for bit against
``codesign.mlp.train.train_online(..., Schedule.SPECULATIVE, threshold=T)``.

The model is plain Python on plain ints: every product rounded half up and saturated, one
saturation per pre-activation sum, activation tables built here from the doc's formulas, output
deltas over all ``n_J`` outputs, back-propagation accumulated slot by slot with a saturating add,
``Δb = rs(sat(−δ), k)`` and the saturating updates.  The schedule, per epoch:

* the per-label store starts empty;
* input ``t`` runs its forward pass on the current weights ``w^(t)`` (lag 0);
* ``D = Σ_{q < 10} |a_J,q − a_stored,q|`` (in LSB);
* the label has a stored input and ``D ≤ T``: a hit, the back-propagation and update (η of input
  ``t``, weights ``w^(t)``) use the stored input's activations, σ′ and output deltas; otherwise
  (a miss, or serial for the label's first input in the epoch) input ``t``'s own;
* input ``t`` becomes its label's stored input, either way.

Mutants of the model, each breaking one rule, must disagree with the engine on the same data, so
the comparison can fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from codesign.mlp.connectivity import Interleaver, interleave, junctions
from codesign.mlp.fixedpoint import Activation
from codesign.mlp.train import (
    FixedArithmetic,
    Network,
    Schedule,
    glorot_normal,
    quantize_params,
    train_online,
)

# ---------------------------------------------------------------------------------------------
# Numbers (docs/mlp-fixed-point.md, "Numbers")

WMIN, WMAX = -512, 511
ONE = 128
CLASSES = 10
SERIAL, HIT, MISS = 0, 1, 2


def sat(x: int) -> int:
    return WMIN if x < WMIN else WMAX if x > WMAX else x


def rs(x: int, k: int) -> int:
    """Right shift by k rounding half up: ⌊(x + 2^(k−1)) / 2^k⌋, rs(x, 0) = x."""
    return x if k == 0 else (x + (1 << (k - 1))) >> k


def mul(x: int, y: int) -> int:
    return sat(rs(x * y, 7))


def tables(activation: str) -> tuple[list[int], list[int]]:
    """(a, a′) for q = −512 … 511, indexed q + 512."""
    act, der = [], []
    for q in range(WMIN, WMAX + 1):
        if activation == "sigmoid":
            s = 1.0 / (1.0 + math.exp(-q / ONE))
            act.append(min(127, math.floor(128 * s + 0.5)))
            der.append(min(31, max(1, math.floor(128 * s * (1 - s) + 0.5))))
        elif 0 < q < 128:
            act.append(q)
            der.append(127)
        else:
            act.append(1 if q <= 0 else 127)
            der.append(1)
    return act, der


def predict(a_out) -> int:
    best = 0
    for r in range(1, CLASSES):
        if a_out[r] > a_out[best]:
            best = r
    return best


@dataclass(frozen=True)
class Topo:
    n_left: int
    n_right: int
    fi: int
    left: tuple[int, ...]  # left neuron of every slot


@dataclass(frozen=True)
class Rules:
    """The doc's rules; each mutant flips one."""

    keep_store: bool = False  # store carried into the next epoch (doc: emptied per epoch)
    compare_all: bool = False  # D over every output (doc: the first 10)
    strict: bool = False  # D < T is a hit (doc: D ≤ T)
    own_deltas: bool = False  # hit: input t's output deltas with the stored activations
    store_on_miss: bool = False  # only a miss/serial input becomes the stored one (doc: always)
    own_derivatives: bool = False  # hit: input t's σ′ with the stored activations and deltas
    stored_label_target: bool = False  # hit: δ_J recomputed as a_stored − y (same label: no-op)


class Model:
    def __init__(self, topo: list[Topo], activation: str, rules: Rules = Rules()):
        self.topo = topo
        self.act, self.der = tables(activation)
        self.rules = rules
        self.clamps: dict = {}  # datapath point -> values a clamp changed

    def _sat(self, x: int, where: str) -> int:
        y = sat(x)
        if y != x:
            self.clamps[where] = self.clamps.get(where, 0) + 1
        return y

    def forward(self, w, b, pixels):
        a0 = [int(p) >> 1 for p in pixels]
        a0 += [0] * (self.topo[0].n_left - len(a0))
        acts, ders = [a0], [None]
        for j, tp in enumerate(self.topo):
            a_left, a, d = acts[-1], [], []
            for r in range(tp.n_right):
                acc = b[j][r]
                for i in range(r * tp.fi, (r + 1) * tp.fi):
                    acc += mul(a_left[tp.left[i]], w[j][i])
                s = self._sat(acc, "sum")  # one saturation, at the end
                a.append(self.act[s - WMIN])
                d.append(self.der[s - WMIN])
            acts.append(a)
            ders.append(d)
        return acts, ders

    def learn(self, w, b, acts, ders, delta_out, k):
        """Back-propagation of every junction on the weights before the update, then the
        updates; returns the new (w, b)."""
        J = len(self.topo)
        delta = {J: delta_out}
        for j in range(J, 1, -1):
            tp = self.topo[j - 1]
            dl = [0] * tp.n_left
            for i, ell in enumerate(tp.left):  # increasing slot order
                term = mul(mul(delta[j][i // tp.fi], ders[j - 1][ell]), w[j - 1][i])
                dl[ell] = self._sat(dl[ell] + term, "accumulate")
            delta[j - 1] = dl
        nw, nb = [], []
        for j in range(1, J + 1):
            tp = self.topo[j - 1]
            db = [rs(sat(-d), k) for d in delta[j]]
            nb.append([self._sat(b[j - 1][r] + db[r], "b") for r in range(tp.n_right)])
            a_left = acts[j - 1]
            nw.append(
                [
                    self._sat(w[j - 1][i] + mul(db[i // tp.fi], a_left[ell]), "w")
                    for i, ell in enumerate(tp.left)
                ]
            )
        return nw, nb

    def train(self, w, b, images, labels, etas, threshold):
        """Speculative schedule; returns (w, b, outcomes per epoch, correct per epoch)."""
        R = self.rules
        w = [list(x) for x in w]
        b = [list(x) for x in b]
        n_out = self.topo[-1].n_right
        outcomes, correct = [], []
        store: dict = {}
        for k in etas:
            if not R.keep_store:
                store = {}
            out, ok = [], 0
            for x, label in zip(images, labels):
                label = int(label)
                acts, ders = self.forward(w, b, x)
                a_out = acts[-1]
                ok += predict(a_out) == label
                y = [ONE if r == label else 0 for r in range(n_out)]
                own_delta = [a_out[r] - y[r] for r in range(n_out)]  # all n_J outputs
                mine = (acts, ders, own_delta)
                if label in store:
                    s_acts, s_ders, s_delta = store[label]
                    m = n_out if R.compare_all else CLASSES
                    dist = sum(abs(a_out[q] - s_acts[-1][q]) for q in range(m))
                    hit = dist < threshold if R.strict else dist <= threshold
                    outcome = HIT if hit else MISS
                else:
                    outcome = SERIAL
                if outcome == HIT:
                    d_out = own_delta if R.own_deltas else s_delta
                    if R.stored_label_target:
                        d_out = [s_acts[-1][r] - y[r] for r in range(n_out)]
                    use_ders = ders if R.own_derivatives else s_ders
                    w, b = self.learn(w, b, s_acts, use_ders, d_out, k)
                else:
                    w, b = self.learn(w, b, acts, ders, own_delta, k)
                if not (R.store_on_miss and outcome == HIT):
                    store[label] = mine
                out.append(outcome)
            outcomes.append(out)
            correct.append(ok)
        return w, b, outcomes, correct

    def sequential(self, w, b, images, labels, etas):
        """Plain online SGD: every input's own update on the current weights."""
        w = [list(x) for x in w]
        b = [list(x) for x in b]
        n_out = self.topo[-1].n_right
        for k in etas:
            for x, label in zip(images, labels):
                acts, ders = self.forward(w, b, x)
                d = [acts[-1][r] - (ONE if r == int(label) else 0) for r in range(n_out)]
                w, b = self.learn(w, b, acts, ders, d, k)
        return w, b


# ---------------------------------------------------------------------------------------------
# Setups


@dataclass(frozen=True)
class Setup:
    name: str
    layers: tuple
    fo: tuple
    z: tuple
    activation: str = "sigmoid"
    n_inputs: int = 36
    label_set: tuple = (2, 5, 7)
    etas: tuple = (2, 4)
    data_seed: int = 0
    weight_scale: float = 1.0  # > 1: float start scaled before quantizing, saturating words
    pixel_max: int = 255


SETUPS = {
    "brief": Setup("brief", (16, 12, 10), (3, 5), (4, 6)),
    "wide": Setup("wide", (16, 12, 12), (3, 4), (4, 4), label_set=(1, 3, 8), etas=(1, 3)),
    "relu": Setup("relu", (16, 12, 10), (3, 5), (4, 6), activation="relu", etas=(3, 2)),
    "sat": Setup(
        "sat",
        (16, 12, 10),
        (3, 5),
        (4, 6),
        activation="relu",
        n_inputs=48,
        etas=(0, 1),
        weight_scale=6.0,
        pixel_max=31,
    ),
}


def build(s: Setup):
    js = junctions(list(s.layers), list(s.fo), list(s.z))
    orders = tuple(interleave(j, Interleaver.START, 1 + i) for i, j in enumerate(js))
    net = Network(js, orders, Activation(s.activation))
    topo = [
        Topo(j.n_left, j.n_right, j.n_left * j.fo // j.n_right, tuple(int(v) for v in o))
        for j, o in zip(js, orders)
    ]
    pf = glorot_normal(net, 3)
    for j in range(len(js)):
        pf.w[j] = pf.w[j] * s.weight_scale
    p0 = quantize_params(pf)
    w0 = [[int(v) for v in x] for x in p0.w]
    b0 = [[int(v) for v in x] for x in p0.b]
    rng = np.random.default_rng(s.data_seed)
    x = rng.integers(0, s.pixel_max + 1, (s.n_inputs, 16), dtype=np.uint8)
    y = rng.choice(np.array(s.label_set), s.n_inputs)
    return net, topo, p0, w0, b0, x, y


_CACHE: dict = {}


def setup(name: str):
    if name not in _CACHE:
        _CACHE[name] = build(SETUPS[name])
    return _CACHE[name]


_ENGINE: dict = {}


def engine(name: str, threshold: int):
    key = name, threshold
    if key not in _ENGINE:
        s = SETUPS[name]
        net, _, p0, _, _, x, y = setup(name)
        r = train_online(
            net,
            FixedArithmetic(net),
            p0,
            x,
            y,
            list(s.etas),
            Schedule.SPECULATIVE,
            threshold=threshold,
        )
        _ENGINE[key] = (
            [[int(v) for v in a] for a in r.params.w],
            [[int(v) for v in a] for a in r.params.b],
            [[int(v) for v in e.outcomes] for e in r.epochs],
            r,
        )
    return _ENGINE[key]


def model(name: str, threshold: int, rules: Rules = Rules()):
    s = SETUPS[name]
    _, topo, _, w0, b0, x, y = setup(name)
    return Model(topo, s.activation, rules).train(w0, b0, x, y, s.etas, threshold)


def first_distance(name: str) -> int:
    """D of the first input whose label has a stored input: every input before it is serial, so
    its D does not depend on T."""
    _, topo, _, w0, b0, x, y = setup(name)
    m = Model(topo, SETUPS[name].activation)
    w, b, seen = w0, b0, {}
    k = SETUPS[name].etas[0]
    for xi, yi in zip(x, y):
        acts, ders = m.forward(w, b, xi)
        if int(yi) in seen:
            return sum(abs(acts[-1][q] - seen[int(yi)][q]) for q in range(CLASSES))
        seen[int(yi)] = acts[-1]
        n_out = len(acts[-1])
        d = [acts[-1][r] - (ONE if r == int(yi) else 0) for r in range(n_out)]
        w, b = m.learn(w, b, acts, ders, d, k)
    raise AssertionError("no label recurs")


def first_diff(got, want) -> str:
    for j, (g, h) in enumerate(zip(got, want)):
        idx = [i for i, (u, v) in enumerate(zip(g, h)) if u != v]
        if idx:
            return f"junction {j + 1}: slots {idx[:8]} engine {[g[i] for i in idx[:8]]} " + (
                f"model {[h[i] for i in idx[:8]]}"
            )
    return "equal"


# ---------------------------------------------------------------------------------------------
# Tests

THRESHOLDS = [-1, 0, 30, 80, 10**6]


def test_worked_cases():
    assert (mul(64, 64), mul(1, 64), mul(-1, 64), mul(511, 511)) == (32, 1, 0, 511)
    act, der = tables("sigmoid")
    assert (act[512], der[512], act[0], der[0], act[1023]) == (64, 31, 2, 2, 126)
    assert rs(sat(90), 3) == 11 and mul(11, 127) == 11 and sat(512) == 511
    assert rs(-3, 1) == -1 and rs(-5, 1) == -2 and rs(5, 1) == 3 and rs(-3, 0) == -3


def test_threshold_units():
    """T = ⌊10·τ·128 + ½⌋; τ = 0.25 gives 320."""
    net = setup("brief")[0]
    for tau in (0.0, 0.25, 0.1, 0.0625):
        assert FixedArithmetic(net).threshold(tau) == math.floor(10 * tau * 128 + 0.5)
    assert FixedArithmetic(net).threshold(0.25) == 320


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("name", list(SETUPS))
def test_speculative_bit_exact(name, threshold):
    w, b, outcomes, correct = model(name, threshold)
    ew, eb, eout, r = engine(name, threshold)
    assert eout == outcomes
    assert ew == w, first_diff(ew, w)
    assert eb == b, first_diff(eb, b)
    n = SETUPS[name].n_inputs
    assert [e.eta_exponent for e in r.epochs] == list(SETUPS[name].etas)
    for e, ok in zip(r.epochs, correct):
        assert e.train_accuracy == pytest.approx(ok / n, abs=1e-12)


def test_outcomes_are_exercised():
    """The thresholds give serial inputs, hits and misses, in both epochs; the store is emptied
    per epoch (one serial input per label per epoch)."""
    for name, s in SETUPS.items():
        seen = set()
        for threshold in THRESHOLDS:
            _, _, outcomes, _ = model(name, threshold)
            for out in outcomes:
                assert out.count(SERIAL) == len(set(s.label_set))
                seen |= set(out)
                if threshold < 0:
                    assert HIT not in out
                if threshold >= 10**6:
                    assert MISS not in out
        assert seen == {SERIAL, HIT, MISS}, name
        mixed = [t for t in (30, 80) if any(HIT in o and MISS in o for o in model(name, t)[2])]
        assert mixed, name


@pytest.mark.parametrize("name", list(SETUPS))
def test_negative_threshold_is_sequential(name):
    s = SETUPS[name]
    net, topo, p0, w0, b0, x, y = setup(name)
    seq = train_online(net, FixedArithmetic(net), p0, x, y, list(s.etas), Schedule.SEQUENTIAL)
    ew, eb, _, _ = engine(name, -1)
    assert [[int(v) for v in a] for a in seq.params.w] == ew
    assert [[int(v) for v in a] for a in seq.params.b] == eb
    sw, sb = Model(topo, s.activation).sequential(w0, b0, x, y, s.etas)
    assert ew == sw and eb == sb
    # and speculation changes the result once it hits
    assert engine(name, 10**6)[0] != ew


def _disagrees(name, threshold, rules) -> bool:
    w, b, outcomes, _ = model(name, threshold, rules)
    ew, eb, eout, _ = engine(name, threshold)
    return (w, b, outcomes) != (ew, eb, eout)


MUTANTS = {
    "keep_store": [("brief", t) for t in (0, 30, 80, 10**6)],
    "compare_all": [("wide", t) for t in (30, 80)],
    "own_deltas": [("brief", t) for t in (30, 80, 10**6)],
    "store_on_miss": [("brief", t) for t in (30, 80, 10**6)],
    "own_derivatives": [("brief", t) for t in (30, 80, 10**6)],
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_mutants_disagree(mutant):
    """Each one-rule mutant of the model disagrees with the engine (and with the model) on at
    least one threshold where the correct model agrees."""
    rules = replace(Rules(), **{mutant: True})
    hits = []
    for name, threshold in MUTANTS[mutant]:
        w, b, outcomes, _ = model(name, threshold)
        assert (w, b, outcomes) == engine(name, threshold)[:3]  # the model agrees here
        hits.append(_disagrees(name, threshold, rules))
    assert any(hits), mutant


def test_mutant_strict_comparison_disagrees():
    """With T equal to the first D reached, ``≤`` makes that input a hit and ``<`` a miss."""
    for name in ("brief", "wide"):
        t = first_distance(name)
        _, _, outcomes, _ = model(name, t)
        assert engine(name, t)[2] == outcomes
        first = [i for i, o in enumerate(outcomes[0]) if o != SERIAL][0]
        assert outcomes[0][first] == HIT
        _, _, strict, _ = model(name, t, Rules(strict=True))
        assert strict[0][first] == MISS
        assert _disagrees(name, t, Rules(strict=True))


def test_stored_label_target_is_a_no_op():
    """The stored input has the same label, so its deltas a_stored − y equal the stored ones:
    this 'mutant' is an identity check of the model, not a real mutant."""
    for t in (30, 10**6):
        assert model("brief", t, Rules(stored_label_target=True))[:3] == model("brief", t)[:3]


def test_saturating_setup_clamps():
    """The "sat" setup drives the clamps of the forward sums, the back-propagated deltas and the
    weight and bias updates, so their order and placement matter in the comparison above."""
    s = SETUPS["sat"]
    _, topo, _, w0, b0, x, y = setup("sat")
    m = Model(topo, s.activation)
    m.train(w0, b0, x, y, s.etas, 80)
    assert all(m.clamps.get(k, 0) > 0 for k in ("sum", "accumulate", "w", "b")), m.clamps
    assert sum(abs(v) >= 511 for v in w0[0] + w0[1]) > 10
