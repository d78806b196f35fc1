"""run_lesson on two small fixture lessons (one live, one compare): solutions pass, presets fail with feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.lessons import headless
from app.lessons.format import load_lesson
from app.lessons.headless import run_lesson

FIXTURES = Path(__file__).parent / "lesson_fixtures"


@pytest.fixture(scope="module")
def live():
    return load_lesson(FIXTURES / "01-live.md")


@pytest.fixture(scope="module")
def compare():
    return load_lesson(FIXTURES / "02-compare.md")


def test_live_solution_passes_and_stops_early(one_thread, live):
    run = run_lesson(live)
    assert run.all_passed, run.results
    assert 1 <= run.epochs <= live.solution[0].epochs and run.metrics["epoch"] == run.epochs
    assert run.values["margin"] == 0.3 and run.values["loss"] == "arcface"
    assert run.cpu_seconds > 0


def test_live_preset_fails_with_feedback(one_thread, live):
    run = run_lesson(live, which="preset")
    (result,) = run.results.values()
    assert result.status == "failed" and result.feedback == "Raise m to 0.2 or more and train again."
    assert result.reason == "Margin m is 0 rad; this check needs it at least 0.2 rad."
    assert run.epochs == 8  # the preset trains as long as the longest budget


def test_max_epochs_caps_a_step(one_thread, live):
    assert run_lesson(live, which="preset", max_epochs=2).epochs == 2
    with pytest.raises(ValueError, match="which must be"):
        run_lesson(live, which="both")


def test_compare_solution_continues_the_same_members(one_thread, compare, monkeypatch):
    built = []

    class Counting(headless.MultiTrainer):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(headless, "MultiTrainer", Counting)
    run = run_lesson(compare)
    assert run.all_passed, run.results
    assert len(built) == 1  # step 2 continues (continue = true): a hot change, no rebuild
    assert [c.loss for c in built[0]] == ["softmax", "arcface"] and built[0][1].margin == 0.2
    assert run.values["arcface"]["lr"] == 0.005 and run.values["softmax"]["lr"] == 0.005
    assert run.results["softmax-open-set"].reason.startswith("The verification AUC is 0.")
    assert run.epochs > 2  # the margin check passes only in the second step (epochs 3-6): both steps ran


def test_compare_preset_fails_the_member_check_only(one_thread, compare):
    run = run_lesson(compare, which="preset")
    assert run.results["arcface-margin"].status == "failed"
    assert run.results["arcface-margin"].feedback == "Raise ArcFace's margin to 0.2 or more."
    assert run.values["arcface"]["margin"] == 0.05
