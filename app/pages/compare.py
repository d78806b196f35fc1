"""Compare: the losses trained side by side on identical batches, and what each margin buys.

A thin page: the live comparison (`app.compare.CompareUnit`, controls in the sidebar), then one tab per
question asked of the same member configs: the margin sweep.
"""

import streamlit as st

from app.compare import CompareUnit
from app.compare import sweep as sweep_section
from app.components.live_plotly import preload_plotly_js

preload_plotly_js()
st.title("Margin Lab · Compare", anchor=False)
result = CompareUnit("cmp").render()
if result is not None:
    sweep_tab, = st.tabs(["Margin sweep"])
    with sweep_tab:
        sweep_section.render(result.configs, key="cmp-sweep")
