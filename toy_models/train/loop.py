"""The training loop's parts that both trainers share: the batch stream, the step budget, the dataset check, and
the cheap copies and finite checks the divergence guard uses."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import torch

from ..data import Dataset, fixed_holdout, load_dataset
from .config import TrainConfig, is_int, is_number


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """One check over many small tensors (a concatenation is cheaper than a check per tensor). x·0 is 0 for a
    finite x and NaN for ±inf and NaN, so the sum of the zeroed values is finite exactly when all are: two passes
    over the data instead of torch.isfinite's four."""
    return bool(finite_flag(tensors))


def finite_flag(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """all_finite's answer as a 0-d bool tensor, left on the device (the sync-free path reads it with the losses)."""
    flat = [t.detach().reshape(-1) for t in tensors]
    return torch.isfinite(torch.cat(flat).mul_(0.0).sum()) if flat else torch.tensor(True)


def clone_tree(value):
    """Deep copy of nested dicts/lists of tensors (an optimizer state_dict), far cheaper than copy.deepcopy."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: clone_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_tree(v) for v in value]
    return value

class BatchStream:
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
        # Drawn by the stream's CPU generator on every device, so a GPU run sees the batches its CPU replay sees; on
        # CUDA it travels from pinned memory without waiting for the device (one copy per epoch, no sync), and
        # the batches are slices of it on the device.
        order = torch.randperm(self.num_samples, generator=self.generator)
        if self.device.type == "cuda":
            return order.pin_memory().to(self.device, non_blocking=True)
        return order.to(self.device)

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


def train_for(
    take_step: Callable[[], None], epoch: Callable[[], int], steps: int | None, seconds: float | None,
    epochs: int | None,
) -> int:
    """The loop behind both advance methods: take_step() until the first of the limits is reached."""
    if steps is None and seconds is None and epochs is None:
        raise ValueError("advance needs steps, seconds or epochs")
    if steps is not None and (not is_int(steps) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if epochs is not None and (not is_int(epochs) or epochs < 0):
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if seconds is not None and (not is_number(seconds) or seconds < 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    start = time.perf_counter()
    target_epoch = None if epochs is None else epoch() + epochs
    done = 0
    while True:
        if steps is not None and done >= steps:
            return done
        if target_epoch is not None and epoch() >= target_epoch:
            return done
        if seconds is not None and time.perf_counter() - start >= seconds:  # read between steps only
            return done
        take_step()
        done += 1


def load_checked_dataset(config: TrainConfig, dataset: Dataset | None) -> Dataset:
    """The dataset the config names: loaded, or the one passed in after checking that it is that one."""
    if dataset is None:
        return load_dataset(
            config.dataset,
            config.data_dir,
            seed=config.data_seed,
            holdout_classes=config.holdout_classes,
            max_train=config.max_train,
            max_test=config.max_test,
            num_identities=config.num_identities,
            train_identities=config.train_identities,
        )
    held = fixed_holdout(config.dataset, config.train_identities) or config.holdout_classes
    if dataset.name != config.dataset or tuple(dataset.holdout_classes) != held:
        raise ValueError(
            f"the dataset passed in ({dataset.name}, holdout {list(dataset.holdout_classes)}) does not match the "
            f"config ({config.dataset}, holdout {list(held)})"
        )
    return dataset

