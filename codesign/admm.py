"""ADMM pruning of spectral (complex, per-bin) and dense (real) layers; W-steps solved with cvxpy.

Problem per layer (Zhang et al. 2018, as followed by SPEC2): minimise f(W) subject to W ∈ S, S the
weights with at most k non-zeros.  ADMM splits it into

* **W-step** ``argmin f(W) + ρ/2·||W − Z + U||²`` subject to ``|Re W|, |Im W| ≤ w_max`` (the
  fixed-point range of the weights).  ``f`` is the layer-wise reconstruction error
  ``||X_p W − X_d W_d||²`` (mean over samples): ``X_d`` are the layer's inputs in the dense network,
  ``W_d`` its dense weights, ``X_p`` the inputs as the already-pruned earlier layers produce them.
  For a spectral layer the outputs of each frequency bin depend only on that bin, so f is a sum of
  per-bin complex least-squares.  It is expressed through sufficient statistics: with the Gram
  matrix ``G = X_pᴴX_p = RᴴR`` (Cholesky) and ``B = X_pᴴX_d W_d``, f = ||R W − T||² + const with
  ``T = R⁻ᴴB``; solve time is independent of the number of samples.  R, T, √ρ and √ρ·(Z − U) are
  cvxpy Parameters, so the problem is compiled once and re-solved every iteration.
* **Z-step** projection of W + U onto S: keep the k largest magnitudes (per layer, or per kernel
  for balanced sparsity, so every (output, input) kernel keeps the same number of bins).
* **U-step** ``U += W − Z``; ρ grows geometrically.
"""
from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

__all__ = ["AdmmConfig", "project", "LayerProblem", "layer_problem", "admm_layer", "keep_count"]


@dataclass(frozen=True)
class AdmmConfig:
    iterations: int = 24
    rho0: float = 3e-2
    rho_growth: float = 1.5
    solver: str = "CLARABEL"


