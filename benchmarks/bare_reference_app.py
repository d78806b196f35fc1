"""The bare reference app of benchmarks/ui_latency.py: one slider and one plotly chart, nothing else.

It is the floor the Playground is measured against: what Streamlit itself costs for "move a slider,
see the chart redrawn" and "open the page, see the chart". The benchmark asks for the same number of
points as the Playground's view it compares with, so both send and draw the same amount of data.

Query parameters:
  view=line    (default) a line of n points whose shape follows the slider: s·cos(θ + m) over
               [0°, 180°] (like the Playground's target-logit view)
  view=sphere  a 3-D scatter of n points on the unit sphere, turned by the slider's value (like the
               Playground's hypersphere sample)
  n=<int>      number of points (default 722 for line, 500 for sphere)

Run: streamlit run benchmarks/bare_reference_app.py --server.fileWatcherType none
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

view = st.query_params.get("view", "line")
n = int(st.query_params.get("n", "722" if view == "line" else "500"))

m = st.slider("Margin m (rad)", 0.0, 1.57, 0.5, step=0.01, key="m")

if view == "sphere":
    rng = np.random.default_rng(0)
    points = rng.normal(size=(n, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    turn = np.array([[np.cos(m), -np.sin(m), 0.0], [np.sin(m), np.cos(m), 0.0], [0.0, 0.0, 1.0]])
    points = (points @ turn.T).astype(np.float32)
    figure = go.Figure(
        go.Scatter3d(
            x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers", marker={"size": 3.5, "color": "#4477AA"}
        )
    )
    figure.update_layout(height=520, scene={"aspectmode": "cube"}, uirevision="bare")
    st.plotly_chart(figure, key="chart")
else:
    theta = np.linspace(0.0, np.pi, n)
    x, y = np.degrees(theta).astype(np.float32), (16 * np.cos(theta + m)).astype(np.float32)
    figure = go.Figure(go.Scatter(x=x, y=y, mode="lines"))
    figure.update_layout(height=420, title={"text": f"m = {m:.2f}"})
    st.plotly_chart(figure, key="chart")
