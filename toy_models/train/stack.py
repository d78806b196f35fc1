"""The MultiTrainer's members stacked: their parameters in one flat buffer, their optimizer state, one update.

Tensor k of the stack has shape (M, *shape_k): row i is member i's copy of that parameter. All of them are
views of one flat buffer, so a last-good copy is one clone, the finite check one pass, and an optimizer step a
handful of operations on the whole buffer, all public API (benchmarks/README.md measures the choices). The members'
own modules keep working as usual: each of their parameters becomes a view of its row, so evaluation, state dicts
and the guard's restore read and write the stack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..heads import ClassifierHead, SoftmaxHead

ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, as the Trainer uses them
ADAM_EPS = 1e-8
FUSED_DEVICES = ("cpu", "cuda", "mps")  # where torch.optim.Adam has a fused kernel
# From this many stacked elements on, torch.optim.Adam's fused kernel beats the written-out update, whose six
# passes over the buffer then cost more than the optimizer's per-call overhead. Measured (MultiTrainer steps per
# CPU-second, 4 members, three runs): MNIST's 218,540 elements 1.15-1.25x fused; digits' 34,220 0.90-0.97x.
FUSED_ADAM_MIN_ELEMENTS = 100_000


def adam_update(
    params: torch.Tensor, grads: torch.Tensor, moment1: torch.Tensor, moment2: torch.Tensor, step: int,
    lr: float | torch.Tensor, weight_decay: float | torch.Tensor,
) -> None:
    """One step of torch.optim.Adam (L2 weight decay, no amsgrad) on flat tensors, in place; `grads` is consumed.

    lr and weight_decay are numbers, or tensors shaped like params (one value per element). The update is
    lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε), written as m / (√v + ε·√(1 − β2^t)) times lr·√(1 − β2^t)/(1 − β1^t):
    the same quotient, one operation fewer.
    """
    beta1, beta2 = ADAM_BETAS
    if isinstance(weight_decay, torch.Tensor):
        grads.addcmul_(params, weight_decay)
    elif weight_decay:
        grads.add_(params, alpha=weight_decay)
    moment1.lerp_(grads, 1 - beta1)
    moment2.mul_(beta2).addcmul_(grads, grads, value=1 - beta2)
    root_correction2 = math.sqrt(1 - beta2**step)
    denominator = moment2.sqrt().add_(ADAM_EPS * root_correction2)
    factor = root_correction2 / (1 - beta1**step)
    if isinstance(lr, torch.Tensor):
        params.addcmul_(moment1.div(denominator), lr, value=-factor)
    else:
        params.addcdiv_(moment1, denominator, value=-lr * factor)


def sgd_update(
    params: torch.Tensor, grads: torch.Tensor, buffer: torch.Tensor, lr: float | torch.Tensor,
    momentum: float | torch.Tensor, weight_decay: float | torch.Tensor,
) -> None:
    """One step of torch.optim.SGD (no dampening, no Nesterov) on flat tensors, in place; `grads` is consumed.

    The momentum buffer starts at zero, so after the first step it holds the gradient, as torch's does.
    """
    if isinstance(weight_decay, torch.Tensor):
        grads.addcmul_(params, weight_decay)
    elif weight_decay:
        grads.add_(params, alpha=weight_decay)
    if isinstance(momentum, torch.Tensor) or momentum:
        grads = buffer.mul_(momentum).add_(grads)
    if isinstance(lr, torch.Tensor):
        params.addcmul_(grads, lr, value=-1.0)
    else:
        params.add_(grads, alpha=-lr)


def _alias_parameter(module: nn.Module, name: str, view: torch.Tensor) -> None:
    """Make module's parameter `name` a view of a stack row (a leaf that autograd can differentiate)."""
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    setattr(owner, leaf, nn.Parameter(view))


