"""The submission record and report files: the format, each bad report as one sentence, the run bridge."""

from __future__ import annotations

import json

import pytest
import torch
from _course_helpers import copy_of, course_at, live_record

from app import state
from app.course.record import (
    REPORT_SIZE_CAP,
    ReportError,
    parse_report,
    read_report,
    report_json,
    summary_text,
    validate_record,
)
from app.lessons.run_record import RunError, replay_inputs, run_record
from toy_models.train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def record(tmp_path_factory, digits):
    torch.set_num_threads(1)
    course = course_at(tmp_path_factory.mktemp("course"))
    return live_record(course, dataset=digits)


def test_a_record_from_a_live_run_validates_and_round_trips_through_a_report_file(record, tmp_path):
    text = report_json(record)
    data = json.loads(text)
    assert data["summary"] == summary_text(record)
    assert "Student: Ada Lovelace [s1], identity: typed" in data["summary"]
    assert "Check learns: passed (epoch 2, step 46)" in data["summary"]
    path = tmp_path / "report.json"
    path.write_text(text, encoding="utf-8")
    assert read_report(path) == record  # the summary is dropped, the rest is the record
    run = record["checks"]["learns"]["run"]
    assert run["unit"] == "live" and run["hyper_log"] == [[9, {"lr": "0.02"}]]
    assert run["initial"]["seed"] == "2" and run["initial"]["loss"] == "arcface"


def test_the_run_bridge_gives_back_the_trainers_own_config(digits):
    values = state.validate({"loss": "cosface", "m": "0.25", "dim": "2", "seed": "5", "batch": "32"}).values
    trainer = Trainer(TrainConfig(**state.config_fields(values), num_threads=1), dataset=digits)
    trainer.advance(steps=4)
    trainer.set_hyper(margin=0.3, scale=20.0)
    trainer.advance(steps=3)
    trainer.set_hyper(lr=0.005)
    run = run_record(trainer, {"epoch": 0.0})
    assert run["hyper_log"] == [[4, {"margin": "0.3", "scale": "20"}], [7, {"lr": "0.005"}]]
    config, log, final = replay_inputs(json.loads(json.dumps(run)))
    assert config == trainer.initial_config
    assert log == trainer.hyper_log
    assert (final["margin"], final["scale"], final["lr"]) == (0.3, 20.0, 0.005)
    assert run_record(trainer, {}, unit="compare")["unit"] == "compare"  # the unit as given


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r["initial"].update(m="9"), "run.initial: Report value m=9 is above"),
        (lambda r: r["initial"].update(colour="red"), "run.initial: Report key colour is not a setting"),
        (lambda r: r["hyper_log"].append([r["step"], {"dim": "2"}]), "run.hyper_log[1]: Embedding dim cannot change"),
        (lambda r: r["hyper_log"].append([r["step"], {"lr": "0.0123"}]), "run.hyper_log[1]: Report value lr=0.0123"),
    ],
)
def test_a_run_the_app_could_not_have_made_is_refused(record, change, words):
    run = copy_of(record["checks"]["learns"]["run"])
    change(run)
    with pytest.raises(RunError, match=words.replace("[", r"\[").replace("]", r"\]")):
        replay_inputs(run)


# --------------------------------------------------------------------------------------------------------
# Bad reports: each one sentence naming the source and the field


def test_not_json_is_one_sentence():
    with pytest.raises(ReportError) as caught:
        parse_report(b"{'student': 'not json'}", source="r.json")
    assert str(caught.value) == "r.json: the file is not JSON (line 1, column 2), so not a report."
    with pytest.raises(ReportError, match=r"r\.json: the file is not UTF-8 text"):
        parse_report(b"\xff\xfe{}", source="r.json")
    with pytest.raises(ReportError, match=r"r\.json: the file is not JSON"):
        parse_report(b"", source="r.json")


