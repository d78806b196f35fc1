"""Figure builders: arrays in, plotly Figures out. No Streamlit calls, no torch tensors.

Every view of Margin Lab is drawn here, so that the pages stay thin and the figures can be
tested (and looked at) without a browser session:

* `hypersphere_figure`: features on the unit circle (2-D) or sphere (3-D) with the class-weight
  directions and, for the margin losses, the region around each weight inside which a sample
  satisfies its margin (ArcFace Fig. 3, CosFace Fig. 4, SphereFace Fig. 5).
* `angle_histograms`, `training_curves`, `target_angle_evolution`: what training does to the
  angles, the loss and the accuracy (ArcFace Fig. 4a).
* `target_logit_figure`, `decision_boundary_figure`: the instant views of the loss itself, which
  need no model (ArcFace Fig. 4b and Fig. 5, CosFace Fig. 2). They build in a few milliseconds.

Conventions: angles in radians in the code and in degrees on screen; one colour per class from
`PALETTE` in every view; no background colours (Streamlit's light or dark theme applies); a fixed
`layout.uirevision` on the live figures so a user's zoom or camera survives a redraw.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from toy_models import geometry
from toy_models.heads import LOSS_SPECS, Margin, check_loss

# Paul Tol's "muted" qualitative scheme (9 colours, https://personal.sron.nl/~pault/#sec:qualitative),
# designed to stay distinct for the common colour-vision deficiencies (deuteranopia, protanopia,
# tritanopia) and in print, plus a mid grey as the 10th colour (Tol pairs the scheme with a grey).
# Class k is always PALETTE[k % 10], in every view.
PALETTE: tuple[str, ...] = (
    "#CC6677",  # rose
    "#332288",  # indigo
    "#DDCC77",  # sand
    "#117733",  # green
    "#88CCEE",  # cyan
    "#882255",  # wine
    "#44AA99",  # teal
    "#999933",  # olive
    "#AA4499",  # purple
    "#888888",  # grey
)
# Two colours for "own class" against "other classes" (Okabe–Ito blue and vermillion: a CB-safe pair).
TARGET_COLOR = "#0072B2"
OTHER_COLOR = "#D55E00"
NEUTRAL = "rgba(128, 128, 128, 0.9)"  # reference lines: visible on light and dark backgrounds
BAND_FILL = "rgba(128, 128, 128, 0.28)"  # the grey decision margin
# A faint light rim on every point: invisible on a light background, it keeps the darker
# palette colours (indigo, wine) readable on Streamlit's dark theme and separates overlapping points.
MARKER_OUTLINE = {"color": "rgba(255, 255, 255, 0.45)", "width": 0.5}

HISTOGRAM_BIN_DEG = 3.0
PAPER_RANGE_DEG = (20.0, 100.0)  # the θ range ArcFace Fig. 4b shows
_DEFAULT_MAX_POINTS = 1000
_FONT = {"size": 13}


def class_color(k: int) -> str:
    """The colour of class k in every view."""
    return PALETTE[int(k) % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from plain dicts, without plotly.py's per-property validation.

    Validation costs ~20 ms for the 30 traces of a hypersphere view, on every training tick;
    the unit tests validate every builder's output once (go.Figure(fig.to_dict())) instead.
    """
    base = {"font": _FONT, "margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "hoverlabel": {"font": {"size": 12}}}
    layout = {**base, **layout}
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except TypeError:  # pragma: no cover - a plotly without the private switch: validate after all
        return go.Figure(data=data, layout=layout)


def _title(text: str, subtitle: str | None = None) -> dict:
    title: dict[str, Any] = {"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 15}}
    if subtitle:
        title["subtitle"] = {"text": subtitle, "font": {"size": 12}}
    return title


# --------------------------------------------------------------------------------------------
# Margins as text
# --------------------------------------------------------------------------------------------


def margin_text(loss: str, margin: Margin | None) -> str:
    """The margin as a reader wants it, with units: 'm = 0.50 rad (28.6°)', 'm = 0.35 (cosine units)'."""
    check_loss(loss)
    if loss in ("softmax", "normface") or margin is None:
        return "no margin"
    if loss == "combined":
        m1, m2, m3 = (float(v) for v in margin)
        return f"m1 = {m1:g}, m2 = {m2:.2f} rad ({math.degrees(m2):.1f}°), m3 = {m3:.2f}"
    m = float(margin)
    unit = LOSS_SPECS[loss].margin_unit
    if unit == "rad":
        return f"m = {m:.2f} rad ({math.degrees(m):.1f}°)"
    if unit == "cos":
        return f"m = {m:.2f} (cosine units)"
    return f"m = {m:g}"


def _target_formula(loss: str) -> str:
    return {
        "softmax": "cos θ",
        "normface": "cos θ",
        "sphereface": "ψ(θ) (monotone cos mθ)",
        "cosface": "cos θ − m",
        "arcface": "cos(θ + m)",
        "combined": "cos(m1·θ + m2) − m3",
    }[loss]


# --------------------------------------------------------------------------------------------
# 1. Features on the hypersphere
# --------------------------------------------------------------------------------------------


def _unit_rows(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return array / norms


def balanced_sample(labels: np.ndarray, max_points: int, *, seed: int = 0) -> np.ndarray:
    """Indices of at most `max_points` samples, as equal a share per class as the classes allow.

    Deterministic (seeded) and sorted, so the same snapshot always shows the same points.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if max_points < 0:
        raise ValueError(f"max_points must be ≥ 0, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Water-filling: classes smaller than the fair share keep all their points, the rest share what is left.
    quota = dict.fromkeys(classes.tolist(), 0)
    left, open_classes = max_points, sorted(zip(counts.tolist(), classes.tolist(), strict=True))
    while open_classes:
        share = left // len(open_classes)
        count, k = open_classes[0]
        if count <= share:
            quota[k] = count
            left -= count
            open_classes.pop(0)
            continue
        extra = left - share * len(open_classes)
        for i, (_, k2) in enumerate(open_classes):
            quota[k2] = share + (1 if i < extra else 0)
        break
    chosen = [rng.choice(np.flatnonzero(labels == k), size=q, replace=False) for k, q in quota.items() if q > 0]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def _check_sphere_inputs(features, labels, class_weights):
    features = np.asarray(features, dtype=np.float64)
    class_weights = np.asarray(class_weights, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or features.shape[1] not in (2, 3):
        if features.size == 0 and class_weights.ndim == 2:
            features = features.reshape(0, class_weights.shape[1])
        else:
            raise ValueError(f"features must have shape (n, 2) or (n, 3), got {features.shape}")
    if class_weights.ndim != 2 or class_weights.shape[1] != features.shape[1] or len(class_weights) < 1:
        raise ValueError(
            f"class_weights must have shape (C, {features.shape[1]}) with C ≥ 1, got {class_weights.shape}"
        )
    labels = labels.reshape(-1)
    if len(labels) != len(features):
        raise ValueError(f"{len(features)} features but {len(labels)} labels")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
        raise ValueError("labels must be non-negative integers")
    if len(labels) and labels.max() >= len(class_weights):
        raise ValueError(f"label {int(labels.max())} has no class weight (only {len(class_weights)} classes)")
    weights = _unit_rows(class_weights)
    if not np.all(np.isfinite(weights)):
        raise ValueError("class_weights must be finite and non-zero")
    # Features that cannot be drawn (NaN, zero) are left out rather than poisoning the figure.
    unit = _unit_rows(features) if len(features) else features
    keep = np.all(np.isfinite(unit), axis=1) if len(unit) else np.zeros(0, dtype=bool)
    return unit[keep], labels[keep].astype(np.int64), weights


def _neighbour_gaps_2d(weight_angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each weight: the angle (rad) to the next weight counter-clockwise and clockwise."""
    c = len(weight_angles)
    if c < 2:
        return np.full(c, np.nan), np.full(c, np.nan)
    order = np.argsort(weight_angles, kind="stable")
    sorted_angles = weight_angles[order]
    ccw_sorted = np.diff(np.concatenate([sorted_angles, sorted_angles[:1] + 2 * math.pi]))
    ccw = np.empty(c)
    ccw[order] = ccw_sorted
    cw = np.empty(c)
    cw[order] = np.roll(ccw_sorted, 1)
    return ccw, cw


def _half_arc(loss: str, margin: Margin | None, gap_rad: float, easy_margin: bool, sphereface_lambda: float) -> float:
    """feasible_half_arc against a neighbour `gap_rad` away (a gap over π counts as π: the conservative side)."""
    if not gap_rad > 1e-12:
        return 0.0
    return geometry.feasible_half_arc(
        loss,
        margin,
        separation_rad=min(float(gap_rad), math.pi),
        easy_margin=easy_margin,
        sphereface_lambda=sphereface_lambda,
    )


def margin_wedges_2d(
    class_weights: np.ndarray,
    loss: str,
    margin: Margin | None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> list[dict]:
    """The margin wedge around each class weight on the unit circle, one dict per class:

    {"center_rad": the weight's angle, "ccw_rad": how far the wedge reaches counter-clockwise,
     "cw_rad": how far clockwise, "ccw_gap_rad"/"cw_gap_rad": the angles to those neighbours}.
    A sample inside [center − cw, center + ccw] satisfies its margin against both neighbours:
    each side is `geometry.feasible_half_arc` with that side's real gap, so the wedge is
    asymmetric when the weights are unevenly spread, and 0 on a side where the margin does not fit.
    Margin-free losses (softmax, NormFace) and a single class have no wedges: [].
    """
    check_loss(loss)
    weights = np.asarray(class_weights, dtype=np.float64)
    if loss in ("softmax", "normface") or len(weights) < 2:
        return []
    angles = np.arctan2(weights[:, 1], weights[:, 0])
    ccw_gap, cw_gap = _neighbour_gaps_2d(angles)
    known: dict[float, float] = {}  # every gap is one class's ccw side and its neighbour's cw side

    def arc(gap: float) -> float:
        if gap not in known:
            known[gap] = _half_arc(loss, margin, gap, easy_margin, sphereface_lambda)
        return known[gap]

    wedges = []
    for k in range(len(weights)):
        wedges.append(
            {
                "center_rad": float(angles[k]),
                "ccw_rad": arc(float(ccw_gap[k])),
                "cw_rad": arc(float(cw_gap[k])),
                "ccw_gap_rad": float(ccw_gap[k]),
                "cw_gap_rad": float(cw_gap[k]),
            }
        )
    return wedges


def margin_caps_3d(
    class_weights: np.ndarray,
    loss: str,
    margin: Margin | None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> list[dict]:
    """On the sphere: the cap around each weight inside which the margin holds against every class.

    One dict per class: {"radius_rad": feasible_half_arc against the nearest other weight,
    "nearest_rad": the angle to that weight}. Inside the cap every other weight is at least
    nearest − radius away, so the margin holds against all classes. [] for softmax, NormFace
    and a single class.
    """
    check_loss(loss)
    weights = np.asarray(class_weights, dtype=np.float64)
    if loss in ("softmax", "normface") or len(weights) < 2:
        return []
    cos = np.clip(weights @ weights.T, -1.0, 1.0)
    np.fill_diagonal(cos, -np.inf)
    nearest = np.arccos(np.clip(cos.max(axis=1), -1.0, 1.0))
    return [
        {
            "radius_rad": _half_arc(loss, margin, float(nearest[k]), easy_margin, sphereface_lambda),
            "nearest_rad": float(nearest[k]),
        }
        for k in range(len(weights))
    ]


def _class_name(class_names: Sequence[str] | None, k: int) -> str:
    if class_names is not None and k < len(class_names):
        return str(class_names[k])
    return f"class {k}"


def hypersphere_figure(
    features,
    labels,
    class_weights,
    *,
    class_names: Sequence[str] | None = None,
    loss: str,
    margin: Margin | None,
    title: str | None = None,
    max_points: int = _DEFAULT_MAX_POINTS,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    jitter: float = 0.08,
    seed: int = 0,
) -> go.Figure:
    """Unit features and class-weight directions on the circle (d = 2) or the sphere (d = 3).

    features: (n, d) feature vectors (normalised here; NaN or zero rows are left out);
    labels: (n,) class indices; class_weights: (C, d) class-weight vectors (normalised here).
    At most `max_points` points are drawn, as equal a share per class as possible (seeded).

    2-D: each class's points, its weight as a ray from the origin, and its margin wedge (shaded,
    see `margin_wedges_2d`; a dotted ray means the wedge is empty: the margin does not fit between
    the neighbours). For NormFace and the margin losses the dotted grey lines are the test-time
    decision boundaries (bisectors between neighbouring weights: at inference every normalised
    head predicts the largest cos θ); softmax has none drawn, because its boundaries depend on the
    feature norms and biases, which a unit-circle picture does not show. Points are spread over a
    thin ring (radius 1 to 1 + jitter, seeded) so that overlapping points stay visible: only
    their angle is meaningful.
    3-D: points on a translucent unit sphere, weights as rays with a marker at the tip, and for the
    margin losses a ring around each weight bounding the cap of `margin_caps_3d`.
    """
    check_loss(loss)
    points, point_labels, weights = _check_sphere_inputs(features, labels, class_weights)
    dim = weights.shape[1]
    keep = balanced_sample(point_labels, max_points, seed=seed)
    points, point_labels = points[keep], point_labels[keep]
    num_classes = len(weights)
    label_text = LOSS_SPECS[loss].label
    heading = title or f"{label_text}: features on the unit {'circle' if dim == 2 else 'sphere'}"
    subtitle = margin_text(loss, margin) if loss not in ("softmax", "normface") else None
    if loss == "normface" and dim == 2:
        subtitle = "no margin: the dotted bisectors are the decision boundaries"
    if loss == "softmax" and dim == 2:
        subtitle = "decision boundaries not drawn: softmax's depend on feature norms and biases"

    # Angle of every point to its own class weight, for the hover text.
    theta_deg = (
        np.degrees(np.arccos(np.clip(np.sum(points * weights[point_labels], axis=1), -1.0, 1.0)))
        if len(points)
        else np.zeros(0)
    )
    if dim == 2:
        data = _circle_traces(
            points, point_labels, theta_deg, weights, class_names, loss, margin, easy_margin, sphereface_lambda, jitter,
            seed,
        )  # fmt: skip
        lim = 1.0 + max(jitter, 0.0) + 0.3
        axis = {"range": [-lim, lim], "visible": False, "fixedrange": False}
        layout = {
            "title": _title(heading, subtitle),
            "xaxis": {**axis},
            "yaxis": {**axis, "scaleanchor": "x", "scaleratio": 1},
            "showlegend": True,
            "legend": {"itemsizing": "constant", "title": {"text": "class"}},
            "uirevision": "hypersphere-2d",
            "height": 520,
            "hovermode": "closest",
        }
    else:
        data = _sphere_traces(
            points, point_labels, theta_deg, weights, class_names, loss, margin, easy_margin, sphereface_lambda
        )
        axis = {
            "range": [-1.3, 1.3],
            "showbackground": False,
            "showgrid": False,
            "zeroline": False,
            "showticklabels": False,
            "showspikes": False,
            "title": {"text": ""},
            "visible": False,
        }
        layout = {
            "title": _title(heading, subtitle),
            "scene": {
                "xaxis": axis,
                "yaxis": axis,
                "zaxis": axis,
                "aspectmode": "cube",
                "dragmode": "turntable",
                # Closer than plotly's default (1.25, 1.25, 1.25): the sphere fills the view.
                "camera": {"eye": {"x": 1.05, "y": 1.05, "z": 0.75}},
            },
            "showlegend": True,
            "legend": {"itemsizing": "constant", "title": {"text": "class"}},
            "uirevision": "hypersphere-3d",
            "height": 520,
        }
    assert num_classes >= 1
    return _figure(data, layout)


def _circle_traces(points, point_labels, theta_deg, weights, class_names, loss, margin, easy, lam, jitter, seed):
    data: list[dict] = []
    # The unit circle and, for normalised heads, the test-time decision boundaries (bisectors).
    t = np.linspace(0.0, 2.0 * math.pi, 181)
    data.append(
        {
            "type": "scatter",
            "x": np.cos(t).astype(np.float32),
            "y": np.sin(t).astype(np.float32),
            "mode": "lines",
            "line": {"color": NEUTRAL, "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
            "name": "unit circle",
        }
    )
    angles = np.arctan2(weights[:, 1], weights[:, 0])
    if loss != "softmax" and len(weights) >= 2:
        ccw_gap, _ = _neighbour_gaps_2d(angles)
        mids = angles + ccw_gap / 2.0
        r = 1.0 + max(jitter, 0.0) + 0.2
        xs, ys = [], []
        for a in mids:
            xs += [0.0, r * math.cos(a), None]
            ys += [0.0, r * math.sin(a), None]
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "line": {"color": NEUTRAL, "width": 1, "dash": "dot"},
                "name": "decision boundaries (test time)",
                "hoverinfo": "skip",
                "showlegend": True,
                "legendrank": 2000,
            }
        )
    wedges = {
        k: w for k, w in enumerate(margin_wedges_2d(weights, loss, margin, easy_margin=easy, sphereface_lambda=lam))
    }
    rng = np.random.default_rng(seed)
    radius = 1.0 + rng.uniform(0.0, max(jitter, 0.0), size=len(points))
    ray_len = 1.0 + max(jitter, 0.0) + 0.15
    for k in range(len(weights)):
        color = class_color(k)
        name = _class_name(class_names, k)
        group = f"class-{k}"
        wedge = wedges.get(k)
        if wedge is not None and (wedge["ccw_rad"] > 0 or wedge["cw_rad"] > 0):
            a = np.linspace(wedge["center_rad"] - wedge["cw_rad"], wedge["center_rad"] + wedge["ccw_rad"], 33)
            data.append(
                {
                    "type": "scatter",
                    "x": np.concatenate([[0.0], ray_len * np.cos(a), [0.0]]).astype(np.float32),
                    "y": np.concatenate([[0.0], ray_len * np.sin(a), [0.0]]).astype(np.float32),
                    "mode": "lines",
                    "fill": "toself",
                    "fillcolor": _rgba(color, 0.22),
                    "line": {"width": 0, "color": _rgba(color, 0.0)},
                    "legendgroup": group,
                    "showlegend": False,
                    "name": f"{name}: margin wedge",
                    "hoverinfo": "text",
                    "hoveron": "fills",
                    "text": (
                        f"{name}: margin wedge −{math.degrees(wedge['cw_rad']):.1f}° / "
                        f"+{math.degrees(wedge['ccw_rad']):.1f}° around W"
                    ),
                }
            )
        empty = wedge is not None and wedge["ccw_rad"] <= 0 and wedge["cw_rad"] <= 0
        direction = weights[k]
        note = " (margin does not fit: no sample can satisfy it)" if empty else ""
        data.append(
            {
                "type": "scatter",
                "x": np.array([0.0, ray_len * direction[0]], dtype=np.float32),
                "y": np.array([0.0, ray_len * direction[1]], dtype=np.float32),
                "mode": "lines",
                "line": {"color": color, "width": 3, "dash": "dot" if empty else "solid"},
                "legendgroup": group,
                "showlegend": False,
                "name": f"W {name}",
                "hovertemplate": f"W of {name}: {math.degrees(angles[k]):.1f}°{note}<extra></extra>",
            }
        )
        mask = point_labels == k
        data.append(
            {
                "type": "scattergl",
                "x": (radius[mask] * points[mask, 0]).astype(np.float32),
                "y": (radius[mask] * points[mask, 1]).astype(np.float32),
                "mode": "markers",
                "marker": {"color": color, "size": 6, "opacity": 0.8, "line": MARKER_OUTLINE},
                "legendgroup": group,
                "name": name,
                "customdata": theta_deg[mask].astype(np.float32),
                "hovertemplate": f"{name}<br>θ to its W: %{{customdata:.1f}}°<extra></extra>",
            }
        )
    return data


def _ring(center: np.ndarray, radius_rad: float, num: int = 61) -> np.ndarray:
    """Points at angular distance radius_rad around the unit vector `center`, shape (num, 3)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(center[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(center, helper)
    u /= np.linalg.norm(u)
    v = np.cross(center, u)
    t = np.linspace(0.0, 2.0 * math.pi, num)
    return math.cos(radius_rad) * center[None, :] + math.sin(radius_rad) * (
        np.cos(t)[:, None] * u[None, :] + np.sin(t)[:, None] * v[None, :]
    )


def _sphere_traces(points, point_labels, theta_deg, weights, class_names, loss, margin, easy, lam):
    data: list[dict] = []
    u = np.linspace(0.0, 2.0 * math.pi, 37)
    v = np.linspace(0.0, math.pi, 19)
    data.append(
        {
            "type": "surface",
            "x": (np.outer(np.cos(u), np.sin(v)) * 0.995).astype(np.float32),
            "y": (np.outer(np.sin(u), np.sin(v)) * 0.995).astype(np.float32),
            "z": (np.outer(np.ones_like(u), np.cos(v)) * 0.995).astype(np.float32),
            "colorscale": [[0.0, "rgb(150, 150, 150)"], [1.0, "rgb(150, 150, 150)"]],
            "showscale": False,
            "opacity": 0.12,
            "hoverinfo": "skip",
            "name": "unit sphere",
            "showlegend": False,
            "lighting": {"ambient": 0.9, "diffuse": 0.2, "specular": 0.0},
            "contours": {"x": {"highlight": False}, "y": {"highlight": False}, "z": {"highlight": False}},
        }
    )
    caps = margin_caps_3d(weights, loss, margin, easy_margin=easy, sphereface_lambda=lam)
    for k in range(len(weights)):
        color = class_color(k)
        name = _class_name(class_names, k)
        group = f"class-{k}"
        w = weights[k]
        cap = caps[k] if caps else None
        empty = cap is not None and cap["radius_rad"] <= 0
        note = " (margin does not fit: no sample can satisfy it)" if empty else ""
        data.append(
            {
                "type": "scatter3d",
                "x": np.array([0.0, 1.25 * w[0]], dtype=np.float32),
                "y": np.array([0.0, 1.25 * w[1]], dtype=np.float32),
                "z": np.array([0.0, 1.25 * w[2]], dtype=np.float32),
                "mode": "lines+markers",
                "line": {"color": color, "width": 6, "dash": "dot" if empty else "solid"},
                "marker": {"size": [0, 5], "color": color, "symbol": "diamond"},
                "legendgroup": group,
                "showlegend": False,
                "name": f"W {name}",
                "hovertemplate": f"W of {name}{note}<extra></extra>",
            }
        )
        if cap is not None and cap["radius_rad"] > 0:
            ring = _ring(w, cap["radius_rad"]).astype(np.float32)
            data.append(
                {
                    "type": "scatter3d",
                    "x": ring[:, 0],
                    "y": ring[:, 1],
                    "z": ring[:, 2],
                    "mode": "lines",
                    "line": {"color": color, "width": 4},
                    "legendgroup": group,
                    "showlegend": False,
                    "name": f"{name}: margin cap",
                    "hovertemplate": (
                        f"{name}: margin holds within {math.degrees(cap['radius_rad']):.1f}° of W "
                        f"(nearest other W {math.degrees(cap['nearest_rad']):.1f}° away)<extra></extra>"
                    ),
                }
            )
        mask = point_labels == k
        data.append(
            {
                "type": "scatter3d",
                "x": points[mask, 0].astype(np.float32),
                "y": points[mask, 1].astype(np.float32),
                "z": points[mask, 2].astype(np.float32),
                "mode": "markers",
                # No light rim here: at WebGL's small 3-D marker sizes it washes the colour out.
                "marker": {"color": color, "size": 3.5, "opacity": 0.9},
                "legendgroup": group,
                "name": name,
                "customdata": theta_deg[mask].astype(np.float32),
                "hovertemplate": f"{name}<br>θ to its W: %{{customdata:.1f}}°<extra></extra>",
            }
        )
    return data


# --------------------------------------------------------------------------------------------
# 2. Angles and training curves
# --------------------------------------------------------------------------------------------


def _finite_degrees(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return array[np.isfinite(array)]


def histogram_edges_deg(bin_deg: float = HISTOGRAM_BIN_DEG) -> np.ndarray:
    """Fixed bin edges over [0°, 180°], so the axes never jump between ticks."""
    return np.linspace(0.0, 180.0, round(180.0 / bin_deg) + 1)


def angle_histograms(target_angle_deg, nearest_other_angle_deg, *, bin_deg: float = HISTOGRAM_BIN_DEG) -> go.Figure:
    """Overlaid histograms (counts per fixed bin) of θ_y and of the nearest other angle, in degrees.

    θ_y is the angle from each feature to its own class weight; min_{j≠y} θ_j the angle to the
    nearest other class weight. Training pushes the first left and the second right; a margin
    widens the gap between them. Dashed lines mark the medians.
    """
    edges = histogram_edges_deg(bin_deg)
    centers = (edges[:-1] + edges[1:]) / 2.0
    data = []
    shapes = []
    series = (
        ("θ_y: to its own class weight", _finite_degrees(target_angle_deg), TARGET_COLOR),
        ("min θ_j (j ≠ y): to the nearest other weight", _finite_degrees(nearest_other_angle_deg), OTHER_COLOR),
    )
    for name, values, color in series:
        counts, _ = np.histogram(np.clip(values, 0.0, 180.0), bins=edges)
        data.append(
            {
                "type": "bar",
                "x": centers.astype(np.float32),
                "y": counts.astype(np.int32),
                "width": float(edges[1] - edges[0]),
                "name": name,
                "marker": {"color": color, "opacity": 0.6, "line": {"width": 0}},
                "hovertemplate": "%{x:.1f}° ± " + f"{bin_deg / 2:g}°: " + "%{y} samples<extra>" + name + "</extra>",
            }
        )
        if len(values):
            median = float(np.median(values))
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": median,
                    "x1": median,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": color, "width": 2, "dash": "dash"},
                }
            )
    layout = {
        "title": _title("Angles to the class weights", "dashed: medians"),
        "barmode": "overlay",
        "bargap": 0,
        "xaxis": {"title": {"text": "angle (°)"}, "range": [0, 180], "tickvals": list(range(0, 181, 30))},
        "yaxis": {"title": {"text": "samples"}, "rangemode": "tozero"},
        "shapes": shapes,
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0},
        "height": 340,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
    }
    return _figure(data, layout)


def _history_field(history: Any, name: str) -> list:
    if isinstance(history, Mapping):
        value = history.get(name, ())
    else:
        value = getattr(history, name, ())
    return list(value) if value is not None else []


def training_curves(history: Any) -> go.Figure:
    """Loss (top) and train/test accuracy (bottom) against epoch, on a shared epoch axis.

    `history` is a mapping or an object (toy_models.train.History) with the lists "epoch",
    "loss", "train_accuracy" and "test_accuracy" (accuracies as fractions 0–1).
    """
    epoch = _history_field(history, "epoch")
    loss = _history_field(history, "loss")
    train_acc = _history_field(history, "train_accuracy")
    test_acc = _history_field(history, "test_accuracy")
    n = min(len(epoch), len(loss), len(train_acc), len(test_acc)) if epoch else 0
    x = np.asarray(epoch[:n], dtype=np.float64)

    def clean(values) -> np.ndarray:
        return np.asarray([np.nan if v is None else v for v in values[:n]], dtype=np.float64)

    data = [
        {
            "type": "scatter",
            "x": x,
            "y": clean(loss),
            "mode": "lines+markers" if n < 30 else "lines",
            "name": "training loss",
            "line": {"color": NEUTRAL, "width": 2},
            "xaxis": "x",
            "yaxis": "y",
            "hovertemplate": "epoch %{x}: loss %{y:.3f}<extra></extra>",
        },
        {
            "type": "scatter",
            "x": x,
            "y": 100.0 * clean(train_acc),
            "mode": "lines+markers" if n < 30 else "lines",
            "name": "train accuracy",
            "line": {"color": TARGET_COLOR, "width": 2},
            "xaxis": "x2",
            "yaxis": "y2",
            "hovertemplate": "epoch %{x}: train %{y:.1f}%<extra></extra>",
        },
        {
            "type": "scatter",
            "x": x,
            "y": 100.0 * clean(test_acc),
            "mode": "lines+markers" if n < 30 else "lines",
            "name": "test accuracy",
            "line": {"color": OTHER_COLOR, "width": 2, "dash": "dash"},
            "xaxis": "x2",
            "yaxis": "y2",
            "hovertemplate": "epoch %{x}: test %{y:.1f}%<extra></extra>",
        },
    ]
    x_max = max(1.0, float(x.max())) if n else 1.0
    layout = {
        "title": _title("Training"),
        "xaxis": {"domain": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False, "range": [0, x_max]},
        "yaxis": {"domain": [0.56, 1.0], "title": {"text": "loss"}, "rangemode": "tozero"},
        "xaxis2": {"domain": [0, 1], "anchor": "y2", "title": {"text": "epoch"}, "range": [0, x_max]},
        "yaxis2": {"domain": [0.0, 0.46], "title": {"text": "accuracy (%)"}, "range": [0, 100]},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        "height": 380,
        "hovermode": "x unified",
        "uirevision": "training-curves",
    }
    if n == 0:
        layout["annotations"] = [
            {"text": "no epochs yet", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}
        ]
    return _figure(data, layout)


def target_angle_evolution(
    hist_edges_deg: Sequence[float], hist_counts: Sequence[Sequence[int]], epochs: Sequence[int]
) -> go.Figure:
    """θ_y distributions at the start, middle and end of training (ArcFace Fig. 4a).

    hist_edges_deg: the bin edges (degrees); hist_counts: one count vector per recorded epoch
    (History.theta_hist); epochs: the epoch of each vector. Each curve is normalised to the fraction
    of samples per bin, so runs with different test-set sizes compare.
    """
    edges = np.asarray(hist_edges_deg, dtype=np.float64)
    counts = [np.asarray(c, dtype=np.float64) for c in hist_counts]
    epochs = list(epochs)
    if len(edges) < 2:
        raise ValueError("hist_edges_deg needs at least two edges")
    if len(counts) != len(epochs):
        raise ValueError(f"{len(counts)} histograms but {len(epochs)} epochs")
    for c in counts:
        if len(c) != len(edges) - 1:
            raise ValueError(f"a histogram has {len(c)} bins but the edges define {len(edges) - 1}")
    centers = (edges[:-1] + edges[1:]) / 2.0
    picks = sorted({0, (len(counts) - 1) // 2, len(counts) - 1}) if counts else []
    names = {0: "start", (len(counts) - 1) // 2: "middle", len(counts) - 1: "end"}
    shades = ("rgba(0, 114, 178, 0.35)", "rgba(0, 114, 178, 0.65)", "rgba(0, 114, 178, 1.0)")
    data = []
    for i, index in enumerate(picks):
        total = counts[index].sum()
        fraction = counts[index] / total if total > 0 else counts[index]
        data.append(
            {
                "type": "scatter",
                "x": centers.astype(np.float32),
                "y": fraction.astype(np.float32),
                "mode": "lines",
                "line": {"shape": "hvh", "width": 2, "color": shades[i - len(picks) + 3]},
                "name": f"{names[index]} (epoch {epochs[index]})",
                "hovertemplate": "θ_y %{x:.0f}°: %{y:.1%}<extra>" + f"epoch {epochs[index]}</extra>",
            }
        )
    layout = {
        "title": _title("θ_y from start to end of training", "ArcFace Fig. 4a: the target angle shrinks"),
        "xaxis": {"title": {"text": "θ_y (°)"}, "range": [float(edges[0]), float(edges[-1])]},
        "yaxis": {"title": {"text": "fraction of samples"}, "tickformat": ".0%", "rangemode": "tozero"},
        "height": 340,
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0},
    }
    if not counts:
        layout["annotations"] = [
            {"text": "no epochs yet", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}
        ]
    return _figure(data, layout)


# --------------------------------------------------------------------------------------------
# 3. Instant analytic views (no model)
# --------------------------------------------------------------------------------------------


def _curve_segments(
    loss: str, margin, easy_margin: bool, sphereface_lambda: float, breaks_rad: Sequence[float], num: int
) -> tuple[np.ndarray, np.ndarray]:
    """θ (rad) and g(θ), with a NaN gap at each jump so no false vertical line is drawn."""
    cuts = [0.0, *sorted(b for b in breaks_rad if 0.0 < b < math.pi), math.pi]
    xs, ys = [], []
    eps = 1e-9
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        lo = a + (eps if i > 0 else 0.0)
        hi = b - (eps if i < len(cuts) - 2 else 0.0)
        count = max(8, int(num * (b - a) / math.pi))
        theta = np.linspace(lo, hi, count)
        xs.append(theta)
        ys.append(
            geometry.target_logit_curve(
                theta, loss, margin, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
            )
        )
        if i < len(cuts) - 2:
            xs.append(np.array([np.nan]))
            ys.append(np.array([np.nan]))
    return np.concatenate(xs), np.concatenate(ys)


def target_logit_figure(
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    scale: float | None = None,
    num: int = 361,
) -> go.Figure:
    """The loss's target logit against θ_y over [0°, 180°], over softmax's cos θ (ArcFace Fig. 4b).

    Values come from `geometry.target_logit_curve` (one formula with the training code). With
    `scale` the y-axis shows the actual logit s·g(θ); without it the unscaled g(θ) in cosine units.
    The band [20°, 100°] is the range the paper's figure shows. Jumps (ArcFace's fallback at
    180° − m, the easy_margin jump at 90°) are drawn as gaps with a marker and a note; where the
    curve turns and rises again (a combined margin without fallback) the rising part is marked.
    """
    check_loss(loss)
    features = geometry.target_logit_features(
        loss, margin, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
    )
    jumps = [e for e in features["events"] if e["kind"] == "jump"]
    turns = [e for e in features["events"] if e["kind"] == "turn"]
    theta, g = _curve_segments(loss, margin, easy_margin, sphereface_lambda, [e["theta_rad"] for e in jumps], num)
    s = 1.0 if scale is None else float(scale)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    theta_deg = np.degrees(theta)
    ref = np.linspace(0.0, 180.0, num)
    data = [
        {
            "type": "scatter",
            "x": ref.astype(np.float32),
            "y": (s * np.cos(np.radians(ref))).astype(np.float32),
            "mode": "lines",
            "name": "softmax / NormFace: cos θ",
            "line": {"color": NEUTRAL, "width": 2, "dash": "dash"},
            "hovertemplate": "θ %{x:.1f}°: %{y:.3f}<extra>cos θ</extra>",
        }
    ]
    margin_loss = loss not in ("softmax", "normface")
    if margin_loss:
        data.append(
            {
                "type": "scatter",
                # float64: float32 would move a point next to a jump across it.
                "x": theta_deg,
                "y": s * g,
                "mode": "lines",
                "name": f"{LOSS_SPECS[loss].label}: {_target_formula(loss)}",
                "line": {"color": TARGET_COLOR, "width": 3, "simplify": False},
                "connectgaps": False,
                "hovertemplate": "θ %{x:.1f}°: %{y:.3f}<extra>target logit</extra>",
            }
        )
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": PAPER_RANGE_DEG[0],
            "x1": PAPER_RANGE_DEG[1],
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(128, 128, 128, 0.12)",
            "line": {"width": 0},
            "layer": "below",
        }
    ]
    annotations = [
        {
            "x": sum(PAPER_RANGE_DEG) / 2,
            "y": 0.99,
            "xref": "x",
            "yref": "paper",
            "yanchor": "top",
            "text": "range of ArcFace Fig. 4b",
            "showarrow": False,
            "font": {"size": 11},
        }
    ]
    for event in jumps:
        left, right = geometry.target_logit_curve(
            np.array([event["theta_rad"] - 1e-6, event["theta_rad"] + 1e-6]),
            loss,
            margin,
            easy_margin=easy_margin,
            sphereface_lambda=sphereface_lambda,
        )
        x = event["theta_deg"]
        data.append(
            {
                "type": "scatter",
                "x": [x, x],
                "y": [float(s * left), float(s * right)],
                "mode": "markers",
                "marker": {"color": OTHER_COLOR, "size": 8, "symbol": ["circle-open", "circle"]},
                "name": "jump",
                "showlegend": False,
                "hovertemplate": event["label"] + "<extra></extra>",
            }
        )
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x,
                "x1": x,
                "y0": 0,
                "y1": 1,
                "line": {"color": OTHER_COLOR, "width": 1, "dash": "dot"},
            }
        )
        annotations.append(
            {
                "x": x,
                "y": float(s * (left + right) / 2),
                "xref": "x",
                "yref": "y",
                "text": f"jump {event['jump']:+.3f}<br>at {x:.1f}°",
                "showarrow": True,
                "arrowhead": 0,
                "ax": -60 if x > 90 else 60,
                "ay": -30,
                "font": {"size": 11},
            }
        )
    for event in turns:
        x = event["theta_deg"]
        rises = event["direction"] == "rises"
        end = next((e["theta_deg"] for e in turns if e["theta_deg"] > x), 180.0)
        if rises:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": x,
                    "x1": end,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": _rgba(OTHER_COLOR, 0.12),
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            annotations.append(
                {
                    "x": (x + end) / 2,
                    "y": 0.02,
                    "xref": "x",
                    "yref": "paper",
                    "yanchor": "bottom",
                    "text": "target rises:<br>larger θ, larger logit",
                    "showarrow": False,
                    "font": {"size": 11, "color": OTHER_COLOR},
                }
            )
    if margin_loss:
        subtitle = margin_text(loss, margin)
        if loss == "arcface" and easy_margin:
            subtitle += ", easy_margin"
        if loss == "sphereface" and sphereface_lambda:
            subtitle += f", λ = {sphereface_lambda:g}"
    else:
        subtitle = "no margin: the target logit is cos θ itself"
    y_label = "target logit s·g(θ)" if scale is not None else "target logit g(θ) (cosine units)"
    layout = {
        "title": _title(f"Target logit: {LOSS_SPECS[loss].label}", subtitle),
        "xaxis": {"title": {"text": "θ_y: angle to the own class weight (°)"}, "range": [0, 180],
                  "tickvals": list(range(0, 181, 20))},
        "yaxis": {"title": {"text": y_label}},
        "shapes": shapes,
        "annotations": annotations,
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        "height": 420,
        "hovermode": "closest",
    }  # fmt: skip
    return _figure(data, layout)


def decision_boundary_figure(
    loss: str,
    margin: Margin | None = None,
    *,
    plane: str = "angle",
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    num: int = 400,
) -> go.Figure:
    """Binary decision boundaries and the grey decision margin (ArcFace Fig. 5, CosFace Fig. 2).

    plane="angle": axes θ1, θ2 in degrees over [0°, 180°]; plane="cos": axes cos θ1, cos θ2.
    Dashed lines: class 1's and class 2's boundaries (from `geometry.decision_margin_band`); grey:
    the decision margin, where neither class's sample satisfies its margin (for targets that are
    not monotone the grey region comes from `geometry.decision_regions` instead); dotted: NormFace's
    θ1 = θ2 for reference.
    """
    check_loss(loss)
    if plane not in ("angle", "cos"):
        raise ValueError(f"unknown plane {plane!r}: choose 'angle' or 'cos'")
    band = geometry.decision_margin_band(
        loss, margin, num, plane=plane, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
    )
    to_axis = np.degrees if plane == "angle" else (lambda a: np.asarray(a, dtype=np.float64))
    data: list[dict] = []
    margin_loss = loss not in ("softmax", "normface")
    if band["band"] is not None and margin_loss:
        bx, by = band["band"]
        data.append(
            {
                "type": "scatter",
                "x": to_axis(bx).astype(np.float32),
                "y": to_axis(by).astype(np.float32),
                "mode": "lines",
                "fill": "toself",
                "fillcolor": BAND_FILL,
                "line": {"width": 0, "color": "rgba(0,0,0,0)"},
                "name": "decision margin",
                "hoverinfo": "name",
                "hoveron": "fills",
            }
        )
    elif margin_loss:
        regions = geometry.decision_regions(
            loss, margin, 200, plane=plane, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
        )
        neither = (regions["labels"] == 0).astype(np.float32)
        neither[neither == 0] = np.nan
        data.append(
            {
                "type": "heatmap",
                "x": to_axis(regions["x"]).astype(np.float32),
                "y": to_axis(regions["y"]).astype(np.float32),
                "z": neither,
                "colorscale": [[0.0, BAND_FILL], [1.0, BAND_FILL]],
                "showscale": False,
                "name": "decision margin",
                "hoverinfo": "name",
                "showlegend": True,
            }
        )
    dx, dy = band["diagonal"]
    data.append(
        {
            "type": "scatter",
            "x": to_axis(dx).astype(np.float32),
            "y": to_axis(dy).astype(np.float32),
            "mode": "lines",
            "name": "NormFace: θ1 = θ2" if plane == "angle" else "NormFace: cos θ1 = cos θ2",
            "line": {"color": NEUTRAL, "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
        }
    )
    for which, color in (("class1", class_color(0)), ("class2", class_color(1))):
        x, y = band[which]
        data.append(
            {
                "type": "scatter",
                "x": to_axis(x).astype(np.float32),
                "y": to_axis(y).astype(np.float32),
                "mode": "lines",
                "connectgaps": False,
                "name": f"class {which[-1]} boundary",
                "line": {"color": color, "width": 3, "dash": "dash"},
                "hovertemplate": "%{x:.1f}, %{y:.1f}<extra>" + f"class {which[-1]} boundary</extra>",
            }
        )
    if plane == "angle":
        lo, hi = 0.0, 180.0
        labels = (
            {"x": 40, "y": 150, "text": "class 1 wins"},
            {"x": 140, "y": 30, "text": "class 2 wins"},
        )
        x_title, y_title = "θ1: angle to W1 (°)", "θ2: angle to W2 (°)"
        ticks = list(range(0, 181, 30))
    else:
        lo, hi = -1.0, 1.0
        labels = (
            {"x": 0.55, "y": -0.7, "text": "class 1 wins"},
            {"x": -0.55, "y": 0.7, "text": "class 2 wins"},
        )
        x_title, y_title = "cos θ1", "cos θ2"
        ticks = [-1, -0.5, 0, 0.5, 1]
    subtitle = margin_text(loss, margin) if margin_loss else "no margin: one shared boundary"
    layout = {
        "title": _title(f"Binary decision margins: {LOSS_SPECS[loss].label}", subtitle),
        "xaxis": {"title": {"text": x_title}, "range": [lo, hi], "tickvals": ticks, "constrain": "domain"},
        "yaxis": {"title": {"text": y_title}, "range": [lo, hi], "tickvals": ticks, "scaleanchor": "x",
                  "scaleratio": 1, "constrain": "domain"},
        "annotations": [
            {**label, "xref": "x", "yref": "y", "showarrow": False, "font": {"size": 12}} for label in labels
        ],
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        "height": 460,
        "hovermode": "closest",
    }  # fmt: skip
    return _figure(data, layout)
