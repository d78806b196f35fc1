"""The boundaries of every comparison in the courses code that decides something a user sees: the equality case of
each limit, the NaN or missing branch of each claimed-against-replayed comparison, and the second half of each
two-state protocol (a failure and the recovery, a wait and the end of it)."""

from __future__ import annotations

from _course_helpers import COURSE_TEXT, course_at, fixture_lessons, write_course

from app.course.course import load_course

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
