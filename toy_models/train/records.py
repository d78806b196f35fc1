"""What a run reports: events, the per-epoch history, snapshots and evaluation results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrainEvent:
    """Something the user should know about: kind "diverged" (the guard restored a last-good copy) or
    "hyper" (a hot setting changed). `count` > 1 when the same checkpoint had to be restored repeatedly."""

    step: int
    kind: str
    message: str
    count: int = 1
    restored_step: int | None = None


@dataclass(frozen=True)
class History:
    """One entry per completed epoch, plus entry 0 for the untrained model.

    loss: mean training loss over the epoch (entry 0: the untrained model's loss on up to 2,048 training
    samples). train_accuracy: running accuracy over the epoch's batches, each scored just before its update.
    test_accuracy: the whole test set at the end of the epoch.
    """

    epoch: tuple[int, ...] = ()
    step: tuple[int, ...] = ()
    loss: tuple[float, ...] = ()
    train_accuracy: tuple[float, ...] = ()
    test_accuracy: tuple[float, ...] = ()

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(History))

    def to_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self.names()}


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A small, plot-ready picture of a run at one moment. Never contains NaN.

    Arrays are numpy and float32. `embeddings` are unit-length TEST features of a class-balanced sample
    (at most `snapshot_per_class` per class) with their `labels`; `class_weights` are the unit class-weight
    vectors (C, d). `target_angle` (θ_y) and `nearest_angle` (min_{j≠y} θ_j) are per sample, in RADIANS.
    `angle_stats` are ArcFace Table 3's statistics in DEGREES over the same sample (metrics.angle_statistics).
    `loss` is an exponential moving average of the training loss (decay LOSS_EMA_DECAY per step);
    `train_accuracy` is the running accuracy of the current epoch (of the last one right at a boundary);
    `test_accuracy` is over the whole test set, scored at `test_accuracy_step`.
    """

    loss_name: str
    step: int
    epoch: int
    epoch_fraction: float
    loss: float
    train_accuracy: float
    test_accuracy: float
    test_accuracy_step: int
    embeddings: np.ndarray
    labels: np.ndarray
    class_weights: np.ndarray
    target_angle: np.ndarray
    nearest_angle: np.ndarray
    angle_stats: dict[str, float]
    hyper: dict[str, Any]
    history: History
    events: tuple[TrainEvent, ...]
    class_names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class EvalResult:
    """A model scored on one split: unit features (float32, CPU numpy), labels, and what the head predicts."""

    embeddings: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    class_weights: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels)) if len(self.labels) else 0.0
