"""The online-training engine: float SGD against an independent dense-matrix implementation,
the pipelined schedule's weight versions, and training the reference network on real digits."""

import numpy as np
import pytest

from codesign.mlp.connectivity import Interleaver, interleave, junctions
from codesign.mlp.train import (
    FixedArithmetic,
    FloatArithmetic,
    Network,
    Schedule,
    glorot_normal,
    pad_inputs,
    predict,
    quantize_params,
    train_online,
)


def _net(layers, fo, z, seed=0, kind=Interleaver.RANDOM):
    js = junctions(layers, fo, z)
    return Network(js, tuple(interleave(j, kind, seed + i) for i, j in enumerate(js)))


def _dense_sgd(net, params, x, y, etas):
    """Plain online SGD on dense matrices W[right, left] (zero off the mask), float64."""
    Ws, bs = [], []
    for j, order, w, b in zip(net.junctions, net.orders, params.w, params.b):
        W = np.zeros((j.n_right, j.n_left))
        np.add.at(W, (np.arange(j.edges) // j.fi, order), w)
        Ws.append(W)
        bs.append(b.copy())
    masks = [W != 0 for W in Ws]
    for k in etas:
        for xi, yi in zip(x, y):
            a = [xi / 255.0]
            for W, b in zip(Ws, bs):
                a.append(1 / (1 + np.exp(-(W @ a[-1] + b))))
            t = np.zeros(len(a[-1]))
            t[yi] = 1
            d = a[-1] - t
            for L in reversed(range(len(Ws))):
                below = (Ws[L].T @ d) * a[L] * (1 - a[L])
                Ws[L] -= 2.0**-k * np.outer(d, a[L]) * masks[L]
                bs[L] -= 2.0**-k * d
                d = below
    return Ws, bs


def test_sequential_float_training_is_plain_sgd():
    net = _net([32, 16, 12], [4, 6], [8, 8])
    p0 = glorot_normal(net, 3)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (25, 32)).astype(np.uint8)
    y = rng.integers(0, 10, 25)
    r = train_online(net, FloatArithmetic(net), p0, x, y, [2, 3], Schedule.SEQUENTIAL)
    Ws, bs = _dense_sgd(net, p0, x, y, [2, 3])
    for j, order, w, b, W, bd in zip(net.junctions, net.orders, r.params.w, r.params.b, Ws, bs):
        np.testing.assert_allclose(w, W[np.arange(j.edges) // j.fi, order], rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, bd, rtol=0, atol=1e-12)


def test_pipelined_forward_passes_miss_the_updates_in_flight():
    assert Schedule.PIPELINED.forward_lags(2) == (3, 1)
    assert Schedule.PIPELINED.forward_lags(3) == (5, 3, 1)
    assert Schedule.SEQUENTIAL.forward_lags(2) == (0, 0)
    net = _net([32, 16, 12], [4, 6], [8, 8])
    p0 = quantize_params(glorot_normal(net, 1))
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (20, 32)).astype(np.uint8)
    y = rng.integers(0, 10, 20)
    runs = {
        s: train_online(net, FixedArithmetic(net), p0, x, y, [2], s)
        for s in (Schedule.PIPELINED, Schedule.SEQUENTIAL)
    }
    a, b = runs[Schedule.PIPELINED].params, runs[Schedule.SEQUENTIAL].params
    assert any(not np.array_equal(u, v) for u, v in zip(a.w, b.w))
    # one input: nothing in flight, the schedules agree
    one = [train_online(net, FixedArithmetic(net), p0, x[:1], y[:1], [2], s).params for s in runs]
    assert all(np.array_equal(u, v) for u, v in zip(one[0].w, one[1].w))


def test_fixed_training_is_deterministic_and_leaves_the_input_untouched():
    net = _net([32, 16, 12], [4, 6], [8, 8])
    p0 = quantize_params(glorot_normal(net, 1))
    before = [w.copy() for w in p0.w]
    x = np.random.default_rng(2).integers(0, 256, (10, 32)).astype(np.uint8)
    y = np.arange(10)
    r1 = train_online(net, FixedArithmetic(net), p0, x, y, [3, 4])
    r2 = train_online(net, FixedArithmetic(net), p0, x, y, [3, 4])
    assert all(np.array_equal(u, v) for u, v in zip(r1.params.w, r2.params.w))
    assert all(np.array_equal(u, v) for u, v in zip(p0.w, before))
    assert all(w.min() >= -512 and w.max() <= 511 for w in r1.params.w)


def test_glorot_normal_spread_per_junction():
    net = _net([1024, 64, 32], [4, 16], [128, 32], kind=Interleaver.START)
    p = glorot_normal(net, 0)
    assert np.std(p.w[0]) == pytest.approx(np.sqrt(2 / (64 + 4)), rel=0.05)
    assert np.std(p.w[1]) == pytest.approx(np.sqrt(2 / (32 + 16)), rel=0.08)
    assert all((b == 0).all() for b in p.b)


def test_reference_network_learns_real_digits(mnist):
    """One epoch on the 4,000 training digits, fixed point: well above chance on the test images."""
    net = _net([1024, 64, 32], [4, 16], [128, 32], seed=1, kind=Interleaver.START)
    p0 = quantize_params(glorot_normal(net, 0))
    tx = pad_inputs(mnist.train_x, 1024)
    vx = pad_inputs(mnist.test_x, 1024)
    r = train_online(
        net, FixedArithmetic(net), p0, tx, mnist.train_y, [3], test_x=vx, test_y=mnist.test_y
    )
    assert r.epochs[0].test_accuracy > 0.78
    assert r.epochs[0].test_accuracy == np.mean(
        predict(net, FixedArithmetic(net), r.params, vx) == mnist.test_y
    )
    assert r.saturations["forward j1: sum"] >= 0


def test_padding_refuses_images_wider_than_the_first_layer():
    assert pad_inputs(np.ones((2, 28, 28), np.uint8), 1024).shape == (2, 1024)
    with pytest.raises(ValueError, match="784 pixels but the first layer 512"):
        pad_inputs(np.ones((2, 28, 28), np.uint8), 512)


def test_output_layer_and_labels_are_checked():
    net = _net([32, 16, 8], [4, 4], [8, 8])
    p0 = quantize_params(glorot_normal(net, 0))
    x = np.zeros((2, 32), np.uint8)
    with pytest.raises(ValueError, match="output layer has 8 neurons"):
        train_online(net, FixedArithmetic(net), p0, x, np.array([1, 2]), [3])
    net = _net([32, 16, 12], [4, 6], [8, 8])
    p0 = quantize_params(glorot_normal(net, 0))
    with pytest.raises(ValueError, match=r"labels must be 0 … 9, got 1 … 10"):
        train_online(net, FixedArithmetic(net), p0, x, np.array([1, 10]), [3])
