"""Run a lesson without Streamlit: its worked solution (or its preset alone) with the trainer, every check
evaluated at every epoch end, as the app would.

    run = run_lesson(lesson)                    # the worked solution: every check should pass
    run = run_lesson(lesson, which="preset")    # the preset alone: at least one check should fail
    run.results["spread-3d"].status, run.cpu_seconds

Used by the tests (each check is reachable and not trivially passed) and benchmarks/lesson_time.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app import state
from app.lessons import presets
from app.lessons.checks import COSTLY_METRICS, CheckResult, check_metric_names, evaluate, run_metrics
from app.lessons.format import Lesson, SolutionStep
from app.lessons.run_record import run_record
from app.lessons.window import Window, trainer_window
from toy_models.data import Dataset, load_dataset
from toy_models.train import MultiTrainer, TrainConfig, Trainer


@dataclass
class LessonRun:
    """What a headless run found: each check's result (a pass, once reached, is kept), the epochs trained in
    all, the process CPU seconds it took, and the final metrics and values (by Param name). For a compare
    lesson, metrics and values are by member loss."""

    results: dict[str, CheckResult]
    epochs: int
    cpu_seconds: float
    metrics: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    @property
    def all_passed(self) -> bool:
        return all(r.status == "passed" for r in self.results.values())

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results.values() if r.status == "failed"]


@lru_cache(maxsize=4)
def _dataset(name: str, train_identities: int | None = None) -> Dataset:
    """The dataset a run of these values trains on (glyphs: its first K training identities)."""
    return load_dataset(name, train_identities=train_identities)


def _dataset_of(values: Mapping[str, Any]) -> Dataset:
    return _dataset(values["dataset"], state.config_fields({"loss": "softmax", **values}).get("train_identities"))


def _config(values: Mapping[str, Any]) -> TrainConfig:
    """As app.live.unit.config_for: the values' TrainConfig fields, one thread (the app's setting)."""
    return TrainConfig(**{**state.config_fields(values), "num_threads": 1})


class _Live:
    """One Trainer over a live lesson's values."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.values: dict[str, Any] = {}

    def start(self, url_values: Mapping[str, Any], continue_run: bool) -> None:
        self.values = presets.live_values(url_values)
        if continue_run and self.trainer is not None:
            self.trainer.set_hyper(**state.hot_values(self.values))
        else:
            self.trainer = Trainer(_config(self.values), dataset=_dataset_of(self.values))

    def advance(self) -> None:
        self.trainer.advance(epochs=1)

    def measure(self, lesson: Lesson, needs: set[str]) -> dict:
        return run_metrics(self.trainer, needs=needs)

    def window(self, check: Any, metrics: dict | None = None) -> Window:
        return trainer_window(check, self.trainer, run_record(self.trainer, metrics or {}))

    def evaluate(self, check: Any, metrics: dict) -> CheckResult:
        return evaluate(check, self.values, metrics, self.window(check, metrics))


class _Compare:
    """One MultiTrainer over a compare lesson's members (shared settings + each member's own values)."""

    def __init__(self) -> None:
        self.multi: MultiTrainer | None = None
        self.values: dict[str, dict[str, Any]] = {}

    def start(self, url_values: Mapping[str, Any], continue_run: bool) -> None:
        shared = presets.clean_shared(url_values)
        dataset = _dataset_of(shared)
        losses = presets.compare_losses(url_values)
        self.values = {loss: presets.member_values(url_values, loss, dataset.num_classes) for loss in losses}
        if continue_run and self.multi is not None:
            for i, loss in enumerate(losses):
                self.multi.set_hyper(i, **state.hot_values(self.values[loss]))
        else:
            self.multi = MultiTrainer([_config(self.values[loss]) for loss in losses], dataset=dataset)

    def advance(self) -> None:
        self.multi.advance(epochs=1)

    def measure(self, lesson: Lesson, needs: set[str]) -> dict:
        out = {}
        for member in self.multi.members:
            wanted = {name for c in lesson.checks if c.member == member.config.loss for name in needs}
            out[member.config.loss] = run_metrics(member, needs=wanted & needs)
        return out

    def evaluate(self, check: Any, metrics: dict) -> CheckResult:
        if check.member not in metrics:
            return CheckResult(check.id, "failed", f"{check.member} is not among the compared losses.", check.feedback)
        return evaluate(check, self.values[check.member], metrics[check.member],
                        self.window(check, metrics[check.member]))

    def window(self, check: Any, metrics: dict | None = None) -> Window:
        member = next((m for m in self.multi.members if m.config.loss == check.member), None)
        if member is None:
            return Window()
        return trainer_window(check, member, run_record(member, metrics or {}, unit="compare"))


def _steps(lesson: Lesson, which: str) -> tuple[SolutionStep, ...]:
    if which == "solution":
        return lesson.solution
    if which != "preset":
        raise ValueError(f"which must be 'solution' or 'preset', got {which!r}")
    budgets = [s.epochs for s in lesson.solution] + [c.within_epochs or 0 for c in lesson.checks]
    return (SolutionStep(dict(lesson.preset), max(budgets), False),)


def run_lesson(lesson: Lesson, *, which: str = "solution", max_epochs: int | None = None) -> LessonRun:
    """Train the lesson's worked solution (its steps in order) or its preset alone, evaluating every check at
    every epoch end. A check that passes once stays passed; a step stops early once every check passed.

    Costly metrics (verification_auc, a training run of its own) are measured only at a step's last epoch and
    at the end of the epoch windows (within_epochs from the last change a check is about) of the checks that
    need them. max_epochs caps each step.
    """
    steps = _steps(lesson, which)
    unit = _Compare() if lesson.unit == "compare" else _Live()
    results: dict[str, CheckResult] = {}
    passed: set[str] = set()
    metrics: dict = {}
    trained = 0
    start = time.process_time()
    for step in steps:
        unit.start(step.values, step.continue_run)
        epochs = step.epochs if max_epochs is None else min(step.epochs, max_epochs)
        for epoch in range(1, epochs + 1):
            unit.advance()
            trained += 1
            open_checks = [c for c in lesson.checks if c.id not in passed]
            costly = {name for c in open_checks for name in check_metric_names(c) & COSTLY_METRICS
                      if epoch == epochs or _run_epoch(unit) == _deadline(unit, c)}
            metrics = unit.measure(lesson, costly)
            for check in open_checks:
                result = unit.evaluate(check, metrics)
                if result.status == "passed":
                    passed.add(check.id)
                results[check.id] = result
            if len(passed) == len(lesson.checks):
                break
        if len(passed) == len(lesson.checks):
            break
    return LessonRun(results, trained, time.process_time() - start, metrics, unit.values)


def _deadline(unit: Any, check: Any) -> int | None:
    """The epoch a check's window ends at (its budget counted from the last change it is about), or None."""
    return None if check.within_epochs is None else unit.window(check).start + check.within_epochs


def _run_epoch(unit: Any) -> int:
    return unit.trainer.epoch if isinstance(unit, _Live) else unit.multi.epoch
