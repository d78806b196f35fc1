"""Files from students are untrusted: no value in any field stops the class's grading or import, ids and names are
one printable line, and the report reader is fuzzed with arbitrary JSON values in every field (hypothesis)."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from _course_helpers import FIXTURES, copy_of, course_at, live_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.course import cli
from app.course import grade as grade_module
from app.course.exports import write_outputs
from app.course.grade import Source, grade, load_sources
from app.course.record import MAX_INT, ReportError, parse_report, report_json, summary_text
from app.course.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")
HUGE = 10**400  # a whole number no float holds: math.isfinite(HUGE) raises OverflowError


@pytest.fixture(scope="module")
def setup(tmp_path_factory, digits):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("untrusted")
    course = course_at(folder)
    return {"folder": folder, "course": course, "ada": live_record(course, student_id="s1", dataset=digits)}


def put(record: dict, path: tuple, value) -> dict:
    changed = copy_of(record)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


HUGE_PLACES = [("answers", "wedge"), ("checks", "learns", "run", "metrics", "test_acc"),
               ("checks", "learns", "run", "step"), ("checks", "learns", "run", "epoch"), ("course", "version"),
               ("lesson", "version"), ("format_version",), ("checks", "learns", "run", "hyper_log", 0, 0)]


@pytest.mark.parametrize("path", HUGE_PLACES, ids=lambda p: ".".join(map(str, p)))
@pytest.mark.parametrize("sign", [1, -1])
def test_a_huge_whole_number_anywhere_is_one_sentence(setup, path, sign):
    text = json.dumps(put(setup["ada"], path, sign * HUGE))
    with pytest.raises(ReportError) as caught:
        parse_report(text, source="r.json")
    message = str(caught.value)
    assert message.startswith("r.json: ") and message.endswith(".") and len(message) < 200  # no 400 digits


def test_whole_numbers_end_at_a_32_bit_integer_and_the_largest_is_kept(setup):
    """The equality case: MAX_INT itself is a version; one more is not (PostgreSQL's INTEGER stores neither)."""
    at_limit = put(setup["ada"], ("lesson", "version"), MAX_INT)
    assert parse_report(json.dumps(at_limit))["lesson"]["version"] == MAX_INT
    with pytest.raises(ReportError, match=r"lesson.version: is too large \(at most 2147483647\)"):
        parse_report(json.dumps(put(setup["ada"], ("lesson", "version"), MAX_INT + 1)))


def test_the_largest_float_is_a_number_and_infinity_is_not(setup):
    kept = parse_report(json.dumps(put(setup["ada"], ("answers", "wedge"), 1.7976931348623157e308)))
    assert kept["answers"]["wedge"] == 1.7976931348623157e308
    with pytest.raises(ReportError, match="not JSON"):  # JSON has no Infinity; Python's json would write one
        parse_report(json.dumps(put(setup["ada"], ("answers", "wedge"), float("inf"))))


@pytest.mark.parametrize("bad", ["s1\nrow two", "s1\tcol", "s1\u202egpj.exe", "s1\u2066x", "\u200fs1",
                                 "s1\u00a0x", "s1\u2028x"])
@pytest.mark.parametrize("where", [("student", "id"), ("student", "name")])
def test_ids_and_names_are_one_printable_line_as_the_apps_form_asks(setup, bad, where):
    from app.course.serving import _identity_problem

    assert _identity_problem(bad, None, None)  # the app's own form refuses it
    with pytest.raises(ReportError) as caught:
        parse_report(json.dumps(put(setup["ada"], where, bad)), source="r.json")
    assert str(caught.value).startswith(f"r.json: {'.'.join(where)}: ")


def test_a_direction_control_is_refused_in_any_text(setup):
    with pytest.raises(ReportError, match="text-direction controls"):
        parse_report(json.dumps(put(setup["ada"], ("checks", "learns", "reason"), "ok\u202e")))


@pytest.mark.parametrize("control", [chr(code) for code in range(32) if chr(code) not in "\n\t"] + ["\x7f"],
                         ids=lambda ch: f"U+{ord(ch):04X}")  # fmt: skip
def test_every_control_character_is_refused_in_any_text(setup, control):
    with pytest.raises(ReportError, match="contains control characters"):
        parse_report(json.dumps(put(setup["ada"], ("checks", "learns", "reason"), f"ok{control}")))


def test_a_line_break_and_a_tab_are_kept_in_a_free_text(setup):
    report = parse_report(json.dumps(put(setup["ada"], ("checks", "learns", "reason"), "ok\n\tstill ok")))
    assert report["checks"]["learns"]["reason"] == "ok\n\tstill ok"


def test_a_key_with_a_line_break_is_named_on_one_line(setup):
    odd = copy_of(setup["ada"])
    odd["checks"]["learns"]["run"]["initial"]["x\ny"] = None
    with pytest.raises(ReportError) as caught:
        parse_report(json.dumps(odd), source="r.json")
    assert str(caught.value) == "r.json: checks.learns.run.initial.x\\u000ay: must be text, not null."


def test_names_with_accents_spaces_and_scripts_are_kept(setup):
    for name in ("Zoë O'Brien-Łukasz", "李小龙", "José María"):
        assert parse_report(json.dumps(put(setup["ada"], ("student", "name"), name)))["student"]["name"] == name


def test_one_file_with_a_huge_number_does_not_stop_grading_or_import(setup, tmp_path, capsys):
    """Before: OverflowError out of `grade` and `import`, and no output folder at all."""
    good = tmp_path / "good.json"
    good.write_text(report_json(setup["ada"]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(put(setup["ada"], ("checks", "learns", "run", "metrics", "test_acc"), HUGE)))
    worse = tmp_path / "worse.json"
    worse.write_text(json.dumps(put(setup["ada"], ("answers", "wedge"), -HUGE)))
    course_file = setup["folder"] / "course.toml"
    out = tmp_path / "grades"
    code = cli.main(["grade", "--course", str(course_file), "--lessons", str(FIXTURES), "--jobs", "1",
                     str(good), str(bad), str(worse), "--out", str(out)])
    assert code == 0
    rejects = list(csv.DictReader((out / "rejects.csv").open()))
    assert sorted(r["source"] for r in rejects) == ["bad.json", "worse.json"]
    assert all(r["reason"].count(". ") == 0 and r["reason"].endswith(".") for r in rejects)
    graded = {r["student_id"] for r in csv.DictReader((out / "grades_long.csv").open())}
    assert graded == {"s1"}

    db = f"sqlite:///{tmp_path / 'class.db'}"
    assert cli.main(["import", "--db", db, str(bad), str(good), str(worse)]) == 1  # some files were not imported
    err = capsys.readouterr().err
    assert "bad.json" in err and "worse.json" in err and "Traceback" not in err
    assert [s.student_id for s in Store(db).submissions()] == ["s1"]


def test_an_unforeseen_error_in_one_submission_is_its_reject_and_the_rest_are_graded(setup, monkeypatch):
    """Whatever one submission does that no check foresaw (here: scoring raises for Bob only) ends as one
    sentence in the rejects; Ada is graded."""
    course = setup["course"]
    bob = put(setup["ada"], ("student", "id"), "bob")
    real = grade_module._score_question

    def fragile(entry, question_id, points, answers):
        if answers is bob["answers"]:
            raise ZeroDivisionError("division by zero")
        return real(entry, question_id, points, answers)

    monkeypatch.setattr(grade_module, "_score_question", fragile)
    result = grade(course, [Source("ada.json", setup["ada"]), Source("bob.json", bob)], n_jobs=1)
    assert {row.student_id for row in result.rows} == {"s1"}
    [reject] = result.rejects
    assert reject.label == "bob.json" and reject.student_id == "bob"
    assert reject.reason == "bob.json: it could not be graded (ZeroDivisionError: division by zero)."


def test_an_unreadable_file_of_any_kind_is_a_reject(tmp_path):
    folder = tmp_path / "a-folder.json"
    folder.mkdir()
    missing = tmp_path / "gone.json"
    sources = load_sources([folder, missing])
    assert [s.record for s in sources] == [None, None]
    assert all(s.error.startswith(name) and s.error.endswith(".") for s, name in
               zip(sources, ["a-folder.json", "gone.json"], strict=True))


# -- fuzzing: arbitrary JSON values in every field ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**420), max_value=10**420)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def field_paths(value, prefix=()) -> list[tuple]:
    """Every field of the record, leaves and the objects and lists that hold them."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            paths += field_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += field_paths(child, (*prefix, index))
    return paths


@pytest.fixture(scope="module")
def fuzz_base(setup):
    return setup["ada"], field_paths(setup["ada"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_any_json_value_in_any_field_is_a_record_or_one_sentence(fuzz_base, setup, data, monkeypatch):
    base, paths = fuzz_base
    changes = data.draw(st.lists(st.tuples(st.sampled_from(paths), JSON_VALUES), min_size=1, max_size=3))
    record = copy_of(base)
    for path, value in changes:
        try:
            record = put(record, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier change replaced what this path went through
            continue
    text = json.dumps(record, allow_nan=True)
    try:
        parsed = parse_report(text, source="fuzz.json")
    except ReportError as err:
        message = str(err)
        assert message.startswith("fuzz.json: ") and message.endswith(".") and "\n" not in message[:-1]
        return
    # What the reader accepts, the rest of the pipeline handles: the summary, the report, grading, the exports.
    summary_text(parsed)
    assert parse_report(report_json(parsed)) == parsed
    monkeypatch.setattr(grade_module, "run_replays", lambda jobs, **_: {k: {"error": "not replayed."} for k in jobs})
    result = grade(setup["course"], [Source("fuzz.json", parsed)], n_jobs=1)
    assert len(result.rows) + len(result.rejects) >= 1
    write_outputs(result, setup["course"], setup["folder"] / "fuzz-out")
