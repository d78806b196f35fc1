"""The training engine the app animates: step-wise, time-budgeted, deterministic and hard to break.

    config = TrainConfig(loss="arcface", embedding_dim=3)      # every setting, validated, JSON-safe
    trainer = Trainer(config)                                  # loads the data, builds backbone + head
    trainer.advance(seconds=0.15)                              # train for a wall-time budget (or steps / epochs)
    trainer.set_hyper(margin=0.3)                              # hot change: weights and optimizer state kept
    snap = trainer.snapshot()                                  # small, plot-ready, never NaN

    multi = MultiTrainer(config)                               # softmax, SphereFace, CosFace, ArcFace at once:
    multi.advance(epochs=5)                                    # identical batches, identical initial backbones,
    multi.snapshot(3)                                          # one batched model, one optimizer step

Three promises hold the design together:

* Replay. A `TrainConfig` holds everything a run depends on. The same config on the same machine gives
  bit-identical snapshots: the initial weights come from a generator seeded with `config.seed` (the global
  RNG is forked, never touched), the shuffling from a generator the trainer owns.
* No NaN reaches the caller. A divergence guard keeps a last-good copy of model and optimizer state every
  `GUARD_EVERY` steps; a non-finite loss or weight restores it and records one `TrainEvent`. Nothing is
  lowered silently: the caller sees the event and decides what to change.
* Hot vs cold. Settings in `TrainConfig.hot_fields` change a running model in place (`set_hyper`); any
  other change needs a new trainer (`is_hot_change` tells which).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.optim.adam import adam as functional_adam
from torch.optim.sgd import sgd as functional_sgd

from . import metrics
from .data import DATASETS, Dataset, load_dataset
from .heads import (
    GRADIENTS,
    LOSS_SPECS,
    LOSSES,
    SPHEREFACE_FORMS,
    ClassifierHead,
    MarginHead,
    SoftmaxHead,
    SphereFaceHead,
    build_head,
    check_margin,
    margin_logits,
    target_cos,
)
from .nets import BACKBONES, MLPBackbone, build_backbone

__all__ = [
    "DEFAULT_COMPARE_LOSSES",
    "DEVICES",
    "OPTIMIZERS",
    "EvalResult",
    "History",
    "MultiTrainer",
    "Snapshot",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "build_model",
    "choose_device",
    "is_hot_change",
]

DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_COMPARE_LOSSES = ("softmax", "sphereface", "cosface", "arcface")

FUSED_DEVICES = ("cpu", "cuda", "mps")  # where torch has a fused Adam kernel
GUARD_EVERY = 25  # steps between last-good copies; a copy of these tiny nets costs microseconds
LOSS_EMA_DECAY = 0.9  # the live loss curve: an exponential moving average over roughly the last 10 steps
LIVE_TEST_LIMIT = 4096  # test sets up to this size are re-scored at every snapshot; larger ones per epoch
EVAL_CHUNK = 4096  # evaluation batch: bounds the memory of a CNN over 60k MNIST images
PENDING_LIMIT = 256  # steps whose predictions may wait before they are counted (see _count_pending)
INITIAL_LOSS_SAMPLES = 2048  # training samples that score the untrained model (history entry of epoch 0)
_NORM_EPS = 1e-12  # F.normalize's: a norm below it counts as it


# --------------------------------------------------------------------------------------------------------
# Configuration


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Validated on construction; `to_dict`/`from_dict` for JSON.

    `scale` and `margin` may be None, meaning the loss's default from `heads.LOSS_SPECS`; `resolved()`
    fills them in (a Trainer always stores the resolved config, so a saved config replays even if a
    default changes later). The defaults train digits with a 3-D embedding to ≥ 95 % test accuracy in a
    few seconds on a laptop CPU.
    """

    # data
    dataset: str = "digits"
    data_dir: str | None = None
    max_train: int | None = None
    max_test: int | None = None
    holdout_classes: tuple[int, ...] = ()
    data_seed: int = 0  # the train/test split; fixed apart from `seed` so that runs can share one dataset
    num_identities: int = 8  # the "toy" dataset only
    # model
    backbone: str = "mlp"
    embedding_dim: int = 3
    hidden: int = 64
    # loss
    loss: str = "arcface"
    scale: float | None = None
    margin: float | tuple[float, float, float] | None = None
    # "detached": the straight-through gradient of insightface and opensphere (forward values unchanged, the
    # gradient of plain scaled softmax). With "true" gradients ArcFace (m=0.5) and SphereFace (m=1.5) get
    # stuck on 3-D digits: at init all features lie in one narrow cone (class centres < 1° apart after five
    # steps) about 120° from their class weights, where the true gradient of the margin target is weak and at
    # θ = π − m (ArcFace) vanishes; the non-target terms push every weight away and the run settles with
    # θ_y ≈ 151° ≈ π − m, W-EC ≈ 152° and 54 % test accuracy. tests/unit/test_science.py keeps that on record.
    gradient: str = "detached"
    easy_margin: bool = False  # ArcFace only
    sphereface_form: str = "normalized"
    lambda_base: float = 1000.0  # SphereFace "original" form: λ = max(λ_min, base·(1 + γ·iter)^−power)
    lambda_gamma: float = 0.12
    lambda_power: float = 1.0
    lambda_min: float = 5.0
    # optimisation
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    batch_size: int = 64
    seed: int = 0
    # runtime
    device: str = "auto"
    num_threads: int | None = None
    snapshot_per_class: int = 50

    hot_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "scale",
            "margin",
            "gradient",
            "easy_margin",
            "lambda_base",
            "lambda_gamma",
            "lambda_power",
            "lambda_min",
            "lr",
            "momentum",
            "weight_decay",
            "snapshot_per_class",
        }
    )
    # Every other field is cold: changing it needs a new Trainer (model shape, data, seed, optimizer kind,
    # device). Set below the class, once the fields exist.
    cold_fields: ClassVar[frozenset[str]]
    # Fields that MultiTrainer members may set differently; all the others they must share.
    member_fields: ClassVar[frozenset[str]] = hot_fields | {"loss", "sphereface_form"}

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalising a frozen dataclass in place, before anyone sees it

        def fail(message: str) -> None:
            raise ValueError(message)

        dataset = str(self.dataset).strip().lower().replace("_", "-")
        if dataset not in DATASETS:
            fail(f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}")
        set_(self, "dataset", dataset)
        if self.data_dir is not None:
            set_(self, "data_dir", str(self.data_dir))
        for name in ("max_train", "max_test"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                fail(f"{name} must be a positive integer or None, got {value!r}")
        holdout = self.holdout_classes
        if _is_int(holdout):
            holdout = (holdout,)
        if isinstance(holdout, str) or not all(_is_int(c) and c >= 0 for c in holdout):
            fail(f"holdout_classes must be non-negative class indices, got {self.holdout_classes!r}")
        set_(self, "holdout_classes", tuple(int(c) for c in holdout))
        for name in ("data_seed", "seed"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                fail(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if not _is_int(self.num_identities) or not 2 <= self.num_identities <= 20:
            fail(f"num_identities must be an integer from 2 to 20, got {self.num_identities!r}")

        backbone = str(self.backbone).strip().lower()
        if backbone not in BACKBONES:
            fail(f"unknown backbone {self.backbone!r}: choose one of {', '.join(BACKBONES)}")
        set_(self, "backbone", backbone)
        if not _is_int(self.embedding_dim) or self.embedding_dim < 2:
            fail(f"embedding_dim must be an integer of at least 2, got {self.embedding_dim!r}")
        if not _is_int(self.hidden) or self.hidden < 1:
            fail(f"hidden must be a positive integer, got {self.hidden!r}")

        if self.loss not in LOSS_SPECS:
            fail(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        spec = LOSS_SPECS[self.loss]
        if self.scale is not None:
            if not spec.uses_scale:
                fail(f"{self.loss} takes no scale: it is a plain linear layer on unnormalised features")
            if not _is_number(self.scale) or self.scale <= 0:
                fail(f"scale must be a positive number, got {self.scale!r}")
            set_(self, "scale", float(self.scale))
        if self.margin is not None:
            if spec.margin_range is None:
                fail(f"{self.loss} takes no margin")
            margin = self.margin
            if isinstance(margin, (list, tuple)) and self.loss != "combined":
                if len(margin) != 1:
                    fail(f"{self.loss} takes one margin number, got {len(margin)}")
                margin = margin[0]
            if isinstance(margin, bool) or not (_is_number(margin) or isinstance(margin, (list, tuple))):
                fail(f"margin must be a number (three numbers for combined), got {self.margin!r}")
            if isinstance(margin, (list, tuple)) and not all(_is_number(v) for v in margin):
                fail(f"margin must be finite numbers, got {self.margin!r}")
            set_(self, "margin", check_margin(self.loss, margin))
        if self.gradient not in GRADIENTS:
            fail(f"unknown gradient option {self.gradient!r}: choose one of {', '.join(GRADIENTS)}")
        if not isinstance(self.easy_margin, bool):
            fail(f"easy_margin must be true or false, got {self.easy_margin!r}")
        if self.easy_margin and self.loss != "arcface":
            fail(f"easy_margin applies to arcface only, not {self.loss}")
        if self.sphereface_form not in SPHEREFACE_FORMS:
            fail(f"unknown SphereFace form {self.sphereface_form!r}: choose one of {', '.join(SPHEREFACE_FORMS)}")
        for name in ("lambda_base", "lambda_gamma", "lambda_power", "lambda_min"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                fail(f"{name} must be a non-negative number, got {value!r}")
            set_(self, name, float(value))

        if self.optimizer not in OPTIMIZERS:
            fail(f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if not _is_number(self.lr) or self.lr <= 0:
            fail(f"lr must be a positive number, got {self.lr!r}")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            fail(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            fail(f"weight_decay must be a non-negative number, got {self.weight_decay!r}")
        for name in ("lr", "momentum", "weight_decay"):
            set_(self, name, float(getattr(self, name)))
        if not _is_int(self.batch_size) or self.batch_size < 1:
            fail(f"batch_size must be a positive integer, got {self.batch_size!r}")

        if self.device not in DEVICES:
            fail(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")
        if self.num_threads is not None and (not _is_int(self.num_threads) or self.num_threads < 1):
            fail(f"num_threads must be a positive integer or None, got {self.num_threads!r}")
        if not _is_int(self.snapshot_per_class) or self.snapshot_per_class < 1:
            fail(f"snapshot_per_class must be a positive integer, got {self.snapshot_per_class!r}")

    @property
    def effective_scale(self) -> float | None:
        """The scale s in use (None for softmax, which has none)."""
        spec = LOSS_SPECS[self.loss]
        if not spec.uses_scale:
            return None
        return spec.default_scale if self.scale is None else self.scale

    @property
    def effective_margin(self) -> float | tuple[float, float, float] | None:
        """The margin in use (the loss's default when `margin` is None; None for softmax and normface)."""
        spec = LOSS_SPECS[self.loss]
        if spec.margin_range is None:
            return None
        return spec.default_margin if self.margin is None else self.margin

    def resolved(self) -> TrainConfig:
        """This config with scale and margin filled in from the loss's defaults."""
        return dataclasses.replace(self, scale=self.effective_scale, margin=self.effective_margin)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (tuples become lists); `from_dict` turns it back into an equal config."""
        out = dataclasses.asdict(self)
        out["holdout_classes"] = list(self.holdout_classes)
        if isinstance(self.margin, tuple):
            out["margin"] = list(self.margin)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A validated config from a dict such as `to_dict` writes; ValueError names any unknown or bad field."""
        if not isinstance(values, Mapping):
            raise ValueError(f"a config must be a mapping of field names to values, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}")
        values = dict(values)
        if isinstance(values.get("holdout_classes"), list):
            values["holdout_classes"] = tuple(values["holdout_classes"])
        if isinstance(values.get("margin"), list):
            values["margin"] = tuple(values["margin"])
        return cls(**values)


TrainConfig.cold_fields = frozenset(f.name for f in dataclasses.fields(TrainConfig)) - TrainConfig.hot_fields


def is_hot_change(old: TrainConfig, new: TrainConfig) -> bool:
    """True when `new` differs from `old` only in hot fields, i.e. `Trainer.reconfigure(new)` can apply it.

    Scale and margin are compared as resolved values, so None and the loss's default count as equal.
    """
    old, new = old.resolved(), new.resolved()
    return all(getattr(old, name) == getattr(new, name) for name in TrainConfig.cold_fields)


def choose_device(requested: str = "auto") -> torch.device:
    """"auto": CUDA when available, else Apple MPS, else the CPU. An unavailable explicit choice is an error."""
    cuda = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested == "cuda" and not cuda:
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
    if requested == "mps" and not mps:
        raise ValueError("device 'mps' was requested but Apple MPS is not available")
    if requested not in DEVICES:
        raise ValueError(f"unknown device {requested!r}: choose one of {', '.join(DEVICES)}")
    return torch.device(requested)


# --------------------------------------------------------------------------------------------------------
# Results: events, history, snapshots


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


# --------------------------------------------------------------------------------------------------------
# Model pieces shared by Trainer and MultiTrainer


def head_options(config: TrainConfig) -> dict[str, Any]:
    """Keyword arguments of heads.build_head for this config (only those its loss takes)."""
    if config.loss == "softmax":
        return {}
    options: dict[str, Any] = {"scale": config.effective_scale, "gradient": config.gradient}
    if config.effective_margin is not None:
        options["margin"] = config.effective_margin
    if config.loss == "arcface":
        options["easy_margin"] = config.easy_margin
    if config.loss == "sphereface":
        options.update(
            form=config.sphereface_form,
            lambda_base=config.lambda_base,
            lambda_gamma=config.lambda_gamma,
            lambda_power=config.lambda_power,
            lambda_min=config.lambda_min,
        )
    return options


def build_model(config: TrainConfig, input_shape: Sequence[int], num_classes: int) -> tuple[nn.Module, ClassifierHead]:
    """(backbone, head) initialised from `config.seed` alone: the global RNG is forked, so it is neither
    used nor changed. Two configs with the same seed and architecture get identical backbones."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone = build_backbone(config.backbone, input_shape, config.embedding_dim, hidden=config.hidden)
        head = build_head(config.loss, config.embedding_dim, num_classes, **head_options(config))
    return backbone, head


def _margin_training_logits(
    head: MarginHead, cosine: torch.Tensor, embeddings: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """What MarginHead.forward(embeddings, labels) computes, from a cosine matrix the caller already has.

    The trainers need the plain cosines too (they are the predictions), and MultiTrainer computes them for
    all members in one batched product; so the forward is spelled out here. SphereFace's λ schedule
    advances per training forward, exactly as SphereFaceHead.forward does it. A unit test checks that this
    equals head(embeddings, labels) for every loss.
    """
    if isinstance(head, SphereFaceHead) and head.training:
        head.iteration += 1
    return margin_logits(
        cosine,
        labels,
        head.loss_name,
        head.scale_for(embeddings),
        head.margin,
        gradient=head.gradient,
        **head.target_options(),
    )


def training_logits(
    head: ClassifierHead, embeddings: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(training logits, prediction scores): the logits with the margin for the loss, and scores whose argmax is
    the head's inference prediction (cosines for margin heads, the plain logits for softmax)."""
    if isinstance(head, MarginHead):
        cosine = head.cosine(embeddings)
        return _margin_training_logits(head, cosine, embeddings, labels), cosine
    logits = head(embeddings, labels)
    return logits, logits


def _all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """One check over many small tensors (a concatenation is cheaper than a check per tensor). x·0 is 0 for a
    finite x and NaN for ±inf and NaN, so the sum of the zeroed values is finite exactly when all are: two passes
    over the data instead of torch.isfinite's four."""
    flat = [t.detach().reshape(-1) for t in tensors]
    return bool(torch.isfinite(torch.cat(flat).mul_(0.0).sum())) if flat else True


def _mode_matters(module: nn.Module) -> bool:
    """Whether train() and eval() would change what the module computes (dropout or batch norm inside)."""
    mode_dependent = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    return any(isinstance(m, mode_dependent) for m in module.modules())


def _clone_tree(value):
    """Deep copy of nested dicts/lists of tensors (an optimizer state_dict), far cheaper than copy.deepcopy."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone_tree(v) for v in value]
    return value


def _class_balanced_indices(labels: torch.Tensor, num_classes: int, per_class: int) -> torch.Tensor:
    """The first `per_class` samples of every class, in data order (deterministic, no RNG)."""
    labels = labels.cpu()
    picks = [torch.nonzero(labels == c).flatten()[:per_class] for c in range(num_classes)]
    return torch.sort(torch.cat(picks)).values


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _BatchStream:
    """Seeded epochs of shuffled mini-batch indices. An epoch is one pass over the training set; its last batch
    may be smaller. The generator is the stream's own, so nothing global is drawn from or changed."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, device: torch.device):
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = self._shuffle()

    def _shuffle(self) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=self.generator).to(self.device)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def epoch_fraction(self) -> float:
        return self.position / self.num_samples

    def next(self) -> tuple[torch.Tensor, bool]:
        """(indices of the next batch, whether it completes an epoch)."""
        index = self.order[self.position : self.position + self.batch_size]
        self.position += index.shape[0]  # (not len(): a Python-level method of Tensor)
        if self.position < self.num_samples:
            return index, False
        self.epoch += 1
        self.position = 0
        self.order = self._shuffle()
        return index, True


def _train_for(runner: Trainer | MultiTrainer, steps: int | None, seconds: float | None, epochs: int | None) -> int:
    """The loop behind both advance methods: train step by step until the first of the limits is reached."""
    if steps is None and seconds is None and epochs is None:
        raise ValueError("advance needs steps, seconds or epochs")
    if steps is not None and (not _is_int(steps) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if epochs is not None and (not _is_int(epochs) or epochs < 0):
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if seconds is not None and (not _is_number(seconds) or seconds < 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    start = time.perf_counter()
    target_epoch = None if epochs is None else runner.epoch + epochs
    done = 0
    while True:
        if steps is not None and done >= steps:
            return done
        if target_epoch is not None and runner.epoch >= target_epoch:
            return done
        if seconds is not None and time.perf_counter() - start >= seconds:  # read between steps only
            return done
        runner._train_step()
        done += 1


def _load_checked_dataset(config: TrainConfig, dataset: Dataset | None) -> Dataset:
    if dataset is None:
        return load_dataset(
            config.dataset,
            config.data_dir,
            seed=config.data_seed,
            holdout_classes=config.holdout_classes,
            max_train=config.max_train,
            max_test=config.max_test,
            num_identities=config.num_identities,
        )
    if dataset.name != config.dataset or tuple(dataset.holdout_classes) != config.holdout_classes:
        raise ValueError(
            f"the dataset passed in ({dataset.name}, holdout {list(dataset.holdout_classes)}) does not match the "
            f"config ({config.dataset}, holdout {list(config.holdout_classes)})"
        )
    return dataset


# --------------------------------------------------------------------------------------------------------
# One model's bookkeeping: history, events, guard, snapshot. Trainer and MultiTrainer members share it.


class _ModelRun:
    """A backbone + head and everything recorded about their training. Subclasses own the optimisation."""

    def __init__(self, config: TrainConfig, dataset: Dataset, device: torch.device):
        self.config = config.resolved()
        self.initial_config = self.config
        self.dataset = dataset
        self.device = device
        self.backbone, self.head = build_model(self.config, dataset.input_shape, dataset.num_classes)
        self.backbone.to(device)
        self.head.to(device)
        self._mode_matters = _mode_matters(self.backbone)
        self._x_test = dataset.x_test.to(device)
        self._y_test = dataset.y_test.to(device)
        self.events: list[TrainEvent] = []
        self._history_rows: dict[str, list] = {name: [] for name in History.names()}  # appended per epoch
        self._history_cache: History | None = None
        self.last_loss = math.nan  # the training loss of the most recent step (NaN before the first)
        self._loss_ema = 0.0
        self._ema_weight = 0.0  # for the bias correction of an EMA started at zero
        self._epoch_loss_sum = 0.0
        self._epoch_seen = 0
        self._epoch_correct = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (scores, labels) of steps not yet counted
        self._epoch_steps = 0
        self._checkpoint: tuple[int, Any] | None = None
        self._version = 0  # bumped by anything that changes what a snapshot shows
        self._snapshot_cache: tuple[Any, Snapshot] | None = None
        self._test_accuracy = (0.0, 0)  # (accuracy, step it was scored at)
        self._sample = _class_balanced_indices(self._y_test, dataset.num_classes, self.config.snapshot_per_class)

    # -- subclass hooks ----------------------------------------------------------------------------------
    step: int
    epoch: int

    @property
    def epoch_fraction(self) -> float:
        raise NotImplementedError

    def _capture_state(self) -> Any:
        raise NotImplementedError

    def _load_state(self, state: Any) -> None:
        raise NotImplementedError

    def _apply_optimizer_hyper(self) -> None:
        raise NotImplementedError

    # -- start ---------------------------------------------------------------------------------------------
    def _start(self, x_train: torch.Tensor, y_train: torch.Tensor) -> None:
        """Score the untrained model (history entry 0) and keep it as the first last-good copy."""
        count = min(len(y_train), INITIAL_LOSS_SAMPLES)
        self.backbone.eval()
        self.head.eval()
        with torch.no_grad():
            embeddings = self._embed(x_train[:count])
            logits, scores = training_logits(self.head, embeddings, y_train[:count])
            loss = float(F.cross_entropy(logits, y_train[:count]))
            train_accuracy = float((scores.argmax(1) == y_train[:count]).float().mean())
        self._set_train_mode()
        if not math.isfinite(loss):  # only an absurd setting (e.g. a huge scale) can do this
            loss = 0.0
        self._loss_ema, self._ema_weight = loss, 1.0
        self._record_epoch(loss=loss, train_accuracy=train_accuracy)
        self._checkpoint = (0, self._capture_state())

    def _set_train_mode(self) -> None:
        self.backbone.train()
        self.head.train()

    # -- per step and per epoch ----------------------------------------------------------------------------
    def _record_step(self, loss_value: float, count: int) -> None:
        self.last_loss = loss_value
        self._loss_ema = LOSS_EMA_DECAY * self._loss_ema + (1 - LOSS_EMA_DECAY) * loss_value
        self._ema_weight = LOSS_EMA_DECAY * self._ema_weight + (1 - LOSS_EMA_DECAY)
        self._epoch_loss_sum += loss_value
        self._epoch_steps += 1
        self._epoch_seen += count

    def _count_pending(self) -> None:
        """Add the predictions queued by recent steps to the epoch's count of correct ones.

        Counting is deferred: one batched argmax per snapshot or epoch instead of three small ops and a
        synchronisation in every step (a few per cent of a step on these tiny nets).
        """
        if self._pending:
            scores = torch.cat([s for s, _ in self._pending])
            labels = torch.cat([y for _, y in self._pending])
            self._epoch_correct += int((scores.argmax(1) == labels).sum())
            self._pending.clear()

    def _before_update(self, step: int, loss_value: float) -> None:
        """Every GUARD_EVERY steps, keep the weights that just gave a finite loss as the last-good copy.

        Taken before the update, so the copy is known to work on real data (finite weights alone are not
        enough: weights of 1e30 are finite and still overflow the next forward pass).
        """
        if step % GUARD_EVERY == 0 and math.isfinite(loss_value) and self._params_finite():
            self._checkpoint = (step, self._capture_state())

    def _after_update(self, step: int, loss_value: float, count: int) -> None:
        """Bookkeeping after step number `step`, or the guard's response to its non-finite loss."""
        if math.isfinite(loss_value):
            self._record_step(loss_value, count)
        else:
            self._diverged(step, "the loss became non-finite")

    def _params_finite(self) -> bool:
        return _all_finite([*self.backbone.parameters(), *self.head.parameters()])

    def _ensure_finite(self) -> None:
        """Called before anything is shown: the last step may have pushed a weight to inf/NaN."""
        if not self._params_finite():
            self._diverged(self.step, "a weight became non-finite")

    def _end_epoch(self, test_features: torch.Tensor | None = None) -> None:
        self._count_pending()
        train_accuracy = self._epoch_correct / self._epoch_seen if self._epoch_seen else self._last("train_accuracy")
        loss = self._epoch_loss_sum / self._epoch_steps if self._epoch_steps else self._last("loss")
        self._epoch_loss_sum, self._epoch_seen, self._epoch_correct, self._epoch_steps = 0.0, 0, 0, 0
        self._record_epoch(loss=loss, train_accuracy=train_accuracy, test_features=test_features)

    def _last(self, name: str) -> float:
        values = self._history_rows[name]
        return values[-1] if values else 0.0

    @property
    def history(self) -> History:
        """The per-epoch record so far (an immutable copy, rebuilt only after an epoch ends)."""
        if self._history_cache is None:
            self._history_cache = History(**{name: tuple(rows) for name, rows in self._history_rows.items()})
        return self._history_cache

    def _record_epoch(self, *, loss: float, train_accuracy: float, test_features: torch.Tensor | None = None) -> None:
        test = self.evaluate_test(test_features)
        row = {
            "epoch": self.epoch,
            "step": self.step,
            "loss": float(loss),
            "train_accuracy": float(train_accuracy),
            "test_accuracy": test.accuracy,
        }
        for name, value in row.items():
            self._history_rows[name].append(value)
        self._history_cache = None
        self._version += 1

    # -- the guard -----------------------------------------------------------------------------------------
    def _hyper_text(self) -> str:
        c = self.config
        parts = []
        if c.effective_scale is not None:
            parts.append(f"s={c.effective_scale:g}")
        margin = c.effective_margin
        if margin is not None:
            parts.append("m=" + (",".join(f"{v:g}" for v in margin) if isinstance(margin, tuple) else f"{margin:g}"))
        parts.append(f"lr={c.lr:g}")
        return ", ".join(parts)

    def _diverged(self, step: int, reason: str) -> None:
        """Restore the last-good copy and say so, once per checkpoint (repeats raise the event's count)."""
        restored_step, state = self._checkpoint
        self._load_state(state)
        self._apply_optimizer_hyper()  # the user's current settings stand; only weights and moments go back
        count = 1
        last = self.events[-1] if self.events else None
        if last is not None and last.kind == "diverged" and last.restored_step == restored_step:
            count = last.count + 1
            self.events.pop()
        again = f" ({_ordinal(count)} time from this copy)" if count > 1 else ""
        message = (
            f"{self.config.loss} diverged at step {step} ({reason}) with {self._hyper_text()}; "
            f"restored the weights of step {restored_step}{again}"
        )
        self.events.append(TrainEvent(step, "diverged", message, count, restored_step))
        self._version += 1

    # -- hot settings --------------------------------------------------------------------------------------
    def set_hyper(self, **changes: Any) -> None:
        """Change hot settings (TrainConfig.hot_fields) of the running model; weights and optimizer state stay.

        Validated first, applied all together or not at all. Each change is recorded as a "hyper" event.
        """
        cold = sorted(set(changes) - TrainConfig.hot_fields)
        if cold:
            known = {f.name for f in dataclasses.fields(TrainConfig)}
            if cold[0] in known:
                raise ValueError(f"{cold[0]} cannot change while training: start a new trainer for it")
            raise ValueError(f"unknown setting {cold[0]!r}")
        old = self.config
        new = dataclasses.replace(old, **changes).resolved()  # validates everything, raises before any change
        head_changes = {}
        for name in ("scale", "margin", "gradient", "easy_margin", "lambda_base", "lambda_gamma", "lambda_power",
                     "lambda_min"):
            if getattr(new, name) != getattr(old, name) and name in self.head.hyper():
                head_changes[name] = getattr(new, name)
        self.head.set_hyper(**head_changes)
        self.config = new
        self._apply_optimizer_hyper()
        if new.snapshot_per_class != old.snapshot_per_class:
            self._sample = _class_balanced_indices(self._y_test, self.dataset.num_classes, new.snapshot_per_class)
        changed = [name for name in sorted(changes) if getattr(new, name) != getattr(old, name)]
        if changed:
            text = ", ".join(f"{name} {getattr(old, name)} → {getattr(new, name)}" for name in changed)
            self.events.append(TrainEvent(self.step, "hyper", f"step {self.step}: {text}"))
        self._version += 1

    def hyper(self) -> dict[str, Any]:
        """The current hot settings, plus SphereFace's current λ (0 unless form="original")."""
        c = self.config
        values = {name: getattr(c, name) for name in sorted(TrainConfig.hot_fields)}
        values["loss"] = c.loss
        values["sphereface_form"] = c.sphereface_form
        values["sphereface_lambda"] = self.head.current_lambda() if isinstance(self.head, SphereFaceHead) else 0.0
        return values

    # -- evaluation and snapshots ------------------------------------------------------------------------------
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features of x, in chunks (so a CNN over 60k images stays within memory)."""
        if len(x) <= EVAL_CHUNK:
            return self.backbone(x)
        return torch.cat([self.backbone(x[i : i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, features: torch.Tensor | None = None) -> EvalResult:
        """Score the current model on images x with labels y (any split, e.g. the held-out classes).

        `features` may hold the backbone's raw output for x, already computed. The features are checked: if
        the weights overflow on these images (finite weights can), the guard restores the last-good copy and
        scores again. Should even that fail, non-finite values are zeroed, so a result never holds NaN.
        """
        result = self._evaluate(x, y, features)  # non-finite weights always show in the features (NaN·0 = NaN)
        if not (np.isfinite(result.embeddings).all() and np.isfinite(result.class_weights).all()):
            self._diverged(self.step, "the features became non-finite")
            result = self._evaluate(x, y)
            result = dataclasses.replace(
                result,
                embeddings=np.nan_to_num(result.embeddings, nan=0.0, posinf=0.0, neginf=0.0),
                class_weights=np.nan_to_num(result.class_weights, nan=0.0, posinf=0.0, neginf=0.0),
            )
        return result

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, features: torch.Tensor | None = None) -> EvalResult:
        if self._mode_matters:
            self.backbone.eval()
        try:
            # Without labels the heads apply no margin and SphereFace's λ schedule does not advance.
            with torch.no_grad():
                raw = self._embed(x.to(self.device)) if features is None else features
                unit = F.normalize(raw.float(), dim=1)
                weights = self.head.class_directions().float()
                # A margin head predicts the class of the largest cosine (its scale is positive); softmax its logits.
                scores = unit @ weights.T if isinstance(self.head, MarginHead) else self.head(raw)
                predictions = scores.argmax(1) if len(raw) else torch.zeros(0, dtype=torch.long)
        finally:
            if self._mode_matters:
                self.backbone.train()
        return EvalResult(
            embeddings=unit.cpu().numpy(),
            labels=y.cpu().numpy(),
            predictions=predictions.cpu().numpy(),
            class_weights=weights.cpu().numpy(),
        )

    def evaluate_test(self, features: torch.Tensor | None = None) -> EvalResult:
        """The whole test set; also refreshes the test accuracy that snapshots report."""
        result = self.evaluate(self._x_test, self._y_test, features)
        self._test_accuracy = (result.accuracy, self.step)
        return result

    def evaluate_all(self, *, max_pairs: int = 200_000, seed: int = 0) -> dict[str, Any]:
        """Final metrics of the current model, as the command line reports them.

        train_accuracy and test_accuracy over the whole splits; the angle statistics of the test set (degrees,
        metrics.angle_statistics); with classes held out, open-set verification on their samples
        (metrics.verification_metrics: verification_auc, tar_at_far_1e-2, tar_at_far_1e-3 and pair counts).
        Values that cannot be computed are NaN and "notes" ({metric: reason}) says why.
        """
        train = self.evaluate(self.dataset.x_train, self.dataset.y_train)
        test = self.evaluate_test()
        result: dict[str, Any] = {"train_accuracy": train.accuracy, "test_accuracy": test.accuracy}
        result.update(metrics.angle_statistics(test.embeddings, test.labels, test.class_weights))
        notes: dict[str, str] = {}
        if len(self.dataset.y_holdout):
            held = self.evaluate(self.dataset.x_holdout, self.dataset.y_holdout)
            verification = metrics.verification_metrics(held.embeddings, held.labels, max_pairs=max_pairs, seed=seed)
            notes.update(verification.pop("notes"))
            result.update(verification)
        result["notes"] = notes
        return result

    def _running_train_accuracy(self) -> float:
        self._count_pending()
        if self._epoch_seen:
            return self._epoch_correct / self._epoch_seen
        return self._last("train_accuracy")

    def snapshot(self, *, refresh_test: bool = False) -> Snapshot:
        """A plot-ready picture of the model now. Cheap: the same state returns the cached snapshot.

        Test accuracy covers the whole test set; sets up to LIVE_TEST_LIMIT samples are re-scored whenever the
        model changed, larger ones at epoch ends (or now, with refresh_test=True).
        """
        key = (self._version, self.step, refresh_test)
        if self._snapshot_cache is not None and self._snapshot_cache[0] == key:
            return self._snapshot_cache[1]

        if refresh_test or len(self._y_test) <= LIVE_TEST_LIMIT:
            test = self.evaluate_test()
            sample = self._sample.numpy()
            embeddings, labels, weights = test.embeddings[sample], test.labels[sample], test.class_weights
        else:
            index = self._sample.to(self.device)
            part = self.evaluate(self._x_test[index], self._y_test[index])
            embeddings, labels, weights = part.embeddings, part.labels, part.class_weights
        target, nearest = metrics.target_angles(embeddings, labels, weights)
        ema = self._loss_ema / self._ema_weight if self._ema_weight else 0.0
        test_accuracy, test_step = self._test_accuracy
        snap = Snapshot(
            loss_name=self.config.loss,
            step=self.step,
            epoch=self.epoch,
            epoch_fraction=self.epoch_fraction,
            loss=float(ema),
            train_accuracy=float(self._running_train_accuracy()),
            test_accuracy=float(test_accuracy),
            test_accuracy_step=int(test_step),
            embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
            labels=labels.astype(np.int64),
            class_weights=np.ascontiguousarray(weights, dtype=np.float32),
            target_angle=target.astype(np.float32),
            nearest_angle=nearest.astype(np.float32),
            angle_stats=metrics.angle_statistics(embeddings, labels, weights),
            hyper=self.hyper(),
            history=self.history,
            events=tuple(self.events),
            class_names=tuple(self.dataset.class_names),
        )
        self._snapshot_cache = (key, snap)
        return snap


# --------------------------------------------------------------------------------------------------------
# Trainer: one backbone + head


def _make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter], device: torch.device) -> torch.optim.Optimizer:
    # The fused kernels do one pass over all tensors; on these tiny nets the optimizer's per-tensor overhead
    # would otherwise cost as much as the forward pass.
    fused = device.type in FUSED_DEVICES
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def _prepare_runtime(config: TrainConfig) -> torch.device:
    device = choose_device(config.device)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)  # process-wide by nature: the app keeps it at 1
    return device


class Trainer(_ModelRun):
    """Step-wise training of one backbone + head. See the module docstring for the promises it keeps.

    Trainer(config, dataset=None): `dataset` may be passed in (e.g. cached by the app); it must be the one
    the config names. Attributes worth reading: step, epoch, epoch_fraction, events, history, config (the
    current, resolved settings), initial_config, backbone, head, optimizer, dataset, device.
    """

    def __init__(self, config: TrainConfig | None = None, dataset: Dataset | None = None):
        config = TrainConfig() if config is None else config
        device = _prepare_runtime(config)
        dataset = _load_checked_dataset(config, dataset)
        super().__init__(config, dataset, device)
        self._x_train = dataset.x_train.to(device)
        self._y_train = dataset.y_train.to(device)
        self._stream = _BatchStream(len(self._y_train), self.config.batch_size, self.config.seed, device)
        self.step = 0
        self.optimizer = _make_optimizer(
            self.config, [*self.backbone.parameters(), *self.head.parameters()], device
        )
        # The plain MLP's training forward as F.linear / torch.relu on its parameters: what its modules compute,
        # without seven nn.Module calls per step (None: the CNN, called as a module).
        plan = _mlp_plan(self.backbone)
        linears = [None if op == "relu" else self.backbone.get_submodule(prefix) for op, prefix in (plan or [])]
        self._mlp_layers = None if plan is None else [None if m is None else (m.weight, m.bias) for m in linears]
        self._start(self._x_train, self._y_train)

    @property
    def epoch(self) -> int:
        return self._stream.epoch

    @property
    def epoch_fraction(self) -> float:
        return self._stream.epoch_fraction

    @property
    def steps_per_epoch(self) -> int:
        return self._stream.steps_per_epoch

    def advance(self, steps: int | None = None, *, seconds: float | None = None, epochs: int | None = None) -> int:
        """Train until `steps` more steps, `seconds` of wall time or `epochs` more epoch ends, whichever comes
        first; returns the number of steps taken. The clock is read between steps, so a time budget is
        overshot by at most one step (and at least one step is taken when seconds > 0)."""
        done = _train_for(self, steps, seconds, epochs)
        self._ensure_finite()
        return done

    def _train_step(self) -> None:
        index, epoch_done = self._stream.next()
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)  # cheaper than x[index]
        if self._mlp_layers is None:
            features = self.backbone(x)
        else:
            features = x.flatten(1)
            for layer in self._mlp_layers:
                features = torch.relu(features) if layer is None else F.linear(features, *layer)
        logits, scores = training_logits(self.head, features, y)
        loss = F.cross_entropy(logits, y)
        loss_value = loss.item()
        self._before_update(self.step, loss_value)
        if math.isfinite(loss_value):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self._pending.append((scores.detach(), y))  # counted later, in bulk (_count_pending)
            if len(self._pending) >= PENDING_LIMIT:
                self._count_pending()
        self.step += 1
        self._after_update(self.step, loss_value, y.shape[0])
        self._version += 1
        if epoch_done:
            self._end_epoch()

    def reconfigure(self, config: TrainConfig) -> None:
        """Apply `config` to the running model when only hot fields differ (see is_hot_change); else ValueError."""
        if not is_hot_change(self.config, config):
            cold = sorted(
                name for name in TrainConfig.cold_fields
                if getattr(self.config, name) != getattr(config.resolved(), name)
            )
            raise ValueError(f"{cold[0]} cannot change while training: start a new trainer for it")
        target = config.resolved()
        self.set_hyper(**{name: getattr(target, name) for name in TrainConfig.hot_fields
                          if getattr(target, name) != getattr(self.config, name)})

    # -- guard hooks -------------------------------------------------------------------------------------------
    def _capture_state(self) -> Any:
        return {
            "backbone": _clone_tree(self.backbone.state_dict()),
            "head": _clone_tree(self.head.state_dict()),
            "optimizer": _clone_tree(self.optimizer.state_dict()),
        }

    def _load_state(self, state: Any) -> None:
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(_clone_tree(state["optimizer"]))  # keep the copy reusable
        self.optimizer.zero_grad(set_to_none=True)

    def _apply_optimizer_hyper(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
            group["weight_decay"] = self.config.weight_decay
            if "momentum" in group:
                group["momentum"] = self.config.momentum


# --------------------------------------------------------------------------------------------------------
# MultiTrainer: several heads, identical batches and initial backbones, one batched model


def _member_config(base: TrainConfig, spec: str | Mapping[str, Any]) -> TrainConfig:
    """A member's config: the base with another loss (its own default scale and margin unless given)."""
    overrides = {"loss": spec} if isinstance(spec, str) else dict(spec)
    if "loss" not in overrides:
        raise ValueError(f"a loss setting needs a 'loss' name, got {spec!r}")
    loss = overrides["loss"]
    if loss not in LOSS_SPECS:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    uses_scale = LOSS_SPECS[loss].uses_scale
    overrides.setdefault("scale", base.scale if uses_scale else None)
    overrides.setdefault("margin", None)
    overrides.setdefault("easy_margin", base.easy_margin and loss == "arcface")
    return dataclasses.replace(base, **overrides)


class _MultiMember(_ModelRun):
    """One member of a MultiTrainer: the usual snapshot / set_hyper / events API; it advances with the others.

    Its backbone and head are ordinary modules whose parameters are views into the MultiTrainer's stacked
    tensors, so evaluation and state dicts work as for a Trainer, and writing them writes the stack.
    """

    def __init__(self, owner: MultiTrainer, index: int, config: TrainConfig, dataset: Dataset, device: torch.device):
        self._owner = owner
        self.index = index
        super().__init__(config, dataset, device)

    @property
    def step(self) -> int:
        return self._owner.step

    @property
    def epoch(self) -> int:
        return self._owner.epoch

    @property
    def epoch_fraction(self) -> float:
        return self._owner.epoch_fraction

    def _capture_state(self) -> Any:
        return self._owner._capture_member(self.index)

    def _load_state(self, state: Any) -> None:
        self._owner._load_member(self.index, state)

    def _count_pending(self) -> None:
        self._owner._count_pending()  # the queue is the MultiTrainer's, for all members at once

    def _apply_optimizer_hyper(self) -> None:
        pass  # the MultiTrainer reads lr, momentum and weight decay from the member's config at every step


def _alias_parameter(module: nn.Module, name: str, view: torch.Tensor) -> None:
    """Make module's parameter `name` share storage with `view` (a slice of a stacked tensor)."""
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, leaf, nn.Parameter(view, requires_grad=False))


def _mlp_plan(backbone: nn.Module) -> list[tuple[str, str | None]] | None:
    """The MLP's layers as [("linear", param prefix), ("relu", None), ...], or None if it is not a plain MLP.

    Only Flatten, Linear and ReLU are understood; anything else (the CNN) is trained member by member.
    """
    if not isinstance(backbone, MLPBackbone):
        return None
    layers = [(f"body.{name}", module) for name, module in backbone.body.named_children()]
    layers.append(("embedding", backbone.embedding))
    plan: list[tuple[str, str | None]] = []
    for prefix, module in layers:
        if isinstance(module, nn.Linear) and module.bias is not None:
            plan.append(("linear", prefix))
        elif isinstance(module, nn.ReLU):
            plan.append(("relu", None))
        elif not isinstance(module, nn.Flatten):
            return None
    return plan


class _HandWrittenBackward(torch.autograd.Function):
    """Autograd's face of a pass whose backward is written out (MultiTrainer._losses_and_scores): the output is
    the pass's losses, and backward hands their incoming gradient to the pass's own backward."""

    @staticmethod
    def forward(ctx, run_backward, losses, *inputs):  # inputs: the tensors run_backward returns gradients for
        ctx.run_backward = run_backward
        return losses.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return (None, None, *ctx.run_backward(grad))


class _HeadPass:
    """Every member's head on its own features, as one batched computation: forward on construction (call it
    under torch.no_grad()), then `backward`, written out. What it computes is what each member's head computes
    (training_logits, then the mean cross-entropy); a unit test compares both, values and gradients.

    Layout: logits are (M, C, N), classes-major, so that the softmax over C runs with the samples innermost.
    Class weights and features are normalised together (F.normalize's convention: a norm below 1e-12 counts
    as 1e-12); a softmax member's rows are divided by 1 instead, so one product W·xᵀ (+ bias) gives the cosines
    of the margin members and the plain logits of the softmax ones. A margin enters as an offset g(θ_y) − cos θ_y
    on the target entry (g is heads.target_cos, the one formula), then the member's scale multiplies its row.

    The backward is that of autograd for these ops. With gradient="detached" (the default) the offset is a
    constant, the straight-through estimator; with "true" the target entry's gradient is multiplied by g′,
    which autograd computes on the (N,) target cosines alone. A scale that depends on the features (SphereFace's
    original form: ‖x‖) is differentiated the same way.
    """

    def __init__(self, owner: MultiTrainer, embeddings: torch.Tensor, y: torch.Tensor):
        count, n = embeddings.shape[:2]
        weights = owner._weight_values  # (M, C, d)
        classes = weights.shape[1]
        both = torch.cat([weights, embeddings], dim=1)  # (M, C + N, d)
        norms = torch.linalg.vector_norm(both, dim=2, keepdim=True)
        denominators = norms.clamp_min(_NORM_EPS)
        # Where the norm's gradient does not pass: below the clamp (clamp_min passes ≥), and softmax rows.
        # (masked_fill_ rather than torch.where: a Python number there would become a tensor at every step.)
        unprojected = norms < _NORM_EPS
        if owner._softmax_mask is not None:
            denominators.masked_fill_(owner._softmax_mask, 1.0)
            unprojected |= owner._softmax_mask
        unit = both / denominators
        unit_w, unit_e = unit[:, :classes], unit[:, classes:]
        if owner._bias_column is None:
            base = torch.bmm(unit_w, unit_e.transpose(1, 2))
        else:  # the margin members' bias rows are zero
            base = torch.baddbmm(owner._bias_column, unit_w, unit_e.transpose(1, 2))
        index = y.view(1, 1, -1).expand(count, 1, -1)
        cos_y = base.gather(1, index)  # (M, 1, N)
        targets, scales = [], []
        self.true_targets: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (k, cos θ_y, g) with autograd
        self.feature_scales: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (k, features, scale) likewise
        for k, member in enumerate(owner.members):
            head = member.head
            if not isinstance(head, MarginHead):
                targets.append(cos_y[k])
                scales.append(1.0)
                continue
            if isinstance(head, SphereFaceHead) and head.training:
                head.iteration += 1  # λ advances per training forward, as in SphereFaceHead.forward
            options = head.target_options()
            if head.gradient == "detached":
                target = target_cos(cos_y[k], head.loss_name, head.margin, **options)
            else:
                cosines = cos_y[k].detach().requires_grad_()
                with torch.enable_grad():
                    target = target_cos(cosines, head.loss_name, head.margin, **options)
                self.true_targets.append((k, cosines, target))
                target = target.detach()
            targets.append(target)
            scale = head.scale_for(embeddings[k])
            if isinstance(scale, torch.Tensor):
                features = embeddings[k].detach().requires_grad_()
                with torch.enable_grad():
                    scale = head.scale_for(features)
                self.feature_scales.append((k, features, scale))
            scales.append(scale)
        logits = base.scatter_add(1, index, torch.stack(targets).sub_(cos_y))
        self.scale, self.scale_over_n = owner._scale_tensors(scales, n)  # (M, 1, 1), or (M, 1, N) per sample
        if self.feature_scales:
            self.unscaled = logits
            logits = logits * self.scale
        else:
            logits.mul_(self.scale)
        self.log_probs = torch.log_softmax(logits, 1)
        self.losses = self.log_probs.gather(1, index).view(count, n).mean(1).neg_()
        self.scores = base
        self.owner, self.index, self.y = owner, index, y
        self.unit, self.unit_w, self.unit_e = unit, unit_w, unit_e
        self.denominators, self.unprojected, self.classes = denominators, unprojected, classes

    def backward(self, weights: torch.Tensor | None) -> list[torch.Tensor]:
        """[d features (M, N, d), d class weights (M, C, d), d softmax biases (M, C) if any] of Σ_k w_k·loss_k
        (weights None: every w_k = 1). Once only: it overwrites the forward's buffers."""
        if self.log_probs is None:
            raise RuntimeError("a batched pass can be differentiated once only")
        owner = self.owner
        count, _, n = self.log_probs.shape
        if owner._minus_ones is None or owner._minus_ones.shape != self.index.shape:
            owner._minus_ones = torch.full(self.index.shape, -1.0, device=self.index.device)
        grad = self.log_probs.exp_()  # softmax
        self.log_probs = None
        grad.scatter_add_(1, self.index, owner._minus_ones)  # minus the one-hot target: N · ∂loss/∂logits
        scale_grads = []
        if self.feature_scales:
            grad.mul_(1.0 / n if weights is None else weights.view(count, 1, 1) / n)
            scale_grads = [(grad[k] * self.unscaled[k]).sum(0) for k, _, _ in self.feature_scales]
            grad.mul_(self.scale)
        else:  # ∂loss/∂logits times the scale: the gradient of the scaled logits' input
            grad.mul_(self.scale_over_n if weights is None else self.scale_over_n * weights.view(count, 1, 1))
        for k, cosines, target in self.true_targets:  # the target entry's gradient times g′(cos θ_y)
            rows = self.y.view(1, -1)
            (along,) = torch.autograd.grad(target, cosines, grad[k].gather(0, rows))
            grad[k].scatter_(0, rows, along)
        d_unit = torch.cat([torch.bmm(grad, self.unit_e), torch.bmm(grad.transpose(1, 2), self.unit_w)], dim=1)
        # Through u = v / max(‖v‖, ε): (du − u·⟨du, u⟩) / ‖v‖ where the norm passes the clamp, du / max(‖v‖, ε)
        # elsewhere; a softmax member's rows were divided by 1.
        projection = (d_unit * self.unit).sum(2, keepdim=True).masked_fill_(self.unprojected, 0.0)
        d_both = d_unit.sub_(self.unit * projection).div_(self.denominators)
        features_grad = d_both[:, self.classes :]
        for (k, features, scale), scale_grad in zip(self.feature_scales, scale_grads, strict=True):
            (extra,) = torch.autograd.grad(scale, features, scale_grad.view(scale.shape))
            features_grad[k] += extra
        grads = [features_grad, d_both[:, : self.classes].contiguous()]
        if owner._bias_column is not None:  # the margin members' rows get exactly zero
            grads.append(grad.sum(2).masked_fill_(owner._margin_rows, 0.0))
        return grads


class MultiTrainer:
    """Trains several heads (default: softmax, SphereFace, CosFace, ArcFace) side by side, so that their
    comparison differs only by the loss: identical mini-batches, identical initial backbones (each member is
    built from the same seed), and the same optimizer settings unless a member's config says otherwise.

    MultiTrainer(base_config, losses=...)   members are the base config with each loss in `losses` (names, or
                                            mappings such as {"loss": "arcface", "margin": 0.3}); each loss
                                            gets its LOSS_SPECS default scale (or the base's) and margin.
    MultiTrainer([config, config, ...])     explicit member configs; they may differ only in member_fields.

    Speed: the members' parameters are stacked along a new first dimension and trained as one batched model:
    for the MLP one product per layer for all members, one product for every head's logits, one softmax and
    one fused Adam call on the stacks. On these small tensors a step is bound by the number of operations, not
    by arithmetic, so a step also does without autograd: the MLP and the heads have their backward written out
    (_mlp_backward, _HeadPass.backward; the margin's own derivative, where one is wanted, still comes from
    autograd on the target cosines alone). _losses_and_scores exposes the same pass to autograd, and the unit
    tests hold it to separate Trainers, losses and gradients. The CNN is embedded member by member through
    autograd (same stacked parameters, heads and optimizer step, no batched convolution). Adam's
    bias-correction step count is shared by the members (it is the MultiTrainer's step), also after a
    member's weights were restored.

    API: advance(...) as Trainer.advance, for all members; members[i] has snapshot(), set_hyper(), events,
    history, config; snapshot(i), snapshots(), set_hyper(i, ...) are shortcuts.
    """

    def __init__(
        self,
        configs_or_base_config: TrainConfig | Sequence[TrainConfig] | None = None,
        losses: Sequence[str | Mapping[str, Any]] | None = None,
        *,
        dataset: Dataset | None = None,
    ):
        if configs_or_base_config is None or isinstance(configs_or_base_config, TrainConfig):
            base = configs_or_base_config or TrainConfig()
            specs = DEFAULT_COMPARE_LOSSES if losses is None else losses
            configs = [_member_config(base, spec) for spec in specs]
        else:
            if losses is not None:
                raise ValueError("give either member configs or a base config with losses, not both")
            configs = list(configs_or_base_config)
        if not configs:
            raise ValueError("a MultiTrainer needs at least one member")
        shared = sorted(TrainConfig.cold_fields - TrainConfig.member_fields)
        for config in configs[1:]:
            for name in shared:
                if getattr(config, name) != getattr(configs[0], name):
                    raise ValueError(f"all members must share {name}, got {getattr(configs[0], name)!r} and "
                                     f"{getattr(config, name)!r}")

        first = configs[0]
        self.device = _prepare_runtime(first)
        self.dataset = _load_checked_dataset(first, dataset)
        self._x_train = self.dataset.x_train.to(self.device)
        self._y_train = self.dataset.y_train.to(self.device)
        self._stream = _BatchStream(len(self._y_train), first.batch_size, first.seed, self.device)
        self.step = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor, list[bool] | None]] = []  # (scores, labels, finite)
        self.members = [_MultiMember(self, i, c, self.dataset, self.device) for i, c in enumerate(configs)]
        self._stack_parameters()
        for member in self.members:
            member._start(self._x_train, self._y_train)

    # -- stacking --------------------------------------------------------------------------------------------
    def _stack_parameters(self) -> None:
        members = self.members
        self._backbone_names = [name for name, _ in members[0].backbone.named_parameters()]
        self._backbone_stack = {
            name: torch.stack([m.backbone.get_parameter(name).detach() for m in members]).requires_grad_()
            for name in self._backbone_names
        }
        self._weight_stack = torch.stack([m.head.weight.detach() for m in members]).requires_grad_()
        is_softmax = [isinstance(m.head, SoftmaxHead) for m in members]
        # Softmax heads have a bias. The stack has a row for every member so that all logits come from one
        # product; the rows of the margin members get no gradient and stay zero.
        self._bias_stack = None
        if any(is_softmax):
            rows = [m.head.bias.detach() if soft else torch.zeros_like(m.head.weight[:, 0]).detach()
                    for m, soft in zip(members, is_softmax, strict=True)]
            self._bias_stack = torch.stack(rows).requires_grad_()
        self._softmax_mask = torch.tensor(is_softmax, device=self.device).view(-1, 1, 1) if any(is_softmax) else None
        self._margin_rows = None if self._softmax_mask is None else ~self._softmax_mask.view(-1, 1)
        for i, member in enumerate(members):
            for name in self._backbone_names:
                _alias_parameter(member.backbone, name, self._backbone_stack[name].detach()[i])
            _alias_parameter(member.head, "weight", self._weight_stack.detach()[i])
            if is_softmax[i]:
                _alias_parameter(member.head, "bias", self._bias_stack.detach()[i])
        self._stacks = [*self._backbone_stack.values(), self._weight_stack]
        if self._bias_stack is not None:
            self._stacks.append(self._bias_stack)
        # Detached aliases of the stacks (same storage): the hand-written passes and the optimizer work on these,
        # so no autograd graph is recorded in a training step.
        self._values = [p.detach() for p in self._stacks]
        self._weight_values = self._values[len(self._backbone_names)]
        self._bias_column = self._values[-1].unsqueeze(2) if self._bias_stack is not None else None  # (M, C, 1)
        # Optimizer state, stacked like the parameters (Adam: first and second moments; SGD: momentum buffers).
        self._moments = [torch.zeros_like(p) for p in self._values]
        self._moments2 = [torch.zeros_like(p) for p in self._values]
        self._optimizer_steps = 0
        self._adam_step = torch.zeros((), device=self.device)  # one count for every stacked tensor
        self._scale_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None
        self._minus_ones: torch.Tensor | None = None
        self._plan = _mlp_plan(members[0].backbone)
        # The MLP's layers as the batched pass uses them: views of the stacks, made once (they see every update).
        self._layers: list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor] | None] = []
        values = dict(zip(self._backbone_names, self._values, strict=False))
        for layer, (op, prefix) in enumerate(self._plan or []):
            if op == "relu":
                self._layers.append(None)
                continue
            weight, bias = values[f"{prefix}.weight"], values[f"{prefix}.bias"]
            if layer == 0:  # every member sees the same batch: one (N, in) @ (in, M·out) product for all
                self._layers.append((prefix, weight, weight.view(-1, weight.shape[2]).t(), bias.view(-1)))
            else:
                self._layers.append((prefix, weight, weight.transpose(1, 2), bias.unsqueeze(1)))

    def _capture_member(self, i: int, rows: list[torch.Tensor] | None = None) -> Any:
        """Member i's rows of the parameters and optimizer moments, and its head's buffers (SphereFace's step).

        `rows`, when given, is _capture_rows(): copies of all members' rows taken at once, shared."""
        buffers = _clone_tree(dict(self.members[i].head.named_buffers()))
        if rows is None:
            return [t[i : i + 1].clone() for t in (*self._values, *self._moments, *self._moments2)], 0, buffers
        return rows, i, buffers

    def _capture_rows(self) -> list[torch.Tensor]:
        return [t.clone() for t in (*self._values, *self._moments, *self._moments2)]

    def _load_member(self, i: int, state: Any) -> None:
        rows, row, buffers = state
        with torch.no_grad():
            for target, saved in zip((*self._values, *self._moments, *self._moments2), rows, strict=True):
                target[i].copy_(saved[row])
            for name, value in buffers.items():
                self.members[i].head.get_buffer(name).copy_(value)

    def _members_finite(self) -> list[bool]:
        """Whether each member's weights are all finite: one check over all stacks (margin rows of the softmax
        bias included: they are zero)."""
        count = len(self.members)
        zeros = torch.cat([v.reshape(count, -1) for v in self._values], dim=1).mul_(0.0)  # as in _all_finite
        return torch.isfinite(zeros.sum(1)).tolist()

    # -- clock -----------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._stream.epoch

    @property
    def epoch_fraction(self) -> float:
        return self._stream.epoch_fraction

    @property
    def steps_per_epoch(self) -> int:
        return self._stream.steps_per_epoch

    # -- the batched pass ------------------------------------------------------------------------------------
    def _embed_all(self, x: torch.Tensor) -> torch.Tensor:
        """(M, N, d) features of the batch under every member's backbone (no gradient for the MLP; the CNN's
        carries autograd's, through the stacked parameters)."""
        if self._plan is not None:
            with torch.no_grad():
                return self._mlp_forward(x, None)
        return torch.stack([
            torch.func.functional_call(
                self.members[i].backbone, {name: self._backbone_stack[name][i] for name in self._backbone_names},
                (x,),
            )
            for i in range(len(self.members))
        ])

    def _mlp_forward(self, x: torch.Tensor, saved: list[torch.Tensor] | None) -> torch.Tensor:
        """Every member's MLP on the batch, (M, N, d). `saved` (a list) collects what _mlp_backward needs.

        The first layer sees the same batch for every member: one (N, in) @ (in, M·out) product for all; the
        others are one torch.baddbmm each. No autograd: the values are the detached aliases of the stacks.
        """
        count = len(self.members)
        h = x.flatten(1)
        for layer, parts in enumerate(self._layers):
            if parts is None:  # ReLU
                h = torch.relu(h)
                if saved is not None:
                    saved.append(h)
                continue
            _, _, weight, bias = parts
            if saved is not None:
                saved.append(h)
            if layer == 0:  # (N, M·out) seen as (M, N, out): a view; ReLU and baddbmm take its strides as they are
                h = torch.addmm(bias, h, weight).view(x.shape[0], count, -1).transpose(0, 1)
            else:
                h = torch.baddbmm(bias, h, weight)
        return h

    def _mlp_backward(self, saved: list[torch.Tensor], grad: torch.Tensor) -> list[torch.Tensor]:
        """Gradients of the backbone stacks (in _backbone_names order) from the features' gradient (M, N, d).

        What autograd computes for Linear and ReLU (ReLU: threshold_backward on its output), written out: no
        graph to build and walk, which on these small tensors costs more than the arithmetic.
        """
        grads: dict[str, torch.Tensor] = {}
        saved = list(saved)
        for layer in range(len(self._layers) - 1, -1, -1):
            parts = self._layers[layer]
            if parts is None:  # ReLU
                output = saved.pop()
                if layer == 1 and self._layers[0] is not None:  # laid out as the first layer's (N, M, out)
                    grad = torch.ops.aten.threshold_backward(grad.transpose(0, 1), output.transpose(0, 1), 0)
                    grad = grad.transpose(0, 1)
                else:
                    grad = torch.ops.aten.threshold_backward(grad, output, 0)
                continue
            inputs = saved.pop()
            prefix, weight, _, _ = parts
            if layer == 0:
                by_sample = grad.transpose(0, 1).reshape(inputs.shape[0], -1)  # (N, M·out), a view when laid out so
                grads[f"{prefix}.weight"] = by_sample.t().mm(inputs).view(weight.shape)
                grads[f"{prefix}.bias"] = by_sample.sum(0).view(weight.shape[:2])
            else:
                grads[f"{prefix}.weight"] = torch.bmm(grad.transpose(1, 2), inputs)
                grads[f"{prefix}.bias"] = grad.sum(1)
                grad = torch.bmm(grad, weight)
        return [grads[name] for name in self._backbone_names]

    def _scale_tensors(self, scales: list, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every member's scale as (M, 1, 1) and the same divided by the batch size N, kept while they stay the
        same; or (M, 1, N), None when some scale is per sample (SphereFace's original form)."""
        if all(isinstance(s, float) for s in scales):
            key = (tuple(scales), count)
            if self._scale_cache is None or self._scale_cache[0] != key:
                values = torch.tensor(scales, device=self.device).view(-1, 1, 1)
                self._scale_cache = (key, values, values / count)
            return self._scale_cache[1], self._scale_cache[2]
        return torch.stack([
            s.detach().reshape(1, -1) if isinstance(s, torch.Tensor) else torch.full((1, count), s, device=self.device)
            for s in scales
        ]), None

    def _gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(losses (M,), scores (M, C, N), gradients of the summed losses for _stacks) of one batch."""
        if self._plan is not None:
            with torch.no_grad():
                saved: list[torch.Tensor] = []
                head = _HeadPass(self, self._mlp_forward(x, saved), y)
                features_grad, *head_grads = head.backward(None)
                return head.losses, head.scores, [*self._mlp_backward(saved, features_grad), *head_grads]
        for p in self._stacks:
            p.grad = None
        embeddings = self._embed_all(x)
        with torch.no_grad():
            head = _HeadPass(self, embeddings.detach(), y)
            features_grad, *head_grads = head.backward(None)
        embeddings.backward(features_grad)
        return head.losses, head.scores, [*(self._backbone_stack[n].grad for n in self._backbone_names), *head_grads]

    def _losses_and_scores(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss of every member (M,), differentiable with respect to the stacks, and the scores (M, C, N)
        whose argmax over C is each member's prediction (cosines for margin heads, plain logits for softmax).

        The same pass as a training step, exposed to autograd (training itself calls the backward directly).
        """
        if self._plan is not None:
            with torch.no_grad():
                saved: list[torch.Tensor] = []
                head = _HeadPass(self, self._mlp_forward(x, saved), y)

            def backward(weights: torch.Tensor) -> list[torch.Tensor]:
                features_grad, *head_grads = head.backward(weights)
                return [*self._mlp_backward(saved, features_grad), *head_grads]

            return _HandWrittenBackward.apply(backward, head.losses, *self._stacks), head.scores
        embeddings = self._embed_all(x)
        with torch.no_grad():
            head = _HeadPass(self, embeddings.detach(), y)
        heads = [self._weight_stack] + ([] if self._bias_stack is None else [self._bias_stack])
        losses = _HandWrittenBackward.apply(lambda w: head.backward(w), head.losses, embeddings, *heads)
        return losses, head.scores

    def _optimizer_step(self, grads: list[torch.Tensor]) -> None:
        """One step of Adam (or SGD) on every stacked tensor; members with different settings in separate calls."""
        self._optimizer_steps += 1
        groups: dict[tuple, list[int]] = {}
        for i, member in enumerate(self.members):
            c = member.config
            groups.setdefault((c.lr, c.momentum, c.weight_decay), []).append(i)
        adam = self.members[0].config.optimizer == "adam"
        fused = adam and self.device.type in FUSED_DEVICES
        if fused:
            # torch's fused Adam kernel, called as torch.optim.Adam(fused=True) calls it, but with one step count
            # for all tensors: incremented once here instead of once per tensor.
            self._adam_step.add_(1.0)
        for (lr, momentum, weight_decay), rows in groups.items():
            if len(groups) == 1:  # the usual case: whole stacks, no slicing
                params, grad_list, moments, moments2 = self._values, grads, self._moments, self._moments2
            else:
                params = [p[i] for i in rows for p in self._values]
                grad_list = [g[i] for i in rows for g in grads]
                moments = [m[i] for i in rows for m in self._moments]
                moments2 = [m[i] for i in rows for m in self._moments2]
            if fused:
                torch._fused_adam_(
                    params, grad_list, moments, moments2, [], [self._adam_step] * len(params), lr=lr, beta1=0.9,
                    beta2=0.999, weight_decay=weight_decay, eps=1e-8, amsgrad=False, maximize=False,
                )
            elif adam:
                # The functional form increments every step tensor it is given (to this step's number).
                steps = [torch.tensor(float(self._optimizer_steps - 1), device=self.device) for _ in params]
                functional_adam(
                    params, grad_list, moments, moments2, [], steps, foreach=False, amsgrad=False, beta1=0.9,
                    beta2=0.999, lr=lr, weight_decay=weight_decay, eps=1e-8, maximize=False,
                )
            else:
                # Momentum buffers start at zero, so the first step's buffer is the gradient, as in torch.optim.SGD.
                functional_sgd(
                    params, grad_list, moments, weight_decay=weight_decay, momentum=momentum, lr=lr, dampening=0.0,
                    nesterov=False, maximize=False, foreach=True,
                )

    def _train_step(self) -> None:
        index, epoch_done = self._stream.next()
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)
        losses, scores, grads = self._gradients(x, y)
        loss_values = losses.tolist()
        finite = [math.isfinite(v) for v in loss_values]
        if self.step % GUARD_EVERY == 0:
            # The guard's last-good copies (see _ModelRun._before_update), for all members with one weight check
            # and one copy of the stacks.
            keep = [ok and weights_ok for ok, weights_ok in zip(finite, self._members_finite(), strict=True)]
            if any(keep):
                rows = self._capture_rows()
                for i, member in enumerate(self.members):
                    if keep[i]:
                        member._checkpoint = (self.step, self._capture_member(i, rows))
        self._optimizer_step(grads)  # on the stacks' detached aliases: nothing for autograd to record
        self.step += 1
        # Predictions are counted in bulk (_count_pending): per step only the scores are queued.
        self._pending.append((scores, y, None if all(finite) else finite))
        if len(self._pending) >= PENDING_LIMIT:
            self._count_pending()
        size = y.shape[0]
        for member, loss_value in zip(self.members, loss_values, strict=True):
            # A member whose loss was NaN got NaN gradients and a NaN update; the guard restores just it.
            member._after_update(self.step, loss_value, size)
            member._version += 1
        if epoch_done:
            self._count_pending()
            with torch.no_grad():  # one batched forward of the test set for every member's history entry
                features = self._embed_all(self.members[0]._x_test)
            for i, member in enumerate(self.members):
                member._end_epoch(features[i])

    def _count_pending(self) -> None:
        """Count the correct predictions of the queued steps for every member (see _ModelRun._count_pending)."""
        if not self._pending:
            return
        # max(1).indices, not argmax(1): over the classes axis of (M, C, N) it is several times faster.
        predictions = torch.cat([s for s, _, _ in self._pending], dim=2).max(1).indices  # (M, all queued samples)
        labels = torch.cat([y for _, y, _ in self._pending])
        correct = predictions == labels
        start = 0
        for _, y, finite in self._pending:
            if finite is not None:  # a step on which some member diverged: leave those members out
                correct[[not ok for ok in finite], start : start + len(y)] = False
            start += len(y)
        for member, count in zip(self.members, correct.sum(1).tolist(), strict=True):
            member._epoch_correct += count
        self._pending.clear()

    def advance(self, steps: int | None = None, *, seconds: float | None = None, epochs: int | None = None) -> int:
        """As Trainer.advance, for all members at once; returns the number of (shared) steps taken."""
        done = _train_for(self, steps, seconds, epochs)
        for member, ok in zip(self.members, self._members_finite(), strict=True):
            if not ok:  # as member._ensure_finite(), with one check for all
                member._diverged(self.step, "a weight became non-finite")
        return done

    # -- per-member shortcuts --------------------------------------------------------------------------------
    def snapshot(self, i: int, *, refresh_test: bool = False) -> Snapshot:
        return self.members[i].snapshot(refresh_test=refresh_test)

    def snapshots(self) -> list[Snapshot]:
        return [member.snapshot() for member in self.members]

    def set_hyper(self, i: int, **changes: Any) -> None:
        self.members[i].set_hyper(**changes)

    @property
    def configs(self) -> list[TrainConfig]:
        return [member.config for member in self.members]
