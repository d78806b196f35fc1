"""The Course page (the instructor's) through AppTest: locked without credentials, a wrong password refused
and slowed down, the right one or an allowed login opens it; the course builder's file loads; the gradebook
shows what is in the database, student ids as text."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.course import access, builtin_course, load_course, new_record
from app.course.access import Throttle, hash_password
from app.course.store import Store

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app" / "pages" / "course.py")
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)
EVIL_ID = "<img src=x onerror=alert(1)>'); DROP TABLE submissions; --"


@pytest.fixture(autouse=True)
def frozen_throttle(monkeypatch):
    """A throttle whose clock stands still: a wait, once owed, is still owed at the next click."""
    throttle = Throttle(clock=lambda: 1000.0)
    monkeypatch.setattr(access, "THROTTLE", throttle)
    return throttle


def page(secrets: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    return "\n".join(e.value for kind in (at.markdown, at.info, at.error, at.warning, at.success, at.caption)
                     for e in kind)


def is_open(at: AppTest) -> bool:
    return len(at.tabs) == 3 and not any(box.key == "instructor-password" for box in at.text_input)


def try_password(at: AppTest, typed: str) -> AppTest:
    at.text_input(key="instructor-password").input(typed)
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def store_submission(db_url: str, student_id: str, *, passed: bool = True) -> None:
    course = builtin_course("margin-lab")
    lesson = course.lesson("arcface").lesson
    checks = {c.id: {"status": "passed" if passed else "not_yet", "reason": "", "run": None} for c in lesson.checks}
    record = new_record(course=course.ref(), student_id=student_id, student_name="Ada", identity="typed",
                        lesson_id="arcface", lesson_version=lesson.version, answers={}, checks=checks,
                        started_at="2026-12-01T09:00:00+00:00")
    store = Store(db_url)
    store.submit(record)
    store.close()


def test_locked_without_credentials_says_how_and_shows_no_data(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    store_submission(db_url, "secret-student")
    at = page({"db_url": db_url})
    assert "python -m app.course hash-password" in at.info[0].value
    assert "instructor_password_hash" in at.info[0].value
    assert not at.tabs and not at.dataframe and not at.download_button and not at.code
    assert "secret-student" not in shown(at)


def test_a_wrong_password_is_refused_in_one_sentence_then_slowed(tmp_path):
    at = page({"instructor_password_hash": HASH, "db_url": f"sqlite:///{tmp_path / 'x.db'}"})
    assert not is_open(at) and not at.dataframe
    try_password(at, "guess")
    assert [e.value for e in at.error] == ["That is not the instructor password; wait 1 s before the next try."]
    try_password(at, PASSWORD)  # even the right one, too soon: not checked
    assert [w.value for w in at.warning] == ["Too many wrong passwords: wait 1 s before the next try."]
    assert not is_open(at) and not at.dataframe


def test_the_right_password_opens_the_page(tmp_path):
    at = page({"instructor_password_hash": HASH, "db_url": f"sqlite:///{tmp_path / 'x.db'}"})
    try_password(at, PASSWORD)
    assert is_open(at), shown(at)
    at.run()  # stays open on the next run (the session remembers)
    assert is_open(at)


def test_a_damaged_hash_is_said_not_silently_refused(tmp_path):
    at = page({"instructor_password_hash": "not-a-hash"})
    try_password(at, PASSWORD)
    assert "python -m app.course hash-password" in at.error[0].value and not is_open(at)


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
        "client_secret": "s", "server_metadata_url": "https://id.example/.well-known/openid-configuration"}


def test_an_allowed_login_opens_the_page(tmp_path):
    at = page({"auth": AUTH, "instructor_emails": ["Prof@School.edu"], "db_url": f"sqlite:///{tmp_path / 'x.db'}"},
              user={"email": "prof@school.edu", "is_logged_in": True})
    assert is_open(at), shown(at)


def test_a_login_not_on_the_list_is_refused(tmp_path):
    at = page({"auth": AUTH, "instructor_emails": ["prof@school.edu"], "db_url": f"sqlite:///{tmp_path / 'x.db'}"},
              user={"email": "student@school.edu", "is_logged_in": True})
    assert not is_open(at) and not at.dataframe
    assert "not on this class's instructor list" in at.error[0].value


def test_a_login_without_an_allowlist_stays_locked_and_says_how(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    store_submission(db_url, "secret-student")
    at = page({"auth": AUTH, "db_url": db_url}, user={"email": "student@school.edu", "is_logged_in": True})
    assert not is_open(at) and not at.dataframe and "instructor_emails" in at.info[0].value
    assert "secret-student" not in shown(at)


def test_the_gradebook_lists_a_course_found_only_in_the_database(tmp_path):
    at, db_url = open_page(tmp_path)
    course = builtin_course("margin-lab")
    lesson = course.lesson("softmax").lesson
    ref = {**course.ref(), "id": "other-class"}
    store = Store(db_url)
    store.submit(new_record(course=ref, student_id="s-9", student_name="", identity="typed", lesson_id="softmax",
                            lesson_version=lesson.version, answers={}, checks={},
                            started_at="2026-12-01T09:00:00+00:00"))
    at.run()
    at.selectbox(key="instructor-grades-course").set_value("other-class").run()
    table = at.dataframe[0].value
    assert list(table["Student ID"]) == ["s-9"] and table["softmax"][0] == "submitted"


def test_logged_out_gets_a_login_button(tmp_path):
    at = page({"auth": AUTH, "instructor_emails": ["prof@school.edu"]}, user={"is_logged_in": False})
    assert not is_open(at)
    assert [b.label for b in at.button] == ["Log in as instructor"]


def open_page(tmp_path) -> tuple[AppTest, str]:
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    at = page({"instructor_password_hash": HASH, "db_url": db_url})
    try_password(at, PASSWORD)
    assert is_open(at), shown(at)
    return at, db_url


def test_the_course_builder_makes_a_file_load_course_accepts(tmp_path):
    at, _ = open_page(tmp_path)
    at.text_input(key="instructor-build-id").input("week-3").run()
    at.multiselect(key="instructor-build-lessons").set_value(["arcface", "softmax"]).run()
    at.checkbox(key="instructor-build-arcface-c-" + builtin_course("margin-lab").lesson("arcface")
                .lesson.checks[0].id).uncheck().run()
    assert not at.exception, [e.value for e in at.exception]
    download = at.get("download_button")[0]
    text = at.code[0].value
    assert "valid course: 2 lessons" in at.success[0].value
    path = tmp_path / "week-3.toml"
    path.write_text(text, encoding="utf-8")
    course = load_course(path)
    assert course.id == "week-3" and [e.id for e in course.lessons] == ["arcface", "softmax"]
    assert course.lessons[0].checks[course.lessons[0].lesson.checks[0].id] == 0
    assert download is not None


def test_a_bad_course_id_is_one_sentence_and_no_download(tmp_path):
    at, _ = open_page(tmp_path)
    at.text_input(key="instructor-build-id").input("Week 3!").run()
    assert len(at.error) == 1 and "course.id" in at.error[0].value
    assert not any(code.language == "toml" for code in at.code)


def test_lesson_links_carry_the_chosen_controls(tmp_path):
    at, _ = open_page(tmp_path)
    at.selectbox(key="instructor-link-lesson").set_value("arcface").run()
    at.multiselect(key="instructor-link-lock").set_value(["lr", "seed"]).run()
    at.multiselect(key="instructor-link-hide").set_value(["embedding_dim"]).run()
    at.selectbox(key="instructor-link-course").set_value("margin-lab").run()
    links = [code.value for code in at.code if "lesson=" in code.value]
    assert links and links[0].endswith("/lessons?lesson=arcface&course=margin-lab&lock=lr,seed&hide=embedding_dim")


def test_the_gradebook_shows_a_stored_submission_as_text(tmp_path):
    at, db_url = open_page(tmp_path)
    store_submission(db_url, "s-1001")
    store_submission(db_url, EVIL_ID, passed=False)
    at.run()
    table = at.dataframe[0].value
    assert list(table["Student ID"]) == sorted(["s-1001", EVIL_ID])
    marks = dict(zip(table["Student ID"], table["arcface"], strict=True))
    assert marks["s-1001"] == "passed" and marks[EVIL_ID] == "submitted"
    assert all("<img" not in e.value for e in at.markdown)  # never drawn as markup
    csv_button = at.get("download_button")[-1]
    assert csv_button is not None


def test_the_gradebook_csv_has_a_row_per_student(tmp_path):
    from app.course.builder import gradebook_csv

    _, db_url = open_page(tmp_path)
    store_submission(db_url, "s-1")
    rows = Store(db_url).gradebook("margin-lab", ["arcface"])
    table = list(csv.reader(io.StringIO(gradebook_csv(rows, [("arcface", "ArcFace")]))))
    assert table[1] == ["s-1", "Ada", "passed"]


def test_an_unreachable_database_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    at = page({"instructor_password_hash": HASH, "db_url": f"sqlite:///{blocker / 'sub' / 'x.db'}"})
    try_password(at, PASSWORD)
    assert is_open(at)
    assert any("submissions database cannot be reached" in w.value for w in at.warning), shown(at)
    assert not at.dataframe
