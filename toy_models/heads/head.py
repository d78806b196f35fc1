"""The heads' shared base: nn.Modules holding the class-weight matrix, and the one training forward.

Every head answers `training_logits(embeddings, labels) -> (logits, prediction_scores)`: the logits that
cross-entropy trains on (the margin bent into the target column) and the scores whose argmax is the head's
prediction. The Trainer, the MultiTrainer's reference pass and the scoring of an untrained model all call it;
the MultiTrainer's batched pass takes the same pieces from the head (`training_target`, `scale_for`). A head's
forward(embeddings, labels) is training_logits' logits; forward(embeddings) the inference logits (no margin).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .spec import LossSpec, Margin

GRADIENTS = ("true", "detached")

Target = Callable[[torch.Tensor], torch.Tensor]  # target cosines in, g of them out


def check_gradient(gradient: str) -> str:
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient option {gradient!r}: choose 'true' or 'detached'")
    return gradient


def bend_target(
    cosine: torch.Tensor, labels: torch.Tensor, target: Target, scale: float | torch.Tensor, gradient: str
) -> torch.Tensor:
    """scale·cos θ_j everywhere, with target(cos θ_y) in each sample's target column.

    gradient="detached" is the straight-through estimator of insightface and opensphere: the forward values are
    the same, but the gradient with respect to cos θ_y is that of plain scaled softmax. Margin maths runs in
    float32 even for half-precision input (fp16 resolves cos only to ~5e-4).
    """
    if cosine.dtype in (torch.float16, torch.bfloat16):
        cosine = cosine.float()
    labels = labels.long().view(-1, 1)
    cos_y = cosine.gather(1, labels)
    g_y = target(cos_y)
    if gradient == "detached":
        g_y = cos_y + (g_y - cos_y).detach()
    return cosine.scatter(1, labels, g_y) * scale


class ClassifierHead(nn.Module):
    """Shared base: a (num_classes, embedding_dim) class-weight matrix and the cosines it implies."""

    spec: ClassVar[LossSpec]

    def __init__(self, embedding_dim: int, num_classes: int):
        super().__init__()
        if embedding_dim < 1 or num_classes < 2:
            raise ValueError("a head needs embedding_dim ≥ 1 and at least 2 classes")
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    @property
    def loss_name(self) -> str:
        return self.spec.name

    def class_directions(self) -> torch.Tensor:
        """Unit class-weight vectors, (C, d)."""
        return F.normalize(self.weight, dim=1)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos θ_j between each embedding and each class weight, (N, C), in float32 or better."""
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight.to(embeddings.dtype), dim=1))

    def training_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits to train on, prediction scores): the one training forward. In train() mode a schedule (SphereFace's
        λ) advances by one step per call."""
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def current_lambda(self) -> float:
        """The λ that blends the target now (SphereFace's original form anneals one; 0 everywhere else)."""
        return 0.0

    def hyper(self) -> dict:
        """Current hot hyperparameters (those `set_hyper` may change)."""
        return {}

    def set_hyper(self, *, validated: bool = False, **values) -> None:
        """Change hot hyperparameters in place, keeping the weights.

        validated=True: the caller has checked the values already (the trainer's TrainConfig does), so they are
        stored as given instead of being checked a second time.
        """
        unknown = set(values) - set(self.hyper())
        if unknown:
            raise ValueError(f"{self.loss_name} has no hyperparameter {sorted(unknown)[0]!r}")
        for name, value in values.items():
            setattr(self, name, value)

    def extra_repr(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.hyper().items())
        return f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}" + (
            f", {settings}" if settings else ""
        )


class MarginHead(ClassifierHead):
    """Base of the normalised heads: logits s·cos θ_j, with the spec's target g(cos θ_y) in the target column.

    A loss's head overrides at most `target_options` (the extra arguments of spec.target it passes),
    `scale_for` (a scale that depends on the features) and `training_target` (a schedule that advances).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        *,
        scale: float | None = None,
        margin: Margin | None = None,
        gradient: str = "true",
    ):
        super().__init__(embedding_dim, num_classes)
        spec = self.spec
        self.scale = float(spec.default_scale if scale is None else scale)
        self.margin = spec.check_margin(spec.default_margin if margin is None else margin)
        self.gradient = check_gradient(gradient)

    def hyper(self) -> dict:
        values = {"scale": self.scale, "gradient": self.gradient}
        if self.margin is not None:
            values["margin"] = self.margin
        return values

    def set_hyper(self, *, validated: bool = False, **values) -> None:
        if "margin" in values and not validated:
            values["margin"] = self.spec.check_margin(values["margin"])
        if "scale" in values and not validated:
            scale = float(values["scale"])
            if not (scale > 0 and math.isfinite(scale)):
                raise ValueError(f"scale must be a positive number, got {values['scale']!r}")
            values["scale"] = scale
        super().set_hyper(validated=validated, **values)

    def target_options(self) -> dict:
        """The extra keyword arguments of spec.target (easy_margin, SphereFace's λ), as they stand now."""
        return {}

    def scale_for(self, embeddings: torch.Tensor) -> float | torch.Tensor:
        """The scale s of these embeddings' logits: a number, or an (N, 1) tensor when it depends on them."""
        return self.scale

    def training_target(self) -> Target:
        """g for one training forward: target cosines in, the spec's target with this head's margin and options out.
        Call it once per training forward: a schedule that anneals per step advances here."""
        spec, margin, options = self.spec, self.margin, self.target_options()
        return lambda cos: spec.target(cos, margin, **options)

    def training_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cosine = self.cosine(embeddings)
        logits = bend_target(cosine, labels, self.training_target(), self.scale_for(embeddings), self.gradient)
        return logits, cosine  # a margin head predicts the class of largest cosine (its logits are s·cos, s > 0)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            return self.cosine(embeddings) * self.scale_for(embeddings)
        return self.training_logits(embeddings, labels)[0]
