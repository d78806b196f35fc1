"""The instant views of the loss itself, which need no model (ArcFace Fig. 4b and Fig. 5, CosFace Fig. 2).

They build in a few milliseconds, so they can follow every slider move.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from toy_models import geometry
from toy_models.heads import LOSS_SPECS, SPHEREFACE_FORMS, Margin, check_loss

from .style import (
    BAND_FILL,
    NEUTRAL,
    OTHER_COLOR,
    TARGET_COLOR,
    _figure,
    _rgba,
    _title,
    class_color,
    margin_text,
)


def _target_formula(loss: str, *, easy_margin: bool = False, sphereface_lambda: float = 0.0) -> str:
    """The target g(θ) as the legend writes it: the loss's spec says it, as heads.target_cos computes it."""
    spec = check_loss(loss)
    options = {"easy_margin": easy_margin, "sphereface_lambda": sphereface_lambda}
    return spec.legend_formula(**{name: value for name, value in options.items() if name in spec.target_options})


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


def _curve_scale(loss: str, scale: float | None, sphereface_form: str) -> tuple[float, str]:
    """The factor the curves are drawn with, and the y-axis title that says so."""
    if sphereface_form not in SPHEREFACE_FORMS:
        raise ValueError(f"unknown SphereFace form {sphereface_form!r}: choose 'normalized' or 'original'")
    if sphereface_form == "original":
        if not check_loss(loss).feature_norm_scale({"sphereface_form": sphereface_form}):
            raise ValueError(f"sphereface_form only exists for sphereface, not for {loss}")
        # The original form's logits are ‖x‖·cos θ_j and ‖x‖·g(θ_y): the feature norm is the scale and
        # differs per sample, so the curve stays in cosine units, whatever the s slider says.
        return 1.0, "target logit ÷ ‖x‖: g(θ) (cosine units)"
    if scale is None:
        return 1.0, "target logit g(θ) (cosine units)"
    s = float(scale)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return s, "target logit s·g(θ)"


def _paper_range_marks(figure: tuple[str, float, float]) -> tuple[list[dict], list[dict]]:
    """The grey band over the θ range a paper's figure shows (a spec's `curve_figure`: name, θ low and high in
    degrees), and its note: (shapes, annotations)."""
    name, low_deg, high_deg = figure
    band = {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": low_deg,
        "x1": high_deg,
        "y0": 0,
        "y1": 1,
        "fillcolor": "rgba(128, 128, 128, 0.12)",
        "line": {"width": 0},
        "layer": "below",
    }
    note = {
        "x": (low_deg + high_deg) / 2,
        "y": 0.99,
        "xref": "x",
        "yref": "paper",
        "yanchor": "top",
        "text": f"θ range of {name}",
        "showarrow": False,
        "font": {"size": 11},
    }
    return [band], [note]


def _jump_marks(event: dict, left: float, right: float, s: float) -> tuple[dict, dict, dict]:
    """A jump of g at event's θ, drawn times s: (the two markers, a dotted line, the note)."""
    x = event["theta_deg"]
    # In the units of the y-axis: at s = 16 ArcFace's fallback drops the drawn curve by 1.87, not 0.117.
    jump_on_axis = s * event["jump"]
    hover = event["label"] if s == 1.0 else f"{event['label']}<br>× s = {s:g}: {jump_on_axis:+.3g} on this axis"
    markers = {
        "type": "scatter",
        "x": [x, x],
        "y": [float(s * left), float(s * right)],
        "mode": "markers",
        "marker": {"color": OTHER_COLOR, "size": 8, "symbol": ["circle-open", "circle"]},
        "name": "jump",
        "showlegend": False,
        "hovertemplate": hover + "<extra></extra>",
        "meta": {"role": "jump", "theta_rad": event["theta_rad"]},
    }
    line = {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": OTHER_COLOR, "width": 1, "dash": "dot"},
    }
    note = {
        "x": x,
        "y": float(s * (left + right) / 2),
        "xref": "x",
        "yref": "y",
        "text": f"jump {jump_on_axis:+.3g}<br>at {x:.1f}°",
        "showarrow": True,
        "arrowhead": 0,
        "ax": -60 if x > 90 else 60,
        "ay": -30,
        "font": {"size": 11},
    }
    return markers, line, note


def _rise_marks(turns: list[dict]) -> tuple[list[dict], list[dict]]:
    """Shade each stretch where the target rises again (a combined margin has no fallback)."""
    shapes, annotations = [], []
    for event in turns:
        if event["direction"] != "rises":
            continue
        x = event["theta_deg"]
        end = next((e["theta_deg"] for e in turns if e["theta_deg"] > x), 180.0)
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
                # Near 180° a centred note would run off the plot: anchor it on the stretch's right end.
                "x": (x + end) / 2 if end - x > 40 else end,
                "xanchor": "center" if end - x > 40 else "right",
                "y": 0.02,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "text": "target rises:<br>larger θ, larger logit",
                "showarrow": False,
                "font": {"size": 11, "color": OTHER_COLOR},
            }
        )
    return shapes, annotations


