"""Spectral (FFT overlap-and-add) convolution, as in SPEC2, in float: forward and backward.

An H×W input map is cut into L×L tiles (zero-padded at the bottom/right to whole tiles), each
tile zero-padded to N×N and 2-D real-FFT'd to N×(N/2+1) bins.  Each output channel's tile
spectrum is the sum over input channels of the Hadamard product with a complex spectral kernel of
N×(N/2+1) free bins; the inverse real FFT gives N×N tile outputs, which are overlap-added at
stride L (L = N − K + 1).  The layer output is the "valid" part of the overlap-added map, rows and
columns K−1 .. H−1, so an H×W input gives (H−K+1)×(W−K+1) outputs, exactly like a valid spatial
convolution.  When a spectral kernel is the FFT of a K×K spatial kernel, the layer equals
``scipy.signal.convolve2d(x, k, "valid")``; a trained spectral kernel is any N×N circular kernel
``irfft2(kernel)``, and the layer is then a per-tile circular convolution with it, overlap-added
— no spatial convolution.  Of a kernel's N(N+2) real parameters only N² reach the output: in the
self-conjugate columns 0 and N/2 the inverse transform keeps the Hermitian part and discards
the rest (:func:`effective_kernel`).  :func:`fold_kernel` writes every kernel with the same
``irfft2`` on the fewest bins: the pairs of a self-conjugate column added into the upper one,
the four self-conjugate bins real — :func:`live_bins` bins, N² reals.

Complex gradients follow the convention ``dL/dRe + i·dL/dIm``.  ``numpy.fft.irfft2`` computes
``y = Re(Σ_k w_k Z_k e^{+iθ}) / N²`` over the half spectrum with weights w = 1 for columns 0 and
N/2 and 2 otherwise; its adjoint is therefore ``rfft2(g) · w / N²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

__all__ = [
    "TileGeometry",
    "geometry",
    "spectral_forward",
    "spectral_backward",
    "kernel_from_spatial",
    "tiles_of",
    "overlap_add",
    "hermitian_weights",
    "effective_kernel",
    "live_bins",
    "real_bins",
    "fold_kernel",
]


@dataclass(frozen=True)
class TileGeometry:
    """Tiling of an H×W map for kernel size K and FFT size N."""

    H: int
    W: int
    K: int
    N: int

    @property
    def L(self) -> int:
        return self.N - self.K + 1

    @property
    def tiles_h(self) -> int:
        return -(-self.H // self.L)

    @property
    def tiles_w(self) -> int:
        return -(-self.W // self.L)

    @property
    def out_h(self) -> int:
        return self.H - self.K + 1

    @property
    def out_w(self) -> int:
        return self.W - self.K + 1

    @property
    def bins(self) -> int:
        return self.N * (self.N // 2 + 1)


def geometry(H: int, W: int, K: int, N: int) -> TileGeometry:
    if N & (N - 1) or N < 2:
        raise ValueError(f"FFT size N must be a power of two, got {N}")
    if not 1 <= K <= N:
        raise ValueError(f"kernel size K={K} must be in 1..N (N={N})")
    if H < K or W < K:
        raise ValueError(f"input {H}x{W} is smaller than the kernel {K}x{K}")
    return TileGeometry(H, W, K, N)


def hermitian_weights(N: int) -> np.ndarray:
    """Per-column weight of a half-spectrum bin in the inverse real FFT (1 at 0 and N/2, else 2)."""
    w = np.full(N // 2 + 1, 2.0)
    w[0] = w[-1] = 1.0
    return w


def tiles_of(x: np.ndarray, g: TileGeometry) -> np.ndarray:
    """(..., H, W) → (..., tiles_h, tiles_w, L, L) zero-padded tiles."""
    L = g.L
    pad = [(0, 0)] * (x.ndim - 2) + [(0, g.tiles_h * L - g.H), (0, g.tiles_w * L - g.W)]
    xp = np.pad(x, pad)
    lead = xp.shape[:-2]
    t = xp.reshape(lead + (g.tiles_h, L, g.tiles_w, L))
    return np.swapaxes(t, -3, -2)


def untile(t: np.ndarray, g: TileGeometry) -> np.ndarray:
    """Adjoint of :func:`tiles_of`: (..., th, tw, L, L) → (..., H, W)."""
    lead = t.shape[:-4]
    x = np.swapaxes(t, -3, -2).reshape(lead + (g.tiles_h * g.L, g.tiles_w * g.L))
    return x[..., : g.H, : g.W]


def overlap_add(y: np.ndarray, g: TileGeometry) -> np.ndarray:
    """Overlap-add N×N tile outputs (..., th, tw, N, N) at stride L → valid (..., out_h, out_w)."""
    L, N = g.L, g.N
    nb = -(-N // L)
    lead = y.shape[:-4]
    th, tw = g.tiles_h, g.tiles_w
    yp = np.pad(y, [(0, 0)] * (y.ndim - 2) + [(0, nb * L - N), (0, nb * L - N)])
    yb = yp.reshape(lead + (th, tw, nb, L, nb, L))
    out = np.zeros(lead + (th + nb - 1, L, tw + nb - 1, L), dtype=y.dtype)
    for a in range(nb):
        for b in range(nb):
            out[..., a : a + th, :, b : b + tw, :] += np.moveaxis(yb[..., a, :, b, :], -3, -2)
    full = out.reshape(lead + ((th + nb - 1) * L, (tw + nb - 1) * L))
    K = g.K
    return full[..., K - 1 : g.H, K - 1 : g.W]


def overlap_add_adjoint(gout: np.ndarray, g: TileGeometry) -> np.ndarray:
    """Adjoint of :func:`overlap_add`: scatter the valid-region gradient back to N×N tiles."""
    L, N, K = g.L, g.N, g.K
    nb = -(-N // L)
    th, tw = g.tiles_h, g.tiles_w
    lead = gout.shape[:-2]
    full = np.zeros(lead + ((th + nb - 1) * L, (tw + nb - 1) * L), dtype=gout.dtype)
    full[..., K - 1 : g.H, K - 1 : g.W] = gout
    fb = np.moveaxis(full.reshape(lead + (th + nb - 1, L, tw + nb - 1, L)), -3, -2)
    y = np.zeros(lead + (th, tw, nb, L, nb, L), dtype=gout.dtype)
    for a in range(nb):
        for b in range(nb):
            y[..., a, :, b, :] = fb[..., a : a + th, b : b + tw, :, :]
    y = y.reshape(lead + (th, tw, nb * L, nb * L))
    return y[..., :N, :N]


def spectral_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, K: int):
    """x (B, C, H, W), kernel (O, C, N, N/2+1) complex, bias (O,) → (out, cache)."""
    N = kernel.shape[-2]
    g = geometry(x.shape[-2], x.shape[-1], K, N)
    X = sfft.rfft2(tiles_of(x, g), s=(N, N))
    y = sfft.irfft2(_bin_matmul(X, kernel.transpose(2, 3, 1, 0)), s=(N, N))
    out = overlap_add(y, g) + bias[None, :, None, None]
    return out, (X, g)


def spectral_backward(gout: np.ndarray, kernel: np.ndarray, cache):
    """Gradients (dx, dkernel, dbias) of :func:`spectral_forward`."""
    X, g = cache
    N = g.N
    gy = overlap_add_adjoint(gout, g)
    gY = sfft.rfft2(gy) * (hermitian_weights(N) / (N * N))
    dkernel = (np.swapaxes(np.conj(_to_bins(X)), -1, -2) @ _to_bins(gY)).transpose(3, 2, 0, 1)
    gX = _bin_matmul(gY, np.conj(kernel).transpose(2, 3, 0, 1))
    gtiles = sfft.irfft2(gX / hermitian_weights(N), s=(N, N)) * (N * N)
    dx = untile(gtiles[..., : g.L, : g.L], g)
    dbias = gout.sum(axis=(0, 2, 3))
    return dx, dkernel, dbias


def _to_bins(A: np.ndarray) -> np.ndarray:
    """(B, C, th, tw, u, v) → bin-major (u, v, B·th·tw, C)."""
    B, C, th, tw, u, v = A.shape
    return np.ascontiguousarray(A.transpose(4, 5, 0, 2, 3, 1)).reshape(u, v, B * th * tw, C)


def _bin_matmul(A: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per-bin channel mixing: A (B, Ci, th, tw, u, v), M (u, v, Ci, Co) → (B, Co, th, tw, u, v)."""
    B, _, th, tw, u, v = A.shape
    r = (_to_bins(A) @ M).reshape(u, v, B, th, tw, M.shape[-1])
    return np.ascontiguousarray(r.transpose(2, 5, 3, 4, 0, 1))