class ParameterStack:
    """The parameters of M models of one architecture (backbone + head), stacked, with their optimizer state.

    names: "backbone.<parameter>" ..., "head.weight" and, when a member is a softmax head, "head.bias" (the
    margin members' bias rows stay zero: they get no gradient). values: the (M, ...) views, in names order;
    backbone ({parameter: view}), weight (M, C, d) and bias (M, C, or None) name the same views.
    """

    def __init__(self, models: Sequence[tuple[nn.Module, ClassifierHead]], optimizer: str, device: torch.device):
        self.count = len(models)
        self.optimizer = optimizer
        self.is_softmax = [isinstance(head, SoftmaxHead) for _, head in models]
        first_backbone, first_head = models[0]
        self.names = [f"backbone.{name}" for name, _ in first_backbone.named_parameters()] + ["head.weight"]
        shapes = [p.shape for p in first_backbone.parameters()] + [first_head.weight.shape]
        if any(self.is_softmax):
            self.names.append("head.bias")
            shapes.append(first_head.weight.shape[:1])
        self._shapes = [(self.count, *shape) for shape in shapes]
        self.flat = torch.zeros(sum(math.prod(shape) for shape in self._shapes), device=device)
        self.values = self.views(self.flat)
        for k, name in enumerate(self.names):
            part, _, parameter = name.partition(".")
            for i, (backbone, head) in enumerate(models):
                module = backbone if part == "backbone" else head
                if name != "head.bias" or self.is_softmax[i]:
                    self.values[k][i].copy_(module.get_parameter(parameter).detach())
                    _alias_parameter(module, parameter, self.values[k][i])
        self.backbone = {name.removeprefix("backbone."): v for name, v in zip(self.names, self.values, strict=True)
                         if name.startswith("backbone.")}
        self.weight = self.values[self.names.index("head.weight")]
        self.bias = self.values[-1] if any(self.is_softmax) else None
        # Optimizer state, laid out as the parameters: Adam's first and second moments; SGD's momentum in moment1.
        self.moment1 = torch.zeros_like(self.flat)
        self.moment2 = torch.zeros_like(self.flat) if optimizer == "adam" else torch.zeros(0, device=device)
        self.steps = 0  # optimizer steps taken: Adam's bias correction, shared by all members (also after a restore)
        # Large stacks, one set of settings: torch.optim.Adam(fused=True) with the whole flat buffer as its one
        # parameter, and the stack's moments as its state (so a restore of a row restores them for it too).
        self._fused_adam: torch.optim.Adam | None = None
        if (optimizer == "adam" and device.type in FUSED_DEVICES
                and self.flat.numel() >= FUSED_ADAM_MIN_ELEMENTS):
            leaf = self.flat.detach().requires_grad_()  # shares the storage of flat
            self._fused_adam = torch.optim.Adam([leaf], lr=0.0, betas=ADAM_BETAS, eps=ADAM_EPS, fused=True)
            self._fused_adam.state[leaf] = {
                "step": torch.zeros((), device=device), "exp_avg": self.moment1, "exp_avg_sq": self.moment2,
            }
        self._settings: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * self.count
        self._per_element: tuple | None = None  # the settings as scalars or per-element tensors, rebuilt on change

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """`flat` (parameters, a moment, or a copy of them) cut into the (M, ...) tensors of the stack."""
        out, start = [], 0
        for shape in self._shapes:
            size = math.prod(shape)
            out.append(flat[start : start + size].view(shape))
            start += size
        return out

    # -- optimisation ------------------------------------------------------------------------------------------
    def set_member_settings(self, i: int, *, lr: float, momentum: float, weight_decay: float) -> None:
        """Member i's optimizer settings, read at every step from then on."""
        if self._settings[i] != (lr, momentum, weight_decay):
            self._settings = [*self._settings[:i], (lr, momentum, weight_decay), *self._settings[i + 1 :]]
            self._per_element = None

    def _settings_now(self) -> tuple:
        """(lr, momentum, weight decay): numbers when all members agree (the usual case), else one value per
        element of the flat buffer, each member's on its rows."""
        if self._per_element is None:
            if len(set(self._settings)) == 1:
                self._per_element = self._settings[0]
            else:
                columns = torch.tensor(self._settings, device=self.flat.device)  # (M, 3)
                sizes = [math.prod(v.shape[1:]) for v in self.values]
                self._per_element = tuple(
                    torch.cat([columns[:, j].repeat_interleave(size) for size in sizes]) for j in range(3)
                )
        return self._per_element

    def optimizer_step(self, flat_grads: torch.Tensor) -> None:
        """One update of every member from the gradient of the flat buffer (consumed: the update works in it)."""
        lr, momentum, weight_decay = self._settings_now()
        self.steps += 1
        if self._fused_adam is not None and not isinstance(lr, torch.Tensor):
            group = self._fused_adam.param_groups[0]
            group["lr"], group["weight_decay"] = lr, weight_decay
            (leaf,) = group["params"]
            state = self._fused_adam.state[leaf]
            state["step"].fill_(self.steps - 1)  # the kernel counts it up to this step's number
            leaf.grad = flat_grads
            self._fused_adam.step()
        elif self.optimizer == "adam":
            adam_update(self.flat, flat_grads, self.moment1, self.moment2, self.steps, lr, weight_decay)
        else:
            sgd_update(self.flat, flat_grads, self.moment1, lr, momentum, weight_decay)

    # -- the guard ---------------------------------------------------------------------------------------------
    def capture(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A copy of all parameters and optimizer moments (shared by the members that keep it as last-good)."""
        return self.flat.clone(), self.moment1.clone(), self.moment2.clone()

    def load_row(self, i: int, copy: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        """Put member i's parameters and moments back as `copy` (from capture) has them; the others keep theirs."""
        with torch.no_grad():
            for target, saved in zip((self.flat, self.moment1, self.moment2), copy, strict=True):
                if target.numel():
                    for view, saved_view in zip(self.views(target), self.views(saved), strict=True):
                        view[i].copy_(saved_view[i])

    def rows_finite(self) -> list[bool]:
        """Whether each member's parameters are all finite: one pass over the stack (x·0 is NaN for inf and NaN)."""
        return self.rows_finite_flags().tolist()

    def rows_finite_flags(self) -> torch.Tensor:
        """rows_finite as an (M,) bool tensor left on the device (the sync-free path reads it with the losses)."""
        rows = torch.cat([v.reshape(self.count, -1) for v in self.values], dim=1)
        return torch.isfinite(rows.mul_(0.0).sum(1))

    def stack_gradients(self, per_member: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """The flat buffer's gradient from each member's own ({name: gradient}; a missing one is zero)."""
        return torch.cat([
            torch.stack([grads[name] if name in grads else torch.zeros_like(value[0]) for grads in per_member])
            .reshape(-1)
            for name, value in zip(self.names, self.values, strict=True)
        ])
