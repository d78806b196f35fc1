"""app.course.builder: course files from the instructor's choices, lesson links and their ?lock= / ?hide=,
the gradebook CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

import pytest

from app.course import CourseError, load_course
from app.course.builder import (
    MAX_NAMES,
    LessonChoice,
    LinkControls,
    build_course,
    gradebook_csv,
    lesson_link,
    link_controls,
)
from app.lessons import load_lessons

LESSONS = load_lessons()
ARCFACE = next(lesson for lesson in LESSONS if lesson.id == "arcface")


def test_a_built_course_file_loads_with_the_chosen_order_points_due_and_controls(tmp_path):
    first_q, first_c = ARCFACE.questions[0].id, ARCFACE.checks[0].id
    text, course = build_course("week-3", 'Margins "and" more', 2, [
        LessonChoice("arcface", due=date(2026, 12, 15), questions={first_q: 2.5}, checks={first_c: 3},
                     locked=["lr"], hidden=["dim"]),
        LessonChoice("softmax"),
    ], LESSONS)
    path = tmp_path / "week-3.toml"
    path.write_text(text, encoding="utf-8")
    loaded = load_course(path)
    assert loaded == course
    assert (loaded.id, loaded.title, loaded.version) == ("week-3", 'Margins "and" more', 2)
    assert [entry.id for entry in loaded.lessons] == ["arcface", "softmax"]
    arcface = loaded.lessons[0]
    assert arcface.due == datetime(2026, 12, 15, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert arcface.questions[first_q] == 2.5 and arcface.checks[first_c] == 3
    # a task left unticked is written with 0 points (an absent table would mean "every task, 1 point")
    assert all(points == 0 for qid, points in arcface.questions.items() if qid != first_q)
    assert arcface.points_possible == 5.5
    assert arcface.locked == {"lr"} and arcface.hidden == {"embedding_dim"}  # "dim" is an alias
    assert loaded.lessons[1].points_possible == 0 and loaded.lessons[1].due is None


def test_a_bad_course_id_is_one_sentence():
    with pytest.raises(CourseError) as raised:
        build_course("Week 3!", "x", 1, [LessonChoice("softmax")], LESSONS)
    message = str(raised.value)
    assert "course.id" in message and message.count(". ") == 0 and message.endswith(".")


def test_an_unknown_lesson_is_named():
    with pytest.raises(CourseError, match="'nope' is not a lesson"):
        build_course("c", "x", 1, [LessonChoice("nope")], LESSONS)


def test_lesson_link_carries_course_and_extra_controls_sorted():
    link = lesson_link("arcface", course_id="week-3", lock=["seed", "lr"], hide=["dim"])
    assert link == "/lessons?lesson=arcface&course=week-3&lock=lr,seed&hide=dim"
    assert lesson_link("softmax") == "/lessons?lesson=softmax"
    assert lesson_link("softmax", base="http://host:8501/lessons") == "http://host:8501/lessons?lesson=softmax"


def test_link_controls_add_to_the_lessons_own_and_never_remove():
    got = link_controls({"lesson": "arcface", "lock": "lr,seed", "hide": "dim"},
                        locked=ARCFACE.locked, hidden=ARCFACE.hidden)
    assert got.locked == ARCFACE.locked | {"lr", "seed"}
    assert got.hidden == ARCFACE.hidden | {"embedding_dim"}
    assert got.notices == ()
    assert link_controls({}, locked={"loss"}).locked == {"loss"}  # no link keys: the lesson's own only


def test_link_controls_ignore_unknown_names_with_one_sentence():
    got = link_controls({"lock": ["lr", "<script>x</script>"], "hide": ""}, locked={"loss"})
    assert got.locked == {"loss", "lr"} and got.hidden == frozenset()
    assert len(got.notices) == 1 and "is not a control" in got.notices[0]
    too_many = link_controls({"hide": ",".join(["dim"] * 40)})
    assert too_many.hidden == frozenset() and "more than the 32 allowed" in too_many.notices[0]
    # The equality case: exactly MAX_NAMES names are read, one more is the sentence.
    assert link_controls({"hide": ",".join(["dim"] * MAX_NAMES)}) == LinkControls(frozenset(), {"embedding_dim"}, ())
    one_more = link_controls({"hide": ",".join(["dim"] * (MAX_NAMES + 1))})
    assert one_more.hidden == frozenset() and f"lists {MAX_NAMES + 1} names" in one_more.notices[0]


def test_gradebook_csv_keeps_ids_as_text_and_defuses_formulas():
    rows = [{"student_id": "=HYPERLINK(\"x\")", "student_name": "Ada", "softmax": "passed", "arcface": ""},
            {"student_id": "x'); DROP TABLE submissions; --", "student_name": "<b>Bob</b>", "softmax": "partial"}]
    text = gradebook_csv(rows, [("softmax", "Softmax"), ("arcface", "ArcFace")])
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["Student ID", "Name", "Softmax (softmax)", "ArcFace (arcface)"]
    assert table[1] == ["'=HYPERLINK(\"x\")", "Ada", "passed", ""]
    assert table[2] == ["x'); DROP TABLE submissions; --", "<b>Bob</b>", "partial", ""]


def test_lesson_for_link_applies_the_course_and_the_link():
    from types import SimpleNamespace

    from app.course.builder import lesson_for_link, link_query

    course_lesson = SimpleNamespace(locked=frozenset({"seed"}), hidden=frozenset({"batch_size"}))
    query = {"lesson": "arcface", "course": "margin-lab", "lock": "lr", "hide": "dim,nope"}
    lesson, notices = lesson_for_link(ARCFACE, query, course_lesson)
    assert lesson.locked == ARCFACE.locked | {"seed", "lr"}
    assert lesson.hidden == ARCFACE.hidden | {"batch_size", "embedding_dim"}
    assert (lesson.id, lesson.questions) == (ARCFACE.id, ARCFACE.questions)
    assert len(notices) == 1 and "'nope'" in notices[0]
    assert lesson_for_link(ARCFACE, {})[0] == ARCFACE
    assert link_query({**query, "m": "0.5"}, "arcface") == {"lesson": "arcface", "course": "margin-lab",
                                                            "lock": "lr", "hide": "dim,nope"}
    assert link_query({"lesson": "x"}, "arcface") == {"lesson": "arcface"}


def test_a_built_course_file_carries_the_canvas_column(tmp_path):
    text, course = build_course("week-3", "Margins", 1, [LessonChoice("arcface", canvas=" ArcFace lab (901) "),
                                                         LessonChoice("softmax")], LESSONS)
    assert 'canvas = "ArcFace lab (901)"' in text and course.lesson("arcface").canvas == "ArcFace lab (901)"
    assert course.lesson("softmax").canvas is None and text.count("canvas") == 1