def test_over_the_size_cap_is_refused_before_parsing(tmp_path, monkeypatch):
    parsed = []
    monkeypatch.setattr(json, "loads", lambda *a, **k: parsed.append(1))
    big = b"[" * (REPORT_SIZE_CAP + 1)  # would nest far too deep for the parser, if it ever got there
    with pytest.raises(ReportError, match=r"r.json: the file is 256 kB, over the 256 kB limit for a report\."):
        parse_report(big, source="r.json")
    path = tmp_path / "huge.json"
    path.write_bytes(b" " * (10 * REPORT_SIZE_CAP))
    with pytest.raises(ReportError, match=r"huge.json: the file is 2560 kB, over the 256 kB limit"):
        read_report(path)
    assert parsed == []


def test_nan_and_deep_nesting_are_not_reports():
    with pytest.raises(ReportError, match="not JSON"):
        parse_report(b'{"a": NaN}', source="r.json")
    with pytest.raises(ReportError, match=r"nests too deeply|not JSON"):
        parse_report(b"[" * 100_000, source="r.json")


REQUIRED = ["format", "format_version", "app_version", "course", "student", "lesson", "answers", "checks",
            "started_at", "submitted_at"]


@pytest.mark.parametrize("field", REQUIRED)
def test_a_missing_top_level_field_is_named(record, field):
    broken = copy_of(record)
    del broken[field]
    with pytest.raises(ReportError) as caught:
        parse_report(json.dumps(broken), source="r.json")
    assert str(caught.value) == f"r.json: {field}: missing."


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("student", "id"), None, "r.json: student.id: missing."),
        (("checks", "learns", "run", "step"), None, "r.json: checks.learns.run.step: missing."),
        (("course", "hash"), None, "r.json: course.hash: missing."),
        (("format",), "something-else", "r.json: format: 'something-else' is not 'margin-lab-submission'."),
        (("format_version",), 2, "r.json: format_version: 2 is not a version this app reads (1)."),
        (("course", "version"), "3", "r.json: course.version: must be a whole number, not text."),
        (("course", "hash"), "abc", "r.json: course.hash: must be 64 hexadecimal digits (a SHA-256)."),
        (("student", "identity"), "admin", "r.json: student.identity: 'admin' is not one of typed, login, class-code."),
        (("student", "id"), "", "r.json: student.id: is empty."),
        (("student", "id"), "a\x00b", "r.json: student.id: contains control characters."),
        (("student", "id"), "x" * 201, "r.json: student.id: is 201 characters long (at most 200)."),
        (("lesson", "id"), "../etc",
         "r.json: lesson.id: '../etc' is not an id (lower-case letters, digits and dashes)."),
        (("answers", "wedge"), [1], "r.json: answers.wedge: must be a number, not a list."),
        (("checks", "learns", "status"), "great", "r.json: checks.learns.status: 'great' is not one of passed, "
                                                  "not_yet, failed."),
        (("checks", "learns", "run", "metrics", "inter_deg"), "55", "r.json: checks.learns.run.metrics.inter_deg: "
                                                                    "must be a number, not text."),
        (("checks", "learns", "run", "unit"), "multi", "r.json: checks.learns.run.unit: 'multi' is not one of live, "
                                                       "compare."),
        (("checks", "learns", "run", "hyper_log"), [[100, {"lr": "0.02"}]], "r.json: checks.learns.run.hyper_log: a "
                                                                            "change at step 100 is beyond the run's "
                                                                            "step 46."),
        (("submitted_at",), "yesterday", "r.json: submitted_at: 'yesterday' is not an ISO 8601 date and time."),
        (("started_at",), "2026-12-01T09:00:00", "r.json: started_at: '2026-12-01T09:00:00' has no time zone."),
        (("extra",), 1, "r.json: extra: is not a field of a submission."),
    ],
)
def test_a_bad_field_is_one_sentence(record, path, value, message):
    broken = copy_of(record)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(ReportError) as caught:
        parse_report(json.dumps(broken).encode(), source="r.json")
    assert str(caught.value) == message


