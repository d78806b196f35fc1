"""MultiTrainer: several heads trained side by side on identical batches, as one stacked model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..data import Dataset
from ..heads import check_loss
from .batched import BatchedPass
from .config import DEFAULT_COMPARE_LOSSES, TrainConfig
from .device import prepare_runtime
from .fast import StepLedger, settle_run, sync_free_default
from .loop import BatchStream, clone_tree, load_checked_dataset, train_for
from .model import build_model, mlp_plan
from .model_run import GUARD_EVERY, PENDING_LIMIT, ModelRun
from .records import Snapshot
from .stack import ParameterStack


def _member_config(base: TrainConfig, spec: str | Mapping[str, Any]) -> TrainConfig:
    """A member's config: the base with another loss (its own default scale and margin unless given)."""
    overrides = {"loss": spec} if isinstance(spec, str) else dict(spec)
    if "loss" not in overrides:
        raise ValueError(f"a loss setting needs a 'loss' name, got {spec!r}")
    loss_spec = check_loss(overrides["loss"])
    overrides.setdefault("scale", base.scale if loss_spec.uses_scale else None)
    overrides.setdefault("margin", None)
    overrides.setdefault("easy_margin", base.easy_margin and "easy_margin" in loss_spec.target_options)
    return dataclasses.replace(base, **overrides)


