"""A page with two live units, for the AppTests of app.live (not part of the app).

Unit "a": a lesson-like preset (CosFace, m = 0.2, 2-D, the toy identities), the margin locked, the
dataset hidden, bound to the URL. Unit "b": the defaults, not bound to the URL, controls in the page.
"""

import streamlit as st

from app.live import LiveUnit

left, right = st.columns(2)
LiveUnit(
    "a",
    preset={"loss": "cosface", "m": "0.2", "dim": "2", "dataset": "toy"},
    locked={"margin"},
    hidden={"dataset"},
    fixed_by="This lesson",
    controls=left.container(),
).render()
LiveUnit("b", use_url=False, controls=right.container()).render()
