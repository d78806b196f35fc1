"""The papers' figures on our data (docs/losses.md §9): pure builders, arrays in, figures out.

* `target_angle_histograms`: θ_y at the start, middle and end of training, a panel per loss (ArcFace Fig. 4a).
* `target_logit_curves`: every chosen loss's target logit on one plot (ArcFace Fig. 4b).
* `decision_margin_panels`: softmax, SphereFace, CosFace, ArcFace in the (θ1, θ2) plane (ArcFace Fig. 5);
  `cosine_margin_panels`: softmax, NormFace, A-Softmax, LMCL in the cosine plane (CosFace Fig. 2).
* `pair_angle_histograms`: same-class against different-class pair angles, a panel per loss (ArcFace Figs. 6–7).
* `sphere_panels`: small multiples of the hypersphere view (the 8-identity toy, ArcFace Fig. 3 / CosFace Fig. 4;
  SphereFace's m = 1..4, SphereFace Fig. 5).
* `paper_captions`: each figure's caption, from paper_captions.toml (data, not code).

The margin views reuse `loss_views` (one formula, `heads.target_cos`, through `toy_models.geometry`); the panels
of a grid are the single-loss figures moved onto the grid's axes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from app.compat import tomllib
from toy_models import geometry
from toy_models.heads import LOSS_SPECS, ArcFaceSpec, Margin, check_loss

from .angles import histogram_edges_deg
from .loss_views import _curve_segments, _paper_range_marks, decision_boundary_figure
from .sphere import hypersphere_figure
from .style import NEUTRAL, OTHER_COLOR, TARGET_COLOR, _figure, _title, class_color, margin_text

CAPTIONS_FILE = Path(__file__).with_name("paper_captions.toml")
FIGURE_IDS = (
    "target_angles",
    "target_logits",
    "decision_margins",
    "cosine_margins",
    "pair_angles",
    "eight_identities",
    "sphereface_multipliers",
    "roc",
)
ARCFACE_FIG5_LOSSES = ("softmax", "sphereface", "cosface", "arcface")
COSFACE_FIG2_LOSSES = ("softmax", "normface", "sphereface", "cosface")
# Softmax's binary boundary ‖W1‖cos θ1 = ‖W2‖cos θ2 depends on the weight norms; unequal ones show that it is
# not the diagonal (CosFace Fig. 2 draws it for some unequal pair; the values are ours).
SOFTMAX_WEIGHT_NORMS = (1.25, 0.8)
ARCFACE_FIG4B = ArcFaceSpec.curve_figure  # the figure and the θ range it shows, in degrees
# The three moments of ArcFace Fig. 4(a): light to dark.
STAGE_COLORS = ("#BBBBBB", "#56B4E9", "#0072B2")
# Above the panels, right of the title: below them it would sit on the x-axis titles.
_TOP_RIGHT_LEGEND = {"orientation": "h", "x": 1, "xanchor": "right", "y": 0.98, "yanchor": "top", "yref": "container"}
POSITIVE_COLOR, NEGATIVE_COLOR = TARGET_COLOR, OTHER_COLOR  # same class: blue as "own class" everywhere


# --------------------------------------------------------------------------------------------------------
# Captions


@dataclass(frozen=True)
class Caption:
    title: str
    mirrors: str  # the paper figure it reproduces
    text: str  # one paragraph: what to look for


@functools.cache
def paper_captions(path: Path = CAPTIONS_FILE) -> dict[str, Caption]:
    """{figure id: Caption} from the captions file; ValueError names a figure without a complete caption."""
    with open(path, "rb") as file:
        raw = tomllib.load(file)
    captions = {}
    for figure_id in FIGURE_IDS:
        entry = raw.get(figure_id)
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) and entry[f].strip()
                                                  for f in ("title", "mirrors", "text")):
            raise ValueError(f"{path.name} has no complete caption (title, mirrors, text) for figure {figure_id!r}")
        text = " ".join(entry["text"].split())  # the file wraps lines; a paragraph is one line
        captions[figure_id] = Caption(entry["title"].strip(), entry["mirrors"].strip(), text)
    return captions


# --------------------------------------------------------------------------------------------------------
# Labels, colours and grids


def short_label(loss: str) -> str:
    """'CosFace' for 'CosFace (LMCL)': the loss's name without the aliases."""
    return check_loss(loss).short_label


