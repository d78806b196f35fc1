"""A finished margin sweep in one figure that the browser scrubs on its own (CosFace Fig. 5 on our data).

Left: the features on the circle or sphere at one margin (drawn by `sphere.hypersphere_figure`). Right:
test accuracy, and Intra and Inter (ArcFace Table 3), against the margin m, with a marker at the margin
shown on the left. Every margin of the grid is a plotly frame, and the slider under the figure animates
to it: scrubbing runs in plotly.js alone, with no request to the server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from toy_models import geometry
from toy_models.heads import LOSS_SPECS, check_loss

from .sphere import hypersphere_figure
from .style import NEUTRAL, OTHER_COLOR, TARGET_COLOR, _figure, _title

ACCURACY_COLOR = "#117733"  # the palette's green: apart from the Intra/Inter pair
_SPHERE_RIGHT = 0.55  # the sphere's share of the width
_PANELS_LEFT = 0.66


def _margin_axis_title(loss: str) -> str:
    unit = LOSS_SPECS[loss].margin_unit
    return {"rad": "margin m (rad)", "cos": "margin m (cosine units)"}.get(unit, "margin m (multiplies θ)")


def _frame_names(margins: Sequence[float]) -> list[str]:
    """The slider's labels: as many decimals as the grid's step needs (at least 2): 0.07, 0.15, 0.22, …"""
    steps = np.diff(np.sort(np.asarray(margins, dtype=np.float64)))
    smallest = float(steps[steps > 0].min()) if np.any(steps > 0) else 1.0
    decimals = max(2, math.ceil(math.log10(5.0 / smallest)))  # neighbours differ by ≥ 5 in the last digit
    names = [f"{m:.{decimals}f}" for m in margins]
    if len(set(names)) < len(names):  # margins closer than 3 digits tell apart: number them
        names = [f"{i + 1}: {name}" for i, name in enumerate(names)]
    return names


def _heading(loss: str, result, label: str) -> str:
    """The title at one margin, with m written as the slider's label writes it."""
    unit = LOSS_SPECS[loss].margin_unit
    margin = {"rad": f"m = {label} rad ({math.degrees(result.margin):.1f}°)", "cos": f"m = {label} (cosine units)"}
    return (f"{LOSS_SPECS[loss].label}, {margin.get(unit, f'm = {label} (multiplies θ)')}: test accuracy "
            f"{100 * result.test_accuracy:.1f} %, Intra {result.intra_deg:.1f}°, Inter {result.inter_deg:.1f}°")