@pytest.mark.parametrize("student_id", ["x'); DROP TABLE submissions; --", "<script>alert(1)</script>",
                                        "Robert\"); DELETE FROM submissions WHERE (\"1\"=\"1", "=HYPERLINK(\"x\")"])
def test_sql_or_html_in_a_student_id_is_just_text(record, student_id):
    odd = copy_of(record)
    odd["student"]["id"] = student_id
    odd["student"]["name"] = student_id
    assert parse_report(report_json(odd))["student"]["id"] == student_id


def test_a_record_without_a_course_is_a_valid_record(record):
    solo = copy_of(record)
    solo["course"] = None
    assert validate_record(solo)["course"] is None
    assert "Course: none" in summary_text(solo)


def test_a_run_driven_by_the_live_units_own_functions_replays_exactly():
    """The app's plumbing, not a hand-made loop: time-budgeted ticks, a slider change handed over with
    the handle's request_hyper, then Step; the RUN its epoch probe records replays to identical metrics."""
    from app.lessons.checks import run_metrics
    from app.lessons.probe import measure_now
    from app.lessons.run_record import replay_run
    from app.live.unit import config_for
    from app.training.handle import ModelHandle
    from app.training.runners import InlineRunner
    from app.training.worker import dataset_of

    values = state.validate({"loss": "arcface", "m": "0.2", "dim": "3", "seed": "3"}).values
    config = config_for(values, dataset_of(TrainConfig()), None)
    handle = ModelHandle(InlineRunner(), [config])
    handle.start(epochs=None, seconds=0.2)  # a short tick
    handle.request_hyper(0, margin=0.35, lr=0.02)  # a hot change while the tick trains
    handle.collect()
    handle.advance(epochs=1, seconds=20)  # Step
    found = handle.call(measure_now, "c", None, ("test_accuracy", "inter_deg"), "live")["c"]
    record, metrics = found.record, found.metrics
    assert [changes for _, changes in record["hyper_log"]] == [{"margin": "0.35", "lr": "0.02"}]
    replayed, final = replay_run(json.loads(json.dumps(record)))
    assert run_metrics(replayed) == metrics
    assert (replayed.step, replayed.epoch) == (handle.step, handle.epoch)
    assert (final["margin"], final["lr"]) == (0.35, 0.02)


def _with_log(record, log):
    changed = copy_of(record)
    changed["checks"]["learns"]["run"]["hyper_log"] = log
    return changed


def test_a_hot_change_at_the_runs_own_step_is_read_and_one_step_later_is_not(record):
    step = record["checks"]["learns"]["run"]["step"]
    assert validate_record(_with_log(record, [[step, {"lr": "0.02"}]]))
    with pytest.raises(ReportError, match=f"a change at step {step + 1} is beyond the run's step {step}"):
        validate_record(_with_log(record, [[step + 1, {"lr": "0.02"}]]))


def test_changes_at_one_step_are_read_and_a_step_going_back_is_one_sentence(record):
    assert validate_record(_with_log(record, [[5, {"lr": "0.02"}], [5, {"m": "0.3"}]]))
    with pytest.raises(ReportError) as caught:
        validate_record(_with_log(record, [[5, {"lr": "0.02"}], [4, {"m": "0.3"}]]), source="r.json")
    assert str(caught.value) == "r.json: checks.learns.run.hyper_log[1][0]: step 4 comes after step 5."


def test_a_log_of_exactly_max_log_changes_is_read_and_one_more_is_not(record):
    from app.course.record import MAX_LOG

    assert validate_record(_with_log(record, [[1, {}]] * MAX_LOG))
    with pytest.raises(ReportError, match=f"has {MAX_LOG + 1} entries \\(at most {MAX_LOG}\\)"):
        validate_record(_with_log(record, [[1, {}]] * (MAX_LOG + 1)))
