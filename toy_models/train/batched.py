"""The MultiTrainer's fast path: every member's MLP and head as one batched pass, with the backward written out.

One entry point, `BatchedPass.losses_and_gradients(heads, x, y)`: the mean cross-entropy of every member on the
batch, the scores whose argmax is each member's prediction, and the gradient of the stack's flat buffer. It
computes what `multi.reference_losses_and_gradients` computes through autograd, member by member (the readable
reference, which the unit tests hold this to: gradients, and a short training run, for every loss).

Why it exists: on these small tensors a step is bound by the number of operations, not by arithmetic. Stacked,
the members share one product per layer, one for all heads' logits and one softmax; without autograd a step
builds and walks no graph. benchmarks/train_speed.py measures what that buys (all_at_once_vs_sequential).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..heads import ClassifierHead, MarginHead
from .stack import ParameterStack

_NORM_EPS = 1e-12  # F.normalize's: a norm below it counts as it


class BatchedPass:
    """The batched forward and hand-written backward over a ParameterStack whose backbone is a plain MLP.

    plan: run.mlp_plan(backbone) of the members' (shared) architecture.
    """

    def __init__(self, stack: ParameterStack, plan: list[tuple[str, str | None]]):
        self.stack = stack
        # The MLP's layers as views of the stacks, made once (they see every update): (prefix, weight, the weight
        # as the product takes it, bias), or None for a ReLU.
        self.layers: list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor] | None] = []
        for layer, (op, prefix) in enumerate(plan):
            if op == "relu":
                self.layers.append(None)
                continue
            weight, bias = stack.backbone[f"{prefix}.weight"], stack.backbone[f"{prefix}.bias"]
            if layer == 0:  # every member sees the same batch: one (N, in) @ (in, M·out) product for all
                self.layers.append((prefix, weight, weight.view(-1, weight.shape[2]).t(), bias.view(-1)))
            else:
                self.layers.append((prefix, weight, weight.transpose(1, 2), bias.unsqueeze(1)))
        device = stack.flat.device
        softmax = stack.is_softmax
        self.softmax_mask = torch.tensor(softmax, device=device).view(-1, 1, 1) if any(softmax) else None
        self.margin_rows = None if self.softmax_mask is None else ~self.softmax_mask.view(-1, 1)
        self.bias_column = None if stack.bias is None else stack.bias.unsqueeze(2)  # (M, C, 1)
        self._scale_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None
        self._minus_ones: torch.Tensor | None = None
        # The gradients are written straight into one flat buffer laid out as the stack (out= of the products),
        # which the optimizer then updates in one piece; the views name its parts.
        self.flat_grad = torch.zeros_like(stack.flat)
        self.grads = dict(zip(stack.names, stack.views(self.flat_grad), strict=True))

    def losses_and_gradients(
        self, heads: Sequence[ClassifierHead], x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(losses (M,), scores (M, C, N), gradient of the summed losses for stack.flat) of one batch. The
        gradient buffer is the pass's own: it holds the result until the next call.

        heads: the members' heads, for their settings: each margin head's `training_target` (the spec's g with its
        margin and options; SphereFace's λ advances there, once per training forward), `scale_for` and gradient.
        """
        with torch.no_grad():
            saved: list[torch.Tensor] = []
            head = _HeadPass(self, heads, self._mlp_forward(x, saved), y)
            self._mlp_backward(saved, head.backward())
            return head.losses, head.scores, self.flat_grad

    # -- the MLP ---------------------------------------------------------------------------------------------
    def _mlp_forward(self, x: torch.Tensor, saved: list[torch.Tensor]) -> torch.Tensor:
        """Every member's MLP on the batch, (M, N, d); `saved` collects what _mlp_backward needs.

        The first layer sees the same batch for every member: one (N, in) @ (in, M·out) product for all; the
        others are one torch.baddbmm each.
        """
        count = self.stack.count
        h = x.flatten(1)
        for layer, parts in enumerate(self.layers):
            if parts is None:  # ReLU
                h = torch.relu(h)
                saved.append(h)
                continue
            _, _, weight, bias = parts
            saved.append(h)
            if layer == 0:  # (N, M·out) seen as (M, N, out): a view; ReLU and baddbmm take its strides as they are
                h = torch.addmm(bias, h, weight).view(x.shape[0], count, -1).transpose(0, 1)
            else:
                h = torch.baddbmm(bias, h, weight)
        return h

    def _mlp_backward(self, saved: list[torch.Tensor], grad: torch.Tensor) -> None:
        """The backbone's gradients (into self.grads) from the features' gradient (M, N, d): what autograd
        computes for Linear and ReLU, written out."""
        saved = list(saved)
        for layer in range(len(self.layers) - 1, -1, -1):
            parts = self.layers[layer]
            if parts is None:  # ReLU: the gradient passes where the output is positive; sign(output) is that mask
                # (computed into the output's layout, so the first layer's (N, M, out) one survives for it)
                grad = saved.pop().sign().mul_(grad)
                continue
            inputs = saved.pop()
            prefix, weight, _, _ = parts
            weight_grad, bias_grad = self.grads[f"backbone.{prefix}.weight"], self.grads[f"backbone.{prefix}.bias"]
            if layer == 0:
                by_sample = grad.transpose(0, 1).reshape(inputs.shape[0], -1)  # (N, M·out), a view when laid out so
                torch.mm(by_sample.t(), inputs, out=weight_grad.view(-1, inputs.shape[1]))
                torch.sum(by_sample, 0, out=bias_grad.view(-1))
            else:
                torch.bmm(grad.transpose(1, 2), inputs, out=weight_grad)
                torch.sum(grad, 1, out=bias_grad)
                grad = torch.bmm(grad, weight)

    def scale_tensors(self, scales: list, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every member's scale as (M, 1, 1) and the same divided by the batch size N, kept while they stay the
        same; or (M, 1, N), None when some scale is per sample (SphereFace's original form)."""
        if all(isinstance(s, float) for s in scales):
            key = (tuple(scales), count)
            if self._scale_cache is None or self._scale_cache[0] != key:
                values = torch.tensor(scales, device=self.stack.flat.device).view(-1, 1, 1)
                self._scale_cache = (key, values, values / count)
            return self._scale_cache[1], self._scale_cache[2]
        device = self.stack.flat.device
        return torch.stack([
            s.detach().reshape(1, -1) if isinstance(s, torch.Tensor) else torch.full((1, count), s, device=device)
            for s in scales
        ]), None

    def minus_ones(self, shape: torch.Size) -> torch.Tensor:
        if self._minus_ones is None or self._minus_ones.shape != shape:
            self._minus_ones = torch.full(shape, -1.0, device=self.stack.flat.device)
        return self._minus_ones


class _HeadPass:
    """Every member's head on its own features, as one batched computation: forward on construction (under
    torch.no_grad()), then `backward`, written out. It computes what head.training_logits and the mean
    cross-entropy compute for each member's head.

    Layout: logits are (M, C, N), classes-major, so that the softmax over C runs with the samples innermost.
    Class weights and features are normalised together (F.normalize's convention: a norm below 1e-12 counts
    as 1e-12); a softmax member's rows are divided by 1 instead, so one product W·xᵀ (+ bias) gives the cosines
    of the margin members and the plain logits of the softmax ones. A margin enters as an offset g(θ_y) − cos θ_y
    on the target entry (g is the head's training_target: its spec's formula), then the member's scale multiplies
    its row.

    The backward is that of autograd for these ops. With gradient="detached" (the default) the offset is a
    constant, the straight-through estimator; with "true" the target entry's gradient is multiplied by g′,
    which autograd computes on the (N,) target cosines alone, through the spec's g (no derivative is written out
    per loss). A scale that depends on the features (SphereFace's original form: ‖x‖) is differentiated the same
    way.
    """

    def __init__(self, batched: BatchedPass, heads: Sequence[ClassifierHead], embeddings: torch.Tensor,
                 y: torch.Tensor):
        count, n = embeddings.shape[:2]
        weights = batched.stack.weight  # (M, C, d)
        classes = weights.shape[1]
        both = torch.cat([weights, embeddings], dim=1)  # (M, C + N, d)
        norms = torch.linalg.vector_norm(both, dim=2, keepdim=True)
        denominators = norms.clamp_min(_NORM_EPS)
        # Where the norm's gradient does not pass: below the clamp (clamp_min passes ≥), and softmax rows.
        # (masked_fill_ rather than torch.where: a Python number there would become a tensor at every step.)
        unprojected = norms < _NORM_EPS
        if batched.softmax_mask is not None:
            denominators.masked_fill_(batched.softmax_mask, 1.0)
            unprojected |= batched.softmax_mask
        unit = both / denominators
        unit_w, unit_e = unit[:, :classes], unit[:, classes:]
        if batched.bias_column is None:
            base = torch.bmm(unit_w, unit_e.transpose(1, 2))
        else:  # the margin members' bias rows are zero
            base = torch.baddbmm(batched.bias_column, unit_w, unit_e.transpose(1, 2))
        index = y.view(1, 1, -1).expand(count, 1, -1)
        cos_y = base.gather(1, index)  # (M, 1, N)
        targets, scales = [], []
        self.true_targets: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (k, cos θ_y, g) with autograd
        self.feature_scales: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (k, features, scale) likewise
        for k, head in enumerate(heads):
            if not isinstance(head, MarginHead):
                targets.append(cos_y[k])
                scales.append(1.0)
                continue
            target_of = head.training_target()  # the spec's g with the head's settings; advances SphereFace's λ
            if head.gradient == "detached":
                target = target_of(cos_y[k])
            else:
                cosines = cos_y[k].detach().requires_grad_()
                with torch.enable_grad():
                    target = target_of(cosines)
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
        self.scale, self.scale_over_n = batched.scale_tensors(scales, n)  # (M, 1, 1), or (M, 1, N) per sample
        if self.feature_scales:
            self.unscaled = logits
            logits = logits * self.scale
        else:
            logits.mul_(self.scale)
        self.log_probs = torch.log_softmax(logits, 1)
        self.losses = self.log_probs.gather(1, index).view(count, n).mean(1).neg_()
        self.scores = base
        self.batched, self.index, self.y = batched, index, y
        self.unit, self.unit_w, self.unit_e = unit, unit_w, unit_e
        self.denominators, self.unprojected, self.classes = denominators, unprojected, classes

    def backward(self) -> torch.Tensor:
        """The features' gradient (M, N, d) of the summed losses; the class weights' and softmax biases' go into
        the pass's gradient buffer. Once only: it overwrites the forward's buffers."""
        batched = self.batched
        n = self.log_probs.shape[2]
        grad = self.log_probs.exp_()  # softmax
        self.log_probs = None
        grad.scatter_add_(1, self.index, batched.minus_ones(self.index.shape))  # minus the one-hot: N · ∂loss/∂logits
        scale_grads = []
        if self.feature_scales:
            grad.mul_(1.0 / n)
            scale_grads = [(grad[k] * self.unscaled[k]).sum(0) for k, _, _ in self.feature_scales]
            grad.mul_(self.scale)
        else:  # ∂loss/∂logits times the scale: the gradient of the scaled logits' input
            grad.mul_(self.scale_over_n)
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
        batched.grads["head.weight"].copy_(d_both[:, : self.classes])
        if batched.bias_column is not None:  # the margin members' rows get exactly zero
            torch.sum(grad, 2, out=batched.grads["head.bias"]).masked_fill_(batched.margin_rows, 0.0)
        return features_grad
