"""How fast a live unit trains while it plays: from *watch* (every epoch drawn) to *as fast as the machine*.

A tick draws the model's latest picture and then trains until the next tick. A pace says how many epochs a
tick may train and how often ticks come, so a student can watch the first epochs happen: on the digits, the
machine trains 25-80 epochs a second, and at that speed the first screen after Play already shows epoch 30.

    pace = PACES["watch"]
    pace.tick_s            # seconds between ticks (the page's fragment timer)
    pace.epochs_per_s      # the epochs a second it trains at (None: as fast as the machine)
    pace.details_every     # redraw the statistics, histograms and curves every this many ticks

At *watch* every tick trains one epoch and redraws everything, statistics included, so every epoch is seen.
The paces in between train a few epochs a tick; *max* trains for the whole tick (TICK_S) and redraws the
statistics every other tick, as the Playground always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TICK_S = 1.0  # a tick at full speed: the browser's redraw shares the cores (benchmarks/ui_latency.py)
MIN_TRAIN_S = 0.2  # a tick at full speed trains at least this long, however slow its drawing was


@dataclass(frozen=True)
class Pace:
    """A training pace. `epochs_per_s` None means as fast as the machine."""

    name: str
    label: str
    epochs_per_s: float | None
    help: str

    @property
    def tick_s(self) -> float:
        """Seconds between ticks: one epoch a tick while watching, up to TICK_S at full speed."""
        if self.epochs_per_s is None:
            return TICK_S
        return min(TICK_S, max(1.0 / self.epochs_per_s, 0.25))

    def plan(self, tick_scale: float = 1.0) -> tuple[float, int | None]:
        """(seconds between ticks, epochs a tick trains; None: as many as fit in the tick), for a unit whose ticks
        are `tick_scale` times the usual (Compare's four models draw more). A paced tick trains a whole number of
        epochs and lasts exactly as long as they take at the pace: 10 epochs a second is 3 epochs every 0.3 s,
        not round(2.5) = 2 every 0.25 s (which was 8 a second)."""
        every = self.tick_s * tick_scale
        if self.epochs_per_s is None:
            return 0.8 * every, None  # a request always waits when a tick ends: ticks run back to back
        epochs = max(1, math.ceil(self.epochs_per_s * every - 1e-9))
        return epochs / self.epochs_per_s, epochs

    @property
    def details_every(self) -> int:
        """Every how many ticks the statistics, histograms and curves are redrawn (1: every tick)."""
        return 1 if self.epochs_per_s is not None and self.epochs_per_s <= 4 else 2


PACES: dict[str, Pace] = {
    pace.name: pace
    for pace in (
        Pace("watch", "Watch", 3.0,
             "Every epoch is drawn, statistics included: watch the features move, epoch by epoch."),
        Pace("steady", "Steady", 10.0, "A few epochs per redraw: the shape of training in seconds."),
        Pace("fast", "Fast", 30.0, "Many epochs per redraw; the statistics follow every other tick."),
        Pace("max", "Max speed", None,
             "Trains for the whole of every tick: the end result soonest, the first epochs too fast to see."),
    )
}  # fmt: skip
DEFAULT_PACE = "watch"
