"""Closed-form geometry of the margin losses: target-logit curves, decision margins, bounds, Tammes.

Nothing here trains a model. Every function answers a "what does the formula imply?" question
fast enough (a few milliseconds for a 400-point grid) to redraw on every slider move:

* `target_logit_curve` / `target_logit_features`: the unscaled target logit g(θ) that a loss
  puts in place of cos θ for the true class (ArcFace paper Fig. 4b), and where that curve jumps
  or turns round.
* `decision_boundary`, `decision_boundary_cos`, `decision_margin_band`, `decision_regions`: the
  binary decision boundaries in the (θ1, θ2) plane (ArcFace Fig. 5) and in the (cos θ1, cos θ2)
  plane (CosFace Fig. 2), with the grey "decision margin" between the two classes' boundaries.
* `feasible_half_arc`, `max_margin`, `cosface_min_scale`: how much room the margin leaves around
  each class centre when C class centres share the circle (or sphere), and how large the margin or
  how small the scale may be (research/losses.md §6.13–6.14).
* `tammes_angle` / `tammes_points`: the best possible minimum angle between C unit vectors in
  R^d (the Tammes problem): the separation the class centres can reach at best.

Angles are radians unless a name ends in `_deg`. The margin target g is never re-derived here:
every value of g comes from `toy_models.heads.target_cos`, evaluated in float64, so the figures
and the training code share one formula.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import brentq, minimize

from .heads import Margin, check_loss, check_margin, target_cos

__all__ = [
    "cosface_min_scale",
    "decision_boundary",
    "decision_boundary_cos",
    "decision_margin_band",
    "decision_regions",
    "feasible_half_arc",
    "max_margin",
    "multiclass_separation",
    "tammes_angle",
    "tammes_points",
    "target_logit_curve",
    "target_logit_features",
]

PLANES = ("angle", "cos")
COMBINED_COMPONENTS = ("m2", "m3")

# Angles a hair outside [0, π] (or cosines outside [−1, 1]) from float rounding are accepted and clipped.
_ROUNDING_TOL = 1e-9
# Largest number of points the numerical Tammes search accepts (its cost grows like n²).
_TAMMES_MAX_POINTS = 200


# --------------------------------------------------------------------------------------------
# Validation and the one call into heads.target_cos
# --------------------------------------------------------------------------------------------


def _check_options(loss: str, margin, easy_margin: bool, sphereface_lambda: float) -> Margin | None:
    """Validate loss, margin and the per-loss options; return the normalised margin."""
    check_loss(loss)
    if isinstance(margin, numbers.Real) and not isinstance(margin, bool):
        margin = float(margin)
    elif margin is not None and not isinstance(margin, (str, bytes)) and isinstance(margin, Sequence | np.ndarray):
        margin = tuple(float(v) for v in margin)
    margin = check_margin(loss, margin)
    if easy_margin and loss != "arcface":
        raise ValueError(f"easy_margin only exists for arcface, not for {loss}")
    lam = float(sphereface_lambda)
    if lam != 0.0 and loss != "sphereface":
        raise ValueError(f"sphereface_lambda only exists for sphereface, not for {loss}")
    if not (math.isfinite(lam) and lam >= 0.0):
        raise ValueError(f"sphereface_lambda must be a finite number ≥ 0, got {sphereface_lambda!r}")
    return margin


def _g(cos: np.ndarray, loss: str, margin: Margin | None, easy_margin: bool, sphereface_lambda: float) -> np.ndarray:
    """g at the given cosines through heads.target_cos in float64 (no validation: callers validate)."""
    cos_t = torch.as_tensor(np.asarray(cos, dtype=np.float64))
    with torch.no_grad():
        out = target_cos(cos_t, loss, margin, easy_margin=easy_margin, sphereface_lambda=float(sphereface_lambda))
    return out.numpy().astype(np.float64, copy=True)


def _g_of_theta(theta: np.ndarray, loss, margin, easy_margin, sphereface_lambda) -> np.ndarray:
    return _g(np.cos(theta), loss, margin, easy_margin, sphereface_lambda)


def _check_angles(theta_rad, name: str = "theta_rad") -> np.ndarray:
    theta = np.asarray(theta_rad, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must contain finite angles in radians")
    if np.any(theta < -_ROUNDING_TOL) or np.any(theta > math.pi + _ROUNDING_TOL):
        raise ValueError(f"{name} must lie in [0, π] radians (the angle between two vectors)")
    return np.clip(theta, 0.0, math.pi)


def _check_cosines(cos, name: str = "cos") -> np.ndarray:
    cos = np.asarray(cos, dtype=np.float64)
    if not np.all(np.isfinite(cos)):
        raise ValueError(f"{name} must contain finite cosines")
    if np.any(np.abs(cos) > 1.0 + _ROUNDING_TOL):
        raise ValueError(f"{name} must lie in [−1, 1] (cosines of angles)")
    return np.clip(cos, -1.0, 1.0)


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_weight_norms(loss: str, weight_norms) -> tuple[float, float]:
    try:
        w1, w2 = (float(v) for v in weight_norms)
    except (TypeError, ValueError):
        raise ValueError(f"weight_norms must be two numbers (‖W1‖, ‖W2‖), got {weight_norms!r}") from None
    if not (w1 > 0 and w2 > 0 and math.isfinite(w1) and math.isfinite(w2)):
        raise ValueError(f"weight_norms must be two positive numbers, got {weight_norms!r}")
    if loss != "softmax" and (w1, w2) != (1.0, 1.0):
        raise ValueError(f"weight_norms only matter for softmax: {loss} normalises the class weights to length 1")
    return w1, w2


# --------------------------------------------------------------------------------------------
# 1. Target-logit curves (ArcFace Fig. 4b)
# --------------------------------------------------------------------------------------------


def target_logit_curve(
    theta_rad,
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> np.ndarray:
    """The unscaled target logit g(θ) that `loss` uses for the true class at angle θ (radians).

    Plain softmax and NormFace use g(θ) = cos θ; the margin losses bend it downwards (ArcFace
    Fig. 4b plots exactly these curves). Multiply by the scale s to get the actual logit.
    θ must lie in [0, π]; the result has θ's shape and is in cosine units (between about −1 − m
    and 1). `margin` is in the loss's own units (ArcFace radians, CosFace cosine units, SphereFace
    a multiplier, combined (m1, m2, m3)).
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    theta = _check_angles(theta_rad)
    return _g_of_theta(theta, loss, margin, easy_margin, sphereface_lambda)


