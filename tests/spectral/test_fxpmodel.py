"""Tests for codesign.fxpmodel: the integer network model.

References:

* hand-worked integers (dense layer, input conversion, parameter quantisation);
* the float model (codesign.network / numpy) evaluated on the *dequantised* parameters and on the
  dequantised integer activations, with error bounds derived from the formats (see
  :func:`spectral_layer_bound`); a dense layer has a single rounding, so it must equal
  ``floor(z * 2**frac + 0.5)`` of the float value exactly;
* an explicit-loop composition of the spectral layer (tiling, Hadamard with Python integers,
  overlap-add, bias alignment, rounding, saturation, ReLU, pooling) on top of the fixed-point
  transforms, which tests/test_fixedpoint.py checks bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codesign.spectral.conv import spectral_backward, spectral_forward
from codesign.spectral.fixedpoint import (
    FixedPointConfig,
    Format,
    OverflowCounter,
    irfft2_fixed,
    rfft2_fixed,
)
from codesign.spectral.fxpmodel import (
    accuracy_fixed,
    dense_layer_fixed,
    input_fixed,
    quantize_params,
    run,
    spectral_layer_fixed,
)
from codesign.spectral.network import SPECTRAL, forward, init_params, lenet5

CFG = FixedPointConfig()
R = math.sqrt(2) / 2


# --------------------------------------------------------------------------------------------
# error-bound helpers (same derivation as tests/test_fixedpoint.py, repeated to stay standalone)
# --------------------------------------------------------------------------------------------


def _stage_params(n, m, ft, inverse):
    k = np.arange(n // 2)
    ang = (1.0 if inverse else -1.0) * 2.0 * np.pi * k / n
    wr = np.floor(np.cos(ang) * 2.0**ft + 0.5)
    wi = np.floor(np.sin(ang) * 2.0**ft + 0.5)
    idx = np.arange(m // 2) * (n // m)
    dw = np.abs((wr[idx] + 1j * wi[idx]) / 2.0**ft - np.exp(1j * ang[idx]))
    exact = np.all(wr[idx] % 2**ft == 0) and np.all(wi[idx] % 2**ft == 0)
    return float(dw.max()), (0.0 if exact else R)


def fft_error_bound(n, A, nz, ft, inverse, E0=0.0):
    """Max |computed - exact| (complex modulus, LSB) after an n-point fixed FFT whose input has
    error <= E0, modulus <= A and at most nz non-zeros (forward)."""
    E, s, m = E0, 0, 2
    while m <= n:
        dw, r = _stage_params(n, m, ft, inverse)
        bmax = A if inverse else min(2**s, nz) * A
        grown = E + (1.0 + dw) * E + bmax * dw + r
        E = grown / 2 + R if inverse else grown
        s, m = s + 1, m * 2
    return E


def forward_fft2_error_l2(N, L, A, ft):
    """Bound on the 2-norm (over the N×(N/2+1) half spectrum) of the error of rfft2_fixed on an
    N×N tile whose top-left L×L block holds values of modulus <= A (the rest is zero).

    Per stage, the carried error goes through a butterfly of 2-norm sqrt(2)·max(1, |wq|), and
    every element gets a new error <= |b|·|dw| + r (see fft_error_bound).  Zero rows stay
    exactly zero in the row pass, so only L rows contribute."""

    def stages(Q, A_in, nz, count):
        s, m = 0, 2
        while m <= N:
            dw, r = _stage_params(N, m, ft, False)
            eps = min(2**s, nz) * A_in * dw + r
            Q = math.sqrt(2) * (1 + dw) * Q + math.sqrt(count) * eps
            s, m = s + 1, m * 2
        return Q

    q_rows = math.sqrt(L) * stages(0.0, A, L, N)  # L rows of N values
    return stages(q_rows, L * A, L, N * (N // 2 + 1))


def spectral_layer_bound(x_abs_max, q, layer, cfg):
    """Bound, in activation LSBs, on |fixed layer - float layer| for the same integer input.

    Per N×N tile output pixel (product LSBs):
    * forward-FFT error ΔX_c (spectrum LSB = activation LSB: the FFT does not scale), mixed by
      the kernel and inverse-transformed: |Δy| <= (1/N²) Σ_bins w |Σ_c W_oc ΔX_c|
      <= (1/N²) Σ_c ||w·W_oc||_2 ||ΔX_c||_2  (Cauchy-Schwarz; w = half-spectrum weights);
    * the Hadamard rounding (<= sqrt(2)/2 per bin) goes through the inverse with ∞-gain <= 1
      (Σ_bins w = N²);
    * the inverse transform's own rounding: fft_error_bound on columns then rows.
    The overlap-add sums ceil(N/L)² tile outputs; a final rounding to the activation format adds
    0.5 LSB when the product format has more fractional bits.  ReLU and max-pool are 1-Lipschitz.
    """
    n = layer["name"]
    N, K = layer["fft"], layer["kernel"]
    L = N - K + 1
    nb = -(-N // L)
    ft = cfg.twiddle.frac
    A = float(x_abs_max)
    dX = forward_fft2_error_l2(N, L, A, ft)
    W = np.abs(q[f"{n}.kernel_re"] + 1j * q[f"{n}.kernel_im"]) / 2.0**cfg.conv_weight.frac
    w = np.full(N // 2 + 1, 2.0)
    w[0] = w[-1] = 1.0
    wW = np.sqrt(((w * W) ** 2).sum(axis=(2, 3)))  # (O, C)
    to_prod = 2.0 ** (cfg.product.frac - cfg.activation.frac)
    term_fwd = wW.sum(axis=1).max() * dX / N**2 * to_prod
    S = W.max(axis=(2, 3)).sum(axis=1).max()  # max_o Σ_c max_bin |W_oc|
    ymax = L * L * A * S * to_prod  # bound on |Y| entering the inverse
    e_inv = fft_error_bound(N, ymax, N, ft, True, E0=fft_error_bound(N, ymax, N, ft, True))
    e_tile = 1.001 * (term_fwd + R) + e_inv  # 1.001: inverse gain with quantised twiddles
    return nb * nb * e_tile / to_prod + (0.5 if to_prod > 1 else 0.0)


def dequantize(q, layers, cfg):
    d = {}
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            d[f"{n}.kernel"] = (
                q[f"{n}.kernel_re"] + 1j * q[f"{n}.kernel_im"]
            ) / 2.0**cfg.conv_weight.frac
        else:
            d[f"{n}.weight"] = q[f"{n}.weight"] / 2.0**cfg.dense_weight.frac
        d[f"{n}.bias"] = q[f"{n}.bias"] / 2.0**cfg.activation.frac
    return d


def float_layer(h, d, layer):
    n = layer["name"]
    if layer["type"] == SPECTRAL:
        z, _ = spectral_forward(h, d[f"{n}.kernel"], d[f"{n}.bias"], layer["kernel"])
        a = np.maximum(z, 0) if layer["relu"] else z
        p = layer["pool"]
        if p > 1:
            B, C, H, W = a.shape
            a = a[:, :, : H // p * p, : W // p * p].reshape(B, C, H // p, p, W // p, p)
            a = a.max(axis=(3, 5))
        return a
    z = h.reshape(h.shape[0], -1) @ d[f"{n}.weight"] + d[f"{n}.bias"]
    return np.maximum(z, 0) if layer["relu"] else z


def logit_sensitivities(d, layers, x):
    """Norms of g = ∂logit_i / ∂a_l for every image, logit i and layer output a_l of the float
    network (piecewise linear: g is the exact first-order gain from an error in a_l to logit
    i).  Returns {layer name: {"l1": ||g||_1, "l2": ||g||_2, "sum": |Σ_j g_j|}}, each
    (n_images, n_logits)."""
    n_img = len(x)
    n_out = layers[-1]["out_features"]
    h = np.repeat(x, n_out, axis=0)  # one copy of every image per logit
    tape = []
    for layer in layers:
        n = layer["name"]
        if layer["type"] == SPECTRAL:
            z, cache = spectral_forward(h, d[f"{n}.kernel"], d[f"{n}.bias"], layer["kernel"])
            a = np.maximum(z, 0) if layer["relu"] else z
            p = layer["pool"]
            B, C, H, W = a.shape
            win = a[:, :, : H // p * p, : W // p * p].reshape(B, C, H // p, p, W // p, p)
            win = win.transpose(0, 1, 2, 4, 3, 5).reshape(B, C, H // p, W // p, p * p)
            arg = win.argmax(axis=-1)
            tape.append((layer, z, cache, arg))
            h = np.take_along_axis(win, arg[..., None], -1)[..., 0]
        else:
            z = h.reshape(len(h), -1) @ d[f"{n}.weight"] + d[f"{n}.bias"]
            tape.append((layer, z, h.shape, None))
            h = np.maximum(z, 0) if layer["relu"] else z
    g = np.tile(np.eye(n_out), (n_img, 1))  # row (image b, logit i) = e_i
    sens = {}
    for layer, z, extra, arg in reversed(tape):
        n = layer["name"]
        gf = g.reshape(len(g), -1)
        sens[n] = {
            "l1": np.abs(gf).sum(axis=1).reshape(n_img, n_out),
            "l2": np.sqrt((gf**2).sum(axis=1)).reshape(n_img, n_out),
            "sum": np.abs(gf.sum(axis=1)).reshape(n_img, n_out),
        }
        if layer["type"] == SPECTRAL:
            p = layer["pool"]
            B, C, H, W = z.shape
            win = np.zeros(arg.shape + (p * p,))
            np.put_along_axis(win, arg[..., None], g[..., None], -1)
            up = np.zeros(z.shape)
            up[:, :, : H // p * p, : W // p * p] = (
                win.reshape(B, C, H // p, W // p, p, p)
                .transpose(0, 1, 2, 4, 3, 5)
                .reshape(B, C, H // p * p, W // p * p)
            )
            if layer["relu"]:
                up = up * (z > 0)
            g, _, _ = spectral_backward(up, d[f"{n}.kernel"], extra)
        else:
            gz = g * (z > 0) if layer["relu"] else g
            g = (gz @ d[f"{n}.weight"].T).reshape(extra)
    return sens


# --------------------------------------------------------------------------------------------
# a small random LeNet
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lenet():
    layers = lenet5()
    rng = np.random.default_rng(2024)
    params = init_params(layers, rng)
    for layer in layers:
        n = layer["name"]
        params[f"{n}.bias"] = rng.normal(0, 0.05, size=params[f"{n}.bias"].shape)
    # He init gives spectral bins up to ~3.5 (conv_weight range ±16) and dense weights up to
    # ~0.4 (dense_weight range ±2): in range, no scaling needed; check it rather than assume it
    counter = OverflowCounter()
    q = quantize_params(params, layers, CFG, counter)
    assert counter.total == 0
    images = rng.integers(0, 256, size=(20, 28, 28)).astype(np.uint8)
    return layers, params, q, images


def test_quantize_params_layout_and_rounding(lenet):
    layers, params, q, _ = lenet
    assert set(q) == {
        "conv1.kernel_re",
        "conv1.kernel_im",
        "conv1.bias",
        "conv2.kernel_re",
        "conv2.kernel_im",
        "conv2.bias",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
        "fc3.weight",
        "fc3.bias",
    }
    k = params["conv2.kernel"]
    assert np.array_equal(q["conv2.kernel_re"], np.floor(k.real * 2048 + 0.5))
    assert np.array_equal(q["conv2.kernel_im"], np.floor(k.imag * 2048 + 0.5))
    assert np.array_equal(q["fc1.weight"], np.floor(params["fc1.weight"] * 16384 + 0.5))
    assert np.array_equal(q["fc2.bias"], np.floor(params["fc2.bias"] * 1024 + 0.5))
    # saturation of parameters is counted per parameter name
    c = OverflowCounter()
    big = dict(params)
    big["fc3.weight"] = params["fc3.weight"].copy()
    big["fc3.weight"][0, :3] = [5.0, -5.0, 1.0]
    qb = quantize_params(big, layers, CFG, c)
    assert c.saturated["fc3.weight"] == 2 and c.total == 2
    assert qb["fc3.weight"][0, :3].tolist() == [32767, -32768, 16384]


def test_input_fixed():
    imgs = np.array([[[0, 1], [128, 255]]], dtype=np.uint8)
    x = input_fixed(imgs, CFG)  # pixel/256 in Q6.10 is pixel << 2
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.int64
    assert x.tolist() == [[[[0, 4], [512, 1020]]]]
    cfg = FixedPointConfig(activation=Format(16, 12))
    assert input_fixed(imgs, cfg).tolist() == [[[[0, 16], [2048, 4080]]]]
    assert input_fixed(imgs, FixedPointConfig(activation=Format(12, 8))).tolist() == [
        [[[0, 1], [128, 255]]]
    ]
    with pytest.raises(ValueError):
        input_fixed(imgs, FixedPointConfig(activation=Format(16, 7)))


def test_run_keep_shapes_and_batching(lenet):
    layers, _, q, images = lenet
    c = OverflowCounter()
    logits, acts = run(q, layers, CFG, images, c, keep=True)
    assert logits.shape == (20, 10) and logits.dtype == np.int64
    assert {k: v.shape for k, v in acts.items()} == {
        "conv1": (20, 6, 12, 12),
        "conv2": (20, 16, 4, 4),
        "fc1": (20, 120),
        "fc2": (20, 84),
        "fc3": (20, 10),
    }
    assert np.array_equal(acts["fc3"], logits)
    for name in ("conv1", "conv2", "fc1", "fc2"):  # ReLU layers
        assert acts[name].min() >= 0
    assert c.total == 0
    assert c.seen["conv1.fft"] > 0 and c.seen["fc3.out"] == 200
    # batching does not change anything, nor does the counter being created internally
    assert np.array_equal(run(q, layers, CFG, images, batch=7), logits)
    # the layers chain: conv2 applied to the kept conv1 output reproduces the kept conv2 output
    again = spectral_layer_fixed(acts["conv1"], q, layers[1], CFG, OverflowCounter())
    assert np.array_equal(again, acts["conv2"])
    assert np.array_equal(
        dense_layer_fixed(acts["fc1"], q, layers[3], CFG, OverflowCounter()), acts["fc2"]
    )


def test_accuracy_fixed(lenet):
    layers, _, q, images = lenet
    pred = run(q, layers, CFG, images).argmax(axis=1)
    labels = pred.copy()
    labels[:5] = (labels[:5] + 1) % 10
    assert accuracy_fixed(q, layers, CFG, images, labels) == pytest.approx(0.75)


def test_each_layer_matches_float_within_derived_bound(lenet):
    """Layer by layer, fixed vs float on the same (dequantised) input and parameters."""
    layers, _, q, images = lenet
    _, acts = run(q, layers, CFG, images, keep=True)
    d = dequantize(q, layers, CFG)
    lsb = 2.0**-CFG.activation.frac
    prev = input_fixed(images, CFG)
    for layer in layers:
        n = layer["name"]
        ref = float_layer(prev * lsb, d, layer)
        got = acts[n]
        if layer["type"] == SPECTRAL:
            bound = spectral_layer_bound(np.abs(prev).max(), q, layer, CFG)
            err = np.abs(got - ref / lsb).max()
            assert err <= bound, (n, err, bound)
            assert bound * lsb < 0.1  # non-vacuous: the outputs are of order 1..3
        else:
            # one rounding only; float64 is exact here (|products| < 2**53)
            z = (
                prev.reshape(len(prev), -1) @ q[f"{n}.weight"]
                + q[f"{n}.bias"] * 2**CFG.dense_weight.frac
            )
            assert np.abs(z).max() < 2**52
            want = np.floor(ref / lsb + 0.5).astype(np.int64)
            assert np.array_equal(got, want), n
        prev = got


def test_logits_match_float_network(lenet):
    """End to end against the float network (network.forward on pixel/256).

    Worst-case propagation of the per-layer bounds (Σ_l ||∂logit/∂a_l||_1 · δ_l) is vacuous here
    (several units), because the per-layer bounds are worst cases that rounding errors do not
    reach together.  The tolerance is therefore built from the per-layer errors measured against
    the float layers (each checked against its format-derived bound δ_l above), modelled as a
    common bias μ_l plus independent zero-mean parts of standard deviation s_l, propagated
    through the exact first-order gains of the (piecewise-linear) float network:
        |Δlogit_i| <= Σ_l |Σ_j g_lij| |μ_l| + 6 ||g_li||_2 s_l.
    Against the original (unquantised) float parameters, the float effect of quantising them
    (f(dequantised) − f(original)) is added."""
    layers, params, q, images = lenet
    lsb = 2.0**-CFG.activation.frac
    logits, acts = run(q, layers, CFG, images, keep=True)
    d = dequantize(q, layers, CFG)
    x = images[:, None].astype(np.float64) / 256.0
    f_deq, _ = forward(d, layers, x)
    f_orig, _ = forward(params, layers, x)
    sens = logit_sensitivities(d, layers, x)
    tol = np.zeros_like(f_deq)
    worst = np.zeros_like(f_deq)
    prev = input_fixed(images, CFG)
    for layer in layers:
        n = layer["name"]
        e = acts[n] - float_layer(prev * lsb, d, layer) / lsb  # LSB
        if layer["type"] == SPECTRAL:
            delta = spectral_layer_bound(np.abs(prev).max(), q, layer, CFG)
        else:
            delta = 0.5
        assert np.abs(e).max() <= delta
        tol += (sens[n]["sum"] * abs(e.mean()) + 6 * sens[n]["l2"] * e.std()) * lsb
        worst += sens[n]["l1"] * delta * lsb
        prev = acts[n]
    err = np.abs(logits * lsb - f_deq)
    assert np.all(err <= tol), (err.max(), tol.min())
    assert tol.max() < 0.03 * np.abs(f_deq).max()  # informative: ~1 % of the logit range
    assert np.all(err <= worst)  # first-order worst case (rigorous but loose)
    quant = np.abs(f_deq - f_orig)
    assert np.all(np.abs(logits * lsb - f_orig) <= tol + quant)
    # argmax: guaranteed wherever the float top-2 margin exceeds twice the tolerance
    top2 = np.sort(f_orig, axis=1)[:, -2:]
    safe = (top2[:, 1] - top2[:, 0]) > 2 * (tol + quant).max(axis=1)
    agree = logits.argmax(axis=1) == f_orig.argmax(axis=1)
    assert np.all(agree[safe]) and safe.sum() >= 15
    assert agree.mean() >= 0.9


# --------------------------------------------------------------------------------------------
# dense layer, hand worked
# --------------------------------------------------------------------------------------------


def test_dense_layer_hand_worked():
    layer = {"type": "dense", "name": "fc", "in_features": 2, "out_features": 2, "relu": False}
    # weights in Q2.14 (1.0 = 16384), activations/bias in Q6.10
    q = {"fc.weight": np.array([[4096, -8192], [2731, 16384]]), "fc.bias": np.array([1, -2])}
    x = np.array([[2, -3], [-2, 0], [0, 0], [-6, 0], [3, 1]])
    # bias aligned to Q.24: 1 -> 16384, -2 -> -32768; result = (acc + 8192) >> 14
    # row 0: 8192 - 8193 + 16384 = 16383  -> 1.99994/2 → (24575 >> 14) = 1
    #        -16384 - 49152 - 32768 = -98304 -> -6
    # row 1: -8192 + 16384 = 8192 (exactly +0.5)      -> 1
    #        16384 - 32768 = -16384                  -> -1
    # row 2: bias only: 1, -2
    # row 3: -24576 + 16384 = -8192 (exactly -0.5)    -> 0 (half up)
    #        49152 - 32768 = 16384                   -> 1
    # row 4: 12288 + 2731 + 16384 = 31403 -> (39595 >> 14) = 2
    #        -24576 + 16384 - 32768 = -40960 (-2.5)  -> -2 (half up)
    want = [[1, -6], [1, -1], [1, -2], [0, 1], [2, -2]]
    c = OverflowCounter()
    assert dense_layer_fixed(x, q, layer, CFG, c).tolist() == want
    relu = dict(layer, relu=True)
    assert dense_layer_fixed(x, q, relu, CFG, c).tolist() == [
        [1, 0],
        [1, 0],
        [1, 0],
        [0, 1],
        [2, 0],
    ]
    assert c.total == 0 and c.seen["fc.out"] == 20
    # saturation: 30000 * (16383 + 16383) / 16384 ≈ 59996 > 32767
    qs = {"fc.weight": np.array([[16383, -16384], [16383, -16384]]), "fc.bias": np.array([0, 0])}
    c = OverflowCounter()
    got = dense_layer_fixed(np.array([[30000, 30000], [10, 10]]), qs, layer, CFG, c)
    assert got.tolist() == [[32767, -32768], [20, -20]]
    assert c.saturated == {"fc.acc": 0, "fc.out": 2}
    got = dense_layer_fixed(np.array([[30000, 30000]]), qs, relu, CFG, OverflowCounter())
    assert got.tolist() == [[32767, 0]]
    # the input is flattened
    x4 = np.array([[[[2]], [[-3]]]])  # (1, 2, 1, 1)
    assert dense_layer_fixed(x4, q, layer, CFG, OverflowCounter()).tolist() == [[1, -6]]


# --------------------------------------------------------------------------------------------
# spectral layer
# --------------------------------------------------------------------------------------------


def _identity_q(N, bias=0, C=1):
    """Spectral kernel = FFT of a delta at tap (0, 0): all bins 1 + 0i (exact in Q5.11)."""
    nb = N // 2 + 1
    re = np.zeros((C, C, N, nb), dtype=np.int64)
    for c in range(C):
        re[c, c] = 1 << CFG.conv_weight.frac
    return {
        "s.kernel_re": re,
        "s.kernel_im": np.zeros_like(re),
        "s.bias": np.full(C, bias, dtype=np.int64),
    }


def _layer(K, N, C=1, O=1, relu=False, pool=1):
    return {
        "type": SPECTRAL,
        "name": "s",
        "in_channels": C,
        "out_channels": O,
        "kernel": K,
        "fft": N,
        "relu": relu,
        "pool": pool,
    }


@pytest.mark.parametrize("K", [1, 3])
def test_spectral_identity_kernel_exact_n4(K):
    """delta at (0,0): conv output full[i] = x[i], so the valid output is x[K-1:, K-1:].  With
    N = 4 every twiddle is 1 or ∓i: the forward transform is exact and every halving of the
    inverse acts on an exact multiple, so the layer reproduces the crop bit for bit."""
    rng = np.random.default_rng(K)
    x = rng.integers(-(2**14), 2**14, size=(3, 2, 11, 9))
    c = OverflowCounter()
    y = spectral_layer_fixed(x, _identity_q(4, bias=0, C=2), _layer(K, 4, 2, 2), CFG, c)
    assert np.array_equal(y, x[:, :, K - 1 :, K - 1 :])
    y = spectral_layer_fixed(x, _identity_q(4, bias=-7, C=2), _layer(K, 4, 2, 2), CFG, c)
    assert np.array_equal(y, x[:, :, K - 1 :, K - 1 :] - 7)
    assert c.total == 0


@pytest.mark.parametrize("K, N", [(5, 8), (3, 8), (1, 8), (5, 16)])
def test_spectral_identity_kernel_within_derived_bound(K, N):
    """For N >= 8 the ±√2/2 twiddles round, and the inverse halves (half up) 2·log2(N) times,
    so the identity is reproduced to within the derived bound (a few LSB), not exactly."""
    rng = np.random.default_rng(K * N)
    x = rng.integers(0, 256, size=(4, 1, 21, 19)) << 2  # input pixels as in input_fixed
    q = _identity_q(N)
    c = OverflowCounter()
    y = spectral_layer_fixed(x, q, _layer(K, N), CFG, c)
    err = np.abs(y - x[:, :, K - 1 :, K - 1 :])
    bound = spectral_layer_bound(np.abs(x).max(), q, _layer(K, N), CFG)
    assert err.max() <= bound, (err.max(), bound)
    assert bound * 2.0**-CFG.activation.frac < 0.1
    assert np.mean(err == 0) > 0.3 and abs(np.mean(y - x[:, :, K - 1 :, K - 1 :])) < 1.5
    assert c.total == 0


def reference_spectral_layer(x, q, layer, cfg):
    """Explicit-loop composition of the contract (docstring steps 1-5) on top of the fixed
    transforms, with Python-integer Hadamard sums and loop overlap-add."""
    n = layer["name"]
    K, N = layer["kernel"], layer["fft"]
    L = N - K + 1
    B, C, H, W = x.shape
    O = q[f"{n}.kernel_re"].shape[0]
    th, tw = -(-H // L), -(-W // L)
    wr, wi = q[f"{n}.kernel_re"], q[f"{n}.kernel_im"]
    s = cfg.spectrum.frac + cfg.conv_weight.frac - cfg.product.frac
    shift = cfg.product.frac - cfg.activation.frac
    pmin, pmax = cfg.product.min, cfg.product.max
    full = np.zeros((B, O, th * L + N, tw * L + N), dtype=np.int64)
    ctr = OverflowCounter()
    for b in range(B):
        for i in range(th):
            for j in range(tw):
                tile = np.zeros((C, N, N), dtype=np.int64)
                blk = x[b, :, i * L : (i + 1) * L, j * L : (j + 1) * L]
                tile[:, : blk.shape[1], : blk.shape[2]] = blk
                xr, xi = rfft2_fixed(tile, cfg, ctr)
                yr = np.zeros((O, N, N // 2 + 1), dtype=np.int64)
                yi = np.zeros_like(yr)
                for o in range(O):
                    for u in range(N):
                        for v in range(N // 2 + 1):
                            ar = sum(
                                int(xr[c, u, v]) * int(wr[o, c, u, v])
                                - int(xi[c, u, v]) * int(wi[o, c, u, v])
                                for c in range(C)
                            )
                            ai = sum(
                                int(xr[c, u, v]) * int(wi[o, c, u, v])
                                + int(xi[c, u, v]) * int(wr[o, c, u, v])
                                for c in range(C)
                            )
                            yr[o, u, v] = min(max((ar + (1 << (s - 1))) >> s, pmin), pmax)
                            yi[o, u, v] = min(max((ai + (1 << (s - 1))) >> s, pmin), pmax)
                y = irfft2_fixed(yr, yi, cfg, ctr)
                full[b, :, i * L : i * L + N, j * L : j * L + N] += y
    assert shift >= 0  # (the configurations used here)
    out = full[:, :, K - 1 : H, K - 1 : W] + (q[f"{n}.bias"] * 2**shift)[None, :, None, None]
    a = out if shift == 0 else (out + 2 ** (shift - 1)) // 2**shift  # floor(v/2^s + 1/2)
    a = np.clip(a, cfg.activation.min, cfg.activation.max)
    if layer["relu"]:
        a = np.maximum(a, 0)
    p = layer["pool"]
    if p > 1:
        Hp, Wp = a.shape[2] // p, a.shape[3] // p
        pooled = np.zeros(a.shape[:2] + (Hp, Wp), dtype=np.int64)
        for r in range(Hp):
            for t in range(Wp):
                pooled[:, :, r, t] = a[:, :, r * p : (r + 1) * p, t * p : (t + 1) * p].max(
                    axis=(2, 3)
                )
        a = pooled
    return a


@pytest.mark.parametrize(
    "cfg",
    [
        FixedPointConfig(),
        # product keeps 2 more fractional bits: the bias is aligned up and the sum rounded down
        FixedPointConfig(product=Format(28, 12)),
        # a narrow activation format: the output saturates
        FixedPointConfig(activation=Format(11, 10), spectrum=Format(24, 10)),
    ],
    ids=["default", "product-q12", "narrow-activation"],
)
def test_spectral_layer_bit_exact_vs_loop_reference(cfg):
    rng = np.random.default_rng(11)
    layer = _layer(5, 8, C=2, O=3, relu=True, pool=2)
    x = rng.integers(-1500, 1500, size=(2, 2, 11, 10))
    nb = 5
    q = {
        "s.kernel_re": rng.integers(-3000, 3000, size=(3, 2, 8, nb)),
        "s.kernel_im": rng.integers(-3000, 3000, size=(3, 2, 8, nb)),
        "s.bias": np.array([-300, 5, 301]),
    }
    c = OverflowCounter()
    got = spectral_layer_fixed(x, q, layer, cfg, c)
    want = reference_spectral_layer(x, q, layer, cfg)
    assert got.shape == (2, 3, 3, 3)
    assert np.array_equal(got, want)
    if cfg.activation.bits == 11:
        assert c.saturated["s.out"] > 0 and got.max() == cfg.activation.max
    else:
        assert c.total == 0
    # pre_pool returns the un-pooled map
    un = spectral_layer_fixed(x, q, layer, cfg, OverflowCounter(), pre_pool=True)
    assert un.shape == (2, 3, 7, 6)
    assert np.array_equal(un[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)), got)


def test_spectrum_frac_differs_from_activation_frac():
    rng = np.random.default_rng(3)
    cfg = FixedPointConfig(spectrum=Format(24, 8))
    layer = _layer(5, 8)
    x = rng.integers(0, 256, size=(1, 1, 12, 12)) << 2
    q = _identity_q(8)
    y = spectral_layer_fixed(x, q, layer, cfg, OverflowCounter())
    # an identity kernel must give back the input crop, whatever the spectrum format
    assert np.abs(y - x[:, :, 4:, 4:]).max() <= 8
