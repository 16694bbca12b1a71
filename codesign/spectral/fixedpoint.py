"""The fixed-point contract: the integer arithmetic the generated hardware implements, bit for bit.

Every number is a signed two's-complement integer ``q`` standing for ``q * 2**-frac`` in a
:class:`Format` of ``bits`` total bits.  Two rules are used everywhere:

* **rounding** — a right shift by ``s`` bits rounds half up: ``(q + 2**(s-1)) >> s`` (arithmetic
  shift); float → fixed conversion likewise rounds ``x * 2**frac`` half up.
* **saturation** — a result outside a format's range is clamped to its minimum or maximum, and
  the :class:`OverflowCounter` records where and how often.

Datapath of one spectral convolution tile (N×N, N a power of two), in order:

1. the L×L input tile (activation format), zero-padded to N×N;
2. forward 2-D FFT: radix-2 decimation-in-time butterflies on the rows (real input, outputs
   0..N/2 kept), then on the columns; the spectrum word grows (no scaling) and is saturated to the
   spectrum format after every butterfly stage; twiddle products are rounded once per real and
   imaginary part (the sum of the two partial products is formed exactly, as in a DSP48);
3. Hadamard product and sum over input channels, exact in a wide accumulator, rounded once to the
   product-spectrum format;
4. inverse 2-D FFT: columns then rows (the row transform rebuilds the Hermitian half from the
   N/2+1 bins, taking the real part of bins 0 and N/2 exactly as ``numpy.fft.irfft`` does);
   every butterfly stage halves its outputs, which realises the 1/N² of the inverse transform:
   the sum ``a + t`` rounds half up, the difference ``a − t`` rounds down (a floor costs the
   hardware no carry-in, where a second rounding would cost a LUT per bit);
5. overlap-and-add of the N×N tile outputs at stride L, plus the bias, exact in the
   overlap-add accumulator; rounded to the activation format, saturated, then ReLU.

Dense layers: exact dot products in the accumulator, plus the bias, rounded to the activation
format and saturated.  Max-pooling and ReLU are exact.  The numbers below are the defaults; a model
artifact records the formats it was quantised with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.fixed import Format, OverflowCounter, quantize, round_shift

__all__ = [
    "Format",  # re-exported from codesign.fixed, the generic rules
    "FixedPointConfig",
    "OverflowCounter",
    "round_shift",
    "quantize",
    "twiddles",
    "fft_radix2",
    "rfft2_fixed",
    "irfft2_fixed",
]


@dataclass(frozen=True)
class FixedPointConfig:
    """All formats of the datapath (see the module docstring for where each applies)."""

    activation: Format = Format(16, 10)
    spectrum: Format = Format(24, 10)
    twiddle: Format = Format(18, 16)
    conv_weight: Format = Format(16, 11)
    product: Format = Format(24, 10)
    accumulator: Format = Format(48, 0)
    dense_weight: Format = Format(16, 14)
    input_bits: int = 8

    def to_dict(self) -> dict:
        d = {
            k: getattr(self, k).to_dict()
            for k in (
                "activation",
                "spectrum",
                "twiddle",
                "conv_weight",
                "product",
                "accumulator",
                "dense_weight",
            )
        }
        d["input_bits"] = self.input_bits
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FixedPointConfig:
        formats = (
            "activation",
            "spectrum",
            "twiddle",
            "conv_weight",
            "product",
            "accumulator",
            "dense_weight",
        )
        if set(d) != set(formats) | {"input_bits"}:
            raise ValueError(
                f"fixed-point formats must be exactly {sorted(formats)} and "
                f"input_bits, got {sorted(d)}"
            )
        kw = {k: Format(int(d[k]["bits"]), int(d[k]["frac"])) for k in formats}
        return cls(input_bits=int(d["input_bits"]), **kw)


def twiddles(n: int, fmt: Format, inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quantised twiddles ``exp(∓2πik/n)``, k < n/2, as (real, imag) integer arrays."""
    k = np.arange(n // 2)
    sign = 1.0 if inverse else -1.0
    ang = sign * 2.0 * np.pi * k / n
    return quantize(np.cos(ang), fmt), quantize(np.sin(ang), fmt)


def _bit_reverse(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    return np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(n)])