def kernel_from_spatial(k: np.ndarray, N: int) -> np.ndarray:
    """Spectral kernel (…, N, N/2+1) equivalent to the spatial K×K kernel ``k`` (convolution)."""
    return sfft.rfft2(k, s=(N, N))


def effective_kernel(kernel: np.ndarray) -> np.ndarray:
    """The part of half-spectrum kernels (..., N, N/2+1) that reaches the layer's output: in
    the self-conjugate columns 0 and N/2 the Hermitian part ``(K[u] + conj K[−u mod N]) / 2``
    (``irfft2`` discards the other half: the imaginary parts of bins (0, 0), (N/2, 0), (0, N/2),
    (N/2, N/2) and the anti-Hermitian pairs), the other columns unchanged.  ``irfft2`` of the
    result equals ``irfft2`` of ``kernel``; its real degrees of freedom are N² per kernel."""
    N = kernel.shape[-2]
    out = np.array(kernel, dtype=np.complex128, copy=True)
    mirror = (-np.arange(N)) % N
    for v in {0, N // 2}:
        col = kernel[..., :, v]
        out[..., :, v] = (col + np.conj(col[..., mirror])) / 2
    return out


def real_bins(N: int) -> np.ndarray:
    """Boolean (N, N/2+1): the four self-conjugate bins (0, 0), (N/2, 0), (0, N/2), (N/2, N/2),
    whose imaginary part ``irfft2`` discards."""
    m = np.zeros((N, N // 2 + 1), dtype=bool)
    m[np.ix_([0, N // 2], [0, N // 2])] = True
    return m


def live_bins(N: int) -> np.ndarray:
    """Boolean (N, N/2+1): the bins a folded kernel (:func:`fold_kernel`) may have non-zero —
    all of columns 1 … N/2−1 and rows 0 … N/2 of columns 0 and N/2: N(N/2+1) − 2(N/2−1) bins
    (34 for N = 8), four of them real, so N² real degrees of freedom."""
    m = np.ones((N, N // 2 + 1), dtype=bool)
    m[N // 2 + 1 :, [0, N // 2]] = False
    return m


def fold_kernel(kernel: np.ndarray) -> np.ndarray:
    """Half-spectrum kernels (..., N, N/2+1) → the kernels with the same ``irfft2`` that are zero
    outside :func:`live_bins` and real on :func:`real_bins`: in columns 0 and N/2, bin u
    (0 < u < N/2) becomes ``K[u] + conj K[N−u]`` and bin N−u zero.  Exact because ``irfft2``
    reads these columns only through their Hermitian part (:func:`effective_kernel`); the
    Hadamard stage then spends no slot on a bin whose product the inverse transform discards."""
    N = kernel.shape[-2]
    out = np.array(kernel, dtype=np.complex128, copy=True)
    upper, lower = np.arange(1, N // 2), N - np.arange(1, N // 2)
    for v in {0, N // 2}:
        out[..., upper, v] = kernel[..., upper, v] + np.conj(kernel[..., lower, v])
        out[..., lower, v] = 0
    out[..., real_bins(N)] = out[..., real_bins(N)].real
    return out
