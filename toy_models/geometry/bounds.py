"""How much room a margin leaves around each class centre, and how large the margin or small the scale may be.

docs/losses.md §7.1–7.2: `multiclass_separation`, `feasible_half_arc`, `max_margin`; the scale
bounds `cosface_min_scale` (any dimension, but reachable only by a regular simplex) and `min_scale`
(for the best-separated layout the embedding dimension allows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq

from ..heads import Margin, check_loss
from ._common import _ROUNDING_TOL, _check_int, _check_options, _g, _g_of_theta
from .tammes import tammes_angle, tammes_points

COMBINED_COMPONENTS = ("m2", "m3")


def multiclass_separation(num_classes: int | None = None, separation_rad: float | None = None) -> float:
    """The angle (radians) between neighbouring class centres: 2π/C for C centres spread evenly on
    a circle, or `separation_rad` as given (e.g. `tammes_angle(C, 3)` for the best spread on a sphere).
    Exactly one of the two must be given.
    """
    if (num_classes is None) == (separation_rad is None):
        raise ValueError("give exactly one of num_classes (centres spread on a circle) or separation_rad")
    if num_classes is not None:
        return 2.0 * math.pi / _check_int(num_classes, "num_classes", 2)
    sep = float(separation_rad)
    if not (0.0 < sep <= math.pi + _ROUNDING_TOL):
        raise ValueError(f"separation_rad must be an angle in (0, π] radians, got {separation_rad!r}")
    return min(sep, math.pi)


def feasible_half_arc(
    loss: str,
    margin: Margin | None,
    num_classes: int | None = None,
    *,
    separation_rad: float | None = None,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> float:
    """Half-width φ (radians) of the arc around a class centre inside which a sample satisfies its margin.

    Class centres are `separation_rad` apart (2π/C for C classes on a circle). A sample φ away from
    its own centre, displaced towards the nearest other centre, is sep − φ from that centre, and it
    satisfies its margin while g(φ) ≥ cos(sep − φ). The answer is the largest φ for which this holds
    all the way from the centre out to φ (found numerically on g from heads.target_cos, so it works
    for every loss). Inside this cap every other centre is at least sep − φ away, so the margin holds
    against all classes. Closed forms: ArcFace (sep − m)/2, SphereFace sep/(m + 1), CosFace
    sep/2 − arcsin(m / (2 sin(sep/2))), NormFace sep/2. Returns 0.0 when not even a sample exactly on
    its centre satisfies the margin (the margin is too large for the geometry, see `max_margin`).
    Example: ArcFace m = 0.5, C = 10 → 0.064 rad (±3.7°); SphereFace m = 4, C = 10 → ±7.2°.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    sep = multiclass_separation(num_classes, separation_rad)

    def h(phi):
        phi = np.asarray(phi, dtype=np.float64)
        return _g_of_theta(phi, loss, margin, easy_margin, sphereface_lambda) - np.cos(sep - phi)

    grid = np.linspace(0.0, sep, 1025)
    values = h(grid)
    if values[0] < 0.0:
        return 0.0
    negative = np.flatnonzero(values < 0.0)
    if negative.size == 0:
        return sep
    i = int(negative[0])
    a, b = grid[i - 1], grid[i]
    if values[i - 1] == 0.0:
        return float(a)
    return float(brentq(lambda x: float(h(np.array([x]))[0]), a, b, xtol=1e-14, rtol=1e-14, maxiter=200))


def max_margin(
    loss: str,
    num_classes: int | None = None,
    *,
    separation_rad: float | None = None,
    margin: Margin | None = None,
    component: str = "m3",
) -> float:
    """The largest margin for which the feasible arc (see `feasible_half_arc`) is not empty.

    A sample exactly on its class centre must still beat the nearest other centre, sep away:
    g(0) ≥ cos(sep). Only g(0) matters, so:
      ArcFace  cos m ≥ cos sep   → m ≤ sep (2π/C on a circle: 0.63 rad = 36° for C = 10);
      CosFace  1 − m ≥ cos sep   → m ≤ 1 − cos sep (0.29 for C = 8, 0.19 for C = 10);
      SphereFace  g(0) = 1 for every m → no finite bound by this criterion: math.inf.
      combined  cos(m2) − m3 ≥ cos sep, independent of m1. Pass the current `margin` (m1, m2, m3)
          and choose `component`: "m3" (default, because it always has an answer) returns
          cos(m2) − cos(sep), the largest m3 with m1, m2 fixed, negative when even m3 = 0 is too
          much; "m2" returns arccos(cos(sep) + m3), the largest m2 with m1, m3 fixed, or -math.inf
          when no m2 works because m3 alone already exceeds 1 − cos(sep).
    The result is a geometric bound in the loss's margin units; it can exceed the slider range of
    LOSS_SPECS (e.g. ArcFace with C = 2 allows m up to π). Expect training to struggle well before it.
    Softmax and NormFace have no margin (ValueError).
    """
    check_loss(loss)
    sep = multiclass_separation(num_classes, separation_rad)
    if loss in ("softmax", "normface"):
        raise ValueError(f"{loss} has no margin, so it has no largest margin")
    if loss == "arcface":
        return sep
    if loss == "cosface":
        return 1.0 - math.cos(sep)
    if loss == "sphereface":
        return math.inf
    if component not in COMBINED_COMPONENTS:
        raise ValueError(
            f"component must be 'm2' or 'm3' (m1 does not decide whether the arc is empty), got {component!r}"
        )
    if margin is None:
        raise ValueError("the combined bound needs the current margin (m1, m2, m3) to fix the other components")
    m1, m2, m3 = _check_options(loss, margin, False, 0.0)
    if component == "m3":
        # g(0) with m3 = 0 is cos(m2); the margin holds at the centre while cos(m2) − m3 ≥ cos(sep).
        g0 = float(_g(np.array([1.0]), loss, (m1, m2, 0.0), False, 0.0)[0])
        return g0 - math.cos(sep)
    need = math.cos(sep) + m3  # cos(m2) must be at least this
    if need > 1.0:
        return -math.inf
    return math.acos(max(need, -1.0))


