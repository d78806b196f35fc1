"""Trainer: step-wise, time-budgeted training of one backbone + head (the Playground's live model)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from .config import TrainConfig, is_hot_change
from .device import prepare_runtime
from .fast import StepGraph, StepLedger, check_graphs, settle_run, sync_free_default
from .loop import BatchStream, clone_tree, finite_flag, load_checked_dataset, train_for
from .model import mlp_plan
from .model_run import GUARD_EVERY, PENDING_LIMIT, ModelRun

FUSED_DEVICES = ("cpu", "cuda", "mps")  # where torch.optim.Adam has a fused kernel


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter], device: torch.device, *,
                   capturable: bool = False) -> torch.optim.Optimizer:
    # The fused kernels do one pass over all tensors; on these tiny nets the optimizer's per-tensor overhead
    # would otherwise cost as much as the forward pass. capturable: safe inside a CUDA graph (its step count
    # stays on the device).
    fused = device.type in FUSED_DEVICES
    extra = {"capturable": True} if capturable else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused, **extra)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class Trainer(ModelRun):
    """Step-wise training of one backbone + head. See the package docstring for the promises it keeps.

    Trainer(config, dataset=None): `dataset` may be passed in (e.g. cached by the app); it must be the one
    the config names. Attributes worth reading: step, epoch, epoch_fraction, events, history, config (the
    current, resolved settings), initial_config, hyper_log (every hot change: (step, {field: value}); see
    replay.py), backbone, head, optimizer, dataset, device.

    Hot settings: set_hyper(**changes) from the training thread, request_hyper(**changes) from any other
    (validated at once, applied before the next step). How m travels: set_hyper(margin=m) -> TrainConfig.with_hot
    (the one check) -> head.set_hyper -> head.training_logits -> the loss's spec.target at every training step.

    sync_free: the steps never wait for the device (fast.py): None (default) means on CUDA only. graphs: capture
    the step as a CUDA graph (CUDA and sync_free only; ValueError elsewhere).
    """

    def __init__(self, config: TrainConfig | None = None, dataset: Dataset | None = None, *,
                 sync_free: bool | None = None, graphs: bool = False):
        config = TrainConfig() if config is None else config
        dataset = load_checked_dataset(config, dataset)
        device = prepare_runtime(config, dataset)
        self.sync_free = sync_free_default(device) if sync_free is None else bool(sync_free)
        self.graphs = check_graphs(graphs, device, self.sync_free)
        super().__init__(config, dataset, device)
        self._x_train = dataset.x_train.to(device)
        self._y_train = dataset.y_train.to(device)
        self._stream = BatchStream(len(self._y_train), self.config.batch_size, self.config.seed, device)
        self.step = 0
        self.optimizer = make_optimizer(self.config, [*self.backbone.parameters(), *self.head.parameters()], device,
                                        capturable=self.graphs)
        self._ledger = StepLedger(1, device) if self.sync_free else None
        self._ledger_start = 0  # the step before the ledger's first
        self._graph: StepGraph | None = None
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
        if self.sync_free:
            done = train_for(self._sync_free_step, lambda: self.epoch, steps, seconds, epochs)
            self._settle()  # the read-back of this call's steps, with the weights' finite check
            return done
        done = train_for(self._train_step, lambda: self.epoch, steps, seconds, epochs)
        if not self.params_finite():  # the last step may have pushed a weight to inf/NaN: never shown
            self.restore_last_good(self.step, "a weight became non-finite")
        return done

    def _train_step(self) -> None:
        self.apply_requested_hyper()  # a value handed over by another thread counts from this step on
        index, epoch_done = self._stream.next()
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)  # cheaper than x[index]
        logits, scores = self.head.training_logits(self._forward(x), y)
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

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's training forward (the plain MLP through its parameters, see __init__)."""
        if self._mlp_layers is None:
            return self.backbone(x)
        features = x.flatten(1)
        for layer in self._mlp_layers:
            features = torch.relu(features) if layer is None else F.linear(features, *layer)
        return features

    # -- the sync-free path (fast.py) -------------------------------------------------------------------------
    def _step_body(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update on the batch `index` with nothing read back: (loss, correct predictions), on the device."""
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)
        logits, scores = self.head.training_logits(self._forward(x), y)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (scores.detach().argmax(1) == y).sum()

    def _sync_free_step(self) -> None:
        self.apply_requested_hyper()
        index, epoch_done = self._stream.next()
        size = index.shape[0]
        if self._graph_fits(size):
            if self._graph is None or self._graph.key is not self.config:  # a hot change froze other values
                self._graph = StepGraph(self._step_body, size, self.device, self.config, self._keep_exactly,
                                        self._put_back_exactly, self._zero_grad)
            loss, correct = self._graph.step(index)
        else:
            self._zero_grad()
            loss, correct = self._step_body(index)
        self._ledger.add(loss, correct, size)
        self.step += 1
        if epoch_done:
            self.end_epoch()  # which settles first (_count_pending)

    def _graph_fits(self, size: int) -> bool:
        """Whether this step may run as the captured graph: graphs on, a full batch, and no λ counted in Python."""
        return self.graphs and size == self.config.batch_size and self.config.sphereface_form != "original"

    def _zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def _settle(self) -> None:
        """Read the ledger back (one transfer) and record its steps as the plain path would (fast.settle_run); a
        healthy run's weights are proposed as the last-good copy."""
        losses, correct, sizes, (weights_finite,) = self._ledger.read(
            finite_flag([*self.backbone.parameters(), *self.head.parameters()]))
        healthy = settle_run(self, self._ledger_start, [v[0] for v in losses], [c[0] for c in correct], sizes,
                             weights_finite == 1.0)
        self._ledger_start = self.step
        if healthy and losses:
            self.propose_last_good(self.step)  # kept once the next step's loss proves it (fast.settle_run)

    def _keep_exactly(self) -> Any:
        """What a step changes, copied (for StepGraph's warm-up): weights, optimizer state, head buffers."""
        params = [*self.backbone.parameters(), *self.head.parameters()]
        return ([p.detach().clone() for p in params],
                {id(p): clone_tree(self.optimizer.state[p]) for p in params if p in self.optimizer.state},
                [b.clone() for b in self.head.buffers()])

    def _put_back_exactly(self, saved: Any) -> None:
        """Restore `saved` (from _keep_exactly) in place: the tensors keep their addresses. Optimizer state made
        since is zeroed (Adam's first step starts from zero moments and a zero step count)."""
        weights, states, buffers = saved
        params = [*self.backbone.parameters(), *self.head.parameters()]
        with torch.no_grad():
            for param, value in zip(params, weights, strict=True):
                param.copy_(value)
            for param in params:
                for name, tensor in self.optimizer.state.get(param, {}).items():
                    if isinstance(tensor, torch.Tensor):
                        old = states.get(id(param), {}).get(name)
                        tensor.copy_(old) if old is not None else tensor.zero_()
            for buffer, value in zip(self.head.buffers(), buffers, strict=True):
                buffer.copy_(value)

    def _count_pending(self) -> None:
        """Count the predictions queued by recent steps: one batched argmax per snapshot or epoch instead of three
        small ops and a synchronisation in every step (a few per cent of a step on these tiny nets). On the
        sync-free path: read the ledger back."""
        if self.sync_free:
            self._settle()
            return
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
        self._graph = None  # new optimizer state tensors: a captured graph would write the old ones

    def _apply_optimizer_hyper(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
            group["weight_decay"] = self.config.weight_decay
            if "momentum" in group:
                group["momentum"] = self.config.momentum
