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
from typing import TYPE_CHECKING

import numpy as np

from codesign.nn.sparsity import project
from codesign.spectral.settings import AdmmConfig

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = ["AdmmConfig", "LayerProblem", "layer_problem", "admm_layer"]


@dataclass
class LayerProblem:
    """A compiled W-step (cvxpy problem, parameters, variables) for one layer.

    Spectral layers are one problem over all bins.  A dense layer separates by output column
    and all columns share the Gram matrix, so it is one single-column problem whose target
    ``T[:, j]`` is a Parameter, re-solved per column: far smaller than one problem over the
    Kronecker-expanded matrix.
    """

    problem: cp.Problem
    sqrt_rho: cp.Parameter
    target: list  # Parameters √ρ·(Z − U): real and imaginary part per bin, or one column
    w: list  # the matching Variables
    complex_: bool
    scale: float  # mean diagonal of the Gram matrices: ρ is relative to it
    column_target: cp.Parameter | None = None  # dense layers: the column's T
    T: np.ndarray | None = None  # dense layers: all columns' T

    def solve(self, V: np.ndarray, solver: str) -> np.ndarray:
        """The W-step for proximal targets ``V`` = √ρ·(Z − U), shaped like the layer's weights."""
        if self.complex_:
            Vb = V.reshape(V.shape[0], V.shape[1], -1).transpose(2, 1, 0)
            for f in range(Vb.shape[0]):
                self.target[2 * f].value = np.ascontiguousarray(Vb[f].real)
                self.target[2 * f + 1].value = np.ascontiguousarray(Vb[f].imag)
            self._solve(solver)
            blocks = np.stack(
                [self.w[2 * f].value + 1j * self.w[2 * f + 1].value for f in range(Vb.shape[0])]
            )
            return blocks.transpose(2, 1, 0).reshape(V.shape)
        W = np.empty_like(V)
        for j in range(V.shape[1]):
            self.column_target.value = self.T[:, j]
            self.target[0].value = np.ascontiguousarray(V[:, j])
            self._solve(solver)
            W[:, j] = self.w[0].value
        return W

    def _solve(self, solver: str) -> None:
        self.problem.solve(solver=solver)
        if self.problem.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"ADMM W-step: solver {solver} returned {self.problem.status}")


def _chol_target(G: np.ndarray, B: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    n = G.shape[0]
    G = G + ridge * (np.trace(G).real / n + 1e-12) * np.eye(n)
    L = np.linalg.cholesky(G)
    return L.conj().T, np.linalg.solve(L, B)


def layer_problem(G: np.ndarray, B: np.ndarray, w_max: float, ridge: float = 1e-6) -> LayerProblem:
    """Compile the W-step for Gram matrices ``G`` (blocks, n, n) and cross terms ``B``
    (blocks, n, m).

    Complex inputs (spectral, one block per bin) give a complex least-squares realised over real
    and imaginary parts; real inputs (dense, one block) a per-column least-squares.
    """
    import cvxpy as cp  # only the W-steps need cvxpy: importing it costs a second

    nb, n, m = B.shape
    scale = float(np.mean(np.real(np.einsum("fii->fi", G)))) or 1.0
    sqrt_rho = cp.Parameter(nonneg=True, name="sqrt_rho")
    if not (np.iscomplexobj(G) or np.iscomplexobj(B)):
        if nb != 1:
            raise ValueError("a real (dense) W-step takes exactly one Gram matrix")
        R, T = _chol_target(G[0], B[0], ridge)
        w = cp.Variable(n, name="w")
        v = cp.Parameter(n, name="v")
        t = cp.Parameter(n, name="t")
        prob = cp.Problem(
            cp.Minimize(cp.sum_squares(R @ w - t) + cp.sum_squares(sqrt_rho * w - v)),
            [cp.abs(w) <= w_max],
        )
        return LayerProblem(prob, sqrt_rho, [v], [w], False, scale, t, T)
    terms, cons, targets, ws = [], [], [], []
    for f in range(nb):
        R, T = _chol_target(G[f], B[f], ridge)
        wr = cp.Variable((n, m), name=f"w_re_{f}")
        wi = cp.Variable((n, m), name=f"w_im_{f}")
        vr = cp.Parameter((n, m), name=f"v_re_{f}")
        vi = cp.Parameter((n, m), name=f"v_im_{f}")
        terms += [
            cp.sum_squares(R.real @ wr - R.imag @ wi - T.real),
            cp.sum_squares(R.imag @ wr + R.real @ wi - T.imag),
            cp.sum_squares(sqrt_rho * wr - vr),
            cp.sum_squares(sqrt_rho * wi - vi),
        ]
        cons += [cp.abs(wr) <= w_max, cp.abs(wi) <= w_max]
        ws += [wr, wi]
        targets += [vr, vi]
    prob = cp.Problem(cp.Minimize(cp.sum(terms)), cons)
    return LayerProblem(prob, sqrt_rho, targets, ws, True, scale)


def admm_layer(
    lp: LayerProblem,
    W0: np.ndarray,
    density: float,
    balanced: bool,
    cfg: AdmmConfig,
    on_iter=None,
    support: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Run ADMM from W0; returns (W at the last W-step, the mask of the last Z-step, history).
    ``support``: the entries the Z-step may keep (:func:`codesign.nn.sparsity.project`)."""
    W = W0.copy()
    keep = project(W, density, balanced, support)
    Z = np.where(keep, W, 0)
    U = np.zeros_like(W)
    rho = cfg.rho0 * lp.scale
    history = []
    for it in range(cfg.iterations):
        lp.sqrt_rho.value = np.sqrt(rho / 2)
        W = lp.solve(np.sqrt(rho / 2) * (Z - U), cfg.solver)
        keep = project(W + U, density, balanced, support)
        Z = np.where(keep, W + U, 0)
        U = U + W - Z
        gap = float(np.linalg.norm(W - Z) / (np.linalg.norm(W) + 1e-12))
        history.append({"iteration": it, "rho": rho / lp.scale, "gap": gap})
        if on_iter:
            on_iter(it, gap)
        rho *= cfg.rho_growth
    return W, keep, history