def keep_count(size: int, density: float) -> int:
    """Non-zeros kept for ``density`` of ``size`` weights: floor, so the density is never exceeded."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    return int(np.floor(density * size + 1e-9))


def project(V: np.ndarray, density: float, balanced: bool) -> np.ndarray:
    """Boolean mask of the entries of V kept by the Z-step (largest |V|, ties to the lower index).

    V is (O, C, bins...) for a spectral layer or (in, out) for a dense layer.  ``balanced`` keeps
    the same count in every kernel (o, c) — spectral — or every output column — dense.
    """
    mag = np.abs(V)
    if balanced:
        groups = mag.reshape(mag.shape[0] * mag.shape[1], -1) if mag.ndim > 2 else mag.T
    else:
        groups = mag.reshape(1, -1)
    k = keep_count(groups.shape[1], density)
    order = np.argsort(-groups, axis=1, kind="stable")[:, :k]
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=1)
    if balanced and mag.ndim == 2:
        return keep.T.copy()
    return keep.reshape(mag.shape)


@dataclass
class LayerProblem:
    """A compiled W-step: cvxpy problem, its parameters and variables, for one layer."""

    problem: cp.Problem
    sqrt_rho: cp.Parameter
    target: list  # Parameters √ρ·(Z − U), real and imaginary parts per block
    w: list  # Variables, real and imaginary parts per block
    blocks: int
    complex_: bool
    scale: float  # mean diagonal of the Gram matrices: ρ is relative to it


def _chol_target(G: np.ndarray, B: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    n = G.shape[0]
    G = G + ridge * (np.trace(G).real / n + 1e-12) * np.eye(n)
    L = np.linalg.cholesky(G)
    R = L.conj().T
    T = np.linalg.solve(L, B)
    return R, T


def layer_problem(G: np.ndarray, B: np.ndarray, w_max: float, ridge: float = 1e-6) -> LayerProblem:
    """Compile the W-step for Gram matrices ``G`` (blocks, n, n) and cross terms ``B`` (blocks, n, m).

    Complex inputs give a complex least-squares realised over real and imaginary parts.
    """
    nb, n, m = B.shape
    is_c = np.iscomplexobj(G) or np.iscomplexobj(B)
    sqrt_rho = cp.Parameter(nonneg=True, name="sqrt_rho")
    terms, cons, targets, ws = [], [], [], []
    for f in range(nb):
        R, T = _chol_target(G[f], B[f], ridge)
        wr = cp.Variable((n, m), name=f"w_re_{f}")
        vr = cp.Parameter((n, m), name=f"v_re_{f}")
        if is_c:
            wi = cp.Variable((n, m), name=f"w_im_{f}")
            vi = cp.Parameter((n, m), name=f"v_im_{f}")
            terms += [cp.sum_squares(R.real @ wr - R.imag @ wi - T.real),
                      cp.sum_squares(R.imag @ wr + R.real @ wi - T.imag),
                      cp.sum_squares(sqrt_rho * wr - vr), cp.sum_squares(sqrt_rho * wi - vi)]
            cons += [cp.abs(wr) <= w_max, cp.abs(wi) <= w_max]
            ws += [wr, wi]
            targets += [vr, vi]
        else:
            terms += [cp.sum_squares(R @ wr - T), cp.sum_squares(sqrt_rho * wr - vr)]
            cons += [cp.abs(wr) <= w_max]
            ws += [wr]
            targets += [vr]
    prob = cp.Problem(cp.Minimize(cp.sum(terms)), cons)
    scale = float(np.mean(np.real(np.einsum("fii->fi", G)))) or 1.0
    return LayerProblem(prob, sqrt_rho, targets, ws, nb, is_c, scale)


def _to_blocks(W: np.ndarray, complex_: bool) -> list[np.ndarray]:
    """(O, C, u, v) spectral kernel → per-bin (C, O) real/imag blocks; dense (in, out) → [W]."""
    if W.ndim == 2:
        return [W]
    Wb = W.reshape(W.shape[0], W.shape[1], -1).transpose(2, 1, 0)
    out = []
    for f in range(Wb.shape[0]):
        out += [Wb[f].real, Wb[f].imag] if complex_ else [Wb[f]]
    return out


def _from_blocks(vals: list[np.ndarray], like: np.ndarray) -> np.ndarray:
    if like.ndim == 2:
        return vals[0]
    O, C = like.shape[:2]
    blocks = np.stack([vals[2 * f] + 1j * vals[2 * f + 1] for f in range(len(vals) // 2)])
    return blocks.transpose(2, 1, 0).reshape(like.shape)


def admm_layer(lp: LayerProblem, W0: np.ndarray, density: float, balanced: bool,
               cfg: AdmmConfig, on_iter=None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Run ADMM from W0; returns (W at the last W-step, the mask of the last Z-step, history)."""
    W = W0.copy()
    keep = project(W, density, balanced)
    Z = np.where(keep, W, 0)
    U = np.zeros_like(W)
    rho = cfg.rho0 * lp.scale
    history = []
    for it in range(cfg.iterations):
        lp.sqrt_rho.value = np.sqrt(rho / 2)
        for p, v in zip(lp.target, _to_blocks(np.sqrt(rho / 2) * (Z - U), lp.complex_)):
            p.value = np.ascontiguousarray(v)
        lp.problem.solve(solver=cfg.solver)
        if lp.problem.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"ADMM W-step: solver {cfg.solver} returned {lp.problem.status}")
        W = _from_blocks([w.value for w in lp.w], W)
        keep = project(W + U, density, balanced)
        Z = np.where(keep, W + U, 0)
        U = U + W - Z
        gap = float(np.linalg.norm(W - Z) / (np.linalg.norm(W) + 1e-12))
        history.append({"iteration": it, "rho": rho / lp.scale, "gap": gap})
        if on_iter:
            on_iter(it, gap)
        rho *= cfg.rho_growth
    return W, keep, history
