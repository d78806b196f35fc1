"""Where a check's epoch window starts: at the student's last change of a setting the check is about.

    window = window_start(check, record, steps_per_epoch)   # Window(start=130, changed="margin")
    evaluate(check, values, metrics, window=window)          # the targets are due by epoch 130 + within_epochs

A check with `within_epochs = 50` asks for its targets within 50 epochs. Counted from the model's build, a
student who follows "lower m while it trains" at epoch 130 could never pass; so the count starts again at
the last change of a setting the check is about: a key of its `settings`, `at_most`, `at_least` or `about`.
A hot change while the run plays counts (the trainer logs it); a cold change or Reset builds a new model,
whose log is empty, so its count starts at 0. A check marked `fresh_run` always counts from the model's build
(its feedback says "Press Reset, then ...").

Pure functions of a run's replayable record (app.lessons.run_record's RUN: the hot changes by step, in
share-link keys), so the app, the headless runner and the course grader find the same window from the same
record. A change logged at step s counts from the first epoch boundary at or after it: ceil(s / steps per
epoch), so the window always holds within_epochs whole epochs trained with the new value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import state


@dataclass(frozen=True)
class Window:
    """The epoch a check's window counts from, and the setting (by control name) whose change started it
    (None: the window counts from the model's build)."""

    start: int = 0
    changed: str | None = None


def about(check: Any, loss: str) -> frozenset[str]:
    """The control names (margin, scale, ...) of the settings `check` is about, for `loss`."""
    keys = {*check.settings, *check.at_most, *check.at_least, *getattr(check, "about", ())}
    names = set()
    for key in keys:
        param = next((p for p in state.params_for(loss) if key in p.url_keys), None)
        if param is not None:
            names.add(param.name)
    return frozenset(names)


def _part(run: Mapping[str, Any], member: str | None) -> tuple[str, list]:
    """(the loss, the hot-change log) of the run the check reads: a compare RUN's checked member, or the run."""
    if "members" in run:
        loss = member or run.get("member")
        part = run["members"].get(loss, {})
        return str(loss), list(part.get("hyper_log", ()))
    return str(run.get("initial", {}).get("loss", "")), list(run.get("hyper_log", ()))


def window_start(check: Any, run: Mapping[str, Any], steps_per_epoch: int) -> Window:
    """The window of `check` on the RUN `run` (its hyper_log: [[step, {control name: text}], ...])."""
    if getattr(check, "fresh_run", False) or check.within_epochs is None or steps_per_epoch < 1:
        return Window()
    loss, log = _part(run, getattr(check, "member", None))
    names = about(check, loss)
    last = None
    for step, changes in log:
        touched = sorted(name for name in changes if name in names)
        if touched:
            last = (int(step), touched[0])
    if last is None:
        return Window()
    step, name = last
    return Window(-(-step // steps_per_epoch), name)


def trainer_window(check: Any, run: Any, record: Mapping[str, Any]) -> Window:
    """window_start for a live Trainer or a MultiTrainer member and its RUN record (their clock is shared)."""
    clock = getattr(run, "owner", None) or run
    return window_start(check, record, int(clock.steps_per_epoch))
