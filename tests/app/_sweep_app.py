"""A page with the Compare page's margin sweep section alone, for its AppTest and browser test (not the app).

?dim=2 or 3 (default 3); ?losses=softmax,cosface (default: the four the Compare page starts with); ?away=1
leaves the section out, as when the user is on another page.
"""

import streamlit as st

from app.compare.sweep import render
from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig

st.set_page_config(layout="wide")  # as streamlit_app.py sets it for the real pages
dim = int(st.query_params.get("dim", "3"))
losses = st.query_params.get("losses", ",".join(DEFAULT_COMPARE_LOSSES)).split(",")
if st.query_params.get("away") != "1":  # ?away=1: the user is on another page; the section is not drawn
    render([TrainConfig(loss=loss, embedding_dim=dim, num_threads=1) for loss in losses], key="sw")