def _one_sided_limits(theta: float, loss, margin, easy_margin, sphereface_lambda) -> tuple[float, float]:
    """Left and right limits of g at θ, by linear extrapolation from two points on each side."""
    d = 1e-7
    pts = np.array([theta - 2 * d, theta - d, theta + d, theta + 2 * d])
    a, b, c, e = _g_of_theta(pts, loss, margin, easy_margin, sphereface_lambda)
    return 2 * b - a, 2 * c - e


def target_logit_features(
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> dict:
    """Where the target-logit curve g(θ) jumps or stops decreasing, for annotating its plot.

    Returns a dict:
      "start": g(0), the target logit of a sample sitting exactly on its class centre;
      "end": g(π), the target logit of a sample pointing directly away from it;
      "monotone": True when g never increases on [0, π] (a larger angle never earns a larger logit);
      "events": a list (sorted by angle) of dicts with
          "kind": "jump" (g is discontinuous) or "turn" (g changes from decreasing to increasing, or back),
          "theta_rad", "theta_deg": where it happens,
          "jump": g(θ⁺) − g(θ⁻) for a jump (cosine units, negative = downwards), None for a turn,
          "direction": "down" / "up" for a jump, "rises" / "falls" (what g does after the turn),
          "label": one sentence a student can read on the plot.

    The events are: ArcFace's fallback switch at θ = π − m, where cos(θ + m) is replaced by the
    monotone cos θ − m·sin m (a downward jump of 1 − cos m − m·sin m, −0.117 at m = 0.5);
    ArcFace easy_margin's upward jump of sin m at 90°, where the margin is switched off; and for
    the combined margin (which has no fallback) the angles θ_k = (kπ − m2)/m1 at which
    m1·θ + m2 passes kπ, beyond the first of which the target rises again.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    ends = _g_of_theta(np.array([0.0, math.pi]), loss, margin, easy_margin, sphereface_lambda)
    events: list[dict] = []

    def add_jump(theta: float, why: str) -> None:
        left, right = _one_sided_limits(theta, loss, margin, easy_margin, sphereface_lambda)
        jump = float(right - left)
        direction = "down" if jump < 0 else "up"
        events.append(
            {
                "kind": "jump",
                "theta_rad": theta,
                "theta_deg": math.degrees(theta),
                "jump": jump,
                "direction": direction,
                "label": f"{why}: g jumps {direction} by {abs(jump):.3f} at θ = {math.degrees(theta):.1f}°",
            }
        )

    if loss == "arcface" and margin > 0:
        if easy_margin:
            add_jump(math.pi / 2, "easy_margin switches the margin off for cos θ ≤ 0")
        elif margin < math.pi:
            add_jump(math.pi - margin, "beyond θ = π − m ArcFace falls back to cos θ − m·sin m")
    if loss == "combined":
        m1, m2, _ = margin
        k = 1
        while (k * math.pi - m2) / m1 < math.pi:
            theta = (k * math.pi - m2) / m1
            if theta > 0:
                rises = k % 2 == 1
                multiple = "" if k == 1 else str(k)
                events.append(
                    {
                        "kind": "turn",
                        "theta_rad": theta,
                        "theta_deg": math.degrees(theta),
                        "jump": None,
                        "direction": "rises" if rises else "falls",
                        "label": (
                            f"m1·θ + m2 = {multiple}π at θ = {math.degrees(theta):.1f}°: beyond it the combined target "
                            + ("rises again (no fallback)" if rises else "falls again")
                        ),
                    }
                )
            k += 1
    events.sort(key=lambda e: e["theta_rad"])
    monotone = not any(e["kind"] == "turn" or e["direction"] == "up" for e in events)
    return {"start": float(ends[0]), "end": float(ends[1]), "monotone": monotone, "events": events}


# --------------------------------------------------------------------------------------------
# 2. Binary decision boundaries (ArcFace Fig. 5, CosFace Fig. 2)
# --------------------------------------------------------------------------------------------


def _class_targets(cos: np.ndarray, loss, margin, easy_margin, sphereface_lambda, weight_norms):
    """(G1, G2): the value cos θ2 must not exceed for class 1 to win, as a function of cos θ1, and its mirror.

    A class-1 sample wins (satisfies its margin) when G1(cos θ1) ≥ cos θ2; a class-2 sample when
    G2(cos θ2) ≥ cos θ1. For the margin losses G1 = G2 = g; for softmax with weight norms w1, w2
    the condition w1·cos θ1 ≥ w2·cos θ2 gives G1 = (w1/w2)·cos, G2 = (w2/w1)·cos.
    """
    if loss == "softmax":
        w1, w2 = weight_norms
        return (w1 / w2) * cos, (w2 / w1) * cos
    g = _g(cos, loss, margin, easy_margin, sphereface_lambda)
    return g, g


def _to_angle(c: np.ndarray, clip: bool) -> np.ndarray:
    """arccos, with NaN (clip=False) or the nearest edge 0 / π (clip=True) where |c| > 1."""
    if clip:
        return np.arccos(np.clip(c, -1.0, 1.0))
    out = np.full(np.shape(c), np.nan)
    ok = np.abs(c) <= 1.0
    out[ok] = np.arccos(c[ok])
    return out


def _inside(c: np.ndarray) -> np.ndarray:
    return np.where(np.abs(c) <= 1.0, c, np.nan)


def decision_boundary(
    theta1_rad,
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    weight_norms: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Class 1's decision boundary in the (θ1, θ2) plane: the θ2 (radians) at which a class-1 sample wins exactly.

    Two classes with unit weight vectors W1, W2; θ1, θ2 are the sample's angles to them. A class-1
    sample satisfies its margin when g(θ1) ≥ cos θ2, i.e. when θ2 ≥ arccos(g(θ1)): the returned curve.
    Above it class 1 wins, below it does not. Where g(θ1) < −1 no θ2 is far enough (the sample is
    never classified as class 1) and the result is NaN. Class 2's boundary is the mirror image
    θ1 = decision_boundary(θ2). NormFace gives θ2 = θ1, ArcFace θ2 = θ1 + m, SphereFace θ2 = m·θ1
    (for m·θ1 ≤ π). For softmax the weights keep their norms and the boundary is ‖W1‖cos θ1 = ‖W2‖cos θ2
    (NaN where class 1 wins for every θ2 or for none).
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    weight_norms = _check_weight_norms(loss, weight_norms)
    theta1 = _check_angles(theta1_rad, "theta1_rad")
    g1, _ = _class_targets(np.cos(theta1), loss, margin, easy_margin, sphereface_lambda, weight_norms)
    return _to_angle(g1, clip=False)


def decision_boundary_cos(
    cos1,
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    weight_norms: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Class 1's decision boundary in the (cos θ1, cos θ2) plane (CosFace Fig. 2): cos θ2 = g(θ1).

    Below the curve (smaller cos θ2) a class-1 sample wins. CosFace gives the straight line
    cos θ2 = cos θ1 − m; with its mirror cos θ1 = cos θ2 − m the two lines are √2·m apart.
    NaN where the boundary leaves [−1, 1]. Softmax: cos θ2 = (‖W1‖/‖W2‖)·cos θ1.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    weight_norms = _check_weight_norms(loss, weight_norms)
    cos1 = _check_cosines(cos1, "cos1")
    g1, _ = _class_targets(cos1, loss, margin, easy_margin, sphereface_lambda, weight_norms)
    return _inside(g1)


def decision_margin_band(
    loss: str,
    margin: Margin | None = None,
    num: int = 400,
    *,
    plane: str = "angle",
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    weight_norms: tuple[float, float] = (1.0, 1.0),
) -> dict:
    """Both classes' decision boundaries and the margin band between them, ready to plot.

    plane="angle": axes θ1, θ2 in radians over [0, π] (ArcFace Fig. 5).
    plane="cos":   axes cos θ1, cos θ2 over [−1, 1] (CosFace Fig. 2), sampled uniformly in cosine.

    Returns a dict of (x, y) array pairs (x is the class-1 axis, y the class-2 axis):
      "class1": class 1's boundary (NaN gaps where it leaves the square): class 1 wins on the far
                side from W1's axis (larger θ2, or smaller cos θ2);
      "class2": class 2's boundary, the mirror image of class 1's;
      "diagonal": the plain θ1 = θ2 line (NormFace's boundary, for reference);
      "band": a closed polygon of the decision margin, the region where neither class's sample
              satisfies its margin (shade it grey), or None when there is no band to shade (softmax:
              both classes share one boundary) or when the boundary is not monotone (ArcFace
              easy_margin, a combined margin whose target rises again): use `decision_regions` then;
      "plane", "axis_range", "units": what the axes are.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    weight_norms = _check_weight_norms(loss, weight_norms)
    num = _check_int(num, "num", 2)
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}: choose 'angle' or 'cos'")
    if plane == "angle":
        t = np.linspace(0.0, math.pi, num)
    else:
        t = np.arccos(np.linspace(1.0, -1.0, num))
    cos_t = np.cos(t)
    g1, g2 = _class_targets(cos_t, loss, margin, easy_margin, sphereface_lambda, weight_norms)
    b1 = _to_angle(g1, clip=True)  # θ2 on class 1's boundary, clipped to the square's edges
    b2 = _to_angle(g2, clip=True)  # θ1 on class 2's boundary

    band = None
    monotone = np.all(np.diff(b1) >= -1e-12) and np.all(np.diff(b2) >= -1e-12)
    if loss != "softmax" and monotone:
        # Go up the left edge from (0, 0), along class 1's boundary to (π, π), then back along
        # class 2's boundary and the bottom edge: the region θ2 < b1(θ1) and θ1 < b2(θ2).
        bx = np.concatenate([[0.0], t, [math.pi], b2[::-1], [0.0]])
        by = np.concatenate([[0.0], b1, [math.pi], t[::-1], [0.0]])
        band = (bx, by) if plane == "angle" else (np.cos(bx), np.cos(by))

    if plane == "angle":
        class1 = (t, _to_angle(g1, clip=False))
        class2 = (_to_angle(g2, clip=False), t)
        diagonal = (t, t.copy())
        axis_range, units = (0.0, math.pi), "rad"
    else:
        class1 = (cos_t, _inside(g1))
        class2 = (_inside(g2), cos_t.copy())
        diagonal = (cos_t, cos_t.copy())
        axis_range, units = (-1.0, 1.0), "cos"
    return {
        "plane": plane,
        "axis_range": axis_range,
        "units": units,
        "class1": class1,
        "class2": class2,
        "diagonal": diagonal,
        "band": band,
    }


def decision_regions(
    loss: str,
    margin: Margin | None = None,
    num: int = 200,
    *,
    plane: str = "angle",
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    weight_norms: tuple[float, float] = (1.0, 1.0),
) -> dict:
    """Who wins where, on a num × num grid of the (θ1, θ2) or (cos θ1, cos θ2) square (a heatmap).

    Returns {"x": axis values, "y": axis values, "labels": int8 array of shape (num, num) indexed
    [row = y (class-2 axis), column = x (class-1 axis)], "plane": plane}, with labels
      1: only a class-1 sample would satisfy its margin there,
      2: only a class-2 sample would,
      0: neither: the decision margin (the grey band),
      3: both: the classes overlap (a negative margin, e.g. combined with m1 < 1).
    A tie (a grid point exactly on a boundary) counts as not winning.
    Works for every loss, including the non-monotone targets that `decision_margin_band` cannot
    draw as one polygon.
    """
    margin = _check_options(loss, margin, easy_margin, sphereface_lambda)
    weight_norms = _check_weight_norms(loss, weight_norms)
    num = _check_int(num, "num", 2)
    if plane not in PLANES:
        raise ValueError(f"unknown plane {plane!r}: choose 'angle' or 'cos'")
    axis = np.linspace(0.0, math.pi, num) if plane == "angle" else np.linspace(-1.0, 1.0, num)
    cos_axis = np.cos(axis) if plane == "angle" else axis
    g1, g2 = _class_targets(cos_axis, loss, margin, easy_margin, sphereface_lambda, weight_norms)
    wins1 = g1[None, :] > cos_axis[:, None]  # column: cos θ1 (through g1), row: cos θ2
    wins2 = g2[:, None] > cos_axis[None, :]
    labels = wins1.astype(np.int8) + 2 * wins2.astype(np.int8)
    return {"x": axis, "y": axis.copy(), "labels": labels, "plane": plane}


# --------------------------------------------------------------------------------------------
# 3. Geometric bounds (losses.md §6.13–6.14)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# 4. The Tammes problem: the best possible minimum angle between n unit vectors in R^d
# --------------------------------------------------------------------------------------------


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
    Cached; the numerical case takes about 0.03–0.3 s the first time for n ≤ 24 in 3-D (2 CPU cores),
    and at most 200 points are accepted there.
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
        if n > _TAMMES_MAX_POINTS:
            raise ValueError(f"the numerical Tammes search handles at most {_TAMMES_MAX_POINTS} points, got {n}")
        points = _tammes_search(n, dim)
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


def _tammes_search(n: int, dim: int, restarts: int = 16, steps: int = 600, seed: int = 0) -> np.ndarray:
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
        for candidate in (x[r], _polish(x[r])):
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
