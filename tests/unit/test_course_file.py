"""Course files: the schema, the hash, the default course, and one sentence for each bad file."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from _course_helpers import COURSE_TEXT, FIXTURES, course_at, fixture_lessons, write_course

from app.compat import tomllib
from app.course import cli
from app.course.course import (
    DEFAULT_COURSE,
    CourseError,
    builtin_course,
    builtin_courses,
    course_toml,
    load_course,
    parse_course,
)

NINE = ["softmax", "normface", "sphereface", "cosface", "arcface", "side-by-side", "open-set", "choosing-s-and-m",
        "gradient"]


def test_a_course_file_gives_its_lessons_points_and_dates(tmp_path):
    course = course_at(tmp_path)
    assert (course.id, course.title, course.version) == ("test-course", "Course tests", 3)
    alpha, beta, gamma = course.lessons
    assert alpha.id == "alpha" and alpha.version == 2
    assert alpha.questions == {"wedge": 1.0, "spacing": 2.0}
    assert alpha.checks == {"learns": 3.0, "spread": 1.0}
    assert alpha.points_possible == 7.0
    assert alpha.due == datetime(2026, 12, 15, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert alpha.locked == frozenset({"margin"})
    assert alpha.preset_values["seed"] == 2 and alpha.preset_values["m"] == 0.2  # the override over the lesson's
    assert alpha.is_late("2026-12-16T00:00:00+00:00") and not alpha.is_late("2026-12-15T23:00:00+00:00")
    # Without tables, every question and check counts one point.
    assert beta.questions == {"which": 1.0, "unit": 1.0} and beta.checks == {"learns": 1.0} and beta.due is None
    assert gamma.checks == {"arcface-margin": 2.0} and gamma.preset == {"seed": 4}  # a compare lesson's shared key
    assert course.ref() == {"id": "test-course", "version": 3, "hash": course.hash}


def test_the_hash_is_of_the_canonical_bytes(tmp_path):
    plain = course_at(tmp_path)
    windows = load_course(write_course(tmp_path, "\ufeff" + COURSE_TEXT.replace("\n", "\r\n"), "win.toml"),
                          lessons=fixture_lessons())
    edited = load_course(write_course(tmp_path, COURSE_TEXT.replace("wedge = 1", "wedge = 2"), "edit.toml"),
                         lessons=fixture_lessons())
    assert len(plain.hash) == 64
    assert windows.hash == plain.hash  # line ends and a byte-order mark do not change the course
    assert edited.hash != plain.hash  # any real edit does


def test_the_default_course_lists_the_nine_lessons_in_order():
    raw = tomllib.loads(DEFAULT_COURSE.read_text(encoding="utf-8"))
    assert [entry["id"] for entry in raw["lessons"]] == NINE
    assert raw["course"]["id"] == "margin-lab"
    assert builtin_courses()["margin-lab"] == DEFAULT_COURSE


def test_an_unknown_built_in_course_is_one_sentence():
    with pytest.raises(CourseError) as caught:
        builtin_course("<script>nope</script>")
    assert str(caught.value) == "There is no course '<script>nope</script>' (the built-in courses: margin-lab)."


def test_the_default_course_validates_against_the_lessons():
    from app.lessons.format import LESSONS_DIR, load_lessons

    present = {path.stem.split("-", 1)[1] for path in LESSONS_DIR.glob("0*.md")}
    if not set(NINE) <= present:
        pytest.skip(f"the lesson files are not all written yet (missing: {sorted(set(NINE) - present)})")
    course = load_course(DEFAULT_COURSE, lessons=load_lessons())
    assert [entry.id for entry in course.lessons] == NINE


BAD = [
    ("syntax", COURSE_TEXT.replace('version = 3', 'version = = 3'), "TOML syntax error", ""),
    ("unknown lesson", COURSE_TEXT.replace('id = "beta"', 'id = "delta"'), "lessons[1].id",
     "'delta' is not a lesson"),
    ("wrong type", COURSE_TEXT.replace("version = 3", 'version = "3"'), "course.version", "whole number"),
    ("version zero", COURSE_TEXT.replace("version = 3", "version = 0"), "course.version", "0 is below 1"),
    ("points type", COURSE_TEXT.replace("wedge = 1", 'wedge = "one"'), "lessons[0].questions.wedge",
     "points must be a number"),
    ("preset out of range", COURSE_TEXT.replace("preset = { seed = 2 }", "preset = { m = 9 }"),
     "lessons[0].preset.m", "above ArcFace's maximum"),
    ("preset type", COURSE_TEXT.replace("preset = { seed = 2 }", "preset = { m = [1] }"), "lessons[0].preset.m",
     "expected one value"),
    ("duplicate lesson", COURSE_TEXT + '\n[[lessons]]\nid = "alpha"\n', "lessons[3].id", "assigned twice"),
    ("due not a date", COURSE_TEXT.replace("due = 2026-12-15", 'due = "next friday"'), "lessons[0].due",
     "'next friday' is not a date"),
    ("due impossible", COURSE_TEXT.replace("due = 2026-12-15", 'due = "2026-13-45"'), "lessons[0].due",
     "is not a date"),
    ("due a number", COURSE_TEXT.replace("due = 2026-12-15", "due = 20261215"), "lessons[0].due", "is not a date"),
    ("unknown question", COURSE_TEXT.replace("wedge = 1", "wedgie = 1"), "lessons[0].questions.wedgie",
     "no question 'wedgie'"),
    ("unknown check", COURSE_TEXT.replace("learns = 3", "learn = 3"), "lessons[0].checks.learn", "no check 'learn'"),
    ("negative points", COURSE_TEXT.replace("learns = 3", "learns = -3"), "lessons[0].checks.learns", "negative"),
    ("compare preset", COURSE_TEXT.replace("preset = { seed = 4 }", "preset = { m = 0.3 }"), "lessons[2].preset.m",
     "a compare lesson takes only lr, batch_size, backbone, seed, dataset, train_identities, embedding_dim here"),
    ("unknown key", COURSE_TEXT.replace("due = 2026-12-15", "deadline = 2026-12-15"), "lessons[0].deadline",
     "unknown key"),
    ("unknown control", COURSE_TEXT.replace('locked = ["margin"]', 'locked = ["margn"]'), "lessons[0].locked",
     "not a control"),
    ("bad course id", COURSE_TEXT.replace('id = "test-course"', 'id = "Test Course!"'), "course.id", "not an id"),
    ("no course table", COURSE_TEXT.replace("[course]", "[curse]"), "course", "missing"),
    ("missing title", COURSE_TEXT.replace('title = "Course tests"\n', ""), "course.title", "missing"),
    ("canvas without an id", COURSE_TEXT.replace('id = "beta"', 'id = "beta"\ncanvas = "Beta lab"'),
     "lessons[1].canvas", "is not a Canvas gradebook column"),
    ("canvas id not a number", COURSE_TEXT.replace('id = "beta"', 'id = "beta"\ncanvas = "Beta lab (b12)"'),
     "lessons[1].canvas", "<title> (<assignment id>)"),
    ("canvas not text", COURSE_TEXT.replace('id = "beta"', 'id = "beta"\ncanvas = 4821'), "lessons[1].canvas",
     "a number is not a Canvas gradebook column"),
    ("canvas twice", COURSE_TEXT.replace('id = "beta"', 'id = "beta"\ncanvas = "B (7)"').replace(
        'id = "gamma"', 'id = "gamma"\ncanvas = "G (7)"'), "lessons[2].canvas", "assignment 7 is already lessons[1]"),
]


@pytest.mark.parametrize(("case", "text", "field", "problem"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_course_file_is_one_sentence_naming_file_field_and_problem(tmp_path, case, text, field, problem):
    path = write_course(tmp_path, text)
    with pytest.raises(CourseError) as caught:
        load_course(path, lessons=fixture_lessons())
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert field in message and problem in message, message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def test_a_file_that_is_not_utf8_or_too_large_is_refused(tmp_path):
    with pytest.raises(CourseError, match="not UTF-8"):
        parse_course(b"[course]\nid = \"\xff\"\n", fixture_lessons())
    with pytest.raises(CourseError, match="over the 256 kB limit"):
        parse_course(b"#" * (300 * 1024), fixture_lessons())
    with pytest.raises(CourseError, match="cannot be read"):
        load_course(tmp_path / "absent.toml", lessons=fixture_lessons())


def test_broken_built_in_lessons_are_one_course_sentence(tmp_path, monkeypatch):
    from app.course import course as course_module
    from app.lessons.format import LessonError

    def broken():
        raise LessonError("lessons/05-arcface.md: preset.m: Lesson file value m=2.0 is above ArcFace's maximum.")

    monkeypatch.setattr(course_module, "_builtin_lessons", broken)
    path = write_course(tmp_path)
    with pytest.raises(CourseError) as caught:
        load_course(path)
    assert str(caught.value) == (f"{path}: lessons: the built-in lessons cannot be loaded (lessons/05-arcface.md: "
                                 "preset.m: Lesson file value m=2.0 is above ArcFace's maximum).")


def test_course_toml_writes_a_file_that_validates_to_the_same_course(tmp_path):
    text = course_toml("built", 'A "quoted" title', 1, [
        {"id": "alpha", "due": "2026-12-01", "locked": ["margin", "loss"], "questions": {"wedge": 2},
         "checks": {"learns": 5}, "preset": {"m": 0.3}},
        {"id": "beta", "hidden": frozenset({"backbone"})},
    ])
    course = load_course(write_course(tmp_path, text), lessons=fixture_lessons())
    assert course.title == 'A "quoted" title'
    assert course.lesson("alpha").questions == {"wedge": 2.0} and course.lesson("alpha").checks == {"learns": 5.0}
    assert course.lesson("alpha").preset == {"m": 0.3} and course.lesson("alpha").locked == {"margin", "loss"}
    assert course.lesson("beta").hidden == {"backbone"}


def test_cli_validate_prints_the_course_or_one_sentence(tmp_path, capsys):
    good = write_course(tmp_path, COURSE_TEXT)
    assert cli.main(["validate", str(good), "--lessons", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "course test-course version 3, 3 lessons, 14 points" in out and "due 2026-12-15" in out
    bad = write_course(tmp_path, COURSE_TEXT.replace('id = "beta"', 'id = "delta"'), "bad.toml")
    assert cli.main(["validate", str(bad), "--lessons", str(FIXTURES)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lessons[1].id: 'delta' is not a lesson" in err[0]


def test_a_canvas_column_maps_a_lesson_to_its_assignment(tmp_path):
    text = COURSE_TEXT.replace('id = "beta"', 'id = "beta"\ncanvas = "Week 3: CosFace lab (48213)"')
    course = load_course(write_course(tmp_path, text), lessons=fixture_lessons())
    assert course.lesson("beta").canvas == "Week 3: CosFace lab (48213)" and course.lesson("alpha").canvas is None


def test_version_1_is_the_first_a_course_may_have(tmp_path):
    path = write_course(tmp_path, COURSE_TEXT.replace("version = 3", "version = 1"))
    assert load_course(path, lessons=fixture_lessons()).version == 1
