"""What a hand-in says, without Streamlit: what is in it, and when the server took it, in the student's time.

    contents(record, lesson) -> HandInContents(answered, questions, passed, checks)
    contents(...).sentence     # "In this hand-in: 2 of 3 questions answered, 1 of 2 checks passed."
    contents(...).empty        # nothing answered and nothing passed: the page asks once before it submits
    local_time("2026-12-04T13:05:09.120+00:00", "Europe/Berlin", None) -> "14:05:09 on 2026-12-04 (Europe/Berlin)"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class HandInContents:
    answered: int
    questions: int
    passed: int
    checks: int

    @property
    def empty(self) -> bool:
        return self.answered == 0 and self.passed == 0

    @property
    def sentence(self) -> str:
        def count(done: int, total: int, noun: str, verb: str) -> str:
            return f"{done} of {total} {noun}{'s' if total != 1 else ''} {verb}"

        parts = []
        if self.questions:
            parts.append(count(self.answered, self.questions, "question", "answered"))
        if self.checks:
            parts.append(count(self.passed, self.checks, "check", "passed"))
        return f"In this hand-in: {', '.join(parts) or 'nothing to answer or pass'}."


def contents(record: Mapping[str, Any], lesson: Any) -> HandInContents:
    """How much of the lesson the record holds: questions answered and checks passed, of the lesson's own."""
    question_ids = [question.id for question in lesson.questions]
    check_ids = [check.id for check in lesson.checks]
    answered = sum(record["answers"].get(qid) is not None for qid in question_ids)
    passed = sum((record["checks"].get(cid) or {}).get("status") == "passed" for cid in check_ids)
    return HandInContents(answered, len(question_ids), passed, len(check_ids))


def local_time(moment: str, tz_name: str | None, offset_minutes: int | float | None) -> str:
    """An ISO 8601 time as the student's clock shows it: in the browser's time zone (st.context.timezone), else
    its offset from UTC (st.context.timezone_offset: minutes, positive west of UTC, as JavaScript's
    getTimezoneOffset), else in UTC, always saying which."""
    when = datetime.fromisoformat(moment)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    zone, label = None, "UTC"
    if tz_name:
        try:
            zone, label = ZoneInfo(str(tz_name)), str(tz_name)
        except (ZoneInfoNotFoundError, ValueError):  # a name this machine's zone database does not know
            zone = None
    if zone is None and isinstance(offset_minutes, (int, float)) and not isinstance(offset_minutes, bool) \
            and abs(offset_minutes) < 24 * 60:
        minutes = -int(offset_minutes)
        zone = timezone(timedelta(minutes=minutes))
        label = f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if zone is None:
        zone, label = timezone.utc, "UTC"
    shown = when.astimezone(zone)
    return f"{shown:%H:%M:%S} on {shown:%Y-%m-%d} ({label})"
