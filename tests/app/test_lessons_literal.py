"""For every lesson, a student who follows the prose literally: does what the text says, in its order, at the
lesson's pace, with its changes made while the run plays, and passes every check without a Reset the prose does
not ask for (issue 17, "Checks judge what the student did").

Each page run of the AppTest is one tick at the lesson's pace; a control moved with `set_control` while playing
is a hot change handed to the running model, as the slider does in the browser. Where the prose leaves a number
to the student ("raise m"), the student takes the one the lesson names nearby. Lesson 7 is rebuilt on another
branch, with its own literal test.
"""

from __future__ import annotations

import pytest
from lessonhelpers import (
    answer_question,
    check_reason,
    epoch,
    keep_playing,
    open_lesson,
    passed,
    press,
    set_control,
)

from app.lessons import load_lessons
from app.live.controls import widget_key

LESSONS = {lesson.id: lesson for lesson in load_lessons()}


def lesson_of(lesson_id: str):
    if lesson_id not in LESSONS:
        pytest.skip(f"lesson {lesson_id} is not in lessons/")
    return LESSONS[lesson_id]


def move(at, lesson, name: str, value) -> None:
    """Move one of the lesson's live controls (by control name) to `value`, as the student does."""
    set_control(at, widget_key(f"lesson-{lesson.id}", name), value)


def all_passed(at, lesson) -> None:
    missing = {c.id: check_reason(at, lesson, c.id) for c in lesson.checks if c.id not in passed(at, lesson)}
    assert not missing, missing


def test_cosface_lower_m_while_it_trains_then_the_sphere():
    lesson = lesson_of("cosface")
    at = open_lesson(lesson.id)
    assert at.session_state[f"lesson-{lesson.id}-pace"] == lesson.pace  # the lesson opens at its pace
    answer_question(at, lesson, "band")
    answer_question(at, lesson, "largest-circle")
    answer_question(at, lesson, "too-much")
    press(at, lesson, "play")  # "Press Play and watch the loss."
    keep_playing(at, lesson, 10)
    move(at, lesson, "margin", 0.1)  # "Now lower Margin m below the bound while it trains"
    changed_at = epoch(at, lesson)
    keep_playing(at, lesson, 50, until={"circle"})
    assert "circle" in passed(at, lesson), check_reason(at, lesson, "circle")
    assert epoch(at, lesson) <= changed_at + 50
    move(at, lesson, "embedding_dim", 3)  # "Then switch Embedding dim to 3-D sphere. The model is rebuilt."
    answer_question(at, lesson, "largest-sphere")
    move(at, lesson, "margin", 0.35)  # "Put Margin m back to the paper's 0.35 while it trains"
    keep_playing(at, lesson, 30, until={"sphere"})
    all_passed(at, lesson)
