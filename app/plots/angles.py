"""Histograms of the angles from each feature to its own and to the nearest other class weight."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .style import OTHER_COLOR, TARGET_COLOR, _figure, _title

HISTOGRAM_BIN_DEG = 3.0


def _finite_degrees(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return array[np.isfinite(array)]


def histogram_edges_deg(bin_deg: float = HISTOGRAM_BIN_DEG) -> np.ndarray:
    """Fixed bin edges over [0°, 180°], so the axes never jump between ticks."""
    return np.linspace(0.0, 180.0, round(180.0 / bin_deg) + 1)


def angle_histograms(
    target_angle_deg, nearest_other_angle_deg, *, bin_deg: float = HISTOGRAM_BIN_DEG, as_spec: bool = False
) -> go.Figure:
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
    return _figure(data, layout, as_spec)
