"""The Playground: pick a loss, move its margin and scale, press Play, watch the features move.

A thin page: one live unit (`app.live`), bound to the address bar, with its controls in the sidebar.
"""

import streamlit as st

from app.components.live_plotly import preload_plotly_js
from app.live import LiveUnit

preload_plotly_js()  # plotly.js (4.7 MB) starts loading while the server builds the first figures
st.title("Margin Lab · Playground", anchor=False)
LiveUnit("pg").render()
