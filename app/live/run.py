"""One live unit's run: its trainer, play state and what the page says about them.

A `LiveRun` lives in `st.session_state` under its unit's key, so two units on one page train two
models. Nothing here draws; `app.live.unit` calls these functions and shows what they record.

Lifecycle:
- `ensure_trainer` builds the trainer on first use and whenever a cold setting changed, and says so;
- `hand_over_hot` gives changed hot settings (margin, scale, lr, gradient, λ) to the running model,
  which keeps its weights and optimiser state;
- `tick` trains for the rest of a tick's time budget while playing;
- `reset` rebuilds from the seed and pauses.

Hygiene (many sessions may share one machine): one torch thread per trainer; a tick trains for at
most TICK_S; a closed tab sends no more ticks (run_every timers live in the browser); playing stops
by itself after IDLE_PAUSE_S without interaction, or at MAX_EPOCHS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import datasets, state
from toy_models.train import TrainConfig, Trainer

# A tick draws the latest snapshot first and then trains until TICK_S has passed since it started. The
# browser asks for ticks a little more often (TICK_EVERY_S): a request is then always waiting when a tick
# ends, so ticks run back to back with no idle gap (Streamlit folds the extra requests into the one
# waiting). TICK_S is a trade: the browser's redraw (the sphere in WebGL, in software where there is no
# GPU) shares the cores with the training. Measured against a bare training loop on a 2-core machine
# (benchmarks/ui_latency.py and A/B runs): 0.80-0.83 at 0.5 s a tick, 0.85-0.95 at 0.75 s, 0.85-0.99
# (median 0.95) at 1 s. Digits trains ~25 epochs a second, so a tick still shows visible progress, and a
# slider needs no tick: its previews redraw the views in the browser at once.
TICK_S = 1.0
TICK_EVERY_S = 0.8 * TICK_S
MIN_TRAIN_S = 0.2  # a tick trains at least this long, however slow its drawing was
DETAILS_S = 2 * TICK_S  # statistics, histograms and curves: redrawn every other tick
IDLE_PAUSE_S = 10 * 60  # auto-pause after this long without a click or slider move
MAX_EPOCHS = 2000  # auto-pause once a run reaches this many epochs (digits converges in about 50)
STEP_LIMIT_S = 20.0  # Step trains one epoch, but never blocks the page longer than this (a CNN on MNIST)


@dataclass
class LiveRun:
    """One unit's live run: the trainer and what the page says about it."""

    trainer: Trainer | None = None
    cold: tuple = ()  # the cold values the trainer was built from
    values: dict = field(default_factory=dict)  # the values it was built from / last synced to
    initial: dict = field(default_factory=dict)  # the values it was built from (a lesson's run record replays them)
    playing: bool = False
    rebuilt: str = ""  # "Embedding dim changed: model rebuilt from seed 0."
    auto_paused: str = ""  # why playing stopped by itself
    queued: str = ""  # where this tab waits for a training slot (a hosted server's play cap), "" when not
    data_notice: str = ""  # why the chosen dataset could not be used
    last_divergence: str = ""  # the latest divergence message of the trainer (shown until a rebuild)
    last_hyper: str = ""  # the latest hot change applied to the running model
    rebuilt_count: int = 0  # bumps at every rebuild, so the page toasts each one once
    toasted: int = 0
    events_seen: int = 0  # trainer events already announced
    tick_started: float | None = None  # a tick that has drawn and still owes its training
    fragment_ids: set = field(default_factory=set)  # Streamlit's ids of this unit's fragments
    last_interaction: float = field(default_factory=time.monotonic)
    # Held while the model is used: Streamlit may start a new script thread while an interrupted one
    # is still inside advance() (two threads on one model crashed the server with a segfault).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def touch(self) -> None:
        """Record an interaction (a click, a slider move, a page load): it postpones the idle pause."""
        self.last_interaction = time.monotonic()


EpochHook = Callable[["LiveRun"], None]  # called at every epoch end while playing or stepping


def config_for(values: Mapping[str, Any], dataset: Any, data_dir: str | None) -> TrainConfig:
    """The TrainConfig of a set of clean values (every other field keeps the library default)."""
    fields = state.config_fields(values)
    fields["dataset"] = dataset.name
    fields["data_dir"] = data_dir
    fields["num_threads"] = 1  # many sessions share the machine; one thread each
    return TrainConfig(**fields)


