"""Margin Lab: entry point. Navigation over the pages in app/pages, nothing else.

Run:  streamlit run streamlit_app.py
"""

import streamlit as st
import torch

from app.pages import navigation_pages

# Many sessions may share one machine: each trains a tiny model, so one thread each is plenty
# (and avoids oversubscribing the cores when several tabs are playing at once).
torch.set_num_threads(1)

st.set_page_config(page_title="Margin Lab", page_icon=":material/radar:", layout="wide", initial_sidebar_state=340)
st.navigation(navigation_pages()).run()