def _target_subtitle(loss: str, margin, easy_margin: bool, sphereface_lambda: float, sphereface_form: str) -> str:
    spec = check_loss(loss)
    if not spec.has_margin:
        return f"no margin: the target logit is {spec.logit_text}"
    options = {"easy_margin": easy_margin, "sphereface_lambda": sphereface_lambda}
    subtitle = margin_text(loss, margin)
    subtitle += spec.options_text(**{name: value for name, value in options.items() if name in spec.target_options})
    if sphereface_form == "original":
        subtitle += "; the scale is the feature norm ‖x‖"
    return subtitle


def target_logit_figure(
    loss: str,
    margin: Margin | None = None,
    *,
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    sphereface_form: str = "normalized",
    scale: float | None = None,
    num: int = 361,
    as_spec: bool = False,
) -> go.Figure:
    """The loss's target logit against θ_y over [0°, 180°], over softmax's cos θ (ArcFace Fig. 4b).

    Values come from `geometry.target_logit_curve` (one formula with the training code). With
    `scale` the y-axis shows the actual logit s·g(θ); without it the unscaled g(θ) in cosine units.
    SphereFace's original form (sphereface_form="original") has no s: its scale is the feature norm
    ‖x‖, so the curves stay in cosine units and `scale` is ignored; its target is the λ blend
    (λ·cos θ + ψ(θ)) / (1 + λ) of `sphereface_lambda`.
    On ArcFace's view a grey band marks [20°, 100°], the θ range ArcFace Fig. 4b shows; the other
    losses get no band, so the note never claims a figure the view does not mirror (that figure's
    SphereFace curve is cos(1.35θ), not ψ). Jumps (ArcFace's fallback at 180° − m, the easy_margin
    jump at 90°) are drawn as gaps with a marker and a note that gives the jump in the units of the
    y-axis (times s when the curve is scaled). Where the curve turns and rises again (a combined
    margin has no fallback) the rising part is shaded.
    """
    check_loss(loss)
    s, y_label = _curve_scale(loss, scale, sphereface_form)
    features = geometry.target_logit_features(
        loss, margin, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda
    )
    jumps = [e for e in features["events"] if e["kind"] == "jump"]
    turns = [e for e in features["events"] if e["kind"] == "turn"]
    theta, g = _curve_segments(loss, margin, easy_margin, sphereface_lambda, [e["theta_rad"] for e in jumps], num)
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
    spec = LOSS_SPECS[loss]
    if spec.has_margin:
        formula = _target_formula(loss, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda)
        data.append(
            {
                "type": "scatter",
                # float64: float32 would move a point next to a jump across it.
                "x": theta_deg,
                "y": s * g,
                "mode": "lines",
                "name": f"{spec.label}: {formula}",
                "line": {"color": TARGET_COLOR, "width": 3, "simplify": False},
                "connectgaps": False,
                "hovertemplate": "θ %{x:.1f}°: %{y:.3f}<extra>target logit</extra>",
                "meta": {"role": "target_curve", "scale": s},
            }
        )
    shapes: list[dict] = []
    annotations: list[dict] = []
    if spec.curve_figure is not None:
        shapes, annotations = _paper_range_marks(spec.curve_figure)
    for event in jumps:
        left, right = geometry.target_logit_curve(
            np.array([event["theta_rad"] - 1e-6, event["theta_rad"] + 1e-6]),
            loss,
            margin,
            easy_margin=easy_margin,
            sphereface_lambda=sphereface_lambda,
        )
        markers, line, note = _jump_marks(event, float(left), float(right), s)
        data.append(markers)
        shapes.append(line)
        annotations.append(note)
    rise_shapes, rise_notes = _rise_marks(turns)
    shapes += rise_shapes
    annotations += rise_notes
    subtitle = _target_subtitle(loss, margin, easy_margin, sphereface_lambda, sphereface_form)
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
    return _figure(data, layout, as_spec)


def decision_boundary_figure(
    loss: str,
    margin: Margin | None = None,
    *,
    plane: str = "angle",
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
    num: int = 400,
    as_spec: bool = False,
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
    margin_loss = LOSS_SPECS[loss].has_margin
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
                "meta": {"role": "band"},
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
                "meta": {"role": "band"},
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
                "meta": {"role": "boundary", "class": int(which[-1])},
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
    return _figure(data, layout, as_spec)
