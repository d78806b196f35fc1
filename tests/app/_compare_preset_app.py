"""A page with a lesson-like Compare unit, for tests/app/test_compare_preset.py (not part of the app).

The unit "les": CosFace and ArcFace on the toy identities in 2-D, seed 3, learning rate 0.05; ArcFace m = 0.2,
CosFace m = 0.1 and s = 20. The member selection, the margins and the dimension are locked; the dataset, the
backbone and the scale hidden. Its controls are in the page. The unit never reads the URL: a test opens this
page with URL parameters to prove it. After the unit, its `member_runs()` go into session state for the tests.

?case=hidden-losses: the same preset with only the member selection hidden (nothing locked).
"""

import streamlit as st

from app.compare.unit import CompareUnit

PRESET = {
    "dim": 2,
    "seed": 3,
    "lr": 0.05,
    "dataset": "toy",
    "losses": ["arcface", "cosface"],
    "members": {"arcface": {"m": 0.2}, "cosface": {"m": 0.1, "s": 20}},
}
LOCKED = ("losses", "margin", "dim")
HIDDEN = ("dataset", "backbone", "scale")

if st.query_params.get("case") == "hidden-losses":  # the harness reads the URL; the unit does not
    LOCKED, HIDDEN = (), ("losses",)
controls, main = st.columns([1, 3])
unit = CompareUnit("les", preset=PRESET, locked=LOCKED, hidden=HIDDEN, fixed_by="This lesson",
                   controls=controls.container())  # fmt: skip
with main:
    unit.render()
st.session_state["harness-members"] = unit.member_runs()
