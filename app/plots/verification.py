"""Open-set verification: ROC curves of pair verification on held-out classes, and the numbers behind them.

A pair of features is accepted as "same class" when its cosine exceeds a threshold; sweeping the threshold
gives the ROC curve (scikit-learn's `roc_curve`), its area (`auc`) and the TAR at a fixed FAR
(`toy_models.metrics.tar_at_far`, the same function the command line and `verification_metrics` use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from toy_models.metrics import FAR_TARGETS, tar_at_far

from .papers import loss_color
from .style import NEUTRAL, _figure, _title

FAR_AXIS_MIN = 1e-4  # the left end of the log FAR axis


def _scores_and_truth(positive, negative) -> tuple[np.ndarray, np.ndarray]:
    positive = np.asarray(positive, dtype=np.float64).reshape(-1)
    negative = np.asarray(negative, dtype=np.float64).reshape(-1)
    scores = np.concatenate([positive, negative])
    is_same = np.concatenate([np.ones(len(positive), bool), np.zeros(len(negative), bool)])
    return scores, is_same


def verification_rows(members: Sequence[tuple[str, str, Any, Any]]) -> list[dict[str, Any]]:
    """One row per member: its ROC AUC, TAR at each FAR of FAR_TARGETS, and the pair counts.

    members: (label, loss, positive pair cosines, negative pair cosines). A value the pairs cannot give (no
    pairs of a kind; too few negatives to resolve a FAR) is NaN and "notes" says why.
    """
    from sklearn.metrics import auc, roc_curve

    rows = []
    for label, loss, positive, negative in members:
        scores, is_same = _scores_and_truth(positive, negative)
        row: dict[str, Any] = {"label": label, "loss": loss, "notes": {}}
        if is_same.any() and (~is_same).any():
            fpr, tpr, _ = roc_curve(is_same, scores)
            row["auc"] = float(auc(fpr, tpr))
        else:
            row["auc"] = float("nan")
            row["notes"]["auc"] = "needs both same-class and different-class pairs"
        for key, far in FAR_TARGETS.items():
            row[key], note = tar_at_far(scores, is_same, far)
            if note:
                row["notes"][key] = note
        row["positive_pairs"] = int(is_same.sum())
        row["negative_pairs"] = int((~is_same).sum())
        rows.append(row)
    return rows


def roc_figure(
    members: Sequence[tuple[str, str, Any, Any]], *, log_far: bool = True, as_spec: bool = False
) -> go.Figure | dict:
    """ROC curves (TAR against FAR) of every member, with TAR at FAR = 1e-2 and 1e-3 marked.

    log_far: FAR on a log axis from 1e-4 (where face recognition reads its operating points); else linear, where
    the area under each curve is its AUC.
    members: (label, loss, positive pair cosines, negative pair cosines), as for `verification_rows`, whose
    AUC the legend shows. The dotted grey curve is chance (TAR = FAR).
    """
    from sklearn.metrics import roc_curve

    rows = verification_rows(members)
    far_grid = np.logspace(np.log10(FAR_AXIS_MIN), 0, 200) if log_far else np.array([0.0, 1.0])
    data: list[dict] = [{
        "type": "scatter", "x": far_grid, "y": far_grid, "mode": "lines", "name": "chance: TAR = FAR",
        "line": {"color": NEUTRAL, "width": 1, "dash": "dot"}, "hoverinfo": "skip",
    }]  # fmt: skip
    for (label, loss, positive, negative), row in zip(members, rows, strict=True):
        scores, is_same = _scores_and_truth(positive, negative)
        if not (is_same.any() and (~is_same).any()):
            continue
        fpr, tpr, _ = roc_curve(is_same, scores)
        keep = fpr >= FAR_AXIS_MIN / 2 if log_far else np.ones(len(fpr), bool)  # FAR = 0 has no place on a log axis
        color = loss_color(loss)
        name = f"{label}: AUC {row['auc']:.3f}"
        data.append({
            "type": "scatter", "x": fpr[keep], "y": tpr[keep], "mode": "lines", "name": name, "legendgroup": label,
            "line": {"color": color, "width": 2.5, "shape": "hv"},
            "hovertemplate": "FAR %{x:.2g}: TAR %{y:.3f}<extra>" + label + "</extra>",
        })  # fmt: skip
        points = [(far, row[key]) for key, far in FAR_TARGETS.items() if np.isfinite(row[key])]
        if points:
            data.append({
                "type": "scatter", "x": [p[0] for p in points], "y": [p[1] for p in points], "mode": "markers",
                "name": f"{label}: TAR at FAR 1e-2, 1e-3", "legendgroup": label, "showlegend": False,
                "marker": {"color": color, "size": 10, "line": {"color": "white", "width": 1}},
                "hovertemplate": "TAR %{y:.3f} at FAR ≤ %{x:g}<extra>" + label + "</extra>",
            })  # fmt: skip
    shapes = [
        {"type": "line", "xref": "x", "yref": "paper", "x0": far, "x1": far, "y0": 0, "y1": 1,
         "line": {"color": NEUTRAL, "width": 1, "dash": "dash"}}
        for far in FAR_TARGETS.values()
    ]  # fmt: skip
    notes = [
        {"x": np.log10(far), "y": 1.0, "xref": "x", "yref": "paper", "yanchor": "bottom", "showarrow": False,
         "text": f"FAR {far:g}", "font": {"size": 11}}
        for far in FAR_TARGETS.values()
    ]  # fmt: skip
    layout = {
        "title": _title("ROC of pair verification on the held-out classes", "dots: TAR at FAR = 1e-2 and 1e-3"),
        "xaxis": {"type": "log", "range": [np.log10(FAR_AXIS_MIN), 0], "tickvals": [1e-4, 1e-3, 1e-2, 1e-1, 1],
                  "ticktext": ["1e-4", "1e-3", "1e-2", "0.1", "1"],
                  "title": {"text": "FAR: different-class pairs accepted (log scale)"}}
        if log_far else {"range": [0, 1], "title": {"text": "FAR: different-class pairs accepted"}},
        "yaxis": {"range": [0, 1.02], "title": {"text": "TAR: same-class pairs accepted"}},
        # On a linear axis FAR 1e-2 and 1e-3 both sit at the left edge: their lines would only hide the axis.
        "shapes": shapes if log_far else [], "annotations": notes if log_far else [],
        "height": 480, "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
    }  # fmt: skip
    return _figure(data, layout, as_spec)
