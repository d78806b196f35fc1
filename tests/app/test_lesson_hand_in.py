"""Handing in a lesson through AppTest: who the student is, Submit into a real SQLite store (a new attempt each
time), the report download, an unreachable database (NOT saved, said once, the download still offered), and a
course served by link (?course=) with its due dates and settings."""

from __future__ import annotations

import json
import re

import pytest
from apphelpers import ENTRY, texts
from lessonhelpers import LESSONS_PAGE, apply_live, train_until_passed
from streamlit.testing.v1 import AppTest

from app.course import builtin_course, parse_report
from app.course.store import Store
from app.lessons import load_lessons

LESSON = next(lesson for lesson in load_lessons() if lesson.id == "softmax")
UNIT = f"lesson-{LESSON.id}"


def open_lesson(secrets: dict, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    for key, value in secrets.items():
        at.secrets[key] = value
    at.switch_page(LESSONS_PAGE)
    for key, value in ({"lesson": LESSON.id} if query is None else query).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def say_who(at: AppTest, student_id: str) -> None:
    at.text_input(key=f"{UNIT}-id").set_value(student_id)
    [button] = [b for b in at.button if b.proto.form_id == f"{UNIT}-identity"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]


def submit_empty(at: AppTest) -> None:
    """Submit a hand-in with nothing answered or passed: the page asks once; say "Submit anyway"."""
    at.button(key=f"{UNIT}-submit").click().run()
    assert any("this hand-in is empty" in w for w in texts(at.warning)), texts(at.warning)
    at.button(key=f"{UNIT}-submit-empty-yes").click().run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.slow
def test_a_student_submits_twice_and_both_attempts_are_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    at = open_lesson({"db_url": url})
    assert not [b for b in at.button if b.label == "Submit"]  # nobody has said who they are yet
    say_who(at, "s1'); DROP TABLE submissions; --<b>")
    assert any("Handing in as s1" in c for c in texts(at.caption))
    apply_live(at, UNIT, LESSON.solution[0].values)
    train_until_passed(at, LESSON, LESSON.solution[0].epochs)
    checks = len(LESSON.checks)
    assert f"In this hand-in: 0 of {len(LESSON.questions)} questions answered, {checks} of {checks} checks passed." \
        in texts(at.caption)  # said before Submit is pressed
    at.button(key=f"{UNIT}-submit").click().run()
    assert not any("empty" in w for w in texts(at.warning))  # a hand-in with passed checks is not questioned
    [saved] = [s for s in texts(at.success) if s.startswith("Saved: attempt 1")]
    assert re.search(r"received at \d\d:\d\d:\d\d on \d{4}-\d\d-\d\d \(UTC\)\. In this hand-in: ", saved), saved
    at.button(key=f"{UNIT}-submit").click().run()
    assert [s for s in texts(at.success) if s.startswith("Saved: attempt 2")]

    stored = Store(url).submissions(student_id="s1'); DROP TABLE submissions; --<b>")
    assert [s.attempt for s in stored] == [1, 2]
    record = stored[-1].record
    assert {c: v["status"] for c, v in record["checks"].items()} == {c.id: "passed" for c in LESSON.checks}
    run = record["checks"][LESSON.checks[0].id]["run"]
    assert run["initial"]["embedding_dim"] == "2" and run["epoch"] <= LESSON.checks[0].within_epochs
    assert record["course"] is None and record["lesson"] == {"id": LESSON.id, "version": LESSON.version}


def test_an_empty_hand_in_is_questioned_once_and_both_answers_work(tmp_path):
    """Before: nothing answered and nothing passed got the same green "Saved: attempt 1" as finished work."""
    url = f"sqlite:///{tmp_path / 'class.db'}"
    at = open_lesson({"db_url": url})
    say_who(at, "s10")
    assert any(c.startswith("In this hand-in: 0 of ") and "0 of" in c.split(",")[1] for c in texts(at.caption))
    at.button(key=f"{UNIT}-submit").click().run()
    assert any("this hand-in is empty" in w for w in texts(at.warning)) and not at.success
    at.button(key=f"{UNIT}-submit-empty-no").click().run()  # "Not yet": the question goes, nothing is sent
    assert not any("empty" in w for w in texts(at.warning)) and Store(url).submissions() == []
    at.button(key=f"{UNIT}-submit").click().run()  # asked again at the next empty Submit
    assert any("this hand-in is empty" in w for w in texts(at.warning)) and Store(url).submissions() == []
    at.button(key=f"{UNIT}-submit-empty-yes").click().run()  # "Submit anyway": sent, and asked no more
    assert [s for s in texts(at.success) if s.startswith("Saved: attempt 1")]
    assert not any("empty" in w for w in texts(at.warning))
    assert [s.attempt for s in Store(url).submissions()] == [1]
    at.button(key=f"{UNIT}-submit").click().run()  # each empty Submit is asked about once, never twice
    assert any("this hand-in is empty" in w for w in texts(at.warning))
    at.button(key=f"{UNIT}-submit").click().run()  # pressing Submit again is the answer: sent
    assert [s.attempt for s in Store(url).submissions()] == [1, 2]


def test_the_report_download_holds_the_same_record(tmp_path, monkeypatch):
    from apphelpers import record_downloads

    recorded = record_downloads(monkeypatch)
    at = open_lesson({"db_url": f"sqlite:///{tmp_path / 'class.db'}"})
    say_who(at, "s2")
    record = parse_report(recorded["Download the report"])
    assert record["student"] == {"id": "s2", "name": "s2", "identity": "typed"}
    assert set(record["checks"]) == {c.id for c in LESSON.checks}
    assert all(v["status"] in ("not_yet", "failed") and v["run"] is None for v in record["checks"].values())
    assert "summary" in json.loads(recorded["Download the report"])


def test_with_a_receipt_key_the_report_carries_the_servers_signature(tmp_path, monkeypatch):
    from apphelpers import record_downloads

    from app.course.record import receipt_status

    key = "a-long-server-secret-for-receipts"
    recorded = record_downloads(monkeypatch)
    at = open_lesson({"db_url": f"sqlite:///{tmp_path / 'class.db'}", "receipt_key": key})
    say_who(at, "s2")
    signed = parse_report(recorded["Download the report"])
    assert receipt_status(signed, key) == "verified"
    recorded.clear()
    plain = open_lesson({"db_url": f"sqlite:///{tmp_path / 'class.db'}"})  # the other half: no key, no receipt
    say_who(plain, "s2")
    assert receipt_status(parse_report(recorded["Download the report"]), key) == "missing"


def test_an_unreachable_database_says_not_saved_and_keeps_the_download(monkeypatch):
    from apphelpers import record_downloads

    recorded = record_downloads(monkeypatch)
    at = open_lesson({"db_url": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"})
    assert any(w.startswith("Submissions cannot be saved now:") for w in texts(at.warning))  # said before Submit
    say_who(at, "s3")
    submit_empty(at)
    assert not at.exception
    [error] = texts(at.error)
    assert error.startswith("NOT saved.") and "cannot be saved now" in error
    assert "Download the report" in recorded  # the work is not lost: the report is still offered
    assert not at.success


def test_the_environments_database_wins_over_db_url_in_secrets(tmp_path, monkeypatch):
    """$MARGIN_LAB_DB wins over db_url, as every MARGIN_LAB_* variable wins over its file (before: db_url won, so a
    secrets.toml left on a server shadowed the stack's PostgreSQL)."""
    from app.course.serving import database_url

    env_url, file_url = f"sqlite:///{tmp_path / 'env.db'}", f"sqlite:///{tmp_path / 'file.db'}"
    monkeypatch.setenv("MARGIN_LAB_DB", env_url)
    at = open_lesson({"db_url": file_url})
    say_who(at, "s5")
    submit_empty(at)
    assert [s for s in texts(at.success) if s.startswith("Saved: attempt 1")]
    assert [s.student_id for s in Store(env_url).submissions()] == ["s5"]
    assert Store(file_url).submissions() == []
    monkeypatch.setattr("app.course.serving.secret", lambda name, default=None: file_url if name == "db_url" else
                        default)
    assert database_url() == (env_url, "$MARGIN_LAB_DB")
    monkeypatch.delenv("MARGIN_LAB_DB")
    assert database_url() == (file_url, "db_url in secrets.toml")  # the other half: without it, the file's


SECRET_DB = "postgresql+psycopg://dbuser_secret@127.0.0.1:9/classdb_secret?connect_timeout=1"


def shown_texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in (at.markdown, at.caption, at.warning, at.error, at.success, at.info)
                     for e in kind)


def test_a_database_that_is_down_is_one_sentence_without_its_address(monkeypatch, caplog):
    """Students are never shown the database's host, user or name (before: all three, in the warning and the
    NOT saved error); the server's log gets them."""
    import logging

    caplog.set_level(logging.WARNING, logger="margin_lab.course")
    at = open_lesson({"db_url": SECRET_DB})
    say_who(at, "s6")
    submit_empty(at)
    shown = shown_texts(at)
    assert "The class database cannot be reached" in shown and "NOT saved" in shown
    assert not any(word in shown for word in ("dbuser_secret", "classdb_secret", "127.0.0.1", "psycopg"))
    assert "dbuser_secret@127.0.0.1:9/classdb_secret" in caplog.text


def test_a_database_that_fails_during_submit_is_one_sentence_without_its_address(tmp_path, monkeypatch, caplog):
    """The second half: the database was there when the page opened and fails at Submit."""
    import logging

    from app.course.store import Store as RealStore

    def down(store, record):
        raise store._unavailable(OSError("connection to server at 10.9.8.7, port 5432 failed: user dbuser_secret"),
                                 "your submission was NOT saved: try again, or download the report and hand it in")

    caplog.set_level(logging.WARNING, logger="margin_lab.course")
    at = open_lesson({"db_url": f"sqlite:///{tmp_path / 'class.db'}"})
    say_who(at, "s7")
    monkeypatch.setattr(RealStore, "submit", down)
    submit_empty(at)
    [error] = texts(at.error)
    assert error.startswith("NOT saved: The class database cannot be reached; your submission was NOT saved")
    assert "10.9.8.7" not in shown_texts(at) and "dbuser_secret" not in shown_texts(at)
    assert "10.9.8.7" in caplog.text


@pytest.fixture
def frozen_class_code_throttle(monkeypatch):
    """A class-code throttle whose clock is moved by hand: a wait, once owed, is owed until the clock moves."""
    from app.course import access

    now = [1000.0]
    throttle = access.Throttle(clock=lambda: now[0])
    monkeypatch.setattr(access, "CLASS_CODE_THROTTLE", throttle)
    return now


def test_a_class_code_is_asked_and_checked(frozen_class_code_throttle):
    at = open_lesson({"class_code": "margins-42"})
    assert any("weak identity" in c for c in texts(at.caption))
    at.text_input(key=f"{UNIT}-code").set_value("wrong")
    say_who(at, "s4")
    assert any("class code is not this class's" in w and "wait 1 s" in w for w in texts(at.warning))
    frozen_class_code_throttle[0] += 1.0  # the wait, exactly: the next try is allowed
    at.text_input(key=f"{UNIT}-code").set_value("margins-42")
    say_who(at, "s4")
    assert any("class code and typed ID: a weak identity" in c for c in texts(at.caption))


def test_wrong_class_codes_are_slowed_down_per_student(frozen_class_code_throttle):
    """Before: no throttle at all, so a class code could be guessed as fast as the form submits."""
    guesser = open_lesson({"class_code": "margins-42"})
    guesser.text_input(key=f"{UNIT}-code").set_value("wrong")
    say_who(guesser, "s8")
    frozen_class_code_throttle[0] += 0.5  # half the wait: even the right code is not checked yet
    guesser.text_input(key=f"{UNIT}-code").set_value("margins-42")
    say_who(guesser, "s8")
    assert texts(guesser.warning) == ["Too many wrong class codes: wait 1 s before the next try."]
    classmate = open_lesson({"class_code": "margins-42"})  # another student is not slowed by the guesser
    classmate.text_input(key=f"{UNIT}-code").set_value("margins-42")
    say_who(classmate, "s9")
    assert any("Handing in as s9" in c for c in texts(classmate.caption))


def test_a_course_link_lists_its_lessons_and_a_bad_one_is_one_sentence():
    course = builtin_course("margin-lab")
    at = open_lesson({}, {"course": course.id})
    assert texts(at.title) == [course.title]
    cards = [c for c in texts(at.caption) if " min · " in c]
    assert len(cards) == len(course.lessons)
    bad = open_lesson({}, {"course": "no-such-course"})
    [warning] = texts(bad.warning)
    assert "no-such-course" in warning and warning.count(". ") <= 1
    assert len([c for c in texts(bad.caption) if " min · " in c]) == len(load_lessons())


def test_a_course_file_on_the_command_line_sets_order_due_dates_and_locks(tmp_path, monkeypatch):
    path = tmp_path / "course.toml"
    path.write_text('[course]\nid = "term-1"\ntitle = "Term one"\nversion = 1\n\n'
                    '[[lessons]]\nid = "arcface"\ndue = 2027-03-15\nlocked = ["seed"]\npreset = { seed = 7 }\n\n'
                    '[[lessons]]\nid = "softmax"\n')
    monkeypatch.setattr("sys.argv", ["streamlit_app.py", "--course", str(path)])
    at = open_lesson({}, {})
    assert texts(at.title) == ["Term one"]
    cards = [c for c in texts(at.caption) if " min · " in c]
    assert len(cards) == 2 and cards[0].endswith("due 2027-03-15 23:59 UTC")
    lesson = open_lesson({}, {"lesson": "arcface"})
    assert lesson.number_input(key="lesson-arcface-seed").disabled
    assert lesson.session_state["lesson-arcface-values"]["seed"] == 7
    [nxt] = [link for link in lesson.get("page_link") if "Next lesson" in link.proto.label]
    assert "Softmax" in nxt.proto.label  # the course's order, not the lessons' numbers


OUTSIDE_COURSE = ('[course]\nid = "ml-audit-2027"\ntitle = "ML audit 2027"\nversion = 1\n\n'
                  '[[lessons]]\nid = "softmax"\n\n[[lessons]]\nid = "arcface"\n')


def test_the_served_course_file_wins_over_the_link_it_wrote_itself(tmp_path, monkeypatch):
    """`--course FILE` outside lessons/: the page writes ?course=ml-audit-2027 into the address bar, and the next
    run must still serve the file (before: "There is no course 'ml-audit-2027'", Next lesson left the course and
    the submission had no course)."""
    path = tmp_path / "elsewhere" / "audit.toml"
    path.parent.mkdir()
    path.write_text(OUTSIDE_COURSE)
    monkeypatch.setattr("sys.argv", ["streamlit_app.py", "--course", str(path)])
    url = f"sqlite:///{tmp_path / 'class.db'}"
    at = open_lesson({"db_url": url}, {"lesson": "softmax", "course": "ml-audit-2027"})
    assert not at.warning, texts(at.warning)
    assert at.query_params["course"] == "ml-audit-2027"
    [nxt] = [link for link in at.get("page_link") if "Next lesson" in link.proto.label]
    assert "ArcFace" in nxt.proto.label  # the course's next lesson, not the lessons' number 2
    say_who(at, "s7")
    submit_empty(at)
    assert [s for s in texts(at.success) if s.startswith("Saved: attempt 1")]
    [stored] = Store(url).submissions(student_id="s7")
    assert stored.course_id == "ml-audit-2027"


def test_a_link_naming_another_course_gets_one_sentence_and_the_served_course_stays(tmp_path, monkeypatch):
    path = tmp_path / "audit.toml"
    path.write_text(OUTSIDE_COURSE)
    monkeypatch.setattr("sys.argv", ["streamlit_app.py", "--course", str(path)])
    at = open_lesson({}, {"course": "margin-lab"})
    [warning] = texts(at.warning)
    assert "ml-audit-2027" in warning and "margin-lab" in warning and warning.count(". ") == 0
    assert texts(at.title) == ["ML audit 2027"]
    assert len([c for c in texts(at.caption) if " min · " in c]) == 2
    same = open_lesson({}, {"course": "ml-audit-2027"})  # the link naming the served course: no sentence
    assert not same.warning and texts(same.title) == ["ML audit 2027"]


def test_a_bad_course_file_is_one_sentence_and_the_lessons_still_work(tmp_path, monkeypatch):
    path = tmp_path / "course.toml"
    path.write_text('[course]\nid = "term-1"\ntitle = "Term one"\nversion = 1\n\n[[lessons]]\nid = "arcfase"\n')
    monkeypatch.setattr("sys.argv", ["streamlit_app.py", "--course", str(path)])
    at = open_lesson({}, {})
    [warning] = texts(at.warning)
    assert warning.startswith("The course file could not be used:") and "arcfase" in warning
    assert len([c for c in texts(at.caption) if " min · " in c]) == len(load_lessons())


@pytest.mark.slow
def test_the_grader_replays_a_report_the_app_made_and_flags_a_tampered_copy(tmp_path, monkeypatch):
    import csv
    import subprocess
    import sys

    from apphelpers import ROOT, record_downloads

    recorded = record_downloads(monkeypatch)
    at = open_lesson({"db_url": f"sqlite:///{tmp_path / 'class.db'}"}, {"course": "margin-lab", "lesson": LESSON.id})
    say_who(at, "honest")
    apply_live(at, UNIT, LESSON.solution[0].values)
    train_until_passed(at, LESSON, LESSON.solution[0].epochs)
    at.run()
    honest = json.loads(recorded["Download the report"])
    assert honest["course"]["id"] == "margin-lab"
    tampered = json.loads(json.dumps(honest))
    tampered["student"] = {"id": "tamperer", "name": "tamperer", "identity": "typed"}
    first = LESSON.checks[0].id
    metric = next(iter(LESSON.checks[0].reach))
    tampered["checks"][first]["run"]["metrics"][metric] *= 1.5  # a hand-edited number
    tampered.pop("summary")
    (tmp_path / "honest.json").write_text(json.dumps(honest))
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    (tmp_path / "junk.json").write_text("not json at all")
    out = tmp_path / "grades"
    done = subprocess.run([sys.executable, "-m", "app.course", "grade", "--course", "lessons/course.toml",
                           "--jobs", "1", str(tmp_path / "honest.json"), str(tmp_path / "tampered.json"),
                           str(tmp_path / "junk.json"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((out / "grades_long.csv").open()))
    checks = {(r["student_id"], r["task_id"]): r for r in rows if r["lesson_id"] == LESSON.id and r["task"] == "check"}
    assert checks["honest", first]["flagged"] == "no" and float(checks["honest", first]["points"]) > 0
    assert checks["tamperer", first]["flagged"] == "yes"
    rejects = (out / "rejects.csv").read_text()
    assert "junk.json" in rejects


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
        "client_secret": "s", "server_metadata_url": "https://id.example/.well-known/openid-configuration"}


def test_with_login_configured_the_student_is_who_they_logged_in_as(tmp_path):
    def lesson_as(user: dict) -> AppTest:
        at = AppTest.from_file(ENTRY, default_timeout=120)
        at.secrets["auth"] = AUTH
        at.secrets["db_url"] = f"sqlite:///{tmp_path / 'class.db'}"
        at.user = user
        at.switch_page(LESSONS_PAGE)
        at.query_params["lesson"] = LESSON.id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    anonymous = lesson_as({"is_logged_in": False})
    assert [b.label for b in anonymous.button if b.label == "Log in to submit"]
    assert not [b for b in anonymous.button if b.label == "Submit"]
    assert not [t for t in anonymous.text_input if t.label == "Your student ID or name"]  # no typed identity

    ada = lesson_as({"is_logged_in": True, "email": "ada@school.edu", "name": "Ada Lovelace"})
    assert any("Handing in as ada@school.edu (logged in)" in c for c in texts(ada.caption))
    submit_empty(ada)
    assert [s for s in texts(ada.success) if s.startswith("Saved: attempt 1")]
    [stored] = Store(f"sqlite:///{tmp_path / 'class.db'}").submissions(student_id="ada@school.edu")
    assert stored.record["student"] == {"id": "ada@school.edu", "name": "Ada Lovelace", "identity": "login"}
