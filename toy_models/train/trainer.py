"""Trainer: step-wise, time-budgeted training of one backbone + head (the Playground's live model)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from .config import TrainConfig, is_hot_change, prepare_runtime
from .model_run import (
    GUARD_EVERY,
    PENDING_LIMIT,
    BatchStream,
    ModelRun,
    clone_tree,
    load_checked_dataset,
    mlp_plan,
    train_for,
    training_logits,
)

FUSED_DEVICES = ("cpu", "cuda", "mps")  # where torch.optim.Adam has a fused kernel


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter], device: torch.device) -> torch.optim.Optimizer:
    # The fused kernels do one pass over all tensors; on these tiny nets the optimizer's per-tensor overhead
    # would otherwise cost as much as the forward pass.
    fused = device.type in FUSED_DEVICES
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class Trainer(ModelRun):
    """Step-wise training of one backbone + head. See the package docstring for the promises it keeps.

    Trainer(config, dataset=None): `dataset` may be passed in (e.g. cached by the app); it must be the one
    the config names. Attributes worth reading: step, epoch, epoch_fraction, events, history, config (the
    current, resolved settings), initial_config, hyper_log (every hot change: (step, {field: value}); see
    replay.py), backbone, head, optimizer, dataset, device.

    Hot settings: set_hyper(**changes) from the training thread, request_hyper(**changes) from any other
    (validated at once, applied before the next step). How m travels: set_hyper(margin=m) -> TrainConfig.with_hot
    (the one check) -> head.margin -> heads.margin_logits -> heads.target_cos at every training step.
    """

    def __init__(self, config: TrainConfig | None = None, dataset: Dataset | None = None):
        config = TrainConfig() if config is None else config
        device = prepare_runtime(config)
        dataset = load_checked_dataset(config, dataset)
        super().__init__(config, dataset, device)
        self._x_train = dataset.x_train.to(device)
        self._y_train = dataset.y_train.to(device)
        self._stream = BatchStream(len(self._y_train), self.config.batch_size, self.config.seed, device)
        self.step = 0
        self.optimizer = make_optimizer(self.config, [*self.backbone.parameters(), *self.head.parameters()], device)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (scores, labels) of steps not yet counted
        # The plain MLP's training forward as F.linear / torch.relu on its parameters: what its modules compute,
        # without seven nn.Module calls per step (None: the CNN, called as a module).
        plan = mlp_plan(self.backbone)
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
        done = train_for(self._train_step, lambda: self.epoch, steps, seconds, epochs)
        if not self.params_finite():  # the last step may have pushed a weight to inf/NaN: never shown
            self.restore_last_good(self.step, "a weight became non-finite")
        return done

    def _train_step(self) -> None:
        self.apply_requested_hyper()  # a value handed over by another thread counts from this step on
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
        if math.isfinite(loss_value):
            if self.step % GUARD_EVERY == 0 and self.params_finite():
                self.keep_last_good(self.step)  # before the update: these weights just gave a finite loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self._pending.append((scores.detach(), y))  # counted later, in bulk (_count_pending)
            if len(self._pending) >= PENDING_LIMIT:
                self._count_pending()
        self.step += 1
        self.record_step(self.step, loss_value, y.shape[0])
        if epoch_done:
            self.end_epoch()

    def _count_pending(self) -> None:
        """Count the predictions queued by recent steps: one batched argmax per snapshot or epoch instead of three
        small ops and a synchronisation in every step (a few per cent of a step on these tiny nets)."""
        if self._pending:
            scores = torch.cat([s for s, _ in self._pending])
            labels = torch.cat([y for _, y in self._pending])
            self.add_correct(int((scores.argmax(1) == labels).sum()))
            self._pending.clear()

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
    def _capture_state(self, shared: Any = None) -> Any:
        return {
            "backbone": clone_tree(self.backbone.state_dict()),
            "head": clone_tree(self.head.state_dict()),
            "optimizer": clone_tree(self.optimizer.state_dict()),
        }

    def _load_state(self, state: Any) -> None:
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(clone_tree(state["optimizer"]))  # Adam's moments too; keep the copy reusable
        self.optimizer.zero_grad(set_to_none=True)

    def _apply_optimizer_hyper(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
            group["weight_decay"] = self.config.weight_decay
            if "momentum" in group:
                group["momentum"] = self.config.momentum
