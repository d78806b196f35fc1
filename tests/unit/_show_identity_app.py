"""A one-line Streamlit app for tests/unit/test_hosted.py: it shows the browser identity of its session."""

import streamlit as st

from app import hosted

st.markdown("identity=" + hosted.browser_identity(st.context.cookies, fallback="none"))
