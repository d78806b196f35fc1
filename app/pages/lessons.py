"""Lessons: the list, or one lesson when the link names it (?lesson=<id>).

A thin page: lesson files are read and validated by `app.lessons.format` (a bad file is named in one
sentence and left out; the others still work), and drawn by `app.lessons.page`.
"""

import streamlit as st

from app.components.live_plotly import preload_plotly_js
from app.lessons import page
from app.live.views import md

lessons, problems = page.load_all()
wanted = st.query_params.get("lesson")
lesson = next((lesson for lesson in lessons if lesson.id == wanted), None)
if lesson is not None:
    # The address bar names the lesson shown (a deep link to copy). Written on every run: a page link's query
    # reaches the script but not the address bar (Streamlit 1.67), and an unchanged value sends nothing.
    st.query_params.from_dict({"lesson": lesson.id})
    preload_plotly_js()
    page.LessonPage(lesson, lessons).render()
else:
    st.title("Margin Lab · Lessons", anchor=False)
    if wanted is not None:
        known = ", ".join(lesson.id for lesson in lessons)
        st.warning(md(f"There is no lesson {wanted!r}; the lessons are {known}. Choose one below."),
                   icon=":material/search_off:")
    page.show_list(lessons, problems)