def member_label(loss: str, margin: Margin | None = None) -> str:
    """A member's name in legends and panel titles: 'ArcFace, m = 0.50 rad (28.6°)', 'Softmax'."""
    name = short_label(loss)
    return name if not LOSS_SPECS[loss].has_margin or margin is None else f"{name}, {margin_text(loss, margin)}"


def loss_color(loss: str) -> str:
    """The loss's own colour (its spec's: Okabe–Ito, colour-blind safe, apart from the class palette)."""
    return check_loss(loss).color


def _axis_names(index: int) -> tuple[str, str]:
    """Plotly's names of the index-th (0-based) subplot's axes: ('x', 'y'), ('x2', 'y2'), ..."""
    suffix = "" if index == 0 else str(index + 1)
    return f"x{suffix}", f"y{suffix}"


def _layout_key(axis: str) -> str:
    """'x2' -> 'xaxis2' (the layout key of a trace's axis reference)."""
    return f"{axis[0]}axis{axis[1:]}"


def _grid_layout(count: int, cols: int, titles: Sequence[str], **spacing: float) -> tuple[dict, int]:
    """The layout of a grid of `count` panels (axes with their domains, the titles as annotations), and its rows."""
    from plotly.subplots import make_subplots  # only its layout is used: the traces are plain dicts

    cols = max(1, min(cols, count))
    rows = math.ceil(count / cols)
    titles = list(titles) + [""] * (rows * cols - len(titles))
    grid = make_subplots(rows=rows, cols=cols, subplot_titles=titles, **spacing)
    layout = grid.layout.to_plotly_json()
    for index in range(count, rows * cols):  # empty cells of the last row: no axes drawn
        x, y = _axis_names(index)
        layout[_layout_key(x)]["visible"] = False
        layout[_layout_key(y)]["visible"] = False
    for note in layout.get("annotations", []):
        note["font"] = {"size": 13}
    return layout, rows


def _move_panel(spec: dict, index: int, seen_names: set[str]) -> list[dict]:
    """A single-panel figure's traces, moved onto the grid's index-th axes; a legend entry once per name."""
    x, y = _axis_names(index)
    traces = []
    for trace in spec["data"]:
        trace = {**trace, "xaxis": x, "yaxis": y, "legendgroup": trace.get("name", "")}
        if trace.get("name") in seen_names:
            trace["showlegend"] = False
        elif trace.get("name"):
            seen_names.add(trace["name"])
        traces.append(trace)
    return traces


def _panel_axes(spec: dict, index: int) -> dict:
    """The grid layout entries of the index-th panel: its axes (titles, ranges, ticks) and its annotations."""
    x, y = _axis_names(index)
    xaxis = {**spec["layout"]["xaxis"], "constrain": "domain"}
    yaxis = {**spec["layout"]["yaxis"], "scaleanchor": x, "constrain": "domain"}  # square panels, as in the papers
    notes = [{**n, "xref": x, "yref": y} for n in spec["layout"].get("annotations", [])]
    return {"x": xaxis, "y": yaxis, "notes": notes}


def _grid_of_panels(specs: Sequence[dict], titles: Sequence[str], heading: str, subtitle: str | None,
                    cols: int, panel_height: int, as_spec: bool) -> go.Figure | dict:
    layout, rows = _grid_layout(len(specs), cols, titles, horizontal_spacing=0.08, vertical_spacing=0.16)
    data: list[dict] = []
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        data += _move_panel(spec, index, seen)
        axes = _panel_axes(spec, index)
        x, y = _axis_names(index)
        layout[_layout_key(x)].update(axes["x"])
        layout[_layout_key(y)].update(axes["y"])
        layout["annotations"] = [*layout.get("annotations", []), *axes["notes"]]
    layout.update(
        title=_title(heading, subtitle),
        height=panel_height * rows + 120,
        legend={"orientation": "h", "yanchor": "top", "y": -0.06, "x": 0},
        hovermode="closest",
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )
    return _figure(data, layout, as_spec)


# --------------------------------------------------------------------------------------------------------
# ArcFace Fig. 4(a): target angles during training


def _finite_deg(values_rad) -> np.ndarray:
    array = np.degrees(np.asarray(values_rad, dtype=np.float64).reshape(-1))
    return array[np.isfinite(array)]


