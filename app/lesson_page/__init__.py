"""The Lessons page: the list, one lesson beside its live views, and a student's progress (Streamlit).

The lesson engine it draws (files, presets, checks, run records) is `app.lessons`, which knows nothing of
Streamlit; the hand-in goes through `app.course`.
"""
