"""Sparsity projections: which weights a given density keeps.

The one rule every pruning method of the toolkit shares: a density keeps ``floor(density · n)``
weights (never more than asked), chosen by the largest magnitude, ties to the lower index, either
per group (``balanced``: every kernel, or every output column, keeps the same count) or over the
whole layer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["keep_count", "project"]


def keep_count(size: int, density: float) -> int:
    """Non-zeros kept for ``density`` of ``size`` weights: floor, so the density is never
    exceeded."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    return int(np.floor(density * size + 1e-9))


def project(
    V: np.ndarray, density: float, balanced: bool, support: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of the entries of V kept by the Z-step (largest |V|, ties to the lower index).

    V is (O, C, bins...) for a spectral layer or (in, out) for a dense layer.  ``balanced`` keeps
    the same count in every kernel (o, c) — spectral — or every output column — dense.
    ``support`` (a boolean mask broadcast to V's shape, the same in every group) holds the entries
    that may be kept; the density counts only those.
    """
    mag = np.abs(V)
    live = V.size if support is None else int(np.broadcast_to(support, V.shape).sum())
    if support is not None:
        mag = np.where(support, mag, -1.0)
    if balanced:
        groups = mag.reshape(mag.shape[0] * mag.shape[1], -1) if mag.ndim > 2 else mag.T
    else:
        groups = mag.reshape(1, -1)
    k = keep_count(live // groups.shape[0], density)
    order = np.argsort(-groups, axis=1, kind="stable")[:, :k]
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=1)
    if balanced and mag.ndim == 2:
        return keep.T.copy()
    return keep.reshape(mag.shape)
