"""How much room a margin leaves around each class centre, and how large the margin or small the scale may be.

research/losses.md §6.13–6.14: `multiclass_separation`, `feasible_half_arc`, `max_margin`, `cosface_min_scale`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from ..heads import Margin, check_loss
from ._common import _ROUNDING_TOL, _check_int, _check_options, _g, _g_of_theta

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

    With C classes whose centres are spread as far apart as possible, a sample on its own centre
    can reach a softmax probability P for its class only when s is at least this large; a smaller s
    caps the probability below P however well the features are placed. Examples for C = 10:
    3.96 for P = 0.9, 6.11 for P = 0.99, 8.19 for P = 0.999. Returns 0.0 when the bound is negative
    (P ≤ 1/C is reachable at any scale). num_classes ≥ 2; 0 < target_probability < 1.
    """
    c = _check_int(num_classes, "num_classes", 2)
    p = float(target_probability)
    if not (0.0 < p < 1.0):
        raise ValueError(f"target_probability must lie strictly between 0 and 1, got {target_probability!r}")
    return max(0.0, (c - 1) / c * math.log((c - 1) * p / (1.0 - p)))
