"""Compare: the losses trained side by side on identical batches, and what each margin buys.

A thin page: the live comparison (`app.compare.CompareUnit`, controls in the sidebar), then one tab per
question asked of the same member configs: the papers' figures, open-set verification, the margin sweep, and
the exports.
"""

import streamlit as st

from app.compare import papers as papers_section
from app.compare import sweep as sweep_section
from app.compare import verification as verification_section
from app.compare.unit import CompareUnit
from app.components.live_plotly import preload_plotly_js

preload_plotly_js()
st.title("Margin Lab · Compare", anchor=False)
unit = CompareUnit("cmp")
result = unit.render()
if result is not None:
    papers_tab, verify_tab, sweep_tab, export_tab = st.tabs(
        ["The papers' figures", "Open-set verification", "Margin sweep", "Export"]
    )
    with papers_tab:
        papers_section.render(result.configs, key="cmp-papers")
    with verify_tab:
        verification_section.render(result.configs, key="cmp-verify")
    with sweep_tab:
        sweep_section.render(result.configs, key="cmp-sweep")
    with export_tab:
        unit.export()
