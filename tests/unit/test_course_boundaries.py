"""The boundaries of every comparison in the courses code that decides something a user sees: the equality case of
each limit, the NaN or missing branch of each claimed-against-replayed comparison, and the second half of each
two-state protocol (a failure and the recovery, a wait and the end of it)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from _course_helpers import COURSE_TEXT, course_at, fixture_lessons, write_course

from app.course import serving
from app.course.access import PREFIX, Throttle, verify_password
from app.course.course import load_course
from app.course.grade import ABS_TOL, Source, _newest, _past_budget, metric_mismatches
from app.course.record import MAX_ID, MIN_RECEIPT_KEY, REPORT_SIZE_CAP, ReportError, parse_report
from app.course.serving import MAX_ID as FORM_MAX_ID
from app.course.serving import _identity_problem
from app.course.store import Store

# -- due dates ------------------------------------------------------------------------------------------------


def test_a_date_means_the_whole_of_that_day_to_its_last_instant(tmp_path):
    """Before: a date's due moment was 23:59:59, so a Submit at 23:59:59.300 (the store keeps milliseconds) was
    late on the day it was due."""
    alpha = course_at(tmp_path).lesson("alpha")  # due = 2026-12-15
    assert not alpha.is_late("2026-12-15T23:59:59.300+00:00")
    assert not alpha.is_late("2026-12-15T23:59:59.999999+00:00")
    assert alpha.is_late("2026-12-16T00:00:00+00:00")
    assert f"{alpha.due:%Y-%m-%d %H:%M}" == "2026-12-15 23:59"  # what the lessons page shows


def test_a_date_time_due_is_on_time_at_that_moment_and_late_after(tmp_path):
    text = COURSE_TEXT.replace("due = 2026-12-15", "due = 2026-12-15T17:00:00+01:00")
    alpha = load_course(write_course(tmp_path, text), lessons=fixture_lessons()).lesson("alpha")
    assert not alpha.is_late("2026-12-15T16:00:00+00:00")  # the same instant, written in UTC
    assert alpha.is_late("2026-12-15T16:00:00.001+00:00")


# -- claimed against replayed ---------------------------------------------------------------------------------


def test_a_claim_exactly_at_the_tolerance_matches_and_one_beyond_is_flagged():
    assert metric_mismatches({"test_acc": ABS_TOL}, {"test_acc": 0.0}) == []  # |d| == 0.001 + 0.001·0
    assert metric_mismatches({"test_acc": -ABS_TOL}, {"test_acc": 0.0}) == []
    [flag] = metric_mismatches({"test_acc": 0.0011}, {"test_acc": 0.0})
    assert flag == "test_acc was reported as 0.0011 but the replay gives 0"


def test_a_replay_that_gives_nan_flags_the_claim_and_a_metric_not_replayed_decides_nothing():
    [flag] = metric_mismatches({"inter_deg": 55.0}, {"inter_deg": float("nan")})
    assert "replay gives nan" in flag
    assert metric_mismatches({"inter_deg": 55.0, "made_up": 1.0}, {"inter_deg": 55.0}) == []  # missing: ignored


def budget_check(within: int | None) -> SimpleNamespace:
    return SimpleNamespace(within_epochs=within, settings={"loss": "arcface"}, at_most={"m": 0.5}, at_least={},
                           about=(), member=None)


@pytest.mark.parametrize(("epoch", "past"), [(2, False), (3, False), (4, True)])
def test_a_run_handed_in_at_the_budget_itself_is_replayed_not_failed(epoch, past):
    run = {"epoch": epoch, "initial": {"loss": "arcface"}, "hyper_log": [[1, {"lr": "0.02"}]]}
    assert _past_budget(budget_check(3), run) is past
    assert _past_budget(budget_check(None), {**run, "epoch": 10**6}) is False  # no budget: never past
    # A logged change of m moves the window (by the replay's epoch length): the replay decides, not the claim.
    moved = {**run, "hyper_log": [[40, {"margin": "0.3"}]]}
    assert _past_budget(budget_check(3), moved) is False


def source(label: str, at: str, attempt: int | None) -> tuple[Source, dict]:
    record = {"student": {"id": "s1"}, "lesson": {"id": "alpha"}, "submitted_at": at}
    return Source(label, record, attempt=attempt), record


def test_the_newest_attempt_at_one_instant_is_the_higher_attempt_then_the_later_file():
    same = "2026-12-10T10:00:00+00:00"
    chosen, superseded = _newest([source("a", same, 2), source("b", same, 1)])
    assert [s.label for s, _ in chosen] == ["a"] and superseded == 1
    chosen, _ = _newest([source("first.json", same, None), source("second.json", same, None)])
    assert [s.label for s, _ in chosen] == ["second.json"]  # a tie of files: the later one named


# -- limits of a report ---------------------------------------------------------------------------------------


def minimal_record(**student) -> dict:
    return {"format": "margin-lab-submission", "format_version": 1, "app_version": "0.1.0", "course": None,
            "student": {"id": "s1", "name": "", "identity": "typed", **student},
            "lesson": {"id": "alpha", "version": 1}, "answers": {}, "checks": {},
            "started_at": "2026-12-10T09:00:00+00:00", "submitted_at": "2026-12-10T10:00:00+00:00"}


def test_a_report_of_exactly_the_size_cap_is_read_and_one_byte_more_is_not():
    text = json.dumps(minimal_record())
    exact = text[:-1] + " " * (REPORT_SIZE_CAP - len(text.encode())) + "}"
    assert len(exact.encode()) == REPORT_SIZE_CAP and parse_report(exact)["student"]["id"] == "s1"
    with pytest.raises(ReportError, match="over the 256 kB limit"):
        parse_report(exact[:-1] + " }")


def test_an_id_of_exactly_the_longest_length_is_kept():
    assert parse_report(json.dumps(minimal_record(id="x" * MAX_ID)))["student"]["id"] == "x" * MAX_ID
    with pytest.raises(ReportError, match=f"at most {MAX_ID}"):
        parse_report(json.dumps(minimal_record(id="x" * (MAX_ID + 1))))


def test_zero_points_is_a_task_that_counts_nothing_and_below_zero_is_refused(tmp_path):
    text = COURSE_TEXT.replace("learns = 3", "learns = 0")
    alpha = load_course(write_course(tmp_path, text), lessons=fixture_lessons()).lesson("alpha")
    assert alpha.checks["learns"] == 0.0 and alpha.points_possible == 4.0


# -- the gradebook's marks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("statuses", "mark"), [
    (["passed", "passed"], "passed"),      # every check: passed == how many there are
    (["passed", "not_yet"], "partial"),
    (["failed", "not_yet"], "submitted"),
    ([], "submitted"),                    # a lesson without checks: handed in, nothing to pass
])
def test_the_gradebook_mark_of_a_hand_in(tmp_path, statuses, mark):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    record = minimal_record()
    record["course"] = {"id": "c", "version": 1, "hash": "ab" * 32}
    record["checks"] = {f"c{i}": {"status": s, "reason": "", "run": None} for i, s in enumerate(statuses)}
    store.submit(record)
    [row] = store.gradebook("c", ["alpha"])
    assert row["alpha"] == mark


# -- two-state protocols: a wait and its end, a failure and the recovery ---------------------------------------


def test_a_throttle_allows_the_next_try_exactly_when_the_wait_ends_and_a_success_clears_it():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    assert throttle.failed("k") == 1 and throttle.failed("k") == 2
    now[0] = 1.999
    assert throttle.wait_s("k") > 0
    now[0] = 2.0
    assert throttle.wait_s("k") == 0  # the wait, exactly: allowed
    throttle.succeeded("k")
    assert throttle.failed("k") == 1  # cleared: the next miss starts again at 1 s, not 4 s


def test_an_unreachable_database_is_tried_again_exactly_after_the_retry_time_and_then_used(tmp_path, monkeypatch):
    from app.course import serving

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = [f"sqlite:///{blocker / 'x.db'}"]
    clock = [1000.0]
    monkeypatch.setattr(serving, "database_url", lambda: (url[0], "test"))
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    serving._open_store.clear()
    serving._last_failure.clear()
    store, notice = serving.shared_store()
    assert store is None and notice.startswith("Submissions cannot be saved now: The class database cannot be")
    assert "x.db" in serving.store_problem() and "x.db" not in notice
    blocker.unlink()  # the database can be opened now, but nobody asks before the retry time
    blocker.mkdir()
    clock[0] += serving.RETRY_AFTER_S - 0.001
    assert serving.shared_store()[0] is None
    clock[0] += 0.001  # exactly RETRY_AFTER_S after the failure: tried again, and it works
    store, notice = serving.shared_store()
    assert store is not None and notice == "" and serving.store_problem() == ""
    store.close()
    serving._open_store.clear()


def test_times_compare_as_instants_across_offsets():
    due = datetime(2026, 12, 15, 16, 0, tzinfo=timezone.utc)
    entry = SimpleNamespace(due=due)
    from app.course.course import CourseLesson

    assert not CourseLesson.is_late(entry, "2026-12-15T17:00:00+01:00")
    assert CourseLesson.is_late(entry, "2026-12-15T17:00:01+01:00")


def test_a_receipt_key_of_exactly_the_minimum_length_signs_and_one_shorter_is_ignored(monkeypatch):
    monkeypatch.setattr(serving, "secret", lambda name, default=None: "k" * MIN_RECEIPT_KEY)
    assert serving.receipt_key() == "k" * MIN_RECEIPT_KEY
    monkeypatch.setattr(serving, "secret", lambda name, default=None: "k" * (MIN_RECEIPT_KEY - 1))
    assert serving.receipt_key() is None


def test_the_forms_student_id_of_exactly_its_maximum_is_taken_and_one_more_is_refused():
    assert _identity_problem("x" * FORM_MAX_ID, None, None) == ""
    assert _identity_problem("x" * (FORM_MAX_ID + 1), None, None) == (
        f"A student ID is one line of at most {FORM_MAX_ID} characters.")  # fmt: skip


@pytest.mark.parametrize(("r", "p", "readable"), [(32, 1, True), (33, 1, False), (1, 16, True), (1, 17, False)])
def test_a_password_hash_at_the_edge_of_scrypts_accepted_costs(r, p, readable):
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"right", salt=salt, n=2, r=r, p=p, dklen=32)
    stored = f"{PREFIX}$2${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    if readable:
        assert verify_password("right", stored) and not verify_password("wrong", stored)
    else:
        with pytest.raises(ValueError, match="is damaged"):
            verify_password("right", stored)
