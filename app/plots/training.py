"""What training does over the epochs: the loss and the train and test accuracy."""

from __future__ import annotations

from collections.abc import Mapping
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


def training_curves(history: Any, *, as_spec: bool = False) -> go.Figure:
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
    return _figure(data, layout, as_spec)