class MultiMember(ModelRun):
    """One member of a MultiTrainer: the usual snapshot / set_hyper / request_hyper / events API; it advances
    with the others.

    Its backbone and head are ordinary modules whose parameters are views of its rows of the ParameterStack, so
    evaluation and state dicts work as for a Trainer, and writing them writes the stack. Its clock (step, epoch)
    is the MultiTrainer's.
    """

    def __init__(self, owner: MultiTrainer, row: int, config: TrainConfig, model, stack: ParameterStack,
                 count_pending: Callable[[], None], x_train: torch.Tensor, y_train: torch.Tensor):
        self._owner = owner
        self._stack = stack
        self._row = row
        self._count_queued = count_pending  # the queue is the MultiTrainer's, counted for all members at once
        super().__init__(config, owner.dataset, owner.device, model)
        self._apply_optimizer_hyper()
        self._start(x_train, y_train)

    @property
    def owner(self) -> MultiTrainer:
        """The MultiTrainer that advances this member with the others (an export replays them all)."""
        return self._owner

    @property
    def step(self) -> int:
        return self._owner.step

    @property
    def epoch(self) -> int:
        return self._owner.epoch

    @property
    def epoch_fraction(self) -> float:
        return self._owner.epoch_fraction

    def _capture_state(self, shared: Any = None) -> Any:
        """(copy of the stack, this head's buffers: SphereFace's step count); `shared`: a copy taken for all."""
        return (self._stack.capture() if shared is None else shared), clone_tree(dict(self.head.named_buffers()))

    def _load_state(self, state: Any) -> None:
        copy, buffers = state
        self._stack.load_row(self._row, copy)
        with torch.no_grad():
            for name, value in buffers.items():
                self.head.get_buffer(name).copy_(value)

    def _count_pending(self) -> None:
        self._count_queued()

    def _apply_optimizer_hyper(self) -> None:
        c = self.config
        self._stack.set_member_settings(self._row, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def reference_losses_and_gradients(
    members: Sequence[MultiMember], stack: ParameterStack, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """The plain path, and the reference the fast one is tested against: each member computes its loss on the batch
    through its own modules, exactly as its own Trainer would, and autograd differentiates it.

    Returns what BatchedPass.losses_and_gradients returns: (losses (M,), scores (M, C, N), gradient of
    stack.flat; stack.views(gradient) cuts it into the stacked tensors' gradients).
    """
    losses, scores, gradients = [], [], []
    for member in members:
        parameters = dict(
            [*(("backbone." + n, p) for n, p in member.backbone.named_parameters()),
             *(("head." + n, p) for n, p in member.head.named_parameters())]
        )
        logits, member_scores = member.head.training_logits(member.backbone(x), y)
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, list(parameters.values()))
        losses.append(loss.detach())
        scores.append(member_scores.detach().t())  # (C, N): classes-major, as the batched pass lays them out
        gradients.append(dict(zip(parameters, grads, strict=True)))
    return torch.stack(losses), torch.stack(scores), stack.stack_gradients(gradients)


class MultiTrainer:
    """Trains several heads (default: softmax, SphereFace, CosFace, ArcFace) side by side, so that their
    comparison differs only by the loss: identical mini-batches, identical initial backbones (each member is
    built from the same seed), and the same optimizer settings unless a member's config says otherwise.

    MultiTrainer(base_config, losses=...)   members are the base config with each loss in `losses` (names, or
                                            mappings such as {"loss": "arcface", "margin": 0.3}); each loss
                                            gets its LOSS_SPECS default scale (or the base's) and margin.
    MultiTrainer([config, config, ...])     explicit member configs; they may differ only in member_fields.
    fast=True                               the hand-written batched pass (toy_models.train.batched) when the
                                            backbone is the MLP; fast=False, or the CNN: every member through
                                            autograd (reference_losses_and_gradients), the readable reference.
    sync_free=None                          steps that never wait for the device (fast.py); None: on CUDA only.

    Either way the members' parameters live in one ParameterStack and one optimizer update moves them all.
    Adam's bias-correction step count is shared by the members (it is the MultiTrainer's), also after a
    member's weights were restored.

    API: advance(...) as Trainer.advance, for all members; members[i] has snapshot(), set_hyper(),
    request_hyper(), events, history, config; snapshot(i), snapshots(), set_hyper(i, ...) and
    request_hyper(i, ...) are shortcuts.
    """

    def __init__(
        self,
        configs_or_base_config: TrainConfig | Sequence[TrainConfig] | None = None,
        losses: Sequence[str | Mapping[str, Any]] | None = None,
        *,
        dataset: Dataset | None = None,
        fast: bool = True,
        sync_free: bool | None = None,
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
        self.dataset = load_checked_dataset(first, dataset)
        self.device = prepare_runtime(first, self.dataset, len(configs))
        self.sync_free = sync_free_default(self.device) if sync_free is None else bool(sync_free)
        self._x_train = self.dataset.x_train.to(self.device)
        self._y_train = self.dataset.y_train.to(self.device)
        self._stream = BatchStream(len(self._y_train), first.batch_size, first.seed, self.device)
        self.step = 0
        self._pending: list[tuple[torch.Tensor, torch.Tensor, list[bool] | None]] = []  # (scores, labels, finite)
        models = [build_model(c, self.dataset.input_shape, self.dataset.num_classes) for c in configs]
        for backbone, head in models:
            backbone.to(self.device)
            head.to(self.device)
        self.stack = ParameterStack(models, first.optimizer, self.device)
        self.members = [
            MultiMember(self, i, c, models[i], self.stack, self._count_pending, self._x_train, self._y_train)
            for i, c in enumerate(configs)
        ]
        plan = mlp_plan(models[0][0])
        self.fast = fast and plan is not None
        self._batched = BatchedPass(self.stack, plan) if self.fast else None
        self._ledger = StepLedger(len(configs), self.device) if self.sync_free else None
        self._ledger_start = 0  # the step before the ledger's first

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

    # -- training --------------------------------------------------------------------------------------------
    def losses_and_gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
        """(losses (M,), scores (M, C, N), gradient of stack.flat) of every member on the batch (x, y), by the
        fast path when it is on, else by the autograd reference. Changes nothing but SphereFace's λ step count;
        the fast path's gradient buffer is reused by the next call (stack.views cuts it into named parts)."""
        if self._batched is not None:
            return self._batched.losses_and_gradients([m.head for m in self.members], x, y)
        return reference_losses_and_gradients(self.members, self.stack, x, y)

    def _train_step(self) -> None:
        for member in self.members:
            member.apply_requested_hyper()  # values handed over by another thread count from this step on
        index, epoch_done = self._stream.next()
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)
        losses, scores, grads = self.losses_and_gradients(x, y)
        loss_values = losses.tolist()
        finite = [math.isfinite(v) for v in loss_values]
        if self.step % GUARD_EVERY == 0:
            # The guard's last-good copies (see ModelRun.keep_last_good), for all members with one weight check
            # and one copy of the stack.
            keep = [ok and weights_ok for ok, weights_ok in zip(finite, self.stack.rows_finite(), strict=True)]
            if any(keep):
                copy = self.stack.capture()
                for member, kept in zip(self.members, keep, strict=True):
                    if kept:
                        member.keep_last_good(self.step, copy)
        self.stack.optimizer_step(grads)
        self.step += 1
        # Predictions are counted in bulk (_count_pending): per step only the scores are queued.
        self._pending.append((scores, y, None if all(finite) else finite))
        if len(self._pending) >= PENDING_LIMIT:
            self._count_pending()
        size = y.shape[0]
        for member, loss_value in zip(self.members, loss_values, strict=True):
            # A member whose loss was NaN got NaN gradients and a NaN update; the guard restores just it.
            member.record_step(self.step, loss_value, size)
        if epoch_done:
            self._count_pending()
            for member in self.members:
                member.end_epoch()

    def _sync_free_step(self) -> None:
        """The step of _train_step with nothing read back: losses and correct counts go to the ledger (fast.py)."""
        for member in self.members:
            member.apply_requested_hyper()
        index, epoch_done = self._stream.next()
        x, y = self._x_train.index_select(0, index), self._y_train.index_select(0, index)
        losses, scores, grads = self.losses_and_gradients(x, y)
        self.stack.optimizer_step(grads)
        self.step += 1
        self._ledger.add(losses, (scores.max(1).indices == y).sum(1), y.shape[0])
        if epoch_done:
            self._settle()
            for member in self.members:
                member.end_epoch()

    def _settle(self) -> None:
        """Read the ledger back with every member's finite check (one transfer) and record its steps as the plain
        path would (fast.settle_run); the healthy members propose one shared copy of the stack as last-good."""
        losses, correct, sizes, finite = self._ledger.read(self.stack.rows_finite_flags())
        first, self._ledger_start = self._ledger_start, self.step
        healthy = [
            settle_run(member, first, [v[i] for v in losses], [c[i] for c in correct], sizes, finite[i] == 1.0)
            for i, member in enumerate(self.members)
        ]
        if losses and any(healthy):
            copy = self.stack.capture()
            for member, ok in zip(self.members, healthy, strict=True):
                if ok:
                    member.propose_last_good(self.step, copy)

    def _count_pending(self) -> None:
        """Count the correct predictions of the queued steps for every member: one batched argmax per snapshot
        or epoch instead of a few small ops and a synchronisation in every step. On the sync-free path: read
        the ledger back."""
        if self.sync_free:
            self._settle()
            return
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
            member.add_correct(count)
        self._pending.clear()

    def advance(self, steps: int | None = None, *, seconds: float | None = None, epochs: int | None = None) -> int:
        """As Trainer.advance, for all members at once; returns the number of (shared) steps taken."""
        if self.sync_free:
            done = train_for(self._sync_free_step, lambda: self.epoch, steps, seconds, epochs)
            self._settle()
            return done
        done = train_for(self._train_step, lambda: self.epoch, steps, seconds, epochs)
        for member, ok in zip(self.members, self.stack.rows_finite(), strict=True):
            if not ok:  # one check for all members: a weight the last step made non-finite is never shown
                member.restore_last_good(self.step, "a weight became non-finite")
        return done

    # -- per-member shortcuts --------------------------------------------------------------------------------
    def snapshot(self, i: int, *, refresh_test: bool = False) -> Snapshot:
        return self.members[i].snapshot(refresh_test=refresh_test)

    def snapshots(self) -> list[Snapshot]:
        return [member.snapshot() for member in self.members]

    def set_hyper(self, i: int, **changes: Any) -> None:
        self.members[i].set_hyper(**changes)

    def request_hyper(self, i: int, **changes: Any) -> None:
        """Thread-safe: member i takes these hot settings before the next step (see ModelRun.request_hyper)."""
        self.members[i].request_hyper(**changes)

    @property
    def configs(self) -> list[TrainConfig]:
        return [member.config for member in self.members]