def target_angle_histograms(
    panels: Sequence[tuple[str, Sequence[Any]]],
    *,
    stage_labels: Sequence[str] = ("start", "middle", "end"),
    bin_deg: float = 3.0,
    cols: int = 4,
    as_spec: bool = False,
) -> go.Figure | dict:
    """One panel per loss: overlaid histograms (counts per fixed bin) of θ_y, in degrees, at each stage.

    panels: (panel title, [θ_y array in RADIANS per stage]) per loss, stages in `stage_labels` order.
    Each histogram counts every finite angle once (angles are clipped into [0°, 180°]).
    """
    if not panels:
        raise ValueError("target_angle_histograms needs at least one panel")
    edges = histogram_edges_deg(bin_deg)
    centres = ((edges[:-1] + edges[1:]) / 2).astype(np.float32)
    layout, rows = _grid_layout(len(panels), cols, [title for title, _ in panels], horizontal_spacing=0.04,
                                vertical_spacing=0.18)
    data = []
    for index, (_, stages) in enumerate(panels):
        if len(stages) != len(stage_labels):
            raise ValueError(f"each panel needs {len(stage_labels)} stages ({', '.join(stage_labels)}), got "
                             f"{len(stages)}")
        x, y = _axis_names(index)
        for stage, (label, angles) in enumerate(zip(stage_labels, stages, strict=True)):
            counts, _ = np.histogram(np.clip(_finite_deg(angles), 0.0, 180.0), bins=edges)
            data.append({
                "type": "bar", "x": centres, "y": counts.astype(np.int32), "width": float(bin_deg),
                "name": label, "legendgroup": label, "showlegend": index == 0, "xaxis": x, "yaxis": y,
                "marker": {"color": STAGE_COLORS[stage % len(STAGE_COLORS)], "opacity": 0.65, "line": {"width": 0}},
                "hovertemplate": "θ_y %{x:.1f}°: %{y} samples<extra>" + label + "</extra>",
            })  # fmt: skip
        layout[_layout_key(x)].update(range=[0, 180], tickvals=list(range(0, 181, 45)),
                                      title={"text": "θ_y (°)"})
        layout[_layout_key(y)].update(rangemode="tozero", title={"text": "samples" if index % cols == 0 else ""})
    layout.update(
        title=_title("θ_y, the angle to the own class weight, during training", "start, middle and end"),
        barmode="overlay", bargap=0, height=300 * rows + 120,
        legend=_TOP_RIGHT_LEGEND,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )  # fmt: skip
    return _figure(data, layout, as_spec)


# --------------------------------------------------------------------------------------------------------
# ArcFace Fig. 4(b): target logits together


def target_logit_curves(members: Sequence[Mapping[str, Any]], *, num: int = 361, as_spec: bool = False):
    """The unscaled target logit g(θ) of every member on one plot, over softmax's cos θ (dashed).

    members: mappings with "loss" and optionally "margin", "easy_margin", "sphereface_lambda" and "label"
    (default `member_label`). Losses without a margin (softmax, NormFace) are the cos θ reference itself.
    Jumps are gaps in a curve (from geometry.target_logit_features, as in the single-loss view).
    """
    reference = np.linspace(0.0, 180.0, num)
    data = [{
        "type": "scatter", "x": reference.astype(np.float32), "y": np.cos(np.radians(reference)).astype(np.float32),
        "mode": "lines", "name": "Softmax / NormFace: cos θ", "line": {"color": NEUTRAL, "width": 2, "dash": "dash"},
        "hovertemplate": "θ %{x:.1f}°: %{y:.3f}<extra>cos θ</extra>",
    }]  # fmt: skip
    for member in members:
        loss = check_loss(member["loss"]).name
        if not LOSS_SPECS[loss].has_margin:
            continue
        margin = member.get("margin")
        options = {"easy_margin": bool(member.get("easy_margin", False)),
                   "sphereface_lambda": float(member.get("sphereface_lambda", 0.0))}
        events = geometry.target_logit_features(loss, margin, **options)["events"]
        jumps = [e["theta_rad"] for e in events if e["kind"] == "jump"]
        theta, g = _curve_segments(loss, margin, options["easy_margin"], options["sphereface_lambda"], jumps, num)
        label = member.get("label") or member_label(loss, margin)
        data.append({
            "type": "scatter", "x": np.degrees(theta), "y": g, "mode": "lines", "name": label,
            "line": {"color": loss_color(loss), "width": 3}, "connectgaps": False,
            "hovertemplate": "θ %{x:.1f}°: %{y:.3f}<extra>" + label + "</extra>",
        })  # fmt: skip
    shapes, notes = _paper_range_marks(ARCFACE_FIG4B)
    layout = {
        "title": _title("Target logit against θ_y", "unscaled, in cosine units; grey: the θ range of ArcFace Fig. 4b"),
        "xaxis": {"title": {"text": "θ_y: angle to the own class weight (°)"}, "range": [0, 180],
                  "tickvals": list(range(0, 181, 20))},
        "yaxis": {"title": {"text": "target logit g(θ)"}},
        "shapes": shapes, "annotations": notes, "height": 440, "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
    }  # fmt: skip
    return _figure(data, layout, as_spec)


