"""Lateness, one honest rule (docs/courses.md, "When was it handed in?"): a Submit's time is the server's clock; a
report file's time is the time it claims, verified when the server signed it (receipt_key), else marked
"unverified" in every output; `import` never turns its own time into the hand-in time."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from _course_helpers import FIXTURES, copy_of, course_at, live_record

from app.course import cli
from app.course.exports import feedback_name, write_outputs
from app.course.grade import grade, load_sources
from app.course.record import parse_report, receipt_status, report_json, sign_record
from app.course.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")
KEY = "k" * 32  # the server's receipt_key
PAST_DUE_COURSE = """\
[course]
id = "test-course"
title = "Course tests"
version = 3

[[lessons]]
id = "alpha"
due = 2026-01-15T12:00:00+00:00
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, digits):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("lateness")
    course = course_at(folder, PAST_DUE_COURSE)  # due in the past: an import today is after it
    on_time = live_record(course, submitted_at="2026-01-10T10:00:00+00:00", dataset=digits)
    return {"folder": folder, "course": course, "on_time": on_time}


def backdated(record: dict, when: str = "2026-01-10T10:00:00+00:00") -> dict:
    changed = copy_of(record)
    changed["submitted_at"] = when
    return changed


def test_a_receipt_verifies_the_record_it_signed_and_nothing_else(setup):
    signed = parse_report(report_json(sign_record(setup["on_time"], KEY)))  # through a report file and back
    assert receipt_status(signed, KEY) == "verified"
    assert receipt_status(backdated(signed, "2026-01-09T10:00:00+00:00"), KEY) == "does not match"
    edited = copy_of(signed)
    edited["answers"]["wedge"] = 0
    assert receipt_status(edited, KEY) == "does not match"
    assert receipt_status(signed, "another key, long enough") == "other key"
    assert receipt_status(signed, None) == "no key"
    assert receipt_status(setup["on_time"], KEY) == "missing"
    assert "signed this report" in json.loads(report_json(signed))["summary"]


def rows(result) -> list:
    return [row for row in result.rows if row.task_id == "learns"]


def test_a_backdated_file_without_a_receipt_is_graded_on_its_claim_marked_unverified(setup, tmp_path):
    """Before: a backdated file was on time with nothing marked."""
    late = backdated(setup["on_time"], "2026-01-20T10:00:00+00:00")
    claimed = backdated(late)  # the same work, its time moved back by hand
    path = tmp_path / "claimed.json"
    path.write_text(report_json(claimed))
    result = grade(setup["course"], load_sources([path], receipt_key=KEY), n_jobs=1)
    [row] = rows(result)
    assert not row.late and row.time_source == "unverified"
    write_outputs(result, setup["course"], tmp_path / "out")
    [long_row] = [r for r in csv.DictReader((tmp_path / "out" / "grades_long.csv").open()) if r["task_id"] == "learns"]
    assert long_row["time_source"] == "unverified" and long_row["late"] == "no"
    feedback = (tmp_path / "out" / "feedback" / feedback_name("s1")).read_text()
    assert "UNVERIFIED: the time the file itself claims" in feedback


@pytest.mark.parametrize(("signed_at", "edited_to", "late", "source"), [
    ("2026-01-10T10:00:00+00:00", None, False, "receipt"),                   # signed on time: on time, verified
    ("2026-01-20T10:00:00+00:00", None, True, "receipt"),                    # signed late: late, verified
    ("2026-01-20T10:00:00+00:00", "2026-01-10T10:00:00+00:00", False, "unverified"),  # backdated after signing
    ("2026-01-15T12:00:00+00:00", None, False, "receipt"),                   # the due moment itself: on time
    ("2026-01-15T12:00:01+00:00", None, True, "receipt"),                    # one second after: late
])
def test_a_signed_file_is_graded_on_its_receipt(setup, tmp_path, signed_at, edited_to, late, source):
    record = sign_record(backdated(setup["on_time"], signed_at), KEY)
    if edited_to:
        record = backdated(record, edited_to)
    path = tmp_path / "r.json"
    path.write_text(report_json(record))
    [row] = rows(grade(setup["course"], load_sources([path], receipt_key=KEY), n_jobs=1))
    assert (row.late, row.time_source) == (late, source)