def sweep_figure(results: Sequence, *, max_points: int = 600, start: int = 0, as_spec: bool = False) -> go.Figure:
    """One figure of a whole sweep, one frame per margin, scrubbed by its own slider.

    results: the sweep's MarginResults (toy_models.sweep) in grid order, all of one loss and dimension; each
    needs margin, features, labels, class_weights, class_names, test_accuracy, intra_deg, inter_deg.
    start: the index of the margin shown first. Frame i is named after margins[i] (`layout.sliders[0].steps[i]`
    animates to it) and replaces the sphere's traces and the two "current" markers; the curves stay.
    """
    if not results:
        raise ValueError("a sweep figure needs at least one margin's results")
    loss = results[0].loss
    check_loss(loss)
    dim = results[0].class_weights.shape[1]
    if any(r.loss != loss or r.class_weights.shape[1] != dim for r in results):
        raise ValueError("every result of a sweep figure must have the same loss and dimension")
    if not 0 <= start < len(results):
        raise ValueError(f"start must index one of the {len(results)} margins, got {start}")

    spheres = [
        hypersphere_figure(r.features, r.labels, r.class_weights, class_names=r.class_names, loss=loss,
                           margin=r.margin, max_points=max_points, as_spec=True)
        for r in results
    ]
    sphere_traces = [s["data"] for s in spheres]
    if len({len(t) for t in sphere_traces}) != 1:  # pragma: no cover - hypersphere_figure keeps its trace list
        raise ValueError("the sphere's traces differ between margins, so its frames cannot replace them")
    n_sphere = len(sphere_traces[0])

    margins = np.array([r.margin for r in results], dtype=np.float64)
    accuracy = np.array([100.0 * r.test_accuracy for r in results])
    intra = np.array([r.intra_deg for r in results])
    inter = np.array([r.inter_deg for r in results])
    first = 2 if dim == 2 else 1  # the 2-D circle owns the first cartesian axes
    top, bottom = (f"{first}" if first > 1 else ""), f"{first + 1}"
    xt, yt, xb, yb = f"x{top}", f"y{top}", f"x{bottom}", f"y{bottom}"
    curve = {"type": "scatter", "mode": "lines+markers", "legend": "legend2", "marker": {"size": 7}}
    curves = [
        {**curve, "x": margins, "y": accuracy, "xaxis": xt, "yaxis": yt, "name": "test accuracy", "showlegend": False,
         "line": {"color": ACCURACY_COLOR, "width": 2},
         "hovertemplate": "m = %{x:.3g}<br>test accuracy %{y:.1f} %<extra></extra>"},
        {**curve, "x": margins, "y": intra, "xaxis": xb, "yaxis": yb, "name": "Intra",
         "line": {"color": TARGET_COLOR, "width": 2},
         "hovertemplate": "m = %{x:.3g}<br>Intra %{y:.1f}°<extra></extra>"},
        {**curve, "x": margins, "y": inter, "xaxis": xb, "yaxis": yb, "name": "Inter",
         "line": {"color": OTHER_COLOR, "width": 2},
         "hovertemplate": "m = %{x:.3g}<br>Inter %{y:.1f}°<extra></extra>"},
    ]
    num_classes = results[0].class_weights.shape[0]
    if num_classes >= 2:
        tammes_deg = math.degrees(geometry.tammes_angle(num_classes, dim))
        curves.append({
            "type": "scatter", "mode": "lines", "x": [margins[0], margins[-1]], "y": [tammes_deg, tammes_deg],
            "xaxis": xb, "yaxis": yb, "legend": "legend2", "name": f"Tammes bound ({tammes_deg:.1f}°)",
            "line": {"color": NEUTRAL, "width": 1, "dash": "dash"}, "hoverinfo": "skip",
        })

    def markers(i: int) -> list[dict]:
        ring = {"size": 15, "symbol": "circle-open", "line": {"width": 3}}
        return [
            {"type": "scatter", "mode": "markers", "x": [margins[i]], "y": [accuracy[i]], "xaxis": xt,
             "yaxis": yt, "showlegend": False, "name": "current m", "meta": {"role": "current", "index": i},
             "marker": {**ring, "color": ACCURACY_COLOR}, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "markers", "x": [margins[i], margins[i]], "y": [intra[i], inter[i]],
             "xaxis": xb, "yaxis": yb, "showlegend": False, "name": "current m",
             "meta": {"role": "current", "index": i},
             "marker": {**ring, "color": [TARGET_COLOR, OTHER_COLOR]}, "hoverinfo": "skip"},
        ]

    names = _frame_names(margins)
    moving = [*range(n_sphere), n_sphere + len(curves), n_sphere + len(curves) + 1]
    frames = [
        {"name": names[i], "data": [*sphere_traces[i], *markers(i)], "traces": moving,
         "layout": {"title": _title(_heading(loss, r, names[i]))}}
        for i, r in enumerate(results)
    ]
    data = [*sphere_traces[start], *curves, *markers(start)]

    layout = dict(spheres[start]["layout"])
    panel_x = {"domain": [_PANELS_LEFT, 1.0], "showgrid": True, "zeroline": False}
    span = margins[-1] - margins[0] if len(margins) > 1 else 1.0
    panel_x["range"] = [margins[0] - 0.05 * span, margins[-1] + 0.05 * span]
    layout.update({
        "title": _title(_heading(loss, results[start], names[start])),
        f"xaxis{top}": {**panel_x, "anchor": yt, "showticklabels": False},
        f"yaxis{top}": {"domain": [0.62, 0.98], "anchor": xt, "title": {"text": "test accuracy (%)"},
                        "zeroline": False},
        f"xaxis{bottom}": {**panel_x, "anchor": yb, "matches": xt, "title": {"text": _margin_axis_title(loss)}},
        f"yaxis{bottom}": {"domain": [0.16, 0.5], "anchor": xb, "title": {"text": "angle (°)"},
                           "zeroline": False},
        "legend": {**layout.get("legend", {}), "x": -0.02, "y": 1.0, "xanchor": "right"},
        "legend2": {"x": _PANELS_LEFT, "y": 0.515, "xanchor": "left", "yanchor": "bottom", "orientation": "h",
                    "bgcolor": "rgba(0,0,0,0)", "font": {"size": 11}},
        "height": 660,
        "margin": {"l": 110, "r": 10, "t": 70, "b": 20},
        "sliders": [{
            "active": start, "x": 0.0, "len": 1.0, "y": 0.0, "yanchor": "top", "pad": {"t": 10, "b": 0},
            "currentvalue": {"prefix": f"{LOSS_SPECS[loss].label} margin m = ", "font": {"size": 13}},
            "steps": [{"label": name, "method": "animate",
                       "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                         "transition": {"duration": 0}}]} for name in names],
        }],
    })
    if dim == 2:
        sphere_axis = {"domain": [0.0, _SPHERE_RIGHT]}
        layout["xaxis"] = {**layout["xaxis"], **sphere_axis}
        layout["yaxis"] = {**layout["yaxis"], "domain": [0.1, 1.0]}
    else:
        layout["scene"] = {**layout["scene"], "domain": {"x": [0.0, _SPHERE_RIGHT], "y": [0.1, 1.0]}}
    spec = _figure(data, layout, as_spec=True)
    spec["frames"] = frames
    if as_spec:
        return spec
    try:
        return go.Figure(data=spec["data"], layout=spec["layout"], frames=frames, _validate=False)
    except TypeError:  # pragma: no cover - a plotly without the private switch
        return go.Figure(data=spec["data"], layout=spec["layout"], frames=frames)
