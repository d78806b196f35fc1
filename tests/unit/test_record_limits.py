"""Every limit a report is checked against, at its equality case: a report exactly at a limit is read, one past it
gets its one sentence (the record module's caps, the size cap on both the reading and the writing side)."""

from __future__ import annotations

import pytest
from _course_helpers import COMPARE_RUN, copy_of, record_with

from app.course import record as record_module
from app.course.record import (
    MAX_INT,
    MAX_KEYS,
    MAX_LOG,
    MAX_MEMBERS,
    MAX_METRICS,
    ReportError,
    parse_report,
    read_report,
    report_json,
    validate_record,
)

LIVE_RUN = {"unit": "live", "initial": {"loss": "arcface"}, "hyper_log": [], "step": 10, "epoch": 0,
            "metrics": {"test_accuracy": 0.5}}  # fmt: skip


def refused(record) -> str:
    with pytest.raises(ReportError) as err:
        validate_record(record, source="r.json")
    return str(err.value)


def live(**changes) -> dict:
    return record_with({**copy_of(LIVE_RUN), **changes})


def test_exactly_max_keys_url_values_are_read_and_one_more_is_not():
    keys = {f"k{i}": "1" for i in range(MAX_KEYS)}
    assert validate_record(live(initial=keys))
    assert refused(live(initial={**keys, "extra": "1"})) == (
        f"r.json: checks.c.run.initial: has {MAX_KEYS + 1} keys (at most {MAX_KEYS})."
    )


def test_exactly_max_metrics_are_read_and_one_more_is_not():
    metrics = {f"m{i}": 0.5 for i in range(MAX_METRICS)}
    assert validate_record(live(metrics=metrics))
    assert refused(live(metrics={**metrics, "extra": 0.5})) == (
        f"r.json: checks.c.run.metrics: has {MAX_METRICS + 1} names (at most {MAX_METRICS})."
    )


@pytest.mark.parametrize("count", [1, MAX_MEMBERS])
def test_a_compare_run_of_one_member_or_of_max_members_is_read(count):
    run = copy_of(COMPARE_RUN)
    run["members"] = {f"l{i}": {"initial": {}, "hyper_log": []} for i in range(count)}
    run["member"] = "l0"
    assert list(validate_record(record_with(run))["checks"]["c"]["run"]["members"]) == list(run["members"])


def test_a_compare_runs_members_may_log_max_log_changes_in_all_and_not_one_more():
    run = copy_of(COMPARE_RUN)
    half = MAX_LOG // 2
    run["members"]["softmax"]["hyper_log"] = [[1, {}]] * half
    run["members"]["arcface"]["hyper_log"] = [[1, {}]] * (MAX_LOG - half)
    assert validate_record(record_with(run))
    run["members"]["arcface"]["hyper_log"].append([1, {}])
    assert refused(record_with(run)) == (
        f"r.json: checks.c.run.members: have {MAX_LOG + 1} hot changes in all (at most {MAX_LOG})."
    )


def test_a_whole_number_below_its_minimum_is_named_down_to_minus_max_int():
    at_edge = record_with(None, lesson={"id": "gamma", "version": -MAX_INT})
    assert refused(at_edge) == f"r.json: lesson.version: {-MAX_INT} is below 1."
    beyond = record_with(None, lesson={"id": "gamma", "version": -MAX_INT - 1})
    assert refused(beyond) == "r.json: lesson.version: is below 1."  # a number too long to be a sentence
    assert refused(record_with(None, lesson={"id": "gamma", "version": MAX_INT + 1})) == (
        f"r.json: lesson.version: is too large (at most {MAX_INT})."
    )
    assert validate_record(record_with(None, lesson={"id": "gamma", "version": MAX_INT}))


def test_a_report_file_of_exactly_the_size_cap_is_read_and_one_byte_more_is_not(tmp_path, monkeypatch):
    text = report_json(record_with(copy_of(LIVE_RUN)))
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    size = len(text.encode("utf-8"))
    monkeypatch.setattr(record_module, "REPORT_SIZE_CAP", size)
    assert read_report(path)["lesson"]["id"] == "gamma"
    assert parse_report(text.encode("utf-8"), source="r.json")["lesson"]["id"] == "gamma"
    monkeypatch.setattr(record_module, "REPORT_SIZE_CAP", size - 1)
    with pytest.raises(ReportError, match=r"^r\.json: the file is \d+ kB, over the 0 kB limit for a report\.$"):
        read_report(path)
    with pytest.raises(ReportError, match=r"^r\.json: the file is \d+ kB, over the 0 kB limit for a report\.$"):
        parse_report(text.encode("utf-8"), source="r.json")


def test_a_report_written_at_exactly_the_size_cap_is_kept_and_one_byte_more_is_refused(monkeypatch):
    record = record_with(copy_of(LIVE_RUN))
    size = len(report_json(record).rstrip("\n").encode("utf-8"))
    monkeypatch.setattr(record_module, "REPORT_SIZE_CAP", size)
    assert report_json(record).endswith("}\n")
    monkeypatch.setattr(record_module, "REPORT_SIZE_CAP", size - 1)
    with pytest.raises(ReportError, match=r"^the report would be \d+ kB, over the 0 kB limit\.$"):
        report_json(record)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_metric_that_is_not_a_finite_number_is_one_sentence(value):
    assert refused(live(metrics={"test_accuracy": value})) == (
        "r.json: checks.c.run.metrics.test_accuracy: must be a finite number."
    )
