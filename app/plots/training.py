"""What training does over the epochs: loss and accuracy curves, and θ_y from start to end (ArcFace Fig. 4a)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .style import NEUTRAL, OTHER_COLOR, TARGET_COLOR, _figure, _title


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
