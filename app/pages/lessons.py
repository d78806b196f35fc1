"""Lessons: the list, or one lesson when the link names it (?lesson=<id>), within a course when one is served.

A thin page: lesson files are read and validated by `app.lessons.format` (a bad file is named in one
sentence and left out; the others still work), drawn by `app.lesson_page.page`; a course (`--course FILE` or
`?course=<id>`, `app.course.serving`) picks the lessons, their order and due dates, and adds its own settings.
"""

import streamlit as st

from app import hosted
from app.components.live_plotly import preload_plotly_js
from app.course import serving
from app.course.builder import lesson_for_link, link_query
from app.lesson_page import page
from app.lessons.format import load_all
from app.live.views import md

lessons, problems = load_all()
course, course_notice = serving.served_course()
if course_notice:
    st.warning(md(course_notice), icon=":material/assignment_late:")
if course is not None:
    lessons = page.in_course(lessons, course)
wanted = st.query_params.get("lesson")
lesson = next((lesson for lesson in lessons if lesson.id == wanted), None)
if lesson is not None:
    # An instructor's link may lock or hide more controls (?lock=lr,seed&hide=dim), never fewer.
    query = st.query_params.to_dict()
    lesson, link_notices = lesson_for_link(lesson, query)
    # The address bar names the lesson shown (a deep link to copy). Written on every run: a page link's query
    # reaches the script but not the address bar (Streamlit 1.67), and an unchanged value sends nothing.
    kept = {**link_query(query, lesson.id), **{k: v for k, v in query.items() if k == hosted.SERVER_PARAM}}
    st.query_params.from_dict({**kept, **({"course": course.id} if course is not None else {})})
    for notice in link_notices:
        st.warning(md(notice), icon=":material/link_off:")
    preload_plotly_js()
    page.LessonPage(lesson, lessons, course=course).render()
else:
    st.title("Margin Lab · Lessons" if course is None else md(course.title), anchor=False)
    if wanted is not None:
        known = ", ".join(lesson.id for lesson in lessons)
        st.warning(md(f"There is no lesson {wanted!r}; the lessons are {known}. Choose one below."),
                   icon=":material/search_off:")
    page.show_list(lessons, problems, course=course)
