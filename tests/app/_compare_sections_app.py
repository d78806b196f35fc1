"""A page with the Compare page's papers and verification sections, for their tests (not part of the app).

URL parameters: section = papers | verification | both (default both); losses = comma-separated loss names
(default: softmax, SphereFace, CosFace, ArcFace; "none": nothing selected); dim = 2 or 3 (default 3).
"""

import dataclasses

import streamlit as st

from app.compare import papers, verification
from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig

st.set_page_config(layout="wide")
params = st.query_params
section = params.get("section", "both")
names = params.get("losses", ",".join(DEFAULT_COMPARE_LOSSES))
losses = [] if names == "none" else [name for name in names.split(",") if name]
# One torch thread, as the app trains (streamlit_app.py, app/live/unit.py): many sessions share the machine.
base = TrainConfig(embedding_dim=int(params.get("dim", "3")), seed=0, num_threads=1)
# What the page hands over: one config per chosen loss, each with its loss's default margin and scale.
configs = [dataclasses.replace(base, loss=loss) for loss in losses]

if section in ("papers", "both"):
    st.header("The papers' figures", anchor=False)
    papers.render(configs, key="cmp-papers")
if section in ("verification", "both"):
    st.header("Open-set verification", anchor=False)
    verification.render(configs, key="cmp-verify")
