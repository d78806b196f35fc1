"""The Tammes problem: the best possible minimum angle between n unit vectors in R^d.

The separation C class centres can reach at best on the circle (d = 2) or the sphere (d = 3).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.optimize import minimize

from ._common import _check_int

# The exact search (16 annealed starts, then an SLSQP polish) only where it is quick: up to this many coordinates
# (n·dim: 24 points in 3-D or 4-D). Past it the polish has thousands of pair constraints and took 46 s for 33
# points in 16-D and 5.6 s for 40 in 3-D (2 CPU cores), far too long for a page that computes the bound for the
# glyphs' K identities; one unpolished annealed start takes 0.01-0.1 s there (2 s for 289 points in 16-D) and
# reaches within a few degrees of the polished optimum (33 in 16-D: 86.4° against 87.3°; 40 in 3-D: 32.8° against
# 33.2°).
_TAMMES_EXACT_COORDINATES = 100


def tammes_angle(num_points: int, dim: int) -> float:
    """The largest possible minimum angle (radians) between `num_points` unit vectors in R^dim.

    This is the best separation C class centres can have on the circle (dim = 2) or the sphere
    (dim = 3): pass it to `feasible_half_arc(..., separation_rad=...)`. Computed, not looked up:
      dim = 2: 2π/n (a regular polygon);
      n ≤ dim + 1: the regular simplex, arccos(−1/(n − 1)) (109.47° for 4 points in 3-D);
      dim + 2 ≤ n ≤ 2·dim: π/2, part of the cross-polytope ±e_i (optimal by Rankin's bound);
      otherwise: numerical optimisation (`tammes_points`). In 3-D it reproduces the published optima
      checked (n = 7 … 24) to about 0.01°. In higher dimensions it is a good configuration but not
      guaranteed optimal (4-D, 24 points: 58.9° against the 24-cell's 60°). The value returned is
      the minimum angle of the configuration actually found, so it never overstates what is achievable.
    Cached; the numerical case takes about 0.03–0.3 s the first time for n ≤ 24 in 3-D (2 CPU cores).
    Past 100 coordinates (n·dim: the glyph identities, embeddings past 3-D) one unpolished annealed start is
    used: 289 points in 3-D give 11.4° in about 0.3 s (the optimum is near 12.6°), in 16-D about 2 s the first
    time, 128 points in 16-D 0.06 s.
    """
    return _tammes(_check_int(num_points, "num_points", 2), _check_int(dim, "dim", 2))[0]


def tammes_points(num_points: int, dim: int) -> np.ndarray:
    """A configuration of `num_points` unit vectors in R^dim achieving `tammes_angle` (shape (n, dim)).

    Deterministic (fixed seeds). A fresh copy each call, so the caller may modify it.
    """
    return _tammes(_check_int(num_points, "num_points", 2), _check_int(dim, "dim", 2))[1].copy()


def _min_angle(points: np.ndarray) -> float:
    gram = points @ points.T
    iu = np.triu_indices(len(points), 1)
    return math.acos(min(1.0, float(np.max(gram[iu]))))


@functools.lru_cache(maxsize=128)
def _tammes(n: int, dim: int) -> tuple[float, np.ndarray]:
    if dim == 2:
        angles = 2.0 * math.pi * np.arange(n) / n
        points = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        angle = 2.0 * math.pi / n
    elif n <= dim + 1:
        points = _simplex(n, dim)
        angle = math.acos(-1.0 / (n - 1))
    elif n <= 2 * dim:
        eye = np.eye(dim)
        points = np.concatenate([eye, -eye[: n - dim]])
        angle = math.pi / 2
    else:
        # Past _TAMMES_EXACT_COORDINATES (the glyphs' K identities, embeddings past 3-D) the exact polish would take
        # seconds to minutes: one annealed start, unpolished, gives a good spread at once. Its own minimum angle is
        # returned, so the bound stays one that is achievable, only less tight.
        exact = n * dim <= _TAMMES_EXACT_COORDINATES
        points = _tammes_search(n, dim) if exact else _tammes_search(n, dim, 1, 300, polish=False)
        angle = _min_angle(points)
    points.setflags(write=False)
    return angle, points


def _simplex(n: int, dim: int) -> np.ndarray:
    """n unit vectors with pairwise cosine −1/(n − 1) (a regular simplex), embedded in R^dim (n ≤ dim + 1)."""
    centred = np.eye(n) - 1.0 / n  # rows: the simplex's vertices, in the (n−1)-dim plane Σx = 0
    _, _, vt = np.linalg.svd(centred)
    coords = centred @ vt[: n - 1].T  # coordinates in an orthonormal basis of that plane
    coords /= np.linalg.norm(coords, axis=1, keepdims=True)
    out = np.zeros((n, dim))
    out[:, : n - 1] = coords
    return out


def _tammes_search(n: int, dim: int, restarts: int = 16, steps: int = 600, seed: int = 0,
                   polish: bool = True) -> np.ndarray:
    """Maximise the minimum angle: annealed soft-max of the pairwise cosines, then an SLSQP polish.

    Stage 1 runs `restarts` random starts at once. Each minimises T·log Σ exp(cos_ij / T) (a smooth
    stand-in for the largest pairwise cosine) by normalised projected gradient steps on the sphere,
    with T falling geometrically to 0.003. The starting temperature differs between restarts (from
    0.3 to 0.01), so they land in different local optima. Stage 2 polishes the best few exactly:
    minimise t subject to x_i·x_j ≤ t, ‖x_i‖ = 1 (SLSQP). The best configuration wins.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((restarts, n, dim))
    x /= np.linalg.norm(x, axis=2, keepdims=True)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    t_start = np.geomspace(0.3, 0.01, restarts)[:, None, None]
    t_end = 0.003
    for frac in np.linspace(0.0, 1.0, steps):
        temp = t_start * (t_end / t_start) ** frac
        gram = np.where(upper, x @ x.transpose(0, 2, 1), -np.inf)
        w = np.exp((gram - gram.max(axis=(1, 2), keepdims=True)) / temp)
        w /= w.sum(axis=(1, 2), keepdims=True)
        grad = (w + w.transpose(0, 2, 1)) @ x
        grad -= np.sum(grad * x, axis=2, keepdims=True) * x  # tangent to the sphere
        grad /= np.linalg.norm(grad, axis=(1, 2), keepdims=True) + 1e-12
        x = x - (0.05 * (1.0 - frac) + 1e-3) * grad
        x /= np.linalg.norm(x, axis=2, keepdims=True)
    worst = np.max(np.where(upper, x @ x.transpose(0, 2, 1), -np.inf), axis=(1, 2))
    best, best_angle = None, -1.0
    for r in np.argsort(worst, kind="stable")[:4]:
        for candidate in (x[r], _polish(x[r])) if polish else (x[r],):
            angle = _min_angle(candidate)
            if angle > best_angle + 1e-12:
                best, best_angle = candidate, angle
    return np.array(best)


def _polish(x0: np.ndarray) -> np.ndarray:
    """Minimise the largest pairwise cosine t exactly: min t s.t. x_i·x_j ≤ t (near pairs), ‖x_i‖² = 1."""
    n, dim = x0.shape
    gram = x0 @ x0.T
    iu, ju = np.triu_indices(n, 1)
    t0 = float(np.max(gram[iu, ju]))
    near = gram[iu, ju] >= t0 - 0.3  # far pairs cannot become the closest in a polishing step
    iu, ju = iu[near], ju[near]
    pairs = np.arange(len(iu))
    rows_n = np.repeat(np.arange(n), dim)
    cols_n = np.arange(n * dim)

    def pair_cons(z):
        x = z[:-1].reshape(n, dim)
        return z[-1] - np.sum(x[iu] * x[ju], axis=1)

    def pair_jac(z):
        x = z[:-1].reshape(n, dim)
        jac = np.zeros((len(iu), n * dim + 1))
        for k in range(dim):
            jac[pairs, iu * dim + k] = -x[ju, k]
            jac[pairs, ju * dim + k] = -x[iu, k]
        jac[:, -1] = 1.0
        return jac

    def norm_cons(z):
        x = z[:-1].reshape(n, dim)
        return np.sum(x * x, axis=1) - 1.0

    def norm_jac(z):
        jac = np.zeros((n, n * dim + 1))
        jac[rows_n, cols_n] = 2.0 * z[:-1]
        return jac

    grad_t = np.zeros(n * dim + 1)
    grad_t[-1] = 1.0
    result = minimize(
        lambda z: z[-1],
        np.concatenate([x0.ravel(), [t0]]),
        jac=lambda z: grad_t,
        method="SLSQP",
        constraints=[
            {"type": "ineq", "fun": pair_cons, "jac": pair_jac},
            {"type": "eq", "fun": norm_cons, "jac": norm_jac},
        ],
        options={"maxiter": 200, "ftol": 1e-15},
    )
    x = result.x[:-1].reshape(n, dim)
    if not np.all(np.isfinite(x)):
        return x0
    return x / np.linalg.norm(x, axis=1, keepdims=True)
