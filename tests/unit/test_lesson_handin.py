"""What the hand-in says before and after Submit: its contents, and the receipt's time in the student's own time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.lesson_page.handin import contents, local_time

LESSON = SimpleNamespace(questions=[SimpleNamespace(id="q1"), SimpleNamespace(id="q2")],
                         checks=[SimpleNamespace(id="c1")])


def record(answers: dict, statuses: dict) -> dict:
    checks = {cid: {"status": status, "reason": "", "run": None} for cid, status in statuses.items()}
    return {"answers": answers, "checks": checks}


def test_an_empty_hand_in_is_empty_and_says_so():
    inside = contents(record({}, {"c1": "not_yet"}), LESSON)
    assert inside.empty and inside.sentence == "In this hand-in: 0 of 2 questions answered, 0 of 1 check passed."


@pytest.mark.parametrize(("answers", "statuses", "empty", "sentence"), [
    ({"q1": 0}, {"c1": "failed"}, False, "1 of 2 questions answered, 0 of 1 check passed"),
    ({"q1": None}, {"c1": "passed"}, False, "0 of 2 questions answered, 1 of 1 check passed"),  # None: unanswered
    ({"q1": 0.0, "q2": 1}, {"c1": "passed"}, False, "2 of 2 questions answered, 1 of 1 check passed"),  # 0: an answer
    ({"other": 1}, {"other": "passed"}, True, "0 of 2 questions answered, 0 of 1 check passed"),  # not this lesson's
])
def test_answered_questions_and_passed_checks_are_counted(answers, statuses, empty, sentence):
    inside = contents(record(answers, statuses), LESSON)
    assert inside.empty is empty and inside.sentence == f"In this hand-in: {sentence}."


def test_a_lesson_without_questions_says_only_its_checks():
    bare = SimpleNamespace(questions=[], checks=[SimpleNamespace(id="c1"), SimpleNamespace(id="c2")])
    assert contents(record({}, {"c1": "passed"}), bare).sentence == "In this hand-in: 1 of 2 checks passed."


@pytest.mark.parametrize(("zone", "offset", "shown"), [
    ("Europe/Berlin", None, "14:05:09 on 2026-12-04 (Europe/Berlin)"),
    ("Europe/Berlin", 999, "14:05:09 on 2026-12-04 (Europe/Berlin)"),      # the zone's name wins over an offset
    ("America/Los_Angeles", None, "05:05:09 on 2026-12-04 (America/Los_Angeles)"),
    ("Pacific/Kiritimati", None, "03:05:09 on 2026-12-05 (Pacific/Kiritimati)"),  # the next day there
    ("Nowhere/Atlantis", -330, "18:35:09 on 2026-12-04 (UTC+05:30)"),     # an unknown name: the offset
    (None, 300, "08:05:09 on 2026-12-04 (UTC-05:00)"),                    # getTimezoneOffset: minutes WEST of UTC
    (None, 0, "13:05:09 on 2026-12-04 (UTC+00:00)"),
    (None, None, "13:05:09 on 2026-12-04 (UTC)"),                         # nothing known: UTC, said
    (None, 24 * 60, "13:05:09 on 2026-12-04 (UTC)"),                      # not an offset: UTC
])
def test_the_receipt_time_is_the_students_own(zone, offset, shown):
    assert local_time("2026-12-04T13:05:09.120+00:00", zone, offset) == shown


def test_summer_time_is_the_zones_own():
    assert local_time("2026-07-01T12:00:00+00:00", "Europe/Berlin", None) == "14:00:00 on 2026-07-01 (Europe/Berlin)"
