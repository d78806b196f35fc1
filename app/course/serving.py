"""The course as the app serves it: which course, the shared submissions store, who the student is.

    course, notice = served_course()      # --course FILE at start-up, or ?course=<id> of a built-in course
    store, notice = shared_store()        # the one Store of this server process, or None and one sentence
    who = student()                       # {"id", "name", "identity"} once the student has said who they are

`streamlit run streamlit_app.py -- --course path.toml` serves a course file (set_course_file, called by the
entry point), wherever it lives; a link's `?course=` cannot replace it. Without one, `?course=<id>` picks a
built-in course (lessons/*.toml) for this session. The database URL is $MARGIN_LAB_DB, else `db_url` in
.streamlit/secrets.toml, else an SQLite file in ~/.margin-lab (database_url). A database that cannot be reached
is said in one sentence; lessons go on working, and Submit says the work was NOT saved.

Identity: with `[auth]` in secrets.toml, Streamlit's own st.login (OpenID Connect) names the student. Otherwise
a hosted class (a `class_code` in secrets.toml) asks for the class code and a typed student ID, labelled a
weak identity; a laptop asks for a name or ID once per session.
"""

from __future__ import annotations

import logging
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
    """The course this session follows, and one sentence when the file or the link named a bad one.

    The course the server was started with (--course FILE) wins: a link naming its id is that course (the lessons
    page writes ?course=<id> into the address bar itself, and the file may live anywhere), and a link naming
    another course is ignored with one sentence. Without a course file, ?course=<id> picks a built-in course for
    the session."""
    wanted = st.query_params.get("course")
    if _course_file:
        try:
            course = _course_from_file(_course_file, Path(_course_file).stat().st_mtime_ns)
        except (CourseError, OSError) as error:
            return None, f"The course file could not be used: {error}"
        if wanted and wanted != course.id:
            return course, (f"This server serves the course {course.id!r}, so the link's course "
                            f"{str(wanted)[:40]!r} was ignored.")
        return course, ""
    if wanted:
        try:
            course = builtin_course(wanted)
        except CourseError as error:
            return None, str(error)
        st.session_state["course-id"] = course.id
        return course, ""
    if st.session_state.get("course-id"):
        return builtin_course(st.session_state["course-id"]), ""
    return None, ""


@st.cache_resource(show_spinner=False)
def _open_store(url: str | None) -> Store:
    return Store(url)  # StoreUnavailable is raised, not cached: the next page run tries again


RETRY_AFTER_S = 30.0  # an unreachable database is tried again after this long, not at every page run
_last_failure: dict[str | None, tuple[float, StoreError]] = {}
log = logging.getLogger("margin_lab.course")


def database_url() -> tuple[str | None, str]:
    """The submissions database's URL and where it came from: $MARGIN_LAB_DB wins over `db_url` in secrets.toml
    (as every MARGIN_LAB_* variable wins over its file, so deploy/stack.py's --postgres and a Kubernetes Secret
    are never shadowed by a secrets.toml left on the server); with neither, None: the SQLite file in
    ~/.margin-lab."""
    import os

    from app.course.store import ENV_URL

    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL], f"${ENV_URL}"
    if secret("db_url"):
        return str(secret("db_url")), "db_url in secrets.toml"
    return None, "the default SQLite file"


def shared_store() -> tuple[Store | None, str]:
    """The process's Store, or None and one sentence for a student's page when the database cannot be reached
    (remembered for RETRY_AFTER_S, so a page does not wait for a connection timeout at every run). The sentence
    never names the database's host, user or name: store_problem() has the details, for the instructor's page,
    and the server's log gets them."""
    import time

    url, _source = database_url()
    failed = _last_failure.get(url)
    if failed is None or time.monotonic() - failed[0] >= RETRY_AFTER_S:
        try:
            store = _open_store(url)
        except StoreError as error:
            log.warning("Submissions database unavailable: %s", error)
            failed = _last_failure[url] = (time.monotonic(), error)
        else:
            _last_failure.pop(url, None)
            return store, ""
    return None, f"Submissions cannot be saved now: {failed[1].public} Lessons keep working; your work stays here."


def store_problem() -> str:
    """Why the database could not be used at the last try, with its address and the driver's reason (for the
    instructor: never on a student's page); "" when it could."""
    url, _source = database_url()
    failed = _last_failure.get(url)
    return str(failed[1]) if failed is not None else ""


def receipt_key() -> str | None:
    """`receipt_key` from secrets.toml, which signs every record the page builds (a report file's time can then be
    verified by the grader); None without one, or with one too short to be a secret (said in the log)."""
    from app.course.record import MIN_RECEIPT_KEY

    key = secret("receipt_key")
    if key is None:
        return None
    if not isinstance(key, str) or len(key) < MIN_RECEIPT_KEY:
        log.warning("receipt_key in secrets.toml is ignored: it must be text of at least %d characters.",
                    MIN_RECEIPT_KEY)
        return None
    return key


def client_key() -> str:
    """This visitor's key for the wrong-guess throttles (app.course.access.throttle_key): the client's address where
    a direct connection or a trusted proxy gives it, else this session's own token."""
    import uuid

    from app.course.access import throttle_key

    try:
        address = st.context.ip_address
        forwarded = st.context.headers.get_all("X-Forwarded-For")
    except Exception:  # no browser behind the session (AppTest, a bare run)
        address, forwarded = None, []
    session = st.session_state.setdefault("course-throttle-session", uuid.uuid4().hex)
    return throttle_key(address if isinstance(address, str) else None, forwarded or [], session)


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
            problem = _identity_problem(student_id, code if class_code else None, class_code, client_key())
            if problem:
                st.warning(problem)
            else:
                who = {"id": student_id.strip(), "name": student_id.strip(),
                       "identity": "class-code" if class_code else "typed"}  # fmt: skip
                st.session_state[STUDENT_KEY] = who
                return who
    return None


def _identity_problem(student_id: str, code: str | None, class_code: str | None, key: str = "") -> str:
    """One sentence, or "" when the identity may be used. A class code is checked at most as often as
    access.CLASS_CODE_THROTTLE allows `key` (the client: serving.client_key): wrong ones are slowed down."""
    import hmac
    import math

    from app.course.access import CLASS_CODE_THROTTLE as throttle

    text = (student_id or "").strip()
    if not text:
        return "Type your student ID or name first."
    if len(text) > MAX_ID or not text.isprintable():
        return f"A student ID is one line of at most {MAX_ID} characters."
    if class_code is None:
        return ""
    wait = throttle.wait_s(key)
    if wait > 0:  # not even checked: a guess made too soon is refused whatever it is
        return f"Too many wrong class codes: wait {math.ceil(wait)} s before the next try."
    if not hmac.compare_digest((code or "").encode(), str(class_code).encode()):
        wait = throttle.failed(key)
        return (f"That class code is not this class's: ask your instructor for it (wait {math.ceil(wait)} s before "
                "the next try).")
    throttle.succeeded(key)
    return ""
