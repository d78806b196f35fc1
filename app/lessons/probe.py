"""A lesson's checks measured where the model lives, at every epoch end that Play or Step reaches.

    plan = ProbePlan((("spread", None, frozenset({"inter_deg"})),), unit="live")
    probe = functools.partial(measure_checks, plan=plan)        # picklable: a worker process can run it
    measure_checks(model, plan) -> {check id: Measured(metrics, values, record)}

A check is judged on what the run shows at the end of an epoch, as the lesson's headless runs judge it, not
only when a view happens to be redrawn. The model may live in another process (app.training), so the probe
returns everything the page needs to judge and record a check there: the metrics, the member's settings at
that moment (what the check's settings are compared with), and the run's replayable record (what a pass is
stored with).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from app.lessons.checks import run_metrics
from app.lessons.run_record import run_record, values_of_config
from app.lessons.window import Window, window_start


@dataclass(frozen=True)
class ProbePlan:
    """The checks to measure: (check id, the member's loss it reads or None for the only model, the metrics it
    needs), and the unit kind the records name ("live" or "compare")."""

    checks: tuple[tuple[str, str | None, frozenset[str]], ...]
    unit: str = "live"


@dataclass(frozen=True)
class Measured:
    """One check's measurement at an epoch end."""

    metrics: dict[str, float]
    values: dict[str, Any]
    record: dict[str, Any]
    steps_per_epoch: int = 0

    def window(self, check: Any) -> Window:
        """Where `check`'s epoch window starts on this run: its last change of a setting the check is about."""
        return window_start(check, self.record, self.steps_per_epoch)


def _member(model: Any, loss: str | None) -> Any:
    if loss is None:
        return model
    return next((m for m in getattr(model, "members", ()) if m.config.loss == loss), None)


def measure_checks(model: Any, plan: ProbePlan) -> dict[str, Measured]:
    """Measure every planned check on its member (each member once, with the union of what its checks need)."""
    needs: dict[str | None, set[str]] = {}
    for _, loss, names in plan.checks:
        needs.setdefault(loss, set()).update(names)
    measured: dict[str | None, Measured] = {}
    for loss, names in needs.items():
        run = _member(model, loss)
        if run is None:
            continue
        metrics = run_metrics(run, needs=names)
        clock = getattr(run, "owner", None) or run
        measured[loss] = Measured(metrics, values_of_config(run.config), run_record(run, metrics, unit=plan.unit),
                                  int(clock.steps_per_epoch))
    return {check_id: measured[loss] for check_id, loss, _ in plan.checks if loss in measured}


def measure_now(model: Any, check_id: str, loss: str | None, needs: Collection[str], unit: str) -> dict[str, Measured]:
    """One check measured now, costly metrics included (the lesson's "Check my run" button)."""
    return measure_checks(model, ProbePlan(((check_id, loss, frozenset(needs)),), unit))
