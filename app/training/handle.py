"""A page's hold on its model: build it, hand it hot changes, advance it, read what comes back.

    handle = ModelHandle(runner, [config])                 # a Trainer (compare=True: a MultiTrainer)
    handle.request_hyper(0, margin=0.3)                    # checked now, applied before the next step
    handle.start(epochs=1, seconds=0.3)                    # send an advance; returns at once
    frame = handle.collect()                               # its Frame (snapshots, epoch, step, probes)
    frame = handle.advance(epochs=1, seconds=20)           # both (the Step button)
    csv = handle.call(export_fn, 0)                        # fn(model, 0) where the model lives

A tick collects the frame of the advance the previous tick started, draws it, and starts the next one, so a
worker trains while the page draws and the browser renders. With the in-process runner `start` trains at
once, which keeps the old order of a tick: draw the latest picture, then train.

When the model's worker dies, every call raises `ModelLost`, whose message is the one sentence the page shows;
the handle is spent (`lost` holds the sentence) and the unit builds a new one from the seed.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from app.training import worker
from app.training.worker import Frame
from toy_models.train import TrainConfig

LOST_SENTENCE = ("The worker process that trained this model stopped, so the model is gone: press Play to "
                 "start again from the seed (your answers and checks are kept).")  # fmt: skip
CALL_TIMEOUT_S = 120.0  # the longest a page waits for one call (a Step on a CNN over MNIST, an export)


class ModelLost(RuntimeError):
    """The model's worker died; str() is the sentence the page shows."""


def _drop(runner: Any, slot: int, run_id: str) -> None:
    try:
        runner.set_playing(slot, run_id, False)
        runner.submit(slot, worker.drop, run_id)
        runner.forget(slot)
    except Exception:  # the pool is shutting down, or the worker is gone anyway
        pass


class ModelHandle:
    """One model (a Trainer, or a MultiTrainer when `compare`) living where `runner` keeps it."""

    def __init__(self, runner: Any, configs: Sequence[TrainConfig], *, compare: bool = False):
        self.runner = runner
        self.run_id = uuid.uuid4().hex
        self.compare = compare
        self.configs = list(configs)
        self.lost = ""
        self.lock = threading.Lock()  # two script threads of one session never drive the model at once
        self._hot: list[tuple[int, dict[str, Any]]] = []
        self._pending: Future | None = None
        self.slot = runner.place()
        self._generation = runner.generation(self.slot)
        self.frame: Frame = self._result(self._submit(worker.build, self.run_id, self.configs, compare))
        self.configs = list(self.frame.configs)
        self._finalizer = weakref.finalize(self, _drop, runner, self.slot, self.run_id)

    # -- what the page reads -----------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.frame.epoch

    @property
    def step(self) -> int:
        return self.frame.step

    @property
    def busy(self) -> bool:
        """An advance was sent and its frame not collected yet."""
        return self._pending is not None

    def local_model(self) -> Any:
        """The model itself when it lives in this process (the in-process runner: tests read it), else None."""
        return worker.local_model(self.run_id) if self.runner.size == 0 else None

    # -- what the page does --------------------------------------------------------------------------------
    def request_hyper(self, member: int, **changes: Any) -> None:
        """Hot changes for one member, checked now (ValueError: one sentence, nothing changed) and applied by the
        model before its next step."""
        config = self.configs[member].with_hot(**changes)  # the one place a hot value is validated
        self.configs[member] = config
        self._hot.append((member, changes))

    def start(self, *, epochs: int | None, seconds: float, probe: Callable[[Any], Any] | None = None) -> None:
        """Send an advance (with the hot changes waiting); a no-op while one is under way."""
        self._check()
        with self.lock:
            if self._pending is not None:
                return
            hot, self._hot = self._hot, []
            self._pending = self._submit(worker.advance, self.run_id, hot, epochs=epochs, seconds=seconds,
                                         probe=probe)

    def collect(self, timeout: float = CALL_TIMEOUT_S) -> Frame:
        """The frame of the advance under way (waiting for it), or the latest frame when none is; hot changes
        still waiting are applied first (a paused model shows a new margin at once, as its caps do)."""
        if self._pending is None and self._hot:
            self.start(epochs=0, seconds=0.0)
        with self.lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.frame = self._result(pending, timeout)
            self.configs = [*self.frame.configs]
            self._reapply_local()
        return self.frame

    def advance(self, *, epochs: int | None, seconds: float, probe: Callable[[Any], Any] | None = None) -> Frame:
        """Collect what is under way, then advance and wait for the result (Step; a refresh with epochs=0)."""
        self.collect()
        self.start(epochs=epochs, seconds=seconds, probe=probe)
        return self.collect()

    def refresh(self) -> Frame:
        """A fresh frame with the waiting hot changes applied, no training."""
        return self.advance(epochs=0, seconds=0.0)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        """fn(model, *args) where the model lives, after what is under way."""
        self.collect()
        self._check()
        return self._result(self._submit(worker.call, self.run_id, fn, *args), timeout)

    def close(self) -> None:
        """Forget the model where it lives (Reset, a rebuild)."""
        self._finalizer()

    def set_playing(self, playing: bool) -> None:
        """Tell the runner whether this model trains now (it places new models beside idle ones)."""
        self.runner.set_playing(self.slot, self.run_id, playing)

    def placed_well(self) -> bool:
        """False when the model is about to play in a worker another model trains in while a worker idles."""
        return not self.runner.crowded(self.slot)

    def moved(self) -> ModelHandle:
        """The same untrained model built again in the best worker now (it has not trained: nothing is lost,
        and its seed gives the very same weights); this handle is closed."""
        if self.step > 0:
            raise ValueError("only a model that has not trained yet can move")
        self.collect()
        fresh = ModelHandle(self.runner, self.configs, compare=self.compare)
        self.close()
        return fresh

    # -- inside ----------------------------------------------------------------------------------------------
    def _reapply_local(self) -> None:
        """Hot changes requested after the advance was sent still hold for the page's copy of the configs."""
        for member, changes in self._hot:
            self.configs[member] = self.configs[member].with_hot(**changes)

    def _check(self) -> None:
        if not self.lost and self.runner.generation(self.slot) != self._generation:
            self.lost = LOST_SENTENCE  # the worker was replaced after another model's call found it dead
        if self.lost:
            raise ModelLost(self.lost)

    def _lose(self) -> ModelLost:
        self.runner.broken(self.slot, self._generation)
        self.lost = LOST_SENTENCE
        return ModelLost(self.lost)

    def _submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        try:
            return self.runner.submit(self.slot, fn, *args, **kwargs)
        except BrokenExecutor:  # the worker died since the last call
            raise self._lose() from None

    def _result(self, future: Future, timeout: float = CALL_TIMEOUT_S) -> Any:
        try:
            return future.result(timeout=timeout)
        except BrokenExecutor:
            raise self._lose() from None
        except LookupError:  # the worker was restarted (or the model expired) and no longer holds it
            self.lost = LOST_SENTENCE
            raise ModelLost(self.lost) from None
        except FutureTimeout:
            raise ModelLost("The model did not answer within two minutes; press Reset to start it again.") from None
