"""What runs where a model lives: this process's models, and the few calls a page makes on them.

A page never holds its model. It holds a `ModelHandle` (app.training.handle), which sends these functions to
the process that owns the model: the page's own process on a laptop (InlineRunner), or one worker process of
a pool on a classroom server (WorkerPool), so that training never competes with drawing for one interpreter.
Each call returns something small: a `Frame` (the members' snapshots and where the run stands), or what a
named function computed from the model. The model itself never travels.

    build(run_id, configs, compare)                  -> Frame   (a Trainer, or a MultiTrainer when compare)
    advance(run_id, hot, epochs=, seconds=, probe=)  -> Frame   (hot changes first, then train)
    call(run_id, fn, *args)                          -> fn(model, *args), e.g. an export or a run record
    drop(run_id)                                              (forget the model)

`probe(model)` is called at every epoch end an advance reaches (a lesson measures its checks there, as its
headless runs do); what it returns comes back in `Frame.probes`. Functions and probes must be picklable when
the model lives in a worker: module-level functions, or functools.partial of them.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from toy_models.data import Dataset, load_dataset
from toy_models.train import MultiTrainer, Snapshot, TrainConfig, Trainer

MODEL_TTL_S = 30 * 60  # a model nobody called for this long is dropped (its tab closed without saying so)
STEP_LIMIT_S = 20.0  # one call never trains longer than this (Step on a CNN over MNIST)
DATASET_CACHE = 8  # datasets kept per process (each is read-only, shared by every model that trains on it)


@dataclass(frozen=True, eq=False)
class Frame:
    """What a page gets back from its model: one snapshot per member (a Trainer is one member), the members'
    current configs, where the run stands, what the epoch probe found, and how long the call trained."""

    snapshots: tuple[Snapshot, ...]
    configs: tuple[TrainConfig, ...]
    epoch: int
    step: int
    steps_per_epoch: int
    probes: tuple[Any, ...] = ()
    trained_s: float = 0.0
    worker: int = field(default_factory=os.getpid)

    @property
    def snapshot(self) -> Snapshot:
        """The first (for a Trainer, the only) member's snapshot."""
        return self.snapshots[0]


@dataclass
class _Entry:
    model: Trainer | MultiTrainer
    touched: float


_MODELS: dict[str, _Entry] = {}


@functools.lru_cache(maxsize=DATASET_CACHE)
def _load(name: str, data_dir: str | None, data_seed: int, holdout: tuple[int, ...], max_train: int | None,
          max_test: int | None, num_identities: int, train_identities: int | None) -> Dataset:  # fmt: skip
    return load_dataset(name, data_dir, seed=data_seed, holdout_classes=holdout, max_train=max_train,
                        max_test=max_test, num_identities=num_identities,
                        train_identities=train_identities)  # fmt: skip


def dataset_of(config: TrainConfig) -> Dataset:
    """The dataset `config` names, loaded once per process (its tensors are never written, so models share it).
    Raises toy_models.data.DatasetError when it cannot be loaded."""
    return _load(config.dataset, config.data_dir, config.data_seed, tuple(config.holdout_classes),
                 config.max_train, config.max_test, config.num_identities, config.train_identities)  # fmt: skip


def _entry(run_id: str) -> _Entry:
    entry = _MODELS.get(run_id)
    if entry is None:
        raise LookupError(f"model {run_id} is not in this process")
    entry.touched = time.monotonic()
    return entry


def _expire(now: float) -> None:
    for run_id, entry in list(_MODELS.items()):
        if now - entry.touched > MODEL_TTL_S:
            del _MODELS[run_id]


def _frame(model: Trainer | MultiTrainer, probes: Sequence[Any] = (), trained_s: float = 0.0) -> Frame:
    if isinstance(model, MultiTrainer):
        snaps, configs = tuple(model.snapshots()), tuple(model.configs)
    else:
        snaps, configs = (model.snapshot(),), (model.config,)
    return Frame(snaps, configs, model.epoch, model.step, model.steps_per_epoch, tuple(probes), trained_s)


def build(run_id: str, configs: Sequence[TrainConfig], compare: bool) -> Frame:
    """Build a model from the seed: a Trainer of configs[0], or a MultiTrainer of every config."""
    _expire(time.monotonic())
    if configs and configs[0].num_threads is not None:
        torch.set_num_threads(configs[0].num_threads)  # (process-wide: a worker trains on one thread)
    dataset = dataset_of(configs[0])
    model = MultiTrainer(list(configs), dataset=dataset) if compare else Trainer(configs[0], dataset=dataset)
    _MODELS[run_id] = _Entry(model, time.monotonic())
    return _frame(model)


def advance_to_epoch_ends(model: Any, on_epoch: Callable[[], None] | None, *, seconds: float,
                          epochs: int | None = None) -> None:
    """`model.advance(seconds=..., epochs=...)`, stopping at every epoch end to call `on_epoch` when there is
    one: a lesson judges its checks at every epoch end, as its headless runs do, not only when a view is
    redrawn (a fast tick spans a dozen epochs of digits, and a check's epoch budget could pass in between)."""
    if on_epoch is None:
        model.advance(seconds=seconds, epochs=epochs)
        return
    ends, target = time.monotonic() + seconds, None if epochs is None else model.epoch + epochs
    while (left := ends - time.monotonic()) > 0 and (target is None or model.epoch < target):
        epoch = model.epoch
        model.advance(seconds=left, epochs=1)
        if model.epoch > epoch:
            on_epoch()


def advance(run_id: str, hot: Sequence[tuple[int, dict[str, Any]]], *, epochs: int | None, seconds: float,
            probe: Callable[[Any], Any] | None = None) -> Frame:  # fmt: skip
    """Apply the hot changes (member index, {TrainConfig field: value}), then train until `epochs` more epoch
    ends or `seconds` of wall time, whichever comes first (0 epochs: only a fresh frame)."""
    model = _entry(run_id).model
    for index, changes in hot:
        if isinstance(model, MultiTrainer):
            model.request_hyper(index, **changes)
        else:
            model.request_hyper(**changes)
    probes: list[Any] = []
    started = time.perf_counter()
    if epochs != 0 and seconds > 0:
        on_epoch = None if probe is None else (lambda: probes.append(probe(model)))
        advance_to_epoch_ends(model, on_epoch, seconds=min(seconds, STEP_LIMIT_S), epochs=epochs)
    return _frame(model, probes, time.perf_counter() - started)


def call(run_id: str, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(model, *args) on the model itself (an export, a run record, a metric): what it returns travels."""
    return fn(_entry(run_id).model, *args)


def drop(run_id: str) -> None:
    """Forget a model (Reset, a closed tab, a rebuild)."""
    _MODELS.pop(run_id, None)


def call_exists(run_id: str) -> bool:
    """Whether this process holds the model (a test of the drop)."""
    return run_id in _MODELS


def local_model(run_id: str) -> Trainer | MultiTrainer | None:
    """The model itself, when it lives in this process (tests and the in-process runner only)."""
    entry = _MODELS.get(run_id)
    return None if entry is None else entry.model


def pid(_: Any = None) -> int:
    """This process's id (a health check, and what a test kills)."""
    return os.getpid()
