"""Compare: the losses trained side by side on identical batches, and what each margin buys.

A thin page: the live comparison (`app.compare.CompareUnit`) with its controls in the sidebar.
"""

import streamlit as st

from app.compare import CompareUnit
from app.components.live_plotly import preload_plotly_js

preload_plotly_js()
st.title("Margin Lab · Compare", anchor=False)
CompareUnit("cmp").render()