def ensure_trainer(run: LiveRun, values: Mapping[str, Any], data_dir: str | None) -> LiveRun:
    """Build the trainer on first use and whenever a cold setting changed; say so visibly.

    Hot settings are handed over separately (`hand_over_hot`), so the model keeps its weights for them.
    """
    dataset, folder, notice = datasets.dataset_for(values, data_dir)
    run.data_notice = notice
    cold = (*state.cold_key(values), ("dataset_used", dataset.name), ("folder", folder))
    if run.trainer is not None and run.cold == cold:
        return run
    changed = state.cold_changes(run.values, values) if run.trainer is not None else []
    if run.trainer is not None and not changed:
        changed = ["Dataset"]  # the same choice now loads differently (e.g. the data folder was fixed)
    with run.lock:
        run.trainer = Trainer(config_for(values, dataset, folder), dataset=dataset)
    run.cold = cold
    run.values = dict(values)
    run.initial = dict(values)
    run.events_seen = 0
    run.last_divergence = ""
    run.last_hyper = ""
    if changed:
        what = changed[0] if len(changed) == 1 else ", ".join(changed[:-1]) + f" and {changed[-1]}"
        run.rebuilt = f"{what} changed: model rebuilt from seed {values['seed']}."
        run.rebuilt_count += 1
    return run


def reset(run: LiveRun, values: Mapping[str, Any], data_dir: str | None) -> None:
    """Rebuild the model from the seed (the Reset button) and pause."""
    run.trainer = None
    run.cold = ()
    run.playing = False
    run.auto_paused = ""
    ensure_trainer(run, values, data_dir)
    run.rebuilt = f"Reset: model rebuilt from seed {values['seed']}."
    run.rebuilt_count += 1


def hand_over_hot(run: LiveRun, values: Mapping[str, Any]) -> dict[str, Any]:
    """Give changed hot values to the running model, which keeps its weights; returns what changed.

    `state.hot_values` names them by their TrainConfig field, so they compare with the trainer's
    config and go to `Trainer.request_hyper` as they are (validated once, by TrainConfig.with_hot).
    request_hyper needs no lock: a tick training in another thread applies the values before its
    next optimiser step, and the next snapshot applies them otherwise.
    """
    current = run.trainer.config
    changed = {name: value for name, value in state.hot_values(values).items() if getattr(current, name) != value}
    if changed:
        run.trainer.request_hyper(**changed)
    run.values = dict(values)
    return changed


def check_pauses(run: LiveRun) -> bool:
    """Stop playing after IDLE_PAUSE_S without interaction or at MAX_EPOCHS, and say why; True if it did."""
    if not run.playing:
        return False
    if time.monotonic() - run.last_interaction > IDLE_PAUSE_S:
        run.playing = False
        run.auto_paused = (f"Paused automatically after {IDLE_PAUSE_S // 60} minutes without interaction "
                           "(it saves the CPU). Press Play to go on.")
    elif run.trainer.epoch >= MAX_EPOCHS:
        run.playing = False
        run.auto_paused = (f"Paused automatically at epoch {run.trainer.epoch}: a run stops at {MAX_EPOCHS} "
                           "epochs. Press Play to go on, or Reset.")
    return not run.playing


def advance_to_epoch_ends(model: Any, on_epoch: Callable[[], None] | None, *, seconds: float,
                          epochs: int | None = None) -> None:
    """`model.advance(seconds=..., epochs=...)` (a Trainer or a MultiTrainer), stopping at every epoch end to
    call `on_epoch` when there is one. Why: a lesson judges its checks at every epoch end, as its headless
    runs do, not only when a view is redrawn (a tick spans a dozen epochs of digits, and a check's epoch
    budget could pass in between). The caller holds the run's lock; `on_epoch` must not draw."""
    if on_epoch is None:
        model.advance(seconds=seconds, epochs=epochs)
        return
    ends, target = time.monotonic() + seconds, None if epochs is None else model.epoch + epochs
    while (left := ends - time.monotonic()) > 0 and (target is None or model.epoch < target):
        epoch = model.epoch
        model.advance(seconds=left, epochs=1)
        if model.epoch > epoch:
            on_epoch()


def train_rest_of_tick(run: LiveRun, tick_started: float, on_epoch: EpochHook | None = None) -> None:
    """While playing, train until TICK_S has passed since the tick started (at least MIN_TRAIN_S); `on_epoch`
    is called with the run at every epoch end (see advance_to_epoch_ends)."""
    if not run.playing:
        return
    budget = max(MIN_TRAIN_S, TICK_S - (time.monotonic() - tick_started))
    with run.lock:
        advance_to_epoch_ends(run.trainer, on_epoch and (lambda: on_epoch(run)), seconds=budget)


def step_one_epoch(run: LiveRun, on_epoch: EpochHook | None = None) -> None:
    """The Step button: one epoch (at most STEP_LIMIT_S), then pause."""
    run.playing = False
    run.auto_paused = ""
    if run.trainer is not None:
        with run.lock:
            advance_to_epoch_ends(run.trainer, on_epoch and (lambda: on_epoch(run)), seconds=STEP_LIMIT_S,
                                  epochs=1)  # fmt: skip


def new_events(run: LiveRun) -> list[Any]:
    """Trainer events not yet announced (divergences and hot changes), recorded on the run."""
    events = list(run.trainer.events)
    fresh = events[run.events_seen :]
    run.events_seen = len(events)
    for event in fresh:
        if event.kind == "diverged":
            run.last_divergence = event.message
        else:
            run.last_hyper = event.message
    return fresh
