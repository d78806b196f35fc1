"""The paces: how often a unit ticks and redraws its statistics, and when Play stops by itself, at each boundary."""

from __future__ import annotations

import pytest

from app.live.base import IDLE_PAUSE_S, MAX_EPOCHS, pause_reason
from app.training.pace import DEFAULT_PACE, PACES, TICK_S, Pace


def pace_at(epochs_per_s: float | None) -> Pace:
    return Pace("test", "Test", epochs_per_s, "")


@pytest.mark.parametrize(("epochs_per_s", "every"), [(3.0, 1), (4.0, 1), (4.01, 2), (30.0, 2), (None, 2)])
def test_statistics_are_redrawn_every_tick_up_to_four_epochs_a_second(epochs_per_s, every):
    assert pace_at(epochs_per_s).details_every == every


@pytest.mark.parametrize(("epochs_per_s", "tick_s"), [
    (0.5, TICK_S),  # slower than one epoch a tick: a tick is TICK_S at most
    (1.0, 1.0), (3.0, 1 / 3), (4.0, 0.25),  # one epoch a tick
    (10.0, 0.25), (None, TICK_S),  # faster: a tick is never shorter than 0.25 s; max trains for a whole tick
])  # fmt: skip
def test_a_tick_lasts_one_epoch_between_a_quarter_second_and_tick_s(epochs_per_s, tick_s):
    assert pace_at(epochs_per_s).tick_s == pytest.approx(tick_s)


def test_the_default_pace_draws_every_epoch_statistics_included():
    watch = PACES[DEFAULT_PACE]
    assert watch.details_every == 1 and watch.tick_s == pytest.approx(1 / watch.epochs_per_s)
    speeds = [p.epochs_per_s for p in PACES.values()]
    assert speeds[-1] is None and speeds[:-1] == sorted(speeds[:-1])  # slowest first, max last


@pytest.mark.parametrize("tick_scale", [1.0, 1.5])
@pytest.mark.parametrize("name", [name for name, pace in PACES.items() if pace.epochs_per_s is not None])
def test_a_paced_tick_trains_whole_epochs_at_exactly_the_pace(name, tick_scale):
    pace = PACES[name]
    every, epochs = pace.plan(tick_scale)
    assert isinstance(epochs, int) and epochs >= 1
    assert epochs / every == pytest.approx(pace.epochs_per_s)  # steady: 3 epochs every 0.3 s, not 2 every 0.25 s
    assert every >= pace.tick_s * tick_scale - 1e-9  # never ticks more often than the pace's tick


def test_max_speed_ticks_back_to_back_and_trains_for_the_tick():
    every, epochs = PACES["max"].plan(1.5)
    assert epochs is None and every == pytest.approx(0.8 * TICK_S * 1.5)


@pytest.mark.parametrize(("idle_s", "epoch", "played_from", "says"), [
    (IDLE_PAUSE_S, 5, 0, ""),  # exactly the idle limit: not yet
    (IDLE_PAUSE_S + 0.001, 5, 0, "after 10 minutes without interaction"),
    (0.0, MAX_EPOCHS - 1, 0, ""),
    (0.0, MAX_EPOCHS, 0, f"at epoch {MAX_EPOCHS}: Play trains at most {MAX_EPOCHS} epochs at a time"),  # the cap
    (0.0, MAX_EPOCHS + 30, 30, f"at epoch {MAX_EPOCHS + 30}"),  # counted from the last Play
    (0.0, MAX_EPOCHS + 29, 30, ""),
    (0.0, None, 0, ""),  # no model yet
])  # fmt: skip
def test_play_stops_by_itself_past_the_idle_limit_and_at_the_epoch_cap(idle_s, epoch, played_from, says):
    reason = pause_reason(idle_s, epoch, played_from)
    assert (says in reason and reason.startswith("Paused automatically")) if says else reason == ""
