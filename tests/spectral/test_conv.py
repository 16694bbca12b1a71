"""Tests for codesign.spectral: float spectral overlap-and-add convolution, forward and backward.

References: ``scipy.signal.convolve2d`` for kernels that come from K×K spatial kernels; an
explicit-loop implementation (circular convolution by ``np.roll`` sums per tile, overlap-add at
stride L, crop) for arbitrary complex spectral kernels; central finite differences for the
gradients (the layer is linear in each argument, so central differences are exact up to
floating-point rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.spectral.conv import (
    effective_kernel,
    fold_kernel,
    geometry,
    hermitian_weights,
    kernel_from_spatial,
    live_bins,
    overlap_add,
    real_bins,
    spectral_backward,
    spectral_forward,
    tiles_of,
)


def conv_valid_reference(x, k, bias):
    """x (B, C, H, W), k (O, C, K, K) spatial → Σ_c convolve2d(x_c, k_oc, 'valid') + bias_o."""
    B, C = x.shape[:2]
    O = k.shape[0]
    out = []
    for b in range(B):
        per_o = []
        for o in range(O):
            acc = sum(scipy.signal.convolve2d(x[b, c], k[o, c], mode="valid") for c in range(C))
            per_o.append(acc + bias[o])
        out.append(per_o)
    return np.array(out)


def loop_reference(x, kernel, bias, K):
    """Arbitrary spectral kernel: per tile, circular N×N convolution with irfft2(kernel),
    computed in the spatial domain with np.roll; overlap-add at stride L; crop K-1..H-1."""
    B, C, H, W = x.shape
    O, _, N, _ = kernel.shape
    L = N - K + 1
    th, tw = -(-H // L), -(-W // L)
    ks = np.fft.irfft2(kernel, s=(N, N))  # (O, C, N, N) real circular kernels
    full = np.zeros((B, O, th * L + N, tw * L + N))
    for b in range(B):
        for i in range(th):
            for j in range(tw):
                tile = np.zeros((C, N, N))
                blk = x[b, :, i * L : (i + 1) * L, j * L : (j + 1) * L]
                tile[:, : blk.shape[1], : blk.shape[2]] = blk
                for o in range(O):
                    y = np.zeros((N, N))
                    for c in range(C):
                        for p in range(N):
                            for q in range(N):
                                if tile[c, p, q] != 0.0:
                                    # y[m, n] += x[p, q] * k[(m - p) % N, (n - q) % N]
                                    y += tile[c, p, q] * np.roll(ks[o, c], (p, q), axis=(0, 1))
                    full[b, o, i * L : i * L + N, j * L : j * L + N] += y
    return full[:, :, K - 1 : H, K - 1 : W] + bias[None, :, None, None]


@given(
    K=st.sampled_from([3, 5]),
    N=st.sampled_from([8, 16]),
    H=st.integers(5, 29),
    W=st.integers(5, 29),
    B=st.integers(1, 2),
    C=st.integers(1, 3),
    O=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_forward_equals_spatial_valid_convolution(K, N, H, W, B, C, O, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, C, H, W))
    k = rng.normal(size=(O, C, K, K))
    bias = rng.normal(size=O)
    out, _ = spectral_forward(x, kernel_from_spatial(k, N), bias, K)
    ref = conv_valid_reference(x, k, bias)
    assert out.shape == (B, O, H - K + 1, W - K + 1)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "K, N, H, W",
    [
        (8, 8, 11, 13),  # L = 1: every output pixel sums N*N tiles
        (1, 8, 9, 10),  # L = N: no overlap at all
        (7, 8, 7, 7),  # a single output pixel
        (3, 4, 10, 6),  # N = 4
        (5, 8, 28, 28),  # LeNet conv1 geometry, H a multiple of L
    ],
)
def test_forward_edge_geometries(K, N, H, W):
    rng = np.random.default_rng(K * 100 + N)
    x = rng.normal(size=(2, 2, H, W))
    k = rng.normal(size=(3, 2, K, K))
    bias = rng.normal(size=3)
    out, _ = spectral_forward(x, kernel_from_spatial(k, N), bias, K)
    np.testing.assert_allclose(out, conv_valid_reference(x, k, bias), rtol=1e-10, atol=1e-10)


def test_kernel_from_spatial_delta():
    """delta at (0,0) → all ones: the layer returns the input crop x[K-1:, K-1:]."""
    K, N = 5, 8
    d = np.zeros((1, 1, K, K))
    d[0, 0, 0, 0] = 1.0
    kern = kernel_from_spatial(d, N)
    assert kern.shape == (1, 1, N, N // 2 + 1)
    np.testing.assert_allclose(kern, np.ones((1, 1, N, N // 2 + 1)), atol=1e-15)
    x = np.random.default_rng(0).normal(size=(1, 1, 13, 11))
    out, _ = spectral_forward(x, kern, np.zeros(1), K)
    np.testing.assert_allclose(out, x[:, :, K - 1 :, K - 1 :], atol=1e-12)


@given(
    K=st.sampled_from([3, 5]),
    N=st.sampled_from([8]),
    H=st.integers(5, 14),
    W=st.integers(5, 14),
    C=st.integers(1, 2),
    O=st.integers(1, 2),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=15, deadline=None)
def test_forward_generic_spectral_kernel_vs_loops(K, N, H, W, C, O, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, C, H, W))
    kernel = rng.normal(size=(O, C, N, N // 2 + 1)) + 1j * rng.normal(size=(O, C, N, N // 2 + 1))
    bias = rng.normal(size=O)
    out, _ = spectral_forward(x, kernel, bias, K)
    ref = loop_reference(x, kernel, bias, K)
    assert out.shape == ref.shape == (2, O, H - K + 1, W - K + 1)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)


def test_forward_generic_kernel_n16():
    rng = np.random.default_rng(5)
    K, N = 5, 16
    x = rng.normal(size=(1, 2, 19, 14))
    kernel = rng.normal(size=(2, 2, N, N // 2 + 1)) + 1j * rng.normal(size=(2, 2, N, N // 2 + 1))
    bias = rng.normal(size=2)
    out, _ = spectral_forward(x, kernel, bias, K)
    np.testing.assert_allclose(out, loop_reference(x, kernel, bias, K), rtol=1e-9, atol=1e-9)


def test_tiles_and_overlap_add_helpers():
    g = geometry(10, 7, 5, 8)  # L = 4
    assert (g.L, g.tiles_h, g.tiles_w, g.out_h, g.out_w, g.bins) == (4, 3, 2, 6, 3, 40)
    x = np.arange(70.0).reshape(1, 10, 7)
    t = tiles_of(x, g)
    assert t.shape == (1, 3, 2, 4, 4)
    np.testing.assert_array_equal(t[0, 1, 0], x[0, 4:8, 0:4])
    np.testing.assert_array_equal(t[0, 2, 1, :2, :3], x[0, 8:10, 4:7])
    assert np.all(t[0, 2, 1, 2:, :] == 0) and np.all(t[0, 2, 1, :, 3:] == 0)
    # overlap-add of a single unit impulse at tile (1, 0), position (5, 6) of its N×N output
    y = np.zeros((3, 2, 8, 8))
    y[1, 0, 5, 6] = 1.0
    out = overlap_add(y, g)
    assert out.shape == (6, 3)
    want = np.zeros((6, 3))
    want[4 + 5 - 4, 0 + 6 - 4] = 1.0  # full index (9, 6), cropped from (K-1, K-1) = (4, 4)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(hermitian_weights(8), [1, 2, 2, 2, 1])


# --------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------


def _fd(f, arr, idx, eps=1e-6, imag=False):
    a = arr.copy()
    step = 1j * eps if imag else eps
    a[idx] += step
    fp = f(a)
    a[idx] -= 2 * step
    fm = f(a)
    return (fp - fm) / (2 * eps)


@pytest.mark.parametrize("K, N, H, W", [(5, 8, 11, 9), (3, 8, 8, 13), (3, 4, 7, 6)])
def test_backward_vs_finite_differences(K, N, H, W):
    rng = np.random.default_rng(K + N + H)
    B, C, O = 2, 2, 3
    x = rng.normal(size=(B, C, H, W))
    kernel = rng.normal(size=(O, C, N, N // 2 + 1)) + 1j * rng.normal(size=(O, C, N, N // 2 + 1))
    bias = rng.normal(size=O)
    gout = rng.normal(size=(B, O, H - K + 1, W - K + 1))

    def loss(x_, k_, b_):
        return float(np.sum(spectral_forward(x_, k_, b_, K)[0] * gout))

    _, cache = spectral_forward(x, kernel, bias, K)
    dx, dk, db = spectral_backward(gout, kernel, cache)
    assert dx.shape == x.shape and dk.shape == kernel.shape and db.shape == bias.shape

    fdx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        fdx[idx] = _fd(lambda a: loss(a, kernel, bias), x, idx)
    np.testing.assert_allclose(dx, fdx, rtol=1e-6, atol=1e-7)

    # every bin, both parts, including columns 0 and N/2
    fdk = np.zeros_like(kernel)
    for idx in np.ndindex(kernel.shape):
        re = _fd(lambda a: loss(x, a, bias), kernel, idx)
        im = _fd(lambda a: loss(x, a, bias), kernel, idx, imag=True)
        fdk[idx] = re + 1j * im
    np.testing.assert_allclose(dk.real, fdk.real, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk.imag, fdk.imag, rtol=1e-6, atol=1e-7)
    # the imaginary parts of the four self-conjugate bins never reach the output
    for u in (0, N // 2):
        for v in (0, N // 2):
            assert np.all(np.abs(dk.imag[:, :, u, v]) < 1e-9)
    # ... but other bins of columns 0 and N/2 do, in both parts
    assert np.abs(dk.imag[:, :, 1, 0]).min() > 1e-6
    assert np.abs(dk.imag[:, :, 1, N // 2]).min() > 1e-6

    fdb = np.array([_fd(lambda a: loss(x, kernel, a), bias, (o,)) for o in range(O)])
    np.testing.assert_allclose(db, fdb, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, gout.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_backward_spatial_kernel_matches_correlation():
    """For a spatial kernel, dx is the 'full' correlation of gout with k (independent formula)."""
    rng = np.random.default_rng(3)
    K, N = 3, 8
    x = rng.normal(size=(1, 1, 10, 12))
    k = rng.normal(size=(1, 1, K, K))
    gout = rng.normal(size=(1, 1, 8, 10))
    _, cache = spectral_forward(x, kernel_from_spatial(k, N), np.zeros(1), K)
    dx, _, _ = spectral_backward(gout, kernel_from_spatial(k, N), cache)
    ref = scipy.signal.correlate2d(gout[0, 0], k[0, 0], mode="full")
    np.testing.assert_allclose(dx[0, 0], ref, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------------
# geometry errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "H, W, K, N, msg",
    [
        (10, 10, 3, 6, "power of two"),
        (10, 10, 3, 12, "power of two"),
        (10, 10, 3, 1, "power of two"),
        (10, 10, 9, 8, "kernel size"),
        (10, 10, 0, 8, "kernel size"),
        (4, 10, 5, 8, "smaller than the kernel"),
        (10, 4, 5, 8, "smaller than the kernel"),
    ],
)
def test_geometry_errors(H, W, K, N, msg):
    with pytest.raises(ValueError, match=msg):
        geometry(H, W, K, N)


def test_spectral_forward_geometry_errors():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError):
        spectral_forward(x, np.zeros((1, 1, 8, 5), complex), np.zeros(1), 5)  # input < kernel
    with pytest.raises(ValueError):
        spectral_forward(
            np.zeros((1, 1, 12, 12)), np.zeros((1, 1, 8, 5), complex), np.zeros(1), 9
        )  # K > N
    with pytest.raises(ValueError):
        spectral_forward(
            np.zeros((1, 1, 12, 12)), np.zeros((1, 1, 6, 4), complex), np.zeros(1), 3
        )  # N = 6


@pytest.mark.parametrize("N", [4, 8, 16])
def test_only_n_squared_real_parameters_reach_the_output(N):
    """The real-linear map from a half-spectrum kernel's N(N+2) reals to irfft2's N×N output
    has rank N²; what it discards is exactly what effective_kernel removes."""
    half = N // 2 + 1
    cols = []
    for i in range(N * half):
        for part in (1, 1j):
            k = np.zeros(N * half, complex)
            k[i] = part
            cols.append(np.fft.irfft2(k.reshape(N, half), s=(N, N)).ravel())
    assert np.linalg.matrix_rank(np.array(cols).T) == N * N
    rng = np.random.default_rng(N)
    k = rng.normal(size=(3, N, half)) + 1j * rng.normal(size=(3, N, half))
    e = effective_kernel(k)
    assert np.allclose(np.fft.irfft2(e, s=(N, N)), np.fft.irfft2(k, s=(N, N)), atol=1e-12)
    assert np.allclose(effective_kernel(e), e)  # a projection
    mirror = (-np.arange(N)) % N
    for v in {0, N // 2}:  # Hermitian in the self-conjugate columns
        assert np.allclose(e[:, :, v], np.conj(e[:, mirror, v]))
    assert np.array_equal(e[:, :, 1 : N // 2], k[:, :, 1 : N // 2])


def test_the_discarded_part_changes_no_layer_output():
    rng = np.random.default_rng(4)
    K, N = 3, 8
    x = rng.normal(size=(2, 2, 12, 12))
    k = rng.normal(size=(3, 2, N, N // 2 + 1)) + 1j * rng.normal(size=(3, 2, N, N // 2 + 1))
    anti = k - effective_kernel(k)
    assert np.abs(anti).max() > 0.1
    a, _ = spectral_forward(x, k, np.zeros(3), K)
    b, _ = spectral_forward(x, effective_kernel(k), np.zeros(3), K)
    c, _ = spectral_forward(x, k + 5 * anti, np.zeros(3), K)
    assert np.allclose(a, b, atol=1e-12) and np.allclose(a, c, atol=1e-12)


@pytest.mark.parametrize("N", [4, 8, 16])
def test_a_folded_kernel_is_the_same_layer_on_n_squared_reals(N):
    """fold_kernel keeps irfft2 (so the layer) and leaves exactly N² real degrees of freedom:
    the live bins, four of them real."""
    half = N // 2 + 1
    live, real = live_bins(N), real_bins(N)
    assert live.sum() == N * half - (N - 2) and real.sum() == 4 and not (real & ~live).any()
    assert 2 * live.sum() - real.sum() == N * N
    rng = np.random.default_rng(N)
    k = rng.normal(size=(3, 2, N, half)) + 1j * rng.normal(size=(3, 2, N, half))
    f = fold_kernel(k)
    assert np.allclose(np.fft.irfft2(f, s=(N, N)), np.fft.irfft2(k, s=(N, N)), atol=1e-12)
    assert not f[..., ~live].any() and not f[..., real].imag.any()
    assert np.array_equal(fold_kernel(f), f)  # idempotent
    assert np.array_equal(f[..., 1 : N // 2], k[..., 1 : N // 2])  # other columns untouched
    # hand-worked: column 0, bin 1 takes K[1] + conj K[N−1]
    assert f[0, 0, 1, 0] == k[0, 0, 1, 0] + np.conj(k[0, 0, N - 1, 0])
    K = 3 if N > 4 else 2
    x = rng.normal(size=(2, 2, 3 * N, 3 * N))
    a, _ = spectral_forward(x, k, np.zeros(3), K)
    b, _ = spectral_forward(x, f, np.zeros(3), K)
    assert np.allclose(a, b, atol=1e-10)
