"""Demo app for the live_plotly component (used by tests/e2e/test_live_plotly.py and for screenshots).

Query parameters:
  mode=live          (default) a 3-D scatter redrawn by live_plotly every 0.3 s in a fragment
  mode=plotly_chart  the same figure through plain st.plotly_chart (the control: camera resets)
  mode=gallery       every figure builder of app/plots, for looking at them in a browser
  interval=<s>       the fragment's run_every (default 0.3)

Run: streamlit run tests/e2e/_live_plotly_demo_app.py --server.fileWatcherType none
"""

import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.components.live_plotly import live_plotly  # noqa: E402

st.set_page_config(page_title="live_plotly demo", layout="wide")
mode = st.query_params.get("mode", "live")
interval = float(st.query_params.get("interval", "0.3"))


def moving_scatter(tick: int) -> go.Figure:
    """200 points on the unit sphere, turned 7° about z per tick; the title carries the tick."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    angle = np.deg2rad(7.0 * tick)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    points = (points @ rot.T).astype(np.float32)
    fig = go.Figure(
        go.Scatter3d(
            x=points[:, 0],
            y=points[:, 1],
            z=points[:, 2],
            mode="markers",
            marker={"size": 3, "color": "#4477AA"},
            name="points",
        )
    )
    fig.update_layout(
        title={"text": f"tick {tick}"},
        uirevision="demo",
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={
            "aspectmode": "cube",
            "xaxis": {"range": [-1.1, 1.1]},
            "yaxis": {"range": [-1.1, 1.1]},
            "zaxis": {"range": [-1.1, 1.1]},
        },
    )
    return fig


if mode in ("live", "plotly_chart"):
    st.title("live_plotly demo" if mode == "live" else "st.plotly_chart control")
    if "tick" not in st.session_state:
        st.session_state.tick = 0

    @st.fragment(run_every=interval)
    def ticking() -> None:
        st.session_state.tick += 1
        tick = st.session_state.tick
        st.caption(f"tick {tick}")
        fig = moving_scatter(tick)
        if mode == "live":
            live_plotly(fig, key="demo3d", height=480)
        else:
            st.plotly_chart(fig, key="demo3d", height=480)

    ticking()

elif mode == "gallery":
    from app import plots

    def gallery() -> list[tuple[str, go.Figure, bool]]:
        """(name, figure, live) for every builder of app/plots, on synthetic but plausible data."""
        from toy_models import geometry

        rng = np.random.default_rng(3)
        names = [str(k) for k in range(10)]
        # 2-D: weights unevenly spread (36° apart ± 10°), features ~6° around their weight.
        w_angles = np.radians(36.0 * np.arange(10) + rng.uniform(-10, 10, 10))
        w2 = np.stack([np.cos(w_angles), np.sin(w_angles)], axis=1)
        labels = np.repeat(np.arange(10), 60)
        f_angles = w_angles[labels] + np.radians(rng.normal(0, 6, len(labels)))
        f2 = np.stack([np.cos(f_angles), np.sin(f_angles)], axis=1)
        # 3-D: the Tammes configuration, slightly disturbed; features scattered around their weight.
        w3 = geometry.tammes_points(10, 3) + rng.normal(0, 0.08, (10, 3))
        w3 /= np.linalg.norm(w3, axis=1, keepdims=True)
        f3 = w3[labels] + rng.normal(0, 0.12, (len(labels), 3))
        target = np.degrees(np.arccos(np.clip(np.sum(f2 * w2[labels], axis=1), -1, 1)))
        cos_all = f2 @ w2.T
        cos_all[np.arange(len(labels)), labels] = -np.inf
        nearest = np.degrees(np.arccos(np.clip(cos_all.max(axis=1), -1, 1)))
        epochs = list(range(0, 31))
        history = {
            "epoch": epochs,
            "loss": [12.0 * np.exp(-e / 6) + 0.4 for e in epochs],
            "train_accuracy": [1 - 0.9 * np.exp(-e / 4) for e in epochs],
            "test_accuracy": [0.97 - 0.87 * np.exp(-e / 4) for e in epochs],
        }
        return [
            ("circle-arcface", plots.hypersphere_figure(f2, labels, w2, class_names=names, loss="arcface", margin=0.5),
             False),
            ("circle-sphereface", plots.hypersphere_figure(f2, labels, w2, class_names=names, loss="sphereface",
                                                           margin=1.5), False),
            ("circle-normface", plots.hypersphere_figure(f2, labels, w2, class_names=names, loss="normface",
                                                         margin=None), False),
            ("circle-softmax", plots.hypersphere_figure(f2, labels, w2, class_names=names, loss="softmax",
                                                        margin=None), False),
            ("sphere-arcface", plots.hypersphere_figure(f3, labels, w3, class_names=names, loss="arcface", margin=0.3),
             True),
            ("sphere-cosface", plots.hypersphere_figure(f3, labels, w3, class_names=names, loss="cosface",
                                                        margin=0.1), True),
            ("angles", plots.angle_histograms(target, nearest), False),
            ("curves", plots.training_curves(history), False),
            ("logit-arcface", plots.target_logit_figure("arcface", 0.5), False),
            ("logit-arcface-easy", plots.target_logit_figure("arcface", 0.5, easy_margin=True), False),
            ("logit-combined", plots.target_logit_figure("combined", (1.35, 0.3, 0.2)), False),
            ("logit-sphereface", plots.target_logit_figure("sphereface", 4.0, scale=16.0), False),
            ("boundary-arcface", plots.decision_boundary_figure("arcface", 0.5), False),
            ("boundary-sphereface", plots.decision_boundary_figure("sphereface", 1.5), False),
            ("boundary-cosface-cos", plots.decision_boundary_figure("cosface", 0.35, plane="cos"), False),
            ("boundary-combined", plots.decision_boundary_figure("combined", (1.35, 0.3, 0.2)), False),
            ("boundary-softmax", plots.decision_boundary_figure("softmax"), False),
        ]  # fmt: skip

    st.title("Figure gallery")
    only = st.query_params.get("fig")
    columns = st.columns(2)
    shown = [item for item in gallery() if only in (None, item[0])]
    for i, (name, fig, live) in enumerate(shown):
        with columns[i % 2], st.container(key=f"fig-{name}"):
            if live:
                live_plotly(fig, key=f"gallery-{name}", height=int(fig.layout.height or 520))
            else:
                st.plotly_chart(fig, key=f"gallery-{name}")
else:
    st.error(f"unknown mode {mode!r}")