def fft_radix2(
    re: np.ndarray,
    im: np.ndarray,
    axis: int,
    *,
    inverse: bool,
    cfg: FixedPointConfig,
    out_fmt: Format,
    counter: OverflowCounter,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Radix-2 decimation-in-time FFT along ``axis`` on integer (re, im) arrays.

    Twiddle products are rounded by the twiddle's ``frac`` bits; an inverse transform halves
    at each of the log2(n) stages, ``a + t`` rounded half up and ``a − t`` rounded down.  Each
    stage's outputs are saturated to ``out_fmt``.
    """
    re = np.moveaxis(np.asarray(re, dtype=np.int64), axis, -1)
    im = np.moveaxis(np.asarray(im, dtype=np.int64), axis, -1)
    n = re.shape[-1]
    if n & (n - 1) or n < 2:
        raise ValueError(f"FFT size must be a power of two >= 2, got {n}")
    rev = _bit_reverse(n)
    re, im = re[..., rev], im[..., rev]
    wr_all, wi_all = twiddles(n, cfg.twiddle, inverse)
    ft = cfg.twiddle.frac
    m = 2
    while m <= n:
        half = m // 2
        step = n // m
        wr = wr_all[::step][:half]
        wi = wi_all[::step][:half]
        shape = re.shape[:-1] + (n // m, m)
        r = re.reshape(shape)
        i = im.reshape(shape)
        ar, ai = r[..., :half], i[..., :half]
        br, bi = r[..., half:], i[..., half:]
        tr = round_shift(br * wr - bi * wi, ft)
        ti = round_shift(br * wi + bi * wr, ft)
        top_r, top_i, bot_r, bot_i = ar + tr, ai + ti, ar - tr, ai - ti
        if inverse:
            top_r, top_i = round_shift(top_r, 1), round_shift(top_i, 1)
            bot_r, bot_i = bot_r >> 1, bot_i >> 1
        re = np.concatenate([top_r, bot_r], axis=-1).reshape(re.shape)
        im = np.concatenate([top_i, bot_i], axis=-1).reshape(im.shape)
        re = counter.saturate(re, out_fmt, where)
        im = counter.saturate(im, out_fmt, where)
        m *= 2
    return np.moveaxis(re, -1, axis), np.moveaxis(im, -1, axis)


def rfft2_fixed(
    tile: np.ndarray, cfg: FixedPointConfig, counter: OverflowCounter, where: str = "fft"
) -> tuple[np.ndarray, np.ndarray]:
    """Forward 2-D FFT of real N×N integer tiles (last two axes) → (re, im) of N×(N/2+1)."""
    n = tile.shape[-1]
    zero = np.zeros_like(tile, dtype=np.int64)
    re, im = fft_radix2(
        tile, zero, -1, inverse=False, cfg=cfg, out_fmt=cfg.spectrum, counter=counter, where=where
    )
    re, im = re[..., : n // 2 + 1], im[..., : n // 2 + 1]
    return fft_radix2(
        re, im, -2, inverse=False, cfg=cfg, out_fmt=cfg.spectrum, counter=counter, where=where
    )


def irfft2_fixed(
    re: np.ndarray,
    im: np.ndarray,
    cfg: FixedPointConfig,
    counter: OverflowCounter,
    where: str = "ifft",
) -> np.ndarray:
    """Inverse 2-D FFT of N×(N/2+1) half spectra (last two axes) → real N×N, scaled by 1/N²."""
    n = re.shape[-2]
    re, im = fft_radix2(
        re, im, -2, inverse=True, cfg=cfg, out_fmt=cfg.product, counter=counter, where=where
    )
    mid = re[..., 1 : n // 2]
    full_re = np.concatenate([re[..., :1], mid, re[..., n // 2 : n // 2 + 1], mid[..., ::-1]], -1)
    full_im = np.concatenate(
        [
            np.zeros_like(re[..., :1]),
            im[..., 1 : n // 2],
            np.zeros_like(re[..., :1]),
            -im[..., 1 : n // 2][..., ::-1],
        ],
        -1,
    )
    out_re, _ = fft_radix2(
        full_re,
        full_im,
        -1,
        inverse=True,
        cfg=cfg,
        out_fmt=cfg.product,
        counter=counter,
        where=where,
    )
    return out_re
