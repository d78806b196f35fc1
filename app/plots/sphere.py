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
    as_spec: bool = False,
) -> go.Figure:
    """Unit features and class-weight directions on the circle (d = 2) or the sphere (d = 3).

    features: (n, d) feature vectors (normalised here; NaN or zero rows are left out);
    labels: (n,) class indices; class_weights: (C, d) class-weight vectors (normalised here).
    At most `max_points` points are drawn, as equal a share per class as possible
    (`geometry.balanced_sample`, seeded).

    The margin regions come from `geometry.margin_layout` (each class's centre and neighbour gaps)
    and `geometry.cap_half_arcs` (how far the region reaches against each gap); this module only draws them.
    2-D: each class's points, its weight as a ray from the origin, and its margin wedge (shaded;
    asymmetric when the weights are unevenly spread; a dotted ray means the wedge is empty: the margin
    does not fit between the neighbours). For NormFace and the margin losses the dotted grey lines are
    the test-time decision boundaries (bisectors between neighbouring weights: at inference every
    normalised head predicts the largest cos θ); softmax has none drawn, because its boundaries depend
    on the feature norms and biases, which a unit-circle picture does not show. Points are spread over
    a thin ring (radius 1 to 1 + jitter, seeded) so that overlapping points stay visible: only their
    angle is meaningful.
    3-D: points on a wire globe (the unit sphere), weights as rays with a marker at the tip, and for the
    margin losses a ring around each weight bounding its cap.
    Every margin-dependent trace carries a `meta` dict (roles "wedge", "cap", "weight"; see the
    package docstring), and a margin loss gets one wedge or cap trace per class even when it is empty,
    so a browser can redraw the regions in place when only the margin moves.
    """
    spec = check_loss(loss)
    points, point_labels, weights = _check_sphere_inputs(features, labels, class_weights)
    dim = weights.shape[1]
    keep = geometry.balanced_sample(point_labels, max_points, seed=seed)
    points, point_labels = points[keep], point_labels[keep]
    layout = geometry.margin_layout(weights)
    half_arcs = None  # (C, 2) on the circle, (C, 1) on the sphere; None: no regions to draw
    if spec.has_margin and len(weights) >= 2:
        half_arcs = geometry.cap_half_arcs(
            loss, margin, layout.gaps_rad, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
        )
    heading = title or f"{spec.label}: features on the unit {'circle' if dim == 2 else 'sphere'}"
    subtitle = margin_text(loss, margin) if spec.has_margin else None
    if not spec.has_margin and dim == 2:
        subtitle = ("no margin: the dotted bisectors are the decision boundaries" if spec.normalised else
                    "decision boundaries not drawn: softmax's depend on feature norms and biases")

    # Angle of every point to its own class weight, for the hover text.
    theta_deg = (
        np.degrees(np.arccos(np.clip(np.sum(points * weights[point_labels], axis=1), -1.0, 1.0)))
        if len(points)
        else np.zeros(0)
    )
    if dim == 2:
        data = _circle_traces(points, point_labels, theta_deg, layout, half_arcs, class_names, loss, jitter, seed)
        lim = 1.0 + max(jitter, 0.0) + 0.3
        axis = {"range": [-lim, lim], "visible": False, "fixedrange": False}
        figure_layout = {
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
        data = _sphere_traces(points, point_labels, theta_deg, layout, half_arcs, class_names)
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
        figure_layout = {
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
    return _figure(data, figure_layout, as_spec)


_NO_FIT = " (margin does not fit: no sample can satisfy it)"


def _weight_meta(k: int) -> dict:
    # A ray is margin-dependent too: it is dotted when its class's region is empty.
    return {"role": "weight", "class": k}


def _wedge_trace(k: int, name: str, centre_rad: float, gaps: np.ndarray, arcs: np.ndarray, radius: float) -> dict:
    """Class k's margin wedge: from the origin out to `radius`, cw half-arc clockwise, ccw counter-clockwise."""
    cw, ccw = (float(v) for v in arcs)
    color = class_color(k)
    if cw > 0 or ccw > 0:
        a = np.linspace(centre_rad - cw, centre_rad + ccw, 33)
        x = np.concatenate([[0.0], radius * np.cos(a), [0.0]]).astype(np.float32)
        y = np.concatenate([[0.0], radius * np.sin(a), [0.0]]).astype(np.float32)
        text = f"{name}: margin wedge −{math.degrees(cw):.1f}° / +{math.degrees(ccw):.1f}° around W"
    else:
        x = y = np.zeros(0, dtype=np.float32)  # kept, empty, so the wedge can be redrawn in place
        text = f"{name}: no margin wedge{_NO_FIT}"
    return {
        "type": "scatter",
        "x": x,
        "y": y,
        "mode": "lines",
        "fill": "toself",
        "fillcolor": _rgba(color, 0.22),
        "line": {"width": 0, "color": _rgba(color, 0.0)},
        "legendgroup": f"class-{k}",
        "showlegend": False,
        "name": f"{name}: margin wedge",
        "hoverinfo": "text",
        "hoveron": "fills",
        "text": text,
        "meta": {
            "role": "wedge",
            "class": k,
            "centre_rad": float(centre_rad),
            "gap_rad": [float(g) for g in gaps],
            "half_arc_rad": [cw, ccw],
            "radius": float(radius),
        },
    }


def _circle_traces(points, point_labels, theta_deg, layout, half_arcs, class_names, loss, jitter, seed):
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
    weights = layout.centres
    angles = np.arctan2(weights[:, 1], weights[:, 0])
    if LOSS_SPECS[loss].normalised and len(weights) >= 2:
        mids = angles + layout.gaps_rad[:, 1] / 2.0  # halfway to the counter-clockwise neighbour
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
    rng = np.random.default_rng(seed)
    radius = 1.0 + rng.uniform(0.0, max(jitter, 0.0), size=len(points))
    ray_len = 1.0 + max(jitter, 0.0) + 0.15
    for k in range(len(weights)):
        color = class_color(k)
        name = _class_name(class_names, k)
        group = f"class-{k}"
        empty = False
        if half_arcs is not None:
            data.append(_wedge_trace(k, name, angles[k], layout.gaps_rad[k], half_arcs[k], ray_len))
            empty = not np.any(half_arcs[k] > 0)
        direction = weights[k]
        note = _NO_FIT if empty else ""
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
                "meta": _weight_meta(k),
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


def _cap_trace(k: int, name: str, centre: np.ndarray, gap: float, arc: float) -> dict:
    """Class k's margin cap: the ring `arc` radians around `centre` (empty when the margin does not fit)."""
    if arc > 0:
        ring = _ring(centre, arc).astype(np.float32)
        hover = (
            f"{name}: margin holds within {math.degrees(arc):.1f}° of W "
            f"(nearest other W {math.degrees(gap):.1f}° away)<extra></extra>"
        )
    else:
        ring = np.zeros((0, 3), dtype=np.float32)  # kept, empty, so the cap can be redrawn in place
        hover = f"{name}: no margin cap{_NO_FIT}<extra></extra>"
    return {
        "type": "scatter3d",
        "x": ring[:, 0],
        "y": ring[:, 1],
        "z": ring[:, 2],
        "mode": "lines",
        "line": {"color": class_color(k), "width": 4},
        "legendgroup": f"class-{k}",
        "showlegend": False,
        "name": f"{name}: margin cap",
        "hovertemplate": hover,
        "meta": {
            "role": "cap",
            "class": k,
            "centre": [float(c) for c in centre],
            "gap_rad": float(gap),
            "half_arc_rad": float(arc),
        },
    }


def _globe() -> dict:
    """The unit sphere as a light wire globe: the equator, two parallels and three meridians, one trace.

    Not a translucent surface: blending a surface costs a software-rendered WebGL scene (a laptop
    without a GPU, a classroom VM) about twice as long to draw, on every training tick
    (benchmarks/ui_latency.py prints each chart's redraw time).
    """
    t = np.linspace(0.0, 2.0 * math.pi, 73)
    xs, ys, zs = [], [], []
    for lat in (-math.pi / 4, 0.0, math.pi / 4):  # parallels
        xs += [*(math.cos(lat) * np.cos(t)), np.nan]
        ys += [*(math.cos(lat) * np.sin(t)), np.nan]
        zs += [*np.full(len(t), math.sin(lat)), np.nan]
    for lon in (0.0, math.pi / 3, 2 * math.pi / 3):  # meridians (great circles through the poles)
        xs += [*(math.cos(lon) * np.cos(t)), np.nan]
        ys += [*(math.sin(lon) * np.cos(t)), np.nan]
        zs += [*np.sin(t), np.nan]
    return {
        "type": "scatter3d",
        "x": np.array(xs, dtype=np.float32),
        "y": np.array(ys, dtype=np.float32),
        "z": np.array(zs, dtype=np.float32),
        "mode": "lines",
        "line": {"color": "rgba(120, 120, 120, 0.55)", "width": 2},
        "connectgaps": False,
        "hoverinfo": "skip",
        "name": "unit sphere",
        "showlegend": False,
    }


def _sphere_traces(points, point_labels, theta_deg, layout, half_arcs, class_names):
    data: list[dict] = [_globe()]
    weights = layout.centres
    for k in range(len(weights)):
        color = class_color(k)
        name = _class_name(class_names, k)
        group = f"class-{k}"
        w = weights[k]
        empty = half_arcs is not None and not half_arcs[k, 0] > 0
        note = _NO_FIT if empty else ""
        data.append(
            {
                "type": "scatter3d",
                "x": np.array([0.0, 1.25 * w[0]], dtype=np.float32),
                "y": np.array([0.0, 1.25 * w[1]], dtype=np.float32),
                "z": np.array([0.0, 1.25 * w[2]], dtype=np.float32),
                # A line without a tip marker: markers of a second symbol cost the first WebGL draw ~10 %.
                "mode": "lines",
                "line": {"color": color, "width": 6, "dash": "dot" if empty else "solid"},
                "legendgroup": group,
                "showlegend": False,
                "name": f"W {name}",
                "hovertemplate": f"W of {name}{note}<extra></extra>",
                "meta": _weight_meta(k),
            }
        )
        if half_arcs is not None:
            data.append(_cap_trace(k, name, w, float(layout.gaps_rad[k, 0]), float(half_arcs[k, 0])))
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
