"""Margin Lab: entry point. Navigation over the pages in app/pages, nothing else.

Run:  streamlit run streamlit_app.py
      streamlit run streamlit_app.py -- --course path/to/course.toml     (serve a course: docs/courses.md)
"""

import argparse
from pathlib import Path

import streamlit as st
import torch

from app import hosted
from app.course import serving
from app.pages import navigation_pages
from app.startup import freeze_startup_objects

# Many sessions may share one machine: each trains a tiny model, so one thread each is plenty
# (and avoids oversubscribing the cores when several tabs are playing at once).
torch.set_num_threads(1)

# A local icon: Streamlit fetches material-icon favicons from Google's font CDN, which an offline
# classroom cannot reach (and the browser console fills with errors).
ICON = Path(__file__).parent / "app" / "assets" / "icon.png"

# Arguments after `--` on the streamlit command line reach the script; unknown ones are left alone.
parser = argparse.ArgumentParser(add_help=False)
parser.add_argument("--course", default=None)
serving.set_course_file(parser.parse_known_args()[0].course)

st.set_page_config(page_title="Margin Lab", page_icon=str(ICON), layout="wide", initial_sidebar_state=340)
try:  # a hosted server's config (app/hosted.py): a bad value is one sentence, not a traceback
    hosted.settings()
except hosted.HostedConfigError as error:
    st.error(str(error), icon=":material/settings_alert:")
    st.stop()
if hosted.settings().hosted and not st.session_state.get("server-checked"):
    # A session's first page on a hosted server: a link naming another server process means that process
    # died and the proxy moved this browser here (its live model is gone; submissions live in the database).
    st.session_state["server-checked"] = True
    if hosted.moved_here(st.query_params.get(hosted.SERVER_PARAM)):
        st.warning(hosted.MOVED_SENTENCE, icon=":material/swap_horiz:")
st.navigation(navigation_pages()).run()
if hosted.settings().hosted and st.query_params.get(hosted.SERVER_PARAM) != hosted.server_id():
    st.query_params[hosted.SERVER_PARAM] = hosted.server_id()  # after the page: pages rewrite their links
freeze_startup_objects()
