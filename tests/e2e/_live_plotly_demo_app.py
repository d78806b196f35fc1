"""Demo app for the live_plotly component (used by tests/e2e/test_live_plotly.py and for screenshots).

Query parameters:
  mode=live          (default) a 3-D scatter redrawn by live_plotly every 0.3 s in a fragment
  mode=plotly_chart  the same figure through plain st.plotly_chart (the control: camera resets)
  mode=gallery       every figure builder of app/plots.py, for looking at them in a browser
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

    st.title("Figure gallery")
    for name, fig, live in plots.demo_figures():
        st.subheader(name)
        if live:
            live_plotly(fig, key=f"gallery-{name}", height=int(fig.layout.height or 520))
        else:
            st.plotly_chart(fig, key=f"gallery-{name}")
else:
    st.error(f"unknown mode {mode!r}")