def test_an_import_after_the_deadline_keeps_each_files_own_verified_time(setup, tmp_path, capsys):
    """Before: `import` stored the import time as the hand-in time, so an instructor who imported after the
    deadline (the README's flow) made every file late."""
    on_time = tmp_path / "on-time.json"
    on_time.write_text(report_json(sign_record(setup["on_time"], KEY)))
    bob = sign_record(backdated({**setup["on_time"], "student": {"id": "s2", "name": "Bob", "identity": "typed"}},
                                "2026-01-20T10:00:00+00:00"), KEY)
    (tmp_path / "late.json").write_text(report_json(bob))
    db = f"sqlite:///{tmp_path / 'class.db'}"
    assert cli.main(["import", "--db", db, str(on_time), str(tmp_path / "late.json")]) == 0
    assert {s.origin for s in Store(db).submissions()} == {"import"}
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'receipt_key = "{KEY}"\n')
    out = tmp_path / "grades"
    capsys.readouterr()
    assert cli.main(["grade", "--course", str(setup["folder"] / "course.toml"), "--lessons", str(FIXTURES), "--db",
                     db, "--secrets", str(secrets), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "hand-in times: 0 by the server's clock (Submit), 2 by a signed receipt, 0 unverified" in printed
    by_student = {r["student_id"]: r for r in csv.DictReader((out / "grades_long.csv").open())
                  if r["task_id"] == "learns"}
    assert by_student["s1"]["late"] == "no" and by_student["s2"]["late"] == "yes"
    assert {r["time_source"] for r in by_student.values()} == {"receipt"}


def test_a_submit_is_timed_by_the_server_whatever_the_record_says(setup, tmp_path):
    """The other half: a row the app's Submit stored is timed by received_at, never by the record's claim."""
    db = f"sqlite:///{tmp_path / 'class.db'}"
    store = Store(db)
    store.submit(backdated(setup["on_time"]))  # origin "app": received now, long after the due date
    [source] = load_sources(store=store, course_id="test-course", receipt_key=KEY)
    assert source.time_source == "server" and source.handed_in_at == store.submissions()[0].received_at
    [row] = rows(grade(setup["course"], [source], n_jobs=1))
    assert row.late and row.time_source == "server"


def test_the_grader_says_why_a_receipt_did_not_verify(setup, tmp_path, capsys):
    files = {"nokey.json": sign_record(setup["on_time"], KEY),
             "edited.json": backdated(sign_record(backdated(setup["on_time"], "2026-01-20T10:00:00+00:00"), KEY))}
    for name, record in files.items():
        record = {**record, "student": {**record["student"], "id": name.split(".")[0]}}
        (tmp_path / name).write_text(json.dumps(record))
    out = tmp_path / "grades"
    cli.main(["grade", "--course", str(setup["folder"] / "course.toml"), "--lessons", str(FIXTURES), "--out",
              str(out), "--jobs", "1", str(tmp_path / "nokey.json"), str(tmp_path / "edited.json")])
    printed = capsys.readouterr().out
    # Without --secrets (and no .streamlit/secrets.toml here) the grader has no key: both times are unverified.
    assert "0 by a signed receipt, 2 unverified" in printed
    assert "unverified time: nokey.json: it carries a receipt, but no receipt_key was given" in printed


def test_a_short_or_unreadable_receipt_key_is_one_sentence(setup, tmp_path, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('receipt_key = "short"\n')
    code = cli.main(["grade", "--course", str(setup["folder"] / "course.toml"), "--lessons", str(FIXTURES),
                     "--secrets", str(secrets), "--out", str(tmp_path / "o"), str(tmp_path / "none.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "at least 16 characters" in err[0]
