"""The course as the app serves it: which course, the shared submissions store, who the student is.

    course, notice = served_course()      # --course FILE at start-up, or ?course=<id> of a built-in course
    store, notice = shared_store()        # the one Store of this server process, or None and one sentence
    who = student()                       # {"id", "name", "identity"} once the student has said who they are

`streamlit run streamlit_app.py -- --course path.toml` serves a course file (set_course_file, called by the
entry point); `?course=<id>` picks a built-in course (lessons/*.toml) for this session. The database URL is
`db_url` in .streamlit/secrets.toml, else $MARGIN_LAB_DB, else an SQLite file in ~/.margin-lab. A database
that cannot be reached is said in one sentence; lessons go on working, and Submit says the work was NOT saved.

Identity: with `[auth]` in secrets.toml, Streamlit's own st.login (OpenID Connect) names the student. Otherwise
a hosted class (a `class_code` in secrets.toml) asks for the class code and a typed student ID, labelled a
weak identity; a laptop asks for a name or ID once per session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.course import Course, CourseError, builtin_course, load_course
from app.course.store import Store, StoreError

_course_file: str | None = None  # set once by the entry point from its command line
STUDENT_KEY = "course-student"
MAX_ID = 64


def set_course_file(path: str | None) -> None:
    global _course_file
    _course_file = path


def secret(name: str, default: Any = None) -> Any:
    """A value from .streamlit/secrets.toml, or `default` when there is no such file or key."""
    try:
        return st.secrets.get(name, default)
    except Exception:  # no secrets.toml at all (Streamlit raises on access)
        return default


@st.cache_resource(show_spinner=False)
def _course_from_file(path: str, mtime_ns: int) -> Course:
    return load_course(path)


def served_course() -> tuple[Course | None, str]:
    """The course this session follows, and one sentence when the file or the link named a bad one."""
    wanted = st.query_params.get("course")
    if wanted:
        try:
            course = builtin_course(wanted)
        except CourseError as error:
            return None, str(error)
        st.session_state["course-id"] = course.id
        return course, ""
    if _course_file:
        try:
            return _course_from_file(_course_file, Path(_course_file).stat().st_mtime_ns), ""
        except (CourseError, OSError) as error:
            return None, f"The course file could not be used: {error}"
    if st.session_state.get("course-id"):
        return builtin_course(st.session_state["course-id"]), ""
    return None, ""


@st.cache_resource(show_spinner=False)
def _open_store(url: str | None) -> Store:
    return Store(url)  # StoreUnavailable is raised, not cached: the next page run tries again


RETRY_AFTER_S = 30.0  # an unreachable database is tried again after this long, not at every page run
_last_failure: dict[str | None, tuple[float, str]] = {}


def shared_store() -> tuple[Store | None, str]:
    """The process's Store, or None and one sentence when the database cannot be reached (remembered for
    RETRY_AFTER_S, so a page does not wait for a connection timeout at every run)."""
    import time

    url = secret("db_url")
    failed = _last_failure.get(url)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_S:
        return None, failed[1]
    try:
        store = _open_store(url)
    except StoreError as error:
        notice = f"Submissions cannot be saved now: {error} Lessons keep working; your work stays in this tab."
        _last_failure[url] = (time.monotonic(), notice)
        return None, notice
    _last_failure.pop(url, None)
    return store, ""


def login_configured() -> bool:
    return bool(secret("auth"))


def student() -> dict[str, str] | None:
    """Who the student is, if they have said (or logged in)."""
    if login_configured():
        user = st.user
        if getattr(user, "is_logged_in", False):
            return {"id": str(user.get("email") or user.get("sub")), "name": str(user.get("name") or ""),
                    "identity": "login"}  # fmt: skip
        return None
    return st.session_state.get(STUDENT_KEY)


def identify(key: str) -> dict[str, str] | None:
    """Ask who the student is (once per session) and return them; None until they have."""
    who = student()
    if who is not None:
        return who
    if login_configured():
        st.button("Log in to submit", icon=":material/login:", key=f"{key}-login", on_click=st.login)
        return None
    class_code = secret("class_code")
    with st.form(f"{key}-identity", border=False):
        if class_code:
            st.caption("A weak identity: anyone who knows the class code can type any student ID.")
            code = st.text_input("Class code", type="password", key=f"{key}-code")
        student_id = st.text_input("Your student ID or name", key=f"{key}-id", max_chars=MAX_ID)
        if st.form_submit_button("This is me"):
            problem = _identity_problem(student_id, code if class_code else None, class_code)
            if problem:
                st.warning(problem)
            else:
                who = {"id": student_id.strip(), "name": student_id.strip(),
                       "identity": "class-code" if class_code else "typed"}  # fmt: skip
                st.session_state[STUDENT_KEY] = who
                return who
    return None


def _identity_problem(student_id: str, code: str | None, class_code: str | None) -> str:
    import hmac

    text = (student_id or "").strip()
    if not text:
        return "Type your student ID or name first."
    if len(text) > MAX_ID or not text.isprintable():
        return f"A student ID is one line of at most {MAX_ID} characters."
    if class_code is not None and not hmac.compare_digest((code or "").encode(), str(class_code).encode()):
        return "That class code is not this class's: ask your instructor for it."
    return ""
