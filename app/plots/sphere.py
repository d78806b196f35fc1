"""Features on the unit circle (d = 2) or sphere (d = 3), with the class weights and the margin regions.

ArcFace Fig. 3, CosFace Fig. 4, SphereFace Fig. 5. A fixed `layout.uirevision` keeps a user's zoom
or camera across redraws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from toy_models import geometry
from toy_models.heads import LOSS_SPECS, Margin, check_loss

from .style import MARKER_OUTLINE, NEUTRAL, _figure, _rgba, _title, class_color, margin_text

_DEFAULT_MAX_POINTS = 1000


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