def cosface_min_scale(num_classes: int, target_probability: float) -> float:
    """CosFace's lower bound on the scale s (CosFace §3.3, Eq. 6): s ≥ (C−1)/C · ln((C−1)·P/(1−P)).

    A sample sitting on its own class centre reaches a softmax probability P for its class (logits
    s·cos θ_j, no margin) only when s is at least this large, and that for the best conceivable
    layout of the C centres: a regular simplex, pairwise cosine −1/(C−1). No layout does better,
    so a smaller s caps the probability below P however well the features are placed. But a simplex
    needs C − 1 dimensions: in fewer the best layout needs a larger s, see `min_scale`. Examples for
    C = 10: 3.96 for P = 0.9, 6.11 for P = 0.99, 8.19 for P = 0.999. Returns 0.0 when the bound is
    negative (P ≤ 1/C is reachable at any scale). num_classes ≥ 2; 0 < target_probability < 1.
    """
    c = _check_int(num_classes, "num_classes", 2)
    p = _check_probability(target_probability)
    return max(0.0, (c - 1) / c * math.log((c - 1) * p / (1.0 - p)))


class ScaleBound(NamedTuple):
    """The answer of `min_scale`, with what a sentence about it needs.

    scale:         every class at once reaches the probability when s ≥ scale (the largest of per_class);
    per_class:     (C,) the scale each class needs on its own (equal for a symmetric layout);
    layout:        "simplex" (dim ≥ C − 1), "polygon" (dim = 2) or "tammes" (the numerical Tammes points);
    min_angle_rad: the smallest angle between two centres in that layout;
    simplex_scale: `cosface_min_scale`, the bound if the centres could form a simplex (≤ scale).
    """

    scale: float
    per_class: np.ndarray
    layout: str
    min_angle_rad: float
    simplex_scale: float


def min_scale(num_classes: int, dim: int, target_probability: float) -> ScaleBound:
    """The scale s at which a sample on its own centre reaches `target_probability` for every class at once.

    Like `cosface_min_scale`, but for the best-separated layout of C unit centres that `dim`
    dimensions allow rather than a simplex that may not fit: the regular simplex when dim ≥ C − 1
    (then the result equals cosface_min_scale), the regular polygon on the circle (dim = 2), and the
    Tammes points (`tammes_points`, the layout with the largest smallest angle) otherwise. Class k's
    sample, exactly on W_k, has probability p_k(s) = 1 / (1 + Σ_{j≠k} exp(s·(cos(W_k, W_j) − 1)))
    under logits s·cos θ_j (no margin: a margin only lowers it). p_k rises with s, so the scale
    class k needs is found by root-finding; a layout that is not symmetric (most Tammes layouts)
    gives each class a different one, and `scale` is the largest: the one at which every class
    reaches the probability together. For C = 10 and P = 0.99: 27.7 on the circle, 10.1 on the
    sphere, 6.11 from 9 dimensions up. Returns scale 0.0 when P ≤ 1/C (reachable at any scale).
    The Tammes layout maximises the smallest angle, which is what training with a margin aims for; it
    is not proven to be the layout that needs the smallest s, so read the result as "the scale this
    layout needs", a value no layout can beat only where it equals simplex_scale.
    """
    c = _check_int(num_classes, "num_classes", 2)
    d = _check_int(dim, "dim", 2)
    p = _check_probability(target_probability)
    centres = tammes_points(c, d)
    layout = "simplex" if d >= c - 1 else "polygon" if d == 2 else "tammes"
    cos = centres @ centres.T
    others = ~np.eye(c, dtype=bool)
    per_class = np.array([_scale_to_reach(cos[k, others[k]], p) for k in range(c)])
    return ScaleBound(float(per_class.max()), per_class, layout, tammes_angle(c, d), cosface_min_scale(c, p))


def _scale_to_reach(cos_to_others: np.ndarray, p: float) -> float:
    """The s ≥ 0 at which 1 / (1 + Σ exp(s·(c_j − 1))) = p, for the cosines c_j < 1 to the other centres."""
    gap = np.clip(cos_to_others, -1.0, 1.0) - 1.0  # ≤ 0: every term shrinks as s grows
    limit = math.log((1.0 - p) / p)  # p_k ≥ p  ⇔  log Σ exp(s·gap_j) ≤ limit

    def excess(s: float) -> float:
        z = s * gap
        top = float(z.max())
        return top + math.log(float(np.exp(z - top).sum())) - limit

    if excess(0.0) <= 0.0:
        return 0.0
    closest = -float(gap.max())
    if closest <= 0.0:
        return math.inf  # two coincident centres: neither can ever beat the other
    # Σ exp(s·gap_j) ≤ (C − 1)·exp(−s·closest), so this s is at or past the root (at it for a simplex,
    # where every gap is the closest one: a hair more keeps rounding from putting it just short).
    high = (math.log(len(gap)) - limit) / closest * (1.0 + 1e-9) + 1e-12
    return float(brentq(excess, 0.0, high, xtol=1e-12, rtol=1e-14, maxiter=200))


def _check_probability(value) -> float:
    p = float(value)
    if not (0.0 < p < 1.0):
        raise ValueError(f"target_probability must lie strictly between 0 and 1, got {value!r}")
    return p
