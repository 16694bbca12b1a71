"""The numpy reference of speculative back-propagation: its gradients against finite
differences, its outcomes against the rules, threshold 0 against the plain trainer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.specbp import (
    CLASSES,
    Outcome,
    Setup,
    SpecbpError,
    forward,
    gradients,
    init_params,
    pixels,
    train_plain,
    train_reference,
)
from codesign.specbp.reference import accuracy


def _loss(params, x, label, slope):
    acts, _ = forward(params, x, slope)
    return -np.log(acts[-1][label])


def test_gradients_match_finite_differences():
    setup = Setup(sizes=(12, 5, 4, 10), seed=3)
    params = init_params(setup)
    rng = np.random.default_rng(1)
    x = rng.random(12)
    label = 7
    acts, pres = forward(params, x, setup.slope)
    gw, gb = gradients(params, x, acts, pres, label, setup.slope)
    eps = 1e-6
    for j in range(3):
        for arr, grad in ((params.weights[j], gw[j]), (params.biases[j], gb[j])):
            for idx in list(np.ndindex(arr.shape))[:12]:
                old = arr[idx]
                arr[idx] = old + eps
                up = _loss(params, x, label, setup.slope)
                arr[idx] = old - eps
                down = _loss(params, x, label, setup.slope)
                arr[idx] = old
                assert grad[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


def test_forward_by_hand():
    setup = Setup(sizes=(2, 1, 10))
    params = init_params(setup)
    params.weights[0][:] = [[2.0], [-1.0]]
    params.biases[0][:] = [-3.0]
    params.weights[1][:] = np.arange(10.0)[None, :] / 10
    params.biases[1][:] = 0.0
    acts, pres = forward(params, np.array([1.0, 0.5]), 0.01)
    assert pres[0][0] == pytest.approx(-1.5)
    assert acts[0][0] == pytest.approx(-0.015)  # leaky: 0.01 × −1.5
    z = -0.015 * np.arange(10) / 10
    assert acts[1] == pytest.approx(np.exp(z) / np.exp(z).sum())


def test_initialisation_is_the_published_one():
    p = init_params(Setup(seed=5))
    values = np.concatenate([a.ravel() for a in p.weights + p.biases])
    allowed = {round(v / 100, 2) for v in range(-10, 11) if v} | {0.01}
    assert set(np.round(values, 2)) <= allowed
    assert not np.any(values == 0)
    again = init_params(Setup(seed=5))
    assert all(np.array_equal(a, b) for a, b in zip(p.weights, again.weights))
    assert not np.array_equal(p.weights[0], init_params(Setup(seed=6)).weights[0])


@pytest.fixture(scope="module")
def digits(small_data):
    return pixels(small_data.train_x[:300]), small_data.train_y[:300]


def test_threshold_zero_is_the_plain_trainer_bit_for_bit(digits):
    setup = Setup(epochs=2)
    ref = train_reference(setup, *digits, 0.0)
    plain = train_plain(setup, *digits)
    for a, b in zip(ref.params.weights + ref.params.biases, plain.weights + plain.biases):
        assert np.array_equal(a, b)
    assert not np.any(ref.outcomes == Outcome.HIT)


def test_outcomes_follow_the_rules(digits):
    x, y = digits
    setup = Setup(epochs=2)
    run = train_reference(setup, x, y, 0.05)
    first = {int(label): i for i, label in reversed(list(enumerate(y)))}
    serial = set(np.flatnonzero(run.outcomes[0] == Outcome.SERIAL))
    assert serial == set(first.values())  # the first input of each label, once
    assert not np.any(run.outcomes[1] == Outcome.SERIAL)  # the store lives across epochs
    seen = ~np.isnan(run.distances)
    assert np.all(run.distances[seen] <= 0.2 + 1e-12)  # two distributions: at most 2 apart
    hit = run.outcomes == Outcome.HIT
    assert np.all(run.distances[hit] <= 0.05)
    assert np.all(run.distances[run.outcomes == Outcome.MISS] > 0.05)
    assert 0 < hit.mean() < 1


def test_every_threshold_from_0_2_hits_every_stored_label(digits):
    run = train_reference(Setup(epochs=1), *digits, 0.2)
    assert np.all(run.outcomes[0] != Outcome.MISS)


def test_a_hit_commits_the_stored_inputs_gradients():
    """Two inputs of one label, applied after each (batch 1): the second hits, so its update is
    the backward pass of the first input's stored activations through the weights of the
    moment, not its own."""
    setup = Setup(sizes=(4, 3, 10), batch=1, epochs=1)
    params = init_params(setup)
    x = np.array([[0.2, 0.4, 0.6, 0.8], [0.1, 0.0, 0.3, 0.9]])
    y = np.array([3, 3])
    run = train_reference(setup, x, y, 1.0, params=params)
    assert list(run.outcomes[0]) == [Outcome.SERIAL, Outcome.HIT]
    p = params.copy()
    acts, pres = forward(p, x[0], setup.slope)  # stored for label 3

    def step(g):
        for j in range(2):
            p.weights[j] -= setup.lr * np.clip(g[0][j], -5, 5)
            p.biases[j] -= setup.lr * np.clip(g[1][j], -5, 5)

    step(gradients(p, x[0], acts, pres, 3, setup.slope))
    step(gradients(p, x[0], acts, pres, 3, setup.slope))  # speculative: current weights
    for a, b in zip(p.weights + p.biases, run.params.weights + run.params.biases):
        assert np.array_equal(a, b)
    own = train_reference(setup, x, y, 0.0, params=params)  # a miss: its own gradients
    assert not np.array_equal(own.params.weights[0], run.params.weights[0])


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=0, max_size=2),
    seed=st.integers(0, 1000),
    n=st.integers(1, 40),
)
def test_reference_properties(sizes, seed, n):
    setup = Setup(sizes=(5, *sizes, CLASSES), epochs=1, batch=4, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5))
    y = rng.integers(0, CLASSES, n)
    run = train_reference(setup, x, y, 0.1)
    assert np.sum(run.outcomes == Outcome.SERIAL) == len(set(y.tolist()))
    assert all(np.all(np.isfinite(w)) for w in run.params.weights)
    plain = train_plain(setup, x, y)
    ref0 = train_reference(setup, x, y, 0.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain.weights, ref0.params.weights))


def test_accuracy_counts_argmax():
    setup = Setup(sizes=(2, 10))
    p = init_params(setup)
    p.weights[0][:] = 0
    p.biases[0][:] = np.arange(10.0)
    assert accuracy(p, np.zeros((4, 2)), np.array([9, 9, 1, 9]), 0.01) == 0.75


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"sizes": (784, 16, 9)}, "output layer"),
        ({"sizes": (784,)}, "sizes"),
        ({"sizes": (784, 0, 10)}, "sizes"),
        ({"lr": 0.0}, "lr"),
        ({"clip": -1.0}, "clip"),
        ({"slope": 1.5}, "slope"),
        ({"batch": 0}, "batch"),
        ({"epochs": 2.5}, "epochs"),
    ],
)
def test_setup_errors_name_the_field(kw, field):
    with pytest.raises(SpecbpError, match=field):
        Setup(**kw)


def test_pixels_need_uint8():
    with pytest.raises(SpecbpError, match="uint8"):
        pixels(np.zeros((2, 28, 28)))
    assert pixels(np.full((1, 2, 2), 255, np.uint8)).tolist() == [[1.0] * 4]
