"""Tests for codesign.network: layer descriptions, shape checking, float LeNet forward/backward.

Gradients are checked against central finite differences of the full network loss (float64,
batch of 3), softmax cross-entropy against a hand computation.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import scipy.signal

from codesign.spectral.network import (
    DENSE,
    SPECTRAL,
    backward,
    forward,
    init_params,
    layer_shapes,
    lenet5,
    predict,
    softmax_xent,
    vgg16_layers,
    weight_key,
)


@pytest.fixture(scope="module")
def lenet_setup():
    layers = lenet5()
    rng = np.random.default_rng(1234)
    params = init_params(layers, rng)
    # non-zero biases, and generic (non spatially-derived) perturbations of the spectral kernels
    for layer in layers:
        n = layer["name"]
        params[f"{n}.bias"] = rng.normal(0, 0.1, size=params[f"{n}.bias"].shape)
        if layer["type"] == SPECTRAL:
            k = params[f"{n}.kernel"]
            params[f"{n}.kernel"] = k + 0.05 * (
                rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)
            )
    x = rng.uniform(0, 1, size=(3, 1, 28, 28))
    labels = np.array([3, 7, 0])
    return layers, params, x, labels


def _loss(params, layers, x, labels):
    return softmax_xent(forward(params, layers, x)[0], labels)[0]


def test_lenet_forward_shapes_and_dtypes(lenet_setup):
    layers, params, x, _ = lenet_setup
    logits, caches = forward(params, layers, x)
    assert logits.shape == (3, 10) and logits.dtype == np.float64
    assert len(caches) == 5
    assert params["conv1.kernel"].shape == (6, 1, 8, 5)
    assert params["conv2.kernel"].shape == (16, 6, 8, 5)
    assert params["fc1.weight"].shape == (256, 120)
    assert params["fc3.bias"].shape == (10,)
    assert np.iscomplexobj(params["conv1.kernel"])


def test_lenet_forward_matches_spatial_reference():
    """With spatially-derived kernels, the network equals a plain scipy CNN."""
    layers = lenet5()
    rng = np.random.default_rng(9)
    spatial = {}
    params = {}
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            O, C, K, N = layer["out_channels"], layer["in_channels"], layer["kernel"], layer["fft"]
            spatial[n] = rng.normal(0, 0.3, size=(O, C, K, K))
            params[f"{n}.kernel"] = np.fft.rfft2(spatial[n], s=(N, N))
            params[f"{n}.bias"] = rng.normal(0, 0.1, size=O)
        else:
            params[f"{n}.weight"] = rng.normal(
                0, 0.1, size=(layer["in_features"], layer["out_features"])
            )
            params[f"{n}.bias"] = rng.normal(0, 0.1, size=layer["out_features"])
    x = rng.uniform(0, 1, size=(2, 1, 28, 28))
    h = x
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            k = spatial[n]
            z = np.array(
                [
                    [
                        sum(
                            scipy.signal.convolve2d(h[b, c], k[o, c], "valid")
                            for c in range(k.shape[1])
                        )
                        + params[f"{n}.bias"][o]
                        for o in range(k.shape[0])
                    ]
                    for b in range(h.shape[0])
                ]
            )
            z = np.maximum(z, 0)
            B, C, H, W = z.shape
            h = z.reshape(B, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))
        else:
            z = h.reshape(h.shape[0], -1) @ params[f"{n}.weight"] + params[f"{n}.bias"]
            h = np.maximum(z, 0) if layer["relu"] else z
    logits, _ = forward(params, layers, x)
    np.testing.assert_allclose(logits, h, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(predict(params, layers, x, batch=1), h.argmax(axis=1))


def _entries(shape, rng, n, extra=()):
    idx = [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]
    return idx + list(extra)


def test_lenet_backward_vs_finite_differences(lenet_setup):
    layers, params, x, labels = lenet_setup
    logits, caches = forward(params, layers, x)
    _, dlogits = softmax_xent(logits, labels)
    grads = backward(params, layers, caches, dlogits)
    assert set(grads) == set(params)
    for k in params:
        assert grads[k].shape == params[k].shape
    rng = np.random.default_rng(0)
    eps = 1e-6
    checked = 0
    for key in sorted(params):
        p = params[key]
        extra = ()
        if p.ndim == 4:  # spectral kernel: include bins in columns 0 and N/2 and the DC
            extra = (
                (0, 0, 0, 0),
                (1, 0, 3, 0),
                (p.shape[0] - 1, 0, 2, p.shape[3] - 1),
                (2, 0, 5, p.shape[3] - 1),
            )
        for idx in _entries(p.shape, rng, 4, extra):
            parts = [False, True] if np.iscomplexobj(p) else [False]
            for imag in parts:
                step = 1j * eps if imag else eps
                q = dict(params)
                a = p.copy()
                a[idx] += step
                q[key] = a
                lp = _loss(q, layers, x, labels)
                a[idx] -= 2 * step
                lm = _loss(q, layers, x, labels)
                fd = (lp - lm) / (2 * eps)
                g = grads[key][idx]
                an = g.imag if imag else g.real
                assert abs(an - fd) <= 1e-5 * max(1.0, abs(fd)) + 1e-8, (key, idx, imag, an, fd)
                checked += 1
    assert checked > 60


def test_softmax_xent_hand_computed():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 1])
    loss, d = softmax_xent(logits, labels)
    l0 = math.log(1 + math.exp(-1) + math.exp(-2))  # -log(e^3 / (e + e^2 + e^3))
    l1 = math.log(3.0)
    assert loss == pytest.approx((l0 + l1) / 2, rel=1e-12)
    s = math.exp(1) + math.exp(2) + math.exp(3)
    want = (
        np.array(
            [[math.exp(1) / s, math.exp(2) / s, math.exp(3) / s - 1], [1 / 3, 1 / 3 - 1, 1 / 3]]
        )
        / 2
    )
    np.testing.assert_allclose(d, want, rtol=1e-12)
    # numerically stable for large logits (max subtracted before exp)
    loss, d = softmax_xent(np.array([[1000.0, 0.0], [0.0, -50.0]]), np.array([0, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(25.0, rel=1e-9)
    np.testing.assert_allclose(d, [[0, 0], [0.5, -0.5]], atol=1e-15)


def test_softmax_xent_loss_for_underflowing_probability():
    loss, d = softmax_xent(np.array([[0.0, -1000.0]]), np.array([1]))
    assert loss == pytest.approx(1000.0, rel=1e-9)


def test_softmax_xent_gradient_vs_finite_differences():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(5, 7)) * 3
    labels = rng.integers(0, 7, size=5)
    _, d = softmax_xent(logits, labels)
    eps = 1e-6
    for idx in np.ndindex(logits.shape):
        a = logits.copy()
        a[idx] += eps
        lp = softmax_xent(a, labels)[0]
        a[idx] -= 2 * eps
        lm = softmax_xent(a, labels)[0]
        assert abs((lp - lm) / (2 * eps) - d[idx]) < 1e-8
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-15)


def test_lenet_layer_shapes():
    s = layer_shapes(lenet5())
    assert [e["name"] for e in s] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert s[0]["in"] == (1, 28, 28)
    assert s[0]["conv_out"] == (6, 24, 24) and s[0]["out"] == (6, 12, 12)
    assert (s[0]["L"], s[0]["tiles"], s[0]["bins"]) == (4, 49, 40)
    assert s[1]["in"] == (6, 12, 12)
    assert s[1]["conv_out"] == (16, 8, 8) and s[1]["out"] == (16, 4, 4)
    assert (s[1]["L"], s[1]["tiles"]) == (4, 9)
    assert s[2]["in"] == (16, 4, 4) and s[2]["out"] == (120,)
    assert s[3]["out"] == (84,) and s[4]["out"] == (10,)
    s16 = layer_shapes(lenet5(fft=16))
    assert (s16[0]["L"], s16[0]["tiles"], s16[0]["bins"]) == (12, 9, 144)
    assert s16[1]["out"] == (16, 4, 4)


def test_lenet_descriptions():
    layers = lenet5()
    assert [l["type"] for l in layers] == [SPECTRAL, SPECTRAL, DENSE, DENSE, DENSE]
    assert [l["relu"] for l in layers] == [True, True, True, True, False]
    assert weight_key(layers[0]) == "conv1.kernel" and weight_key(layers[2]) == "fc1.weight"


@pytest.mark.parametrize(
    "which, field, value, name",
    [
        (1, "in_channels", 5, "conv2"),
        (0, "in_channels", 3, "conv1"),
        (2, "in_features", 255, "fc1"),
        (3, "in_features", 100, "fc2"),
        (4, "in_features", 85, "fc3"),
    ],
)
def test_layer_shapes_mismatch_names_layer(which, field, value, name):
    layers = copy.deepcopy(lenet5())
    layers[which][field] = value
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        layer_shapes(layers)


def test_layer_shapes_mismatch_from_upstream_change():
    layers = copy.deepcopy(lenet5())
    layers[1]["out_channels"] = 8  # conv2 now gives 8*4*4 = 128 features
    with pytest.raises(ValueError, match=r"fc1.*256.*128"):
        layer_shapes(layers)
    with pytest.raises(ValueError):  # 28x28 with K=5 twice and pools: 3x3 → too small for K=5
        layer_shapes(lenet5(), input_shape=(1, 16, 16))


def test_vgg16_layers():
    layers = vgg16_layers()
    assert len(layers) == 13
    assert all(l["type"] == SPECTRAL and l["kernel"] == 3 and l["padding"] == 1 for l in layers)
    outs = [l["out_channels"] for l in layers]
    assert outs == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert [l["in_channels"] for l in layers] == [3] + outs[:-1]
    sizes = [l["height"] for l in layers]
    assert sizes == [224, 224, 112, 112, 56, 56, 56, 28, 28, 28, 14, 14, 14]
    assert [l["width"] for l in layers] == sizes
    assert [i for i, l in enumerate(layers) if l["pool"] == 2] == [1, 3, 6, 9, 12]
    assert len({l["name"] for l in layers}) == 13

    s = layer_shapes(layers, input_shape=(3, 224, 224))
    assert len(s) == 13
    for e, l in zip(s, layers):
        assert e["in"] == (l["in_channels"], l["height"], l["width"])
        assert e["conv_out"] == (l["out_channels"], l["height"], l["width"])  # 'same'
        assert e["L"] == 6
        assert e["tiles"] == (-(-(l["height"] + 2) // 6)) ** 2
    assert s[-1]["out"] == (512, 7, 7)
    assert layer_shapes(vgg16_layers(fft=16), input_shape=(3, 224, 224))[0]["L"] == 14
    sm = vgg16_layers(image=32)
    assert [l["height"] for l in sm][-1] == 2
    assert layer_shapes(sm, input_shape=(3, 32, 32))[-1]["out"] == (512, 1, 1)
