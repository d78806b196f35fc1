"""The instructor page (app/pages/course.py): build a course file, build lesson links, read the gradebook.

    render()     # draws the page into the current Streamlit script

Access, from .streamlit/secrets.toml (app.course.access does the checking):
* `[auth]` (Streamlit's st.login, OpenID Connect) with `instructor_emails = ["me@school.edu", ...]`: a
  logged-in user on that list is let in;
* `instructor_password_hash = "scrypt$..."` (from `python -m app.course hash-password`): the password,
  with repeated wrong ones slowed down per client address.
With neither, the page says how to set one and shows no data. The gradebook lists every student's progress,
so this page is the only place that reads other students' submissions, and only behind that access.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.exc import DBAPIError

from app import state
from app.course import CourseError, access, builtin_courses, load_course
from app.course.builder import LessonChoice, build_course, gradebook_csv, lesson_link
from app.course.serving import login_configured, secret, served_course, shared_store
from app.course.store import Store, StoreError
from app.course.store import submissions as submissions_table
from app.lessons.format import load_all

KEY = "instructor"
SIGNED_IN = f"{KEY}-signed-in"  # session state: True once the right password was typed in this session
HOW_TO = (
    "This page is locked: set an instructor password by running `python -m app.course hash-password` and "
    "putting the line it prints, `instructor_password_hash = \"scrypt$...\"`, into `.streamlit/secrets.toml` "
    "(or, with `[auth]` login configured there, list the instructors as `instructor_emails = [\"you@school.edu\"]`)"
    ", then reload this page."
)
# Plain words: the grid draws on a canvas, where an emoji without a font shows as a box.
MARK_SHOWN = {"passed": "passed", "partial": "partial", "submitted": "submitted", "": "—"}


# ------------------------------------------------------------------------------------------------------
# Access


def _allowlist() -> list[str]:
    emails = secret("instructor_emails") or []
    return [str(emails)] if isinstance(emails, str) else [str(e) for e in emails]


def _throttle_key() -> str:
    """Wrong passwords are counted per client address (a new tab does not reset them)."""
    try:
        address = st.context.ip_address
    except Exception:  # no client
        address = None
    return f"ip:{address}" if isinstance(address, str) and address else "instructor-page"


def _wait_sentence(seconds: float) -> str:
    return f"Too many wrong passwords: wait {math.ceil(seconds)} s before the next try."


def _login_gate(emails: list[str]) -> bool:
    user = st.user
    if not getattr(user, "is_logged_in", False):
        st.button("Log in as instructor", icon=":material/login:", key=f"{KEY}-login", on_click=st.login)
        return False
    email = user.get("email")
    if access.email_allowed(email, emails):
        st.caption(f"Logged in as {email}.")
        st.button("Log out", key=f"{KEY}-logout", on_click=st.logout)
        return True
    st.error(f"You are logged in as {str(email or 'a user without an email')!r}, which is not on this class's "
             "instructor list (instructor_emails in secrets.toml).")
    st.button("Log out", key=f"{KEY}-logout", on_click=st.logout)
    return False


def _password_gate(stored: str) -> bool:
    if st.session_state.get(SIGNED_IN):
        st.button("Lock this page", icon=":material/lock:", key=f"{KEY}-lock",
                  on_click=lambda: st.session_state.pop(SIGNED_IN, None))
        return True
    with st.form(f"{KEY}-password-form", border=False):
        typed = st.text_input("Instructor password", type="password", key=f"{KEY}-password")
        tried = st.form_submit_button("Open", icon=":material/lock_open:")
    if not tried:
        return False
    throttle, key = access.THROTTLE, _throttle_key()
    wait = throttle.wait_s(key)
    if wait > 0:  # not even checked: a guess made too soon is refused whatever it is
        st.warning(_wait_sentence(wait))
        return False
    try:
        right = access.verify_password(typed, stored)
    except ValueError as error:  # the hash in secrets.toml is not one of ours
        st.error(str(error))
        return False
    if not right:
        wait = throttle.failed(key)
        st.error(f"That is not the instructor password; wait {math.ceil(wait)} s before the next try.")
        return False
    throttle.succeeded(key)
    st.session_state[SIGNED_IN] = True
    st.rerun()
    return True  # not reached: the rerun draws the open page


def _let_in() -> bool:
    """Whether this visitor may see the page; draws the login, the password form or the how-to."""
    emails = _allowlist()
    use_login = login_configured() and bool(emails)
    stored = secret("instructor_password_hash")
    if not use_login and not stored:
        st.info(HOW_TO, icon=":material/lock:")
        return False
    if use_login and _login_gate(emails):
        return True
    return bool(stored) and _password_gate(str(stored))


# ------------------------------------------------------------------------------------------------------
# Building a course file


def _lessons() -> list[Any]:
    lessons, _problems = load_all()
    return lessons


def _title(lessons: Sequence[Any]) -> dict[str, str]:
    return {lesson.id: f"{lesson.number}. {lesson.title}" for lesson in lessons}


def _task_points(kind: str, tasks: Sequence[Any], label, key: str) -> dict[str, float]:
    chosen = {}
    for task in tasks:
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        counts = left.checkbox(label(task), value=True, key=f"{key}-{kind}-{task.id}")
        points = right.number_input("Points", min_value=0.0, max_value=1000.0, value=1.0, step=0.5,
                                    key=f"{key}-{kind}-{task.id}-points", disabled=not counts)
        if counts:
            chosen[task.id] = points
    return chosen


def _lesson_choice(lesson: Any, key: str) -> LessonChoice:
    key = f"{key}-{lesson.id}"
    due = st.date_input("Due (optional; the end of that day, UTC)", value=None, key=f"{key}-due")
    if lesson.questions:
        st.markdown("**Questions that count**")
    questions = _task_points("q", lesson.questions, lambda q: f"`{q.id}`: {q.prompt[:80]}", key)
    if lesson.checks:
        st.markdown("**Checks that count**")
    checks = _task_points("c", lesson.checks, lambda c: f"`{c.id}`: {c.title}", key)
    controls = sorted(state.control_names())
    locked = st.multiselect("Also lock", [c for c in controls if c not in lesson.locked], key=f"{key}-locked",
                            help=f"The lesson locks {', '.join(sorted(lesson.locked)) or 'nothing'} already.")
    hidden = st.multiselect("Also hide", [c for c in controls if c not in lesson.hidden], key=f"{key}-hidden",
                            help=f"The lesson hides {', '.join(sorted(lesson.hidden)) or 'nothing'} already.")
    return LessonChoice(lesson.id, due=due, questions=questions, checks=checks, locked=locked, hidden=hidden)


def course_builder(lessons: Sequence[Any]) -> None:
    key = f"{KEY}-build"
    st.caption("Choose the lessons (in the order students should take them), what counts and when it is due; "
               "the preview is checked exactly as `python -m app.course validate` checks a file.")
    left, middle, right = st.columns([2, 3, 1])
    course_id = left.text_input("Course id", value="my-course", key=f"{key}-id",
                                help="Lower-case letters, digits and dashes; students' links name it.")
    title = middle.text_input("Title", value="Margin-based softmax losses", key=f"{key}-title")
    version = right.number_input("Version", min_value=1, max_value=10_000, value=1, step=1, key=f"{key}-version")
    titles = _title(lessons)
    order = st.multiselect("Lessons, in order", list(titles), default=list(titles), format_func=titles.get,
                           key=f"{key}-lessons")
    by_id = {lesson.id: lesson for lesson in lessons}
    choices = []
    for lesson_id in order:
        with st.expander(titles[lesson_id]):
            choices.append(_lesson_choice(by_id[lesson_id], key))
    if not choices:
        st.warning("Choose at least one lesson for the course.")
        return
    try:
        text, course = build_course(course_id.strip(), title, int(version), choices, lessons)
    except CourseError as error:
        st.error(str(error))
        return
    points = sum(entry.points_possible for entry in course.lessons)
    st.success(f"A valid course: {len(course.lessons)} lessons, {points:g} points in all.")
    st.code(text, language="toml")
    st.download_button("Download the course file", text, file_name=f"{course.id}.toml", mime="application/toml",
                       icon=":material/download:", key=f"{key}-download")
    st.caption(f"Serve it with `streamlit run streamlit_app.py -- --course {course.id}.toml`, or put it in "
               f"lessons/ and send links with `?course={course.id}`.")


# ------------------------------------------------------------------------------------------------------
# Lesson links


def _origin() -> str:
    """The server's address as the instructor's browser sees it ("" when unknown: the link is then relative)."""
    try:
        url = st.context.url or ""
    except Exception:
        url = ""
    parts = url.split("/")
    return "/".join(parts[:3]) if url.startswith(("http://", "https://")) and len(parts) >= 3 else ""


def link_builder(lessons: Sequence[Any], course_ids: Sequence[str]) -> None:
    key = f"{KEY}-link"
    titles = _title(lessons)
    lesson_id = st.selectbox("Lesson", list(titles), format_func=titles.get, key=f"{key}-lesson")
    lesson = next(lesson for lesson in lessons if lesson.id == lesson_id)
    course_id = st.selectbox("Course", ["", *course_ids], format_func=lambda c: c or "(no course)",
                             key=f"{key}-course")
    controls = sorted(state.control_names())
    st.caption(f"The lesson itself locks {', '.join(sorted(lesson.locked)) or 'nothing'} and hides "
               f"{', '.join(sorted(lesson.hidden)) or 'nothing'}; a link can add to these, never remove them.")
    lock = st.multiselect("Also lock", [c for c in controls if c not in lesson.locked], key=f"{key}-lock")
    hide = st.multiselect("Also hide", [c for c in controls if c not in lesson.hidden], key=f"{key}-hide")
    link = _origin() + lesson_link(lesson.id, course_id=course_id or None, lock=lock, hide=hide)
    st.code(link, language=None)
    st.caption("Copy it with the button at the code box's corner and send it to the class.")


# ------------------------------------------------------------------------------------------------------
# The gradebook


def _course_ids() -> list[str]:
    course, _notice = served_course()
    ids = [course.id] if course is not None else []
    return ids + [course_id for course_id in builtin_courses() if course_id not in ids]


def _lesson_columns(course_id: str, lessons: Sequence[Any]) -> list[tuple[str, str]]:
    served, _notice = served_course()
    course = served if served is not None and served.id == course_id else None
    if course is None and course_id in builtin_courses():
        try:
            course = load_course(builtin_courses()[course_id], lessons=lessons)
        except CourseError:
            course = None
    entries = course.lessons if course is not None else lessons
    return [(entry.id, entry.title) for entry in entries]


def _stored_course_ids(store: Store) -> list[str]:
    """The course ids that have submissions ("" for work handed in outside a course)."""
    query = sa.select(submissions_table.c.course_id).distinct().order_by(submissions_table.c.course_id)
    try:
        with store.engine.connect() as conn:
            return [str(row[0]) for row in conn.execute(query)]
    except DBAPIError as error:
        raise StoreError(f"the submissions database {store.shown_url} cannot be reached") from error


def gradebook(lessons: Sequence[Any], course_ids: Sequence[str]) -> None:
    key = f"{KEY}-grades"
    store, _notice = shared_store()
    if store is None:
        st.warning("The gradebook cannot be shown: the submissions database cannot be reached (db_url in "
                   ".streamlit/secrets.toml, else $MARGIN_LAB_DB); lessons keep working.")
        return
    try:
        stored_ids = _stored_course_ids(store)
    except StoreError as error:
        st.warning(f"The gradebook cannot be shown now: {str(error).rstrip('.')}.")
        return
    choices = [*course_ids, *(c for c in stored_ids if c not in course_ids)]
    course_id = st.selectbox("Course", choices, format_func=lambda c: c or "(no course)", key=f"{key}-course")
    columns = _lesson_columns(course_id, lessons)
    try:
        rows = store.gradebook(course_id, [lesson_id for lesson_id, _ in columns])
    except StoreError as error:
        st.warning(f"The gradebook cannot be shown now: {str(error).rstrip('.')}.")
        return
    students = f"{len(rows)} student{'s' if len(rows) != 1 else ''}"
    st.caption(f"{students} in {course_id or '(no course)'}, each lesson's latest attempt as the "
               "student's app reported it; `python -m app.course grade` replays and verifies them.")
    if not rows:
        st.info("No submissions yet for this course.")
        return
    # A dataframe shows every cell as text: a student id like "<script>" is never HTML here.
    table = pd.DataFrame(
        [[str(row["student_id"]), str(row["student_name"]), *(MARK_SHOWN.get(row.get(lesson_id, ""), "?")
                                                              for lesson_id, _ in columns)] for row in rows],
        columns=["Student ID", "Name", *(lesson_id for lesson_id, _ in columns)],
    )
    # Lesson ids head the columns (short, so every lesson fits on a laptop); the title is the column's help.
    config = {lesson_id: st.column_config.TextColumn(lesson_id, help=title, width="small")
              for lesson_id, title in columns}
    st.dataframe(table, hide_index=True, column_config=config, key=f"{key}-table")
    st.download_button("Download the gradebook (CSV)", gradebook_csv(rows, columns),
                       file_name=f"gradebook-{course_id or 'no-course'}.csv", mime="text/csv",
                       icon=":material/download:", key=f"{key}-csv")


# ------------------------------------------------------------------------------------------------------


def render() -> None:
    st.title("Margin Lab · Course", anchor=False)
    if not _let_in():
        return
    lessons = _lessons()
    course_ids = _course_ids()
    build, links, grades = st.tabs(["Course file", "Lesson links", "Gradebook"])
    with build:
        course_builder(lessons)
    with links:
        link_builder(lessons, course_ids)
    with grades:
        gradebook(lessons, course_ids)