# --------------------------------------------------------------------------------------------------------
# ArcFace Fig. 5 and CosFace Fig. 2: binary decision margins


def _margin_of(loss: str, margins: Mapping[str, Margin | None] | None) -> Margin | None:
    if LOSS_SPECS[loss].margin_range is None:
        return None
    chosen = (margins or {}).get(loss)
    return LOSS_SPECS[loss].default_margin if chosen is None else chosen


def decision_margin_panels(margins: Mapping[str, Margin | None] | None = None, *, as_spec: bool = False):
    """ArcFace Fig. 5: softmax, SphereFace, CosFace and ArcFace in the (θ1, θ2) plane, two by two.

    margins: {loss: margin} for the chosen losses; a loss not given gets its default margin. Each panel is
    loss_views.decision_boundary_figure of that loss, moved onto the grid.
    """
    specs = [decision_boundary_figure(loss, _margin_of(loss, margins), as_spec=True) for loss in ARCFACE_FIG5_LOSSES]
    titles = [_panel_title(loss, _margin_of(loss, margins)) for loss in ARCFACE_FIG5_LOSSES]
    return _grid_of_panels(specs, titles, "Decision margins, two classes, angle plane",
                           "dashed: each class's boundary; grey: the decision margin", 2, 380, as_spec)


def _panel_title(loss: str, margin: Margin | None) -> str:
    return short_label(loss) if margin is None else f"{short_label(loss)}: {margin_text(loss, margin)}"


def _softmax_cosine_panel(weight_norms: tuple[float, float], num: int = 200) -> dict:
    """Softmax in the cosine plane with unequal weight norms: one shared boundary off the diagonal."""
    band = geometry.decision_margin_band("softmax", None, num, plane="cos", weight_norms=weight_norms)
    (dx, dy), (bx, by) = band["diagonal"], band["class1"]
    w1, w2 = weight_norms
    data = [
        {"type": "scatter", "x": dx, "y": dy, "mode": "lines", "name": "NormFace: cos θ1 = cos θ2",
         "line": {"color": NEUTRAL, "width": 1, "dash": "dot"}, "hoverinfo": "skip"},
        {"type": "scatter", "x": bx, "y": by, "mode": "lines", "connectgaps": False,
         "name": f"softmax boundary, ‖W1‖ = {w1:g}, ‖W2‖ = {w2:g}",
         "line": {"color": class_color(0), "width": 3, "dash": "dash"}},
    ]
    ticks = [-1, -0.5, 0, 0.5, 1]
    return {"data": data, "layout": {
        "xaxis": {"title": {"text": "cos θ1"}, "range": [-1, 1], "tickvals": ticks},
        "yaxis": {"title": {"text": "cos θ2"}, "range": [-1, 1], "tickvals": ticks},
        "annotations": [{"x": 0.55, "y": -0.7, "text": "class 1 wins", "showarrow": False},
                        {"x": -0.55, "y": 0.7, "text": "class 2 wins", "showarrow": False}],
    }}  # fmt: skip


def cosine_margin_panels(
    margins: Mapping[str, Margin | None] | None = None,
    *,
    weight_norms: tuple[float, float] = SOFTMAX_WEIGHT_NORMS,
    as_spec: bool = False,
):
    """CosFace Fig. 2: softmax (unequal weight norms), NormFace, A-Softmax and LMCL in the (cos θ1, cos θ2) plane."""
    specs, titles = [], []
    for loss in COSFACE_FIG2_LOSSES:
        margin = _margin_of(loss, margins)
        if not LOSS_SPECS[loss].normalised:  # softmax: its boundary depends on the weight norms
            specs.append(_softmax_cosine_panel(weight_norms))
        else:
            specs.append(decision_boundary_figure(loss, margin, plane="cos", as_spec=True))
        titles.append(_panel_title(loss, margin))
    return _grid_of_panels(specs, titles, "Decision margins, two classes, cosine plane",
                           "dashed: each class's boundary; grey: the decision margin", 2, 380, as_spec)


# --------------------------------------------------------------------------------------------------------
# ArcFace Figs. 6–7: pair angles


