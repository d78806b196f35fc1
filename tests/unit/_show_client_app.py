"""A one-line Streamlit app for tests/unit/test_course_access.py: it shows the wrong-guess throttle key of its
session (app.course.serving.client_key), as the instructor page and the class code form compute it."""

import streamlit as st

from app.course import serving

st.markdown("client=" + serving.client_key())
