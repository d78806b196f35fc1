"""MultiTrainer: several heads trained side by side on identical batches, as one batched model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.optim.adam import adam as functional_adam
from torch.optim.sgd import sgd as functional_sgd

from ..data import Dataset
from ..heads import LOSS_SPECS, LOSSES, MarginHead, SoftmaxHead, SphereFaceHead, target_cos
from .config import DEFAULT_COMPARE_LOSSES, TrainConfig
from .records import Snapshot
from .run import (
    _NORM_EPS,
    FUSED_DEVICES,
    GUARD_EVERY,
    PENDING_LIMIT,
    _BatchStream,
    _clone_tree,
    _load_checked_dataset,
    _mlp_plan,
    _ModelRun,
    _prepare_runtime,
    _train_for,
)


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
