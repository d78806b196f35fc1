"""Harness: one live unit with its views placed beside prose, as a lesson lays them out."""

import streamlit as st

from app.live import LiveUnit

st.set_page_config(layout="wide")
boxes = {}
for name, text in (("sphere", "Prose about the sphere. " * 20), ("target_logit", "Prose about the curve. " * 12),
                   ("angle_statistics", "Prose about the statistics. " * 8)):
    left, right = st.columns([5, 6], gap="large")
    left.markdown(text)
    with right:
        st.markdown(f"##### {name}")
        boxes[name] = st.container()
with st.sidebar:
    st.header("Your run")
    bar = st.container()
seen = st.session_state.setdefault("details-calls", [])
LiveUnit("placed", preset={"loss": "arcface", "m": "0.3"}, locked={"loss"}, hidden={"backbone"}, use_url=False,
         views=boxes, run_bar=bar, on_details=lambda run: seen.append(run.trainer.step)).render()
