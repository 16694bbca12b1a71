"""Tests for codesign.fixedpoint: the bit-level contract of the generated hardware.

References used here are independent of the module under test:

* hand-worked integers for rounding, quantisation and saturation;
* numpy's float FFTs (``np.fft.fft/ifft/rfft2/irfft2``) with error bounds derived below from
  the formats (not tuned to the observed error);
* a bit-exact *recursive* decimation-in-time FFT written here from the module docstring
  (the module uses an iterative bit-reversed one), so every rounding and saturation point of the
  contract is checked bit for bit.

Error bound used throughout (complex modulus, in LSBs of the integer words).  For a stage that
combines sub-transforms of length m/2 into length m with quantised twiddles ``wq = w + dw``:

    t = round(b_c * wq)  with  |t - b*w| <= (1+|dw|)*E + |b|*|dw| + r,

where ``E`` bounds the error carried in by every element, ``|b|`` bounds the exact value, and
``r`` = sqrt(2)/2 is the once-per-part rounding of the twiddle product (0 when every twiddle of
the stage is exact, i.e. 1 or -i, whose products need no rounding).  A forward stage outputs
``a ± t`` so  E' = E + (1+|dw|)E + |b||dw| + r ; an inverse stage halves with round-half-up
(adds at most 0.5 per part, sqrt(2)/2 in modulus) so
E' = (E + (1+|dw|)E + |b||dw| + r)/2 + sqrt(2)/2.
|b| is bounded by the exact partial DFTs: forward, a length-2**s partial DFT of data with at most
``nz`` non-zeros of modulus <= A is <= min(2**s, nz)*A; inverse (halved) it is <= A.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.spectral.fixedpoint import (
    FixedPointConfig,
    Format,
    OverflowCounter,
    fft_radix2,
    irfft2_fixed,
    quantize,
    rfft2_fixed,
    round_shift,
    twiddles,
)

CFG = FixedPointConfig()
WIDE = Format(60, 0)
R = math.sqrt(2) / 2  # max modulus of a complex rounding to nearest integer, each part <= 0.5


# --------------------------------------------------------------------------------------------
# independent helpers
# --------------------------------------------------------------------------------------------


def _my_twiddles(n, ft, inverse):
    """exp(∓2πik/n) quantised half up, written from the docstring (k < n/2)."""
    k = np.arange(n // 2)
    ang = (1.0 if inverse else -1.0) * 2.0 * np.pi * k / n
    wr = np.floor(np.cos(ang) * 2.0**ft + 0.5).astype(np.int64)
    wi = np.floor(np.sin(ang) * 2.0**ft + 0.5).astype(np.int64)
    return wr, wi, ang


def _stage_params(n, m, ft, inverse):
    """(max |dw|, r) of the stage merging into length m of an n-point FFT."""
    wr, wi, ang = _my_twiddles(n, ft, inverse)
    idx = np.arange(m // 2) * (n // m)
    dw = np.abs((wr[idx] + 1j * wi[idx]) / 2.0**ft - np.exp(1j * ang[idx]))
    exact = np.all(wr[idx] % (1 << ft) == 0) and np.all(wi[idx] % (1 << ft) == 0)
    return float(dw.max()), (0.0 if exact else R)


def fft_error_bound(n, A, nz, ft, inverse, E0=0.0):
    """Bound on |computed - exact| per element after an n-point fixed FFT (see module doc)."""
    E = E0
    s, m = 0, 2
    while m <= n:
        dw, r = _stage_params(n, m, ft, inverse)
        bmax = A if inverse else min(2**s, nz) * A
        grown = E + (1.0 + dw) * E + bmax * dw + r
        E = grown / 2 + R if inverse else grown
        s, m = s + 1, m * 2
    return E


def _sat(v, fmt, stats):
    n = int(np.count_nonzero(v > fmt.max) + np.count_nonzero(v < fmt.min))
    stats[0] += n
    return np.clip(v, fmt.min, fmt.max)


def ref_fft(re, im, inverse, ft, fmt, stats, n_full=None):
    """Recursive radix-2 DIT FFT along the last axis, bit-exact per the module docstring."""
    n = re.shape[-1]
    n_full = n_full or n
    if n == 1:
        return re, im
    er, ei = ref_fft(re[..., 0::2], im[..., 0::2], inverse, ft, fmt, stats, n_full)
    orr, oi = ref_fft(re[..., 1::2], im[..., 1::2], inverse, ft, fmt, stats, n_full)
    wr_all, wi_all, _ = _my_twiddles(n_full, ft, inverse)
    idx = np.arange(n // 2) * (n_full // n)
    wr, wi = wr_all[idx], wi_all[idx]
    half = 1 << (ft - 1)
    tr = (orr * wr - oi * wi + half) >> ft
    ti = (orr * wi + oi * wr + half) >> ft
    if inverse:  # halve: the sum rounded half up, the difference floored
        out_r = np.concatenate([(er + tr + 1) >> 1, (er - tr) >> 1], axis=-1)
        out_i = np.concatenate([(ei + ti + 1) >> 1, (ei - ti) >> 1], axis=-1)
    else:
        out_r = np.concatenate([er + tr, er - tr], axis=-1)
        out_i = np.concatenate([ei + ti, ei - ti], axis=-1)
    return _sat(out_r, fmt, stats), _sat(out_i, fmt, stats)


def ref_rfft2(tile, cfg, stats):
    tile = np.asarray(tile, dtype=np.int64)
    n = tile.shape[-1]
    ft = cfg.twiddle.frac
    re, im = ref_fft(tile, np.zeros_like(tile), False, ft, cfg.spectrum, stats)
    re, im = re[..., : n // 2 + 1], im[..., : n // 2 + 1]
    re, im = ref_fft(
        np.swapaxes(re, -1, -2), np.swapaxes(im, -1, -2), False, ft, cfg.spectrum, stats
    )
    return np.swapaxes(re, -1, -2), np.swapaxes(im, -1, -2)


def ref_irfft2(re, im, cfg, stats):
    n = re.shape[-2]
    ft = cfg.twiddle.frac
    re, im = ref_fft(np.swapaxes(re, -1, -2), np.swapaxes(im, -1, -2), True, ft, cfg.product, stats)
    re, im = np.swapaxes(re, -1, -2), np.swapaxes(im, -1, -2)
    # Hermitian rebuild of each row, real part of bins 0 and N/2 (numpy irfft semantics)
    full_r = np.zeros(re.shape[:-1] + (n,), dtype=np.int64)
    full_i = np.zeros_like(full_r)
    for v in range(n // 2 + 1):
        full_r[..., v] = re[..., v]
        if 0 < v < n // 2:
            full_i[..., v] = im[..., v]
            full_r[..., n - v] = re[..., v]
            full_i[..., n - v] = -im[..., v]
    out_r, _ = ref_fft(full_r, full_i, True, ft, cfg.product, stats)
    return out_r


# --------------------------------------------------------------------------------------------
# formats, rounding, quantisation, saturation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q, s, expected",
    [
        (5, 1, 3),
        (-5, 1, -2),
        (6, 2, 2),
        (-6, 2, -1),
        (7, 0, 7),
        (3, -2, 12),
        (4, 1, 2),
        (-4, 1, -2),
        (1, 1, 1),
        (-1, 1, 0),
        (-3, 1, -1),
        (3, 1, 2),
        (10, 2, 3),
        (-10, 2, -2),
        (9, 2, 2),
        (-9, 2, -2),
        (11, 2, 3),
        (-11, 2, -3),
        (-7, -3, -56),
        (0, 5, 0),
        (2**40 + 2**19, 20, 2**20 + 1),
    ],
)
def test_round_shift_hand_worked(q, s, expected):
    assert int(round_shift(q, s)) == expected


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.integers(1, 20))
@settings(max_examples=60, deadline=None)
def test_round_shift_is_floor_of_x_plus_half(qs, s):
    from fractions import Fraction

    got = round_shift(np.array(qs, dtype=np.int64), s)
    want = [math.floor(Fraction(q, 2**s) + Fraction(1, 2)) for q in qs]
    assert got.dtype == np.int64
    assert got.tolist() == want


def test_format_properties():
    f = Format(16, 10)
    assert (f.min, f.max, f.scale, f.name()) == (-32768, 32767, 1024.0, "Q6.10")
    assert Format(18, 16).name() == "Q2.16"
    assert (Format(8, 0).min, Format(8, 0).max, Format(8, 0).name()) == (-128, 127, "Q8.0")
    assert (Format(2, 0).min, Format(2, 0).max) == (-2, 1)
    assert (Format(48, 0).min, Format(48, 0).max) == (-(2**47), 2**47 - 1)
    assert Format(24, 10).to_dict() == {"bits": 24, "frac": 10}


@pytest.mark.parametrize("bits, frac", [(1, 0), (0, 0), (63, 0), (16, -1), (16, 62), (-4, 2)])
def test_invalid_format_raises(bits, frac):
    with pytest.raises(ValueError):
        Format(bits, frac)


def test_config_dict_roundtrip():
    cfg = FixedPointConfig(activation=Format(12, 6), input_bits=6)
    d = cfg.to_dict()
    assert d["activation"] == {"bits": 12, "frac": 6} and d["input_bits"] == 6
    assert FixedPointConfig.from_dict(d) == cfg


def test_quantize_half_up_and_saturation():
    f = Format(8, 2)  # LSB 0.25, range [-32, 31.75]
    x = np.array(
        [0.125, -0.125, 0.375, -0.375, 0.1, -0.1, 1.0, 31.75, 31.9, 100.0, -32.0, -32.2, -1e9]
    )
    want = [1, 0, 2, -1, 0, 0, 4, 127, 127, 127, -128, -128, -128]
    assert quantize(x, f).tolist() == want
    c = OverflowCounter()
    got = quantize(x, f, c, "w")
    assert got.tolist() == want
    # 31.9*4 = 127.6 -> 128 (clamped), 400, -128.8 -> -129 (clamped), -4e9
    assert c.saturated == {"w": 4} and c.seen == {"w": x.size}
    assert quantize(np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5]), Format(8, 0)).tolist() == [
        1,
        0,
        2,
        -1,
        3,
        -2,
    ]


def test_overflow_counter_counts_exactly():
    c = OverflowCounter()
    f = Format(4, 0)  # [-8, 7]
    a = np.array([[-9, -8, 0, 7], [8, 100, -100, 3]])
    out = c.saturate(a, f, "x")
    assert out.tolist() == [[-8, -8, 0, 7], [7, 7, -8, 3]]
    assert a.tolist() == [[-9, -8, 0, 7], [8, 100, -100, 3]]  # input untouched
    c.saturate(np.array([1, 2, 3]), f, "y")
    c.saturate(np.array([20]), f, "x")
    c.saturate(np.array([-8, 7]), f, "y")
    assert c.saturated == {"x": 5, "y": 0}
    assert c.seen == {"x": 9, "y": 5}
    assert c.total == 5


@given(st.lists(st.integers(-300, 300), min_size=0, max_size=40), st.integers(2, 10))
@settings(max_examples=50, deadline=None)
def test_overflow_counter_property(vals, bits):
    f = Format(bits, 0)
    c = OverflowCounter()
    a = np.array(vals, dtype=np.int64)
    out = c.saturate(a, f, "p")
    n_out = sum(1 for v in vals if v > f.max or v < f.min)
    assert c.saturated["p"] == n_out and c.seen["p"] == len(vals)
    assert out.tolist() == [min(max(v, f.min), f.max) for v in vals]


# --------------------------------------------------------------------------------------------
# twiddles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 4, 8, 16, 64])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("fmt", [Format(18, 16), Format(16, 14), Format(12, 10)])
def test_twiddles(n, inverse, fmt):
    wr, wi = twiddles(n, fmt, inverse)
    one = 1 << fmt.frac
    assert wr.shape == wi.shape == (n // 2,)
    assert wr[0] == one and wi[0] == 0
    if n >= 4:  # quarter turn: exp(∓iπ/2) = ∓i exactly
        assert wr[n // 4] == 0 and wi[n // 4] == (one if inverse else -one)
    k = np.arange(n // 2)
    sign = 1 if inverse else -1
    assert np.all(np.abs(wr / one - np.cos(2 * np.pi * k / n)) <= 0.5 / one)
    assert np.all(np.abs(wi / one - sign * np.sin(2 * np.pi * k / n)) <= 0.5 / one)
    mwr, mwi, _ = _my_twiddles(n, fmt.frac, inverse)
    assert wr.tolist() == mwr.tolist() and wi.tolist() == mwi.tolist()


# --------------------------------------------------------------------------------------------
# 1-D FFT
# --------------------------------------------------------------------------------------------


def test_fft_n2_hand_worked():
    c = OverflowCounter()
    re, im = fft_radix2(
        np.array([3, 4]),
        np.array([0, 0]),
        -1,
        inverse=False,
        cfg=CFG,
        out_fmt=WIDE,
        counter=c,
        where="t",
    )
    assert re.tolist() == [7, -1] and im.tolist() == [0, 0]
    # inverse halves, the sum rounded half up and the difference floored: [3.5, -0.5] -> [4, -1]
    re, im = fft_radix2(
        np.array([3, 4]),
        np.array([-3, 0]),
        -1,
        inverse=True,
        cfg=CFG,
        out_fmt=WIDE,
        counter=c,
        where="t",
    )
    assert re.tolist() == [4, -1] and im.tolist() == [-1, -2]  # [-1.5, -1.5] -> [-1, -2]
    assert c.total == 0


@pytest.mark.parametrize("n", [2, 4])
def test_fft_small_sizes_are_exact(n):
    """n = 2, 4 use only the twiddles 1 and ∓i: no rounding at all in the forward transform."""
    rng = np.random.default_rng(n)
    x = rng.integers(-(2**20), 2**20, size=(50, n))
    y = rng.integers(-(2**20), 2**20, size=(50, n))
    c = OverflowCounter()
    re, im = fft_radix2(x, y, 1, inverse=False, cfg=CFG, out_fmt=WIDE, counter=c, where="f")
    X = np.fft.fft(x + 1j * y, axis=1)
    assert np.array_equal(re, X.real.astype(np.int64))
    assert np.array_equal(im, X.imag.astype(np.int64))
    re, im = fft_radix2(
        x, np.zeros_like(x), 1, inverse=False, cfg=CFG, out_fmt=WIDE, counter=c, where="f"
    )
    X = np.fft.fft(x, axis=1)
    assert np.array_equal(re, X.real.astype(np.int64))
    assert np.array_equal(im, X.imag.astype(np.int64))
    # inverse of data that is a multiple of n: every halving is exact
    re, im = fft_radix2(n * x, n * y, 1, inverse=True, cfg=CFG, out_fmt=WIDE, counter=c, where="f")
    Xi = np.fft.ifft(n * (x + 1j * y), axis=1)
    assert np.array_equal(re, np.rint(Xi.real).astype(np.int64))
    assert np.array_equal(im, np.rint(Xi.imag).astype(np.int64))
    assert c.total == 0


@given(
    st.sampled_from([2, 4, 8, 16, 32, 64]),
    st.integers(0, 2**32 - 1),
    st.integers(1, 16),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_fft_radix2_vs_numpy(n, seed, amp_bits, inverse, real_input):
    rng = np.random.default_rng(seed)
    a = 2**amp_bits
    x = rng.integers(-a, a, size=(7, n))
    y = np.zeros_like(x) if real_input else rng.integers(-a, a, size=(7, n))
    c = OverflowCounter()
    re, im = fft_radix2(x.T, y.T, 0, inverse=inverse, cfg=CFG, out_fmt=WIDE, counter=c, where="f")
    re, im = re.T, im.T  # exercised along axis 0
    ref = np.fft.ifft(x + 1j * y, axis=1) if inverse else np.fft.fft(x + 1j * y, axis=1)
    A = float(np.abs(x + 1j * y).max())
    bound = fft_error_bound(n, A, n, CFG.twiddle.frac, inverse)
    err = np.abs(re + 1j * im - ref).max()
    assert err <= bound + 1e-9, (err, bound)
    if inverse:
        # "a few LSB": ~1 per halving stage, plus the twiddle term |b||dw|/2 <= 0.36 A 2**-ft
        assert bound <= np.log2(n) * (1.07 + 0.36 * A * 2.0**-CFG.twiddle.frac)
    # bit-exact against the independent recursive implementation
    stats = [0]
    rr, ri = ref_fft(x, y, inverse, CFG.twiddle.frac, WIDE, stats)
    assert np.array_equal(re, rr) and np.array_equal(im, ri)
    assert c.total == 0 and stats[0] == 0
    assert c.seen["f"] == 2 * x.size * int(np.log2(n))


def test_fft_rejects_bad_sizes():
    c = OverflowCounter()
    for n in (1, 3, 6, 12):
        with pytest.raises(ValueError):
            fft_radix2(
                np.zeros(n, dtype=np.int64),
                np.zeros(n, dtype=np.int64),
                0,
                inverse=False,
                cfg=CFG,
                out_fmt=WIDE,
                counter=c,
                where="f",
            )


# --------------------------------------------------------------------------------------------
# 2-D real transforms
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [4, 8, 16])
def test_rfft2_fixed_vs_numpy(N):
    rng = np.random.default_rng(100 + N)
    L = N // 2  # tile zero padded at the bottom/right, as for K = N/2 + 1
    act = CFG.activation
    tiles = np.zeros((200, N, N), dtype=np.int64)
    tiles[:, :L, :L] = rng.integers(act.min, act.max + 1, size=(200, L, L))
    tiles[0, :L, :L] = act.max  # worst-case magnitude DC
    tiles[1, :L, :L] = act.min
    c = OverflowCounter()
    re, im = rfft2_fixed(tiles, CFG, c, "conv.fft")
    assert re.shape == im.shape == (200, N, N // 2 + 1)
    ref = np.fft.rfft2(tiles)
    A = float(np.abs(tiles).max())
    ft = CFG.twiddle.frac
    e_rows = fft_error_bound(N, A, L, ft, False)
    bound = fft_error_bound(N, L * A, L, ft, False, E0=e_rows)
    err = np.abs(re + 1j * im - ref).max()
    assert err <= bound, (err, bound)
    if N == 4:
        assert err == 0  # only trivial twiddles
    # relative to the largest bin, the bound is tiny (the test is not vacuous)
    assert bound < 1e-4 * np.abs(ref).max()
    assert c.total == 0 and c.seen["conv.fft"] > 0
    stats = [0]
    rr, ri = ref_rfft2(tiles, CFG, stats)
    assert np.array_equal(re, rr) and np.array_equal(im, ri)


@pytest.mark.parametrize("N", [4, 8, 16])
def test_irfft2_fixed_vs_numpy_non_hermitian(N):
    rng = np.random.default_rng(200 + N)
    a = 2**20
    zr = rng.integers(-a, a, size=(200, N, N // 2 + 1))
    zi = rng.integers(-a, a, size=(200, N, N // 2 + 1))
    # make sure the imaginary parts of columns 0 and N/2 are large (they must be ignored)
    zi[..., 0] = a - 1
    zi[..., -1] = -a
    c = OverflowCounter()
    out = irfft2_fixed(zr, zi, CFG, c, "conv.ifft")
    assert out.shape == (200, N, N) and out.dtype == np.int64
    Z = zr + 1j * zi
    ref = np.fft.irfft2(Z, s=(N, N))
    A = float(np.abs(Z).max())
    ft = CFG.twiddle.frac
    e_cols = fft_error_bound(N, A, N, ft, True)
    bound = fft_error_bound(N, A, N, ft, True, E0=e_cols)
    err = np.abs(out - ref).max()
    assert err <= bound, (err, bound)
    # rounding contributes ~1 LSB per stage; twiddle quantisation |b||dw| the rest
    assert bound < 2 * np.log2(N) * (1.07 + A * 2.0**-ft)
    # the imaginary parts of columns 0 and N/2 are ignored, exactly as numpy does
    zi2 = zi.copy()
    zi2[..., 0] = 0
    zi2[..., -1] = 0
    ref2 = np.fft.irfft2(zr + 1j * zi2, s=(N, N))
    assert np.allclose(ref, ref2)
    # (not a tautology: Hermitian-projecting column 0 would differ by O(a/N) here)
    proj = zr + 1j * zi
    proj[:, :, 0] = 0.5 * (proj[:, :, 0] + np.conj(proj[:, (-np.arange(N)) % N, 0]))
    assert np.abs(np.fft.irfft2(proj, s=(N, N)) - ref).max() < 1e-6 * a
    stats = [0]
    assert np.array_equal(out, ref_irfft2(zr, zi, CFG, stats))
    assert c.total == 0 and stats[0] == 0


@given(st.sampled_from([4, 8, 16]), st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None)
def test_rfft2_irfft2_roundtrip(N, seed):
    """irfft2(rfft2(tile)) returns the tile within the sum of both bounds."""
    rng = np.random.default_rng(seed)
    L = N // 2
    t = np.zeros((4, N, N), dtype=np.int64)
    t[:, :L, :L] = rng.integers(-(2**15), 2**15, size=(4, L, L))
    c = OverflowCounter()
    re, im = rfft2_fixed(t, CFG, c)
    back = irfft2_fixed(re, im, CFG, c)
    ft = CFG.twiddle.frac
    A = float(np.abs(t).max())
    e_fwd = fft_error_bound(N, L * A, L, ft, False, E0=fft_error_bound(N, A, L, ft, False))
    # |irfft2(ΔZ)| <= max|ΔZ| (Σ of the half-spectrum weights is N²), plus inverse rounding
    B = float(np.abs(re + 1j * im).max())
    e_inv = fft_error_bound(N, B, N, ft, True, E0=fft_error_bound(N, B, N, ft, True))
    assert np.abs(back - t).max() <= e_fwd + e_inv
    assert c.total == 0


# --------------------------------------------------------------------------------------------
# saturation inside the transforms
# --------------------------------------------------------------------------------------------


def test_fft_stage_saturation_hand_worked():
    c = OverflowCounter()
    f = Format(10, 0)  # [-512, 511]
    re, im = fft_radix2(
        np.array([300, 300]),
        np.array([-300, 300]),
        0,
        inverse=False,
        cfg=CFG,
        out_fmt=f,
        counter=c,
        where="s",
    )
    # top = 600 -> 511 (re), 0 (im); bottom = 0 (re), -600 -> -512 (im)
    assert re.tolist() == [511, 0] and im.tolist() == [0, -512]
    assert c.saturated == {"s": 2} and c.seen == {"s": 4}


def test_rfft2_saturation_counted_and_clamped():
    cfg = FixedPointConfig(spectrum=Format(12, 10))  # [-2048, 2047]
    N, L = 8, 4
    rng = np.random.default_rng(7)
    t = np.zeros((30, N, N), dtype=np.int64)
    t[:, :L, :L] = rng.integers(0, 400, size=(30, L, L))  # DC up to 16*400 > 2047
    c = OverflowCounter()
    re, im = rfft2_fixed(t, cfg, c, "conv1.fft")
    assert set(c.saturated) == {"conv1.fft"}
    stats = [0]
    rr, ri = ref_rfft2(t, cfg, stats)
    assert stats[0] > 0
    assert c.saturated["conv1.fft"] == stats[0]
    assert np.array_equal(re, rr) and np.array_equal(im, ri)
    assert re.max() <= 2047 and re.min() >= -2048 and im.max() <= 2047 and im.min() >= -2048
    # DC bins whose exact value exceeds the range come out clamped at the maximum
    dc_exact = t.sum(axis=(1, 2))
    big = dc_exact > 2047
    assert big.any() and np.all(re[big, 0, 0] == 2047)
    # with a wide enough spectrum format nothing saturates
    c2 = OverflowCounter()
    rfft2_fixed(t, CFG, c2, "conv1.fft")
    assert c2.total == 0


def test_irfft2_saturation_counted_under_name():
    cfg = FixedPointConfig(product=Format(12, 10))  # [-2048, 2047]
    N = 8
    zr = np.zeros((2, N, N // 2 + 1), dtype=np.int64)
    zi = np.zeros_like(zr)
    # DC only: every stage halves exactly; 1280 -> 640, 320, 160 (columns) -> 80, 40, 20 (rows)
    zr[0, 0, 0] = 64 * 20
    # 6400: the first column stage gives 3200 twice (x0 ± x4), clamped to 2047.  Halving 2047,
    # a sum rounds up to 1024 and a difference floors to 1023: the column comes out as
    # [512] * 6 + [511] * 2 (rows 6, 7 the differences of differences).  A row holding 512
    # halves exactly to 64; a row holding 511 gives 256 / 255, then 128 / 127, then 64 / 63 at
    # its last sample: 64 everywhere (instead of 100) but out[6:, 7] = 63
    zr[1, 0, 0] = 64 * 100
    c = OverflowCounter()
    out = irfft2_fixed(zr, zi, cfg, c, "conv1.ifft")
    assert np.all(out[0] == 20)
    want = np.full((N, N), 64)
    want[6:, 7] = 63
    assert np.array_equal(out[1], want)
    assert c.saturated == {"conv1.ifft": 2}
    stats = [0]
    assert np.array_equal(out, ref_irfft2(zr, zi, cfg, stats))
    assert stats[0] == 2
