"""Target-logit curves (ArcFace Fig. 4b) and binary decision boundaries (ArcFace Fig. 5, CosFace Fig. 2).

* `target_logit_curve` / `target_logit_features`: the unscaled target logit g(θ) that a loss puts in
  place of cos θ for the true class, and where that curve jumps or turns round.
* `decision_boundary`, `decision_boundary_cos`, `decision_margin_band`, `decision_regions`: the binary
  decision boundaries in the (θ1, θ2) plane and in the (cos θ1, cos θ2) plane, with the grey
  "decision margin" between the two classes' boundaries.
"""

from __future__ import annotations

import math

import numpy as np

from ..heads import LOSS_SPECS, Margin
from ._common import (
    _check_angles,
    _check_cosines,
    _check_int,
    _check_options,
    _check_weight_norms,
    _g,
    _g_of_theta,
)

PLANES = ("angle", "cos")


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

    spec = LOSS_SPECS[loss]
    for theta, why in spec.target_jumps(margin, easy_margin=easy_margin):
        add_jump(theta, why)
    for theta, rises, label in spec.target_turns(margin):
        events.append(
            {
                "kind": "turn",
                "theta_rad": theta,
                "theta_deg": math.degrees(theta),
                "jump": None,
                "direction": "rises" if rises else "falls",
                "label": label,
            }
        )
    events.sort(key=lambda e: e["theta_rad"])
    monotone = not any(e["kind"] == "turn" or e["direction"] == "up" for e in events)
    return {"start": float(ends[0]), "end": float(ends[1]), "monotone": monotone, "events": events}


def _class_targets(cos: np.ndarray, loss, margin, easy_margin, sphereface_lambda, weight_norms):
    """(G1, G2): the value cos θ2 must not exceed for class 1 to win, as a function of cos θ1, and its mirror.

    A class-1 sample wins (satisfies its margin) when G1(cos θ1) ≥ cos θ2; a class-2 sample when
    G2(cos θ2) ≥ cos θ1. For the margin losses G1 = G2 = g; for softmax with weight norms w1, w2
    the condition w1·cos θ1 ≥ w2·cos θ2 gives G1 = (w1/w2)·cos, G2 = (w2/w1)·cos.
    """
    if not LOSS_SPECS[loss].normalised:  # softmax: the weights keep their norms
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
    if LOSS_SPECS[loss].normalised and monotone:
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
