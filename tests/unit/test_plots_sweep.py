"""app.plots.sweep: one figure holds the whole sweep, one frame and one slider step per margin."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from app.plots.sweep import sweep_figure
from toy_models.sweep import MarginResult, margin_grid


def _results(loss: str, dim: int, count: int = 8) -> list[MarginResult]:
    rng = np.random.default_rng(0)
    out = []
    for i, m in enumerate(margin_grid(loss, 10, dim, count=count)):
        weights = rng.normal(size=(10, dim)).astype(np.float32)
        weights /= np.linalg.norm(weights, axis=1, keepdims=True)
        labels = np.repeat(np.arange(10), 6)
        features = weights[labels] + 0.2 * rng.normal(size=(60, dim)).astype(np.float32)
        features /= np.linalg.norm(features, axis=1, keepdims=True)
        out.append(MarginResult(
            loss=loss, margin=m, epoch=5, step=100, features=features, labels=labels, class_weights=weights,
            centres=weights, test_accuracy=0.5 + 0.05 * i, intra_deg=20.0 - i, inter_deg=30.0 + 2 * i,
            w_ec_deg=1.0, w_inter_deg=40.0, min_center_angle_deg=25.0, class_names=tuple(map(str, range(10))),
        ))
    return out


@pytest.mark.parametrize(("loss", "dim", "count"), [("cosface", 3, 8), ("arcface", 2, 8), ("sphereface", 3, 11)])
def test_one_frame_and_one_slider_step_per_margin(loss, dim, count):
    results = _results(loss, dim, count)
    spec = sweep_figure(results, as_spec=True)
    frames = spec["frames"]
    assert len(frames) == count
    steps = spec["layout"]["sliders"][0]["steps"]
    assert len(steps) == count
    assert [s["args"][0] for s in steps] == [[f["name"]] for f in frames]  # each step animates to its frame
    assert all(s["method"] == "animate" for s in steps)  # plotly.js alone: no callback to the server
    assert len({f["name"] for f in frames}) == count
    # Each frame replaces the traces it names, and those exist in the figure.
    for frame in frames:
        assert len(frame["data"]) == len(frame["traces"])
        assert max(frame["traces"]) < len(spec["data"])
    go.Figure(sweep_figure(results).to_dict())  # plotly validates every property once


def test_frames_show_their_own_margin():
    results = _results("cosface", 3)
    spec = sweep_figure(results, as_spec=True)
    frames = spec["frames"]
    titles = [f["layout"]["title"]["text"] for f in frames]
    assert len(set(titles)) == len(frames)
    assert "m = 0.07" in titles[1] and "55.0 %" in titles[1]
    markers = [next(t for t in f["data"] if t.get("meta", {}).get("role") == "current") for f in frames]
    assert [t["x"][0] for t in markers] == pytest.approx([r.margin for r in results])
    caps = [[t["meta"]["half_arc_rad"] for t in f["data"] if t.get("meta", {}).get("role") == "cap"] for f in frames]
    assert all(len(c) == 10 for c in caps)
    assert caps[0] != caps[-1]  # the margin regions shrink as m grows
    points = [np.concatenate([np.asarray(t["x"]) for t in f["data"] if t.get("mode") == "markers"
                              and t.get("type") == "scatter3d"]) for f in frames]
    assert not np.allclose(points[0], points[1])  # each margin's own features
    # The figure opens on the start frame.
    start = sweep_figure(results, start=4, as_spec=True)
    assert start["layout"]["sliders"][0]["active"] == 4
    assert start["layout"]["title"]["text"] == titles[4]


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least one"):
        sweep_figure([])
    with pytest.raises(ValueError, match="start"):
        sweep_figure(_results("cosface", 3), start=8)


@pytest.mark.parametrize(("dim", "top", "bottom"), [(2, ("x2", "y2"), ("x3", "y3")), (3, ("x", "y"), ("x2", "y2"))])
def test_the_curves_sit_on_the_axes_the_view_leaves_free(dim, top, bottom):
    """On the circle the view owns the first cartesian axes, so the curves take the 2nd and 3rd; the sphere is a
    scene, so they take the 1st ("x", not "x1") and 2nd."""
    spec = sweep_figure(_results("arcface", dim), as_spec=True)
    axes = {t["name"]: (t["xaxis"], t["yaxis"]) for t in spec["data"] if t.get("name") in ("test accuracy", "Intra")}
    assert axes == {"test accuracy": top, "Intra": bottom}
