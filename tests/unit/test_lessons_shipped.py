"""Every shipped lesson validates; its worked solution passes all its checks and its preset alone fails one.

This proves each check is reachable and not trivially passed (issue 9). The solutions train on digits with
one thread, as the app does; benchmarks/lesson_time.py reports how long each takes.
"""

from __future__ import annotations

import pytest

from app.lessons.format import lesson_files, lesson_problems, load_lesson, load_lessons
from app.lessons.headless import run_lesson
from app.training.pace import PACES

FILES = lesson_files()
IDS = [path.stem for path in FILES]


def test_the_folder_has_no_problems():
    assert lesson_problems() == []


def test_at_least_nine_lessons_numbered_one_to_nine():
    numbers = [lesson.number for lesson in load_lessons()]
    assert len(numbers) >= 9 and numbers[:9] == list(range(1, 10)), numbers


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_lesson_validates(path):
    lesson = load_lesson(path)
    assert len(lesson.questions) >= 2 and len(lesson.checks) >= 1 and lesson.objectives


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_worked_solution_passes_every_check(one_thread, path):
    run = run_lesson(load_lesson(path))
    not_passed = {ident: r.reason for ident, r in run.results.items() if r.status != "passed"}
    assert not not_passed and len(run.results) == len(load_lesson(path).checks), not_passed


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_preset_alone_fails_a_check_with_feedback(one_thread, path):
    run = run_lesson(load_lesson(path), which="preset")
    failed = [r for r in run.results.values() if r.status == "failed" and r.feedback.strip()]
    assert failed, {ident: (r.status, r.reason) for ident, r in run.results.items()}


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_lesson_sets_its_pace(path):
    """Every lesson opens at a pace that suits its story: the ones whose prose says to watch the first epochs
    (softmax's spread, SphereFace's collapse) at watch, the rest at least steady."""
    lesson = load_lesson(path)
    assert lesson.pace in PACES, f"{path.name} sets no pace in its [preset]"
    if lesson.id in ("softmax", "sphereface"):
        assert lesson.pace == "watch"