def pair_angle_histograms(
    panels: Sequence[tuple[str, Any, Any]],
    *,
    bin_deg: float = 3.0,
    cols: int = 4,
    title: str = "Angles between pairs of test features",
    as_spec: bool = False,
):
    """One panel per loss: the share of same-class pairs and of different-class pairs per angle bin (degrees).

    panels: (panel title, positive pair angles in DEGREES, negative pair angles in DEGREES). Each kind is
    normalised to sum to 100 % (there are far more negative pairs), so the two humps can be compared.
    """
    if not panels:
        raise ValueError("pair_angle_histograms needs at least one panel")
    edges = histogram_edges_deg(bin_deg)
    centres = ((edges[:-1] + edges[1:]) / 2).astype(np.float32)
    layout, rows = _grid_layout(len(panels), cols, [p[0] for p in panels], horizontal_spacing=0.04,
                                vertical_spacing=0.18)
    data, shapes = [], []
    for index, (_, positive, negative) in enumerate(panels):
        x, y = _axis_names(index)
        for name, values, color in (("same class (positive pairs)", positive, POSITIVE_COLOR),
                                    ("different classes (negative pairs)", negative, NEGATIVE_COLOR)):
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            values = np.clip(values[np.isfinite(values)], 0.0, 180.0)
            counts, _ = np.histogram(values, bins=edges)
            percent = 100.0 * counts / max(len(values), 1)
            data.append({
                "type": "bar", "x": centres, "y": percent.astype(np.float32), "width": float(bin_deg), "name": name,
                "legendgroup": name, "showlegend": index == 0, "xaxis": x, "yaxis": y,
                "marker": {"color": color, "opacity": 0.6, "line": {"width": 0}},
                "hovertemplate": "%{x:.1f}°: %{y:.1f}% of the pairs<extra>" + name + "</extra>",
            })  # fmt: skip
            if len(values):
                median = float(np.median(values))
                shapes.append({"type": "line", "xref": x, "yref": f"{y} domain", "x0": median, "x1": median,
                               "y0": 0, "y1": 1, "line": {"color": color, "width": 2, "dash": "dash"}})
        layout[_layout_key(x)].update(range=[0, 180], tickvals=list(range(0, 181, 45)),
                                      title={"text": "pair angle (°)"})
        layout[_layout_key(y)].update(rangemode="tozero",
                                      title={"text": "% of pairs" if index % cols == 0 else ""})
    layout.update(
        title=_title(title, "dashed: medians"),
        barmode="overlay", bargap=0, shapes=shapes, height=300 * rows + 120,
        legend=_TOP_RIGHT_LEGEND,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )  # fmt: skip
    return _figure(data, layout, as_spec)


# --------------------------------------------------------------------------------------------------------
# ArcFace Fig. 3, CosFace Fig. 4, SphereFace Fig. 5: small multiples of the hypersphere


def sphere_panels(panels: Sequence[Mapping[str, Any]], *, height: int = 360, as_spec: bool = False) -> list:
    """One hypersphere figure per panel: small, titled, points in SVG, no legend (in a narrow column a legend
    squeezes the circle to nothing; the class colours are those of every view, and hovering names the class).

    panels: mappings with "features", "labels", "class_weights", "loss", "margin", and optionally "title"
    (default `member_label`), "class_names", "subtitle". Drawn by sphere.hypersphere_figure.
    """
    figures = []
    for index, panel in enumerate(panels):
        spec = hypersphere_figure(
            panel["features"], panel["labels"], panel["class_weights"], class_names=panel.get("class_names"),
            loss=panel["loss"], margin=panel.get("margin"), max_points=400, jitter=0.04, as_spec=True,
        )  # fmt: skip
        # SVG, not WebGL, for the points: a few hundred draw fast either way, and a page of panels would otherwise
        # hold a WebGL context per circle (Chromium keeps about 16; past that it drops the oldest, and plotly throws).
        data = [{**t, "type": "scatter"} if t.get("type") == "scattergl" else t for t in spec["data"]]
        title = panel.get("title") or member_label(panel["loss"], panel.get("margin"))
        layout = {**spec["layout"], "title": _title(title, panel.get("subtitle")), "height": height,
                  "showlegend": False, "margin": {"l": 0, "r": 0, "t": 60, "b": 0},
                  "uirevision": f"{spec['layout'].get('uirevision', 'sphere')}-{index}"}
        figures.append(_figure(data, layout, as_spec))
    return figures
