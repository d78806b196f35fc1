"""A student's work survives a reload and a new tab: answers, passed checks and who they are come back from
the class database, per browser and per student (app.lesson_page.progress, the store's progress table).

AppTest sends no cookies, so two AppTest sessions are two browsers; `same_browser` makes them one, as a
reload (F5) or a lesson link opened in a new tab of the same browser is."""

from __future__ import annotations

import pytest
from apphelpers import ENTRY, texts
from lessonhelpers import LESSONS_PAGE
from streamlit.testing.v1 import AppTest

from app.course.store import Store
from app.lesson_page import progress
from app.lessons import load_lessons

LESSON = next(lesson for lesson in load_lessons() if lesson.id == "softmax")
UNIT = f"lesson-{LESSON.id}"


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    monkeypatch.setenv("MARGIN_LAB_DB", url)
    return url


@pytest.fixture
def same_browser(monkeypatch):
    real = progress._owners

    def owners():
        return ["browser-of-ada", *real()[1:]]

    monkeypatch.setattr(progress, "_owners", owners)


def open_lesson(lesson_id: str | None = LESSON.id) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.switch_page(LESSONS_PAGE)
    if lesson_id:
        at.query_params["lesson"] = lesson_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def answer_first_question(at: AppTest) -> str:
    question = LESSON.questions[0]
    key = f"{UNIT}-q-{question.id}"
    assert question.kind == "choice"
    at.radio(key=f"{key}-choice").set_value(int(question.answer))
    [submit] = [b for b in at.button if b.proto.form_id == f"{key}-form"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return question.id


def test_an_answer_survives_a_reload_of_the_same_browser(db, same_browser):
    first = open_lesson()
    question = answer_first_question(first)
    again = open_lesson()  # F5: a new session of the same browser
    kept = again.session_state[progress.SESSION_KEY][LESSON.id]
    assert question in kept.answers
    listed = open_lesson(None)  # the lesson list marks it
    card = next(c for c in texts(listed.caption) if " min · " in c and "in progress" in c)
    assert card


def test_another_browser_starts_fresh(db):
    answer_first_question(open_lesson())
    other = open_lesson()  # no shared owner: another browser
    assert other.session_state[progress.SESSION_KEY][LESSON.id].answers == {}


def test_the_student_is_asked_once_per_browser(db, same_browser):
    first = open_lesson()
    first.text_input(key=f"{UNIT}-id").set_value("ada")
    [button] = [b for b in first.button if b.proto.form_id == f"{UNIT}-identity"]
    button.click().run()
    assert any("Handing in as ada" in c for c in texts(first.caption))
    again = open_lesson()
    assert any("Handing in as ada" in c for c in texts(again.caption))  # not asked again
    assert not [t for t in again.text_input if t.key == f"{UNIT}-id"]


def test_a_student_who_said_who_they_are_finds_their_work_in_another_browser(db, monkeypatch):
    first = open_lesson()
    first.text_input(key=f"{UNIT}-id").set_value("bea")
    [button] = [b for b in first.button if b.proto.form_id == f"{UNIT}-identity"]
    button.click().run()
    question = answer_first_question(first)
    first.run()  # the save after the answer
    second = open_lesson()  # another browser: fresh
    assert second.session_state[progress.SESSION_KEY][LESSON.id].answers == {}
    second.text_input(key=f"{UNIT}-id").set_value("bea")
    [button] = [b for b in second.button if b.proto.form_id == f"{UNIT}-identity"]
    button.click().run()
    second.run()  # the next page run reads bea's saved progress
    assert question in second.session_state[progress.SESSION_KEY][LESSON.id].answers


def test_stored_progress_round_trips_and_bad_rows_are_ignored(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.save_progress("browser-x", "softmax", {"answers": {"q": 1}})
    store.save_progress("browser-x", "softmax", {"answers": {"q": 2}})  # replaced, not appended
    assert store.load_progress("browser-x") == {"softmax": {"answers": {"q": 2}}}
    assert store.load_progress("browser-y") == {}
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO progress VALUES ('browser-x', 'bad', 'not json', 'now')")
        conn.exec_driver_sql("INSERT INTO progress VALUES ('browser-x', 'list', '[1, 2]', 'now')")
    assert set(store.load_progress("browser-x")) == {"softmax"}


def test_a_forged_pass_in_stored_progress_without_a_run_is_not_trusted():
    kept = progress.LessonProgress.from_dict({"lesson_id": "softmax", "answers": ["x"],
                                              "checks": {"a": {"status": "passed"}, "b": "passed",
                                                         "c": {"status": "passed", "run": {"epoch": 3}}}})
    assert kept.answers == {} and set(kept.checks) == {"c"}
    assert progress.LessonProgress.from_dict({"checks": [1]}).checks == {}
