"""Margin heads: softmax, NormFace, SphereFace, CosFace, ArcFace and the combined margin.

Every margin loss is cross-entropy over logits in which only the *target* column is bent:

    f_j = s·cos θ_j  (j ≠ y)          f_y = s·g(θ_y)

and the losses differ only in g (docs/losses.md §1):

    normface    g = cos θ
    sphereface  g = ψ(θ) = (−1)^k cos(mθ) − 2k,  k = floor(mθ/π)   (real m ≥ 1, monotone)
    cosface     g = cos θ − m                                       (m in cosine units)
    arcface     g = cos(θ + m), and cos θ − m·sin m for θ > π − m   (m in radians)
    combined    g = cos(m1·θ + m2) − m3                             (all three honoured)

`margin_logits` is the one function that applies g; the heads and the analytic geometry
(`toy_models.geometry`) both call `target_cos` so there is one formula in the code base.

Angles are radians. Margin maths runs in float32 or better. Gradients stay finite at
cos = ±1 because θ's gradient is taken from a cosine clamped a hair inside [−1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MARGIN_LOSSES = ("normface", "sphereface", "cosface", "arcface", "combined")
LOSSES = ("softmax", *MARGIN_LOSSES)
GRADIENTS = ("true", "detached")
SPHEREFACE_FORMS = ("normalized", "original")

# acos'(x) = −1/sqrt(1 − x²) is infinite at ±1: its gradient is taken just inside the interval.
# 1 − 1e-6 is representable in float32 (θ ≈ 0.08°), so the clamp is never a no-op there.
_COS_CLAMP_EPS = 1e-6

Margin = float | tuple[float, float, float]


@dataclass(frozen=True)
class LossSpec:
    """What a loss needs from the outside: labels, units, defaults and the valid margin domain.

    `margin_range` is the domain in which the formula means what it says (for the combined loss,
    one range per component). Whether a margin is *workable* for a number of classes is a
    geometric question answered by `toy_models.geometry.max_margin`.
    """

    name: str
    label: str
    margin_unit: str  # "rad" (an angle), "cos" (cosine units), "x" (a multiplier), "" (no margin)
    default_scale: float
    default_margin: Margin | None
    margin_range: tuple[float, float] | tuple[tuple[float, float], ...] | None
    uses_scale: bool = True


LOSS_SPECS: dict[str, LossSpec] = {
    "softmax": LossSpec("softmax", "Softmax", "", 1.0, None, None, uses_scale=False),
    "normface": LossSpec("normface", "NormFace (normalised softmax)", "", 16.0, None, None),
    "sphereface": LossSpec("sphereface", "SphereFace (A-Softmax)", "x", 16.0, 1.5, (1.0, 8.0)),
    "cosface": LossSpec("cosface", "CosFace (LMCL / AM-Softmax)", "cos", 16.0, 0.35, (0.0, 1.0)),
    "arcface": LossSpec("arcface", "ArcFace", "rad", 16.0, 0.5, (0.0, math.pi / 2)),
    "combined": LossSpec(
        "combined",
        "Combined margin (m1, m2, m3)",
        "",
        16.0,
        (1.0, 0.3, 0.2),
        ((0.5, 4.0), (0.0, math.pi / 2), (0.0, 1.0)),
    ),
}


def check_loss(loss: str) -> LossSpec:
    """The spec of `loss`, or ValueError naming the valid choices."""
    try:
        return LOSS_SPECS[loss]
    except KeyError:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}") from None


def check_margin(loss: str, margin: Margin | None) -> Margin | None:
    """Validate a margin for `loss`; return it normalised (float, or a 3-tuple for combined).

    Raises ValueError with one sentence naming the loss, the value and the valid range.
    """
    spec = check_loss(loss)
    if spec.margin_range is None:
        return None
    if loss == "combined":
        if isinstance(margin, (int, float)) or margin is None or len(margin) != 3:
            raise ValueError("the combined margin needs three numbers m1, m2, m3 (for example 1,0.3,0.2)")
        values = tuple(float(v) for v in margin)
        names = ("m1", "m2", "m3")
        for name, value, (low, high) in zip(names, values, spec.margin_range, strict=True):
            if not (low <= value <= high) or not math.isfinite(value):
                raise ValueError(f"combined margin {name}={value:g} is outside its valid range [{low:g}, {high:g}]")
        return values
    if margin is None or not isinstance(margin, (int, float)):
        raise ValueError(f"{loss} needs a single number as its margin, got {margin!r}")
    low, high = spec.margin_range
    value = float(margin)
    if not (low <= value <= high):
        unit = {"rad": " rad", "cos": " (cosine units)", "x": " (multiplier)"}.get(spec.margin_unit, "")
        raise ValueError(f"{loss} margin {value:g} is outside its valid range [{low:g}, {high:.4g}]{unit}")
    return value


def sphereface_lambda(
    iteration: int, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0
) -> float:
    """SphereFace's annealing weight λ = max(λ_min, base·(1 + γ·iter)^−power) (wy1iu/sphereface).

    The target logit is blended as (λ·cos θ + ψ(θ)) / (1 + λ): a large λ early keeps training
    close to plain softmax, and λ decays towards λ_min as the margin takes over.
    """
    return max(lambda_min, base * (1.0 + gamma * iteration) ** (-power))


def _theta(cos: torch.Tensor) -> torch.Tensor:
    """θ = acos(cos) with the exact forward value and a gradient that stays finite at cos = ±1.

    The gradient is taken from acos of the cosine clamped a hair inside [−1, 1]; the (tiny)
    difference to the exact angle is added without a gradient, so values are not biased.
    """
    exact = torch.acos(cos.clamp(-1.0, 1.0))
    safe = torch.acos(cos.clamp(-1.0 + _COS_CLAMP_EPS, 1.0 - _COS_CLAMP_EPS))
    return safe + (exact - safe).detach()


def _psi(theta: torch.Tensor, m: float) -> torch.Tensor:
    """SphereFace's monotone extension of cos(mθ) for a real multiplier m ≥ 1.

    On [kπ/m, (k+1)π/m] it is (−1)^k cos(mθ) − 2k; the pieces meet at 1 − 2k, so ψ is
    continuous and strictly decreasing on [0, π]. k is piecewise constant (no gradient).
    """
    k = torch.floor(m * theta.detach() / math.pi)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * torch.cos(m * theta) - 2.0 * k


def target_cos(
    cos: torch.Tensor, loss: str, margin: Margin | None, *, easy_margin: bool = False, sphereface_lambda: float = 0.0
) -> torch.Tensor:
    """The margin-modified target value g(θ), before scaling, for target cosines `cos`.

    Works elementwise on any shape; the analytic figures call it on a grid of cosines.
    `sphereface_lambda` blends SphereFace's target as (λ·cos + ψ)/(1 + λ) (0 = pure ψ).
    `easy_margin` (ArcFace only) applies the margin only where cos θ > 0, as legacy insightface did.
    """
    if loss == "normface" or loss == "softmax":
        return cos
    if loss == "cosface":
        return cos - margin
    theta = _theta(cos)
    if loss == "arcface":
        m = float(margin)
        with_margin = torch.cos(theta + m)
        if easy_margin:
            return torch.where(cos > 0, with_margin, cos)
        # Beyond θ = π − m, cos(θ + m) would rise again and reward a badly placed sample; the
        # legacy insightface / pytorch-metric-learning rule keeps the target decreasing instead.
        fallback = cos - m * math.sin(m)
        return torch.where(theta <= math.pi - m, with_margin, fallback)
    if loss == "sphereface":
        psi = _psi(theta, float(margin))
        if sphereface_lambda:
            return (sphereface_lambda * cos + psi) / (1.0 + sphereface_lambda)
        return psi
    if loss == "combined":
        m1, m2, m3 = margin
        return torch.cos(m1 * theta + m2) - m3
    check_loss(loss)
    raise ValueError(f"{loss} has no margin target")


def margin_logits(
    cosine: torch.Tensor,
    labels: torch.Tensor,
    loss: str,
    scale: float | torch.Tensor,
    margin: Margin | None = None,
    *,
    gradient: str = "true",
    easy_margin: bool = False,
    sphereface_lambda: float = 0.0,
) -> torch.Tensor:
    """Logits for cross-entropy: `scale`·cos θ_j everywhere, with the margin bent into the target column.

    cosine: (N, C) cosines between unit features and unit class weights.
    labels: (N,) int64 class indices.
    loss:   "normface", "sphereface", "cosface", "arcface" or "combined".
    scale:  s (a float), or an (N, 1) tensor of per-sample scales (original SphereFace uses ‖x‖).
    margin: ArcFace radians, CosFace cosine units, SphereFace multiplier m ≥ 1,
            combined (m1, m2, m3); ignored by normface.
    gradient: "true" differentiates through the margin; "detached" is the straight-through
            estimator of current insightface and opensphere: forward values are identical, but
            the gradient with respect to cos θ_y is that of plain scaled softmax.

    Margin maths runs in float32 even for half-precision input (fp16 resolves cos only to ~5e-4).
    """
    if loss not in MARGIN_LOSSES:
        check_loss(loss)
        raise ValueError("softmax has no margin: use a plain linear layer (SoftmaxHead)")
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient option {gradient!r}: choose 'true' or 'detached'")
    if cosine.dtype in (torch.float16, torch.bfloat16):
        cosine = cosine.float()
    labels = labels.long().view(-1, 1)
    cos_y = cosine.gather(1, labels)
    g_y = target_cos(cos_y, loss, margin, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda)
    if gradient == "detached":
        g_y = cos_y + (g_y - cos_y).detach()
    logits = cosine.scatter(1, labels, g_y)
    return logits * scale


# --------------------------------------------------------------------------------------------
# Heads: nn.Modules holding the class-weight matrix, one small class per loss.
# --------------------------------------------------------------------------------------------


class ClassifierHead(nn.Module):
    """Shared base: a (num_classes, embedding_dim) class-weight matrix and the cosines it implies.

    forward(embeddings, labels) returns training logits (margin on the target column);
    forward(embeddings) returns inference logits (no margin), for accuracy and probabilities.
    """

    loss_name = "base"

    def __init__(self, embedding_dim: int, num_classes: int):
        super().__init__()
        if embedding_dim < 1 or num_classes < 2:
            raise ValueError("a head needs embedding_dim ≥ 1 and at least 2 classes")
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def class_directions(self) -> torch.Tensor:
        """Unit class-weight vectors, (C, d)."""
        return F.normalize(self.weight, dim=1)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos θ_j between each embedding and each class weight, (N, C), in float32 or better."""
        if embeddings.dtype in (torch.float16, torch.bfloat16):
            embeddings = embeddings.float()
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight.to(embeddings.dtype), dim=1))

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


class SoftmaxHead(ClassifierHead):
    """The baseline: a plain linear layer with bias on unnormalised features, W·x + b."""

    loss_name = "softmax"

    def __init__(self, embedding_dim: int, num_classes: int):
        super().__init__(embedding_dim, num_classes)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return F.linear(embeddings, self.weight, self.bias)


class MarginHead(ClassifierHead):
    """Base of the normalised heads: logits = margin_logits(cos, labels, loss, s, m)."""

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
        spec = LOSS_SPECS[self.loss_name]
        self.scale = float(spec.default_scale if scale is None else scale)
        self.margin = check_margin(self.loss_name, spec.default_margin if margin is None else margin)
        if gradient not in GRADIENTS:
            raise ValueError(f"unknown gradient option {gradient!r}: choose 'true' or 'detached'")
        self.gradient = gradient

    def hyper(self) -> dict:
        values = {"scale": self.scale, "gradient": self.gradient}
        if self.margin is not None:
            values["margin"] = self.margin
        return values

    def set_hyper(self, *, validated: bool = False, **values) -> None:
        if "margin" in values and not validated:
            values["margin"] = check_margin(self.loss_name, values["margin"])
        if "scale" in values and not validated:
            scale = float(values["scale"])
            if not (scale > 0 and math.isfinite(scale)):
                raise ValueError(f"scale must be a positive number, got {values['scale']!r}")
            values["scale"] = scale
        super().set_hyper(validated=validated, **values)

    def target_options(self) -> dict:
        """Extra keyword arguments for margin_logits (easy_margin, SphereFace's λ)."""
        return {}

    def scale_for(self, embeddings: torch.Tensor) -> float | torch.Tensor:
        return self.scale

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cosine = self.cosine(embeddings)
        if labels is None:
            return cosine * self.scale_for(embeddings)
        return margin_logits(
            cosine,
            labels,
            self.loss_name,
            self.scale_for(embeddings),
            self.margin,
            gradient=self.gradient,
            **self.target_options(),
        )


class NormFaceHead(MarginHead):
    """Normalised softmax (NormFace / NSL): s·cos θ_j for every class, no margin."""

    loss_name = "normface"


class CosFaceHead(MarginHead):
    """CosFace / LMCL / AM-Softmax: target s·(cos θ_y − m), m in cosine units."""

    loss_name = "cosface"


class ArcFaceHead(MarginHead):
    """ArcFace: target s·cos(θ_y + m), m in radians; monotone fallback beyond θ = π − m."""

    loss_name = "arcface"

    def __init__(self, embedding_dim: int, num_classes: int, *, easy_margin: bool = False, **kwargs):
        super().__init__(embedding_dim, num_classes, **kwargs)
        self.easy_margin = bool(easy_margin)

    def hyper(self) -> dict:
        return {**super().hyper(), "easy_margin": self.easy_margin}

    def target_options(self) -> dict:
        return {"easy_margin": self.easy_margin}


class CombinedMarginHead(MarginHead):
    """insightface's combined margin s·(cos(m1·θ_y + m2) − m3), all three terms honoured."""

    loss_name = "combined"


class SphereFaceHead(MarginHead):
    """SphereFace / A-Softmax with a real multiplier m ≥ 1 through the monotone ψ.

    form="normalized" (default): unit features, logits s·cos θ_j and s·ψ(θ_y) (opensphere style).
    form="original": the 2017 paper: features keep their norm, which plays the part of s
    (logits ‖x‖·cos θ_j), and the target is blended (λ·cos θ_y + ψ(θ_y))/(1 + λ) with
    λ annealed per training step: λ = max(λ_min, base·(1 + γ·iter)^−power).
    """

    loss_name = "sphereface"

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        *,
        form: str = "normalized",
        lambda_base: float = 1000.0,
        lambda_gamma: float = 0.12,
        lambda_power: float = 1.0,
        lambda_min: float = 5.0,
        **kwargs,
    ):
        super().__init__(embedding_dim, num_classes, **kwargs)
        if form not in SPHEREFACE_FORMS:
            raise ValueError(f"unknown SphereFace form {form!r}: choose 'normalized' or 'original'")
        self.form = form
        self.lambda_base = float(lambda_base)
        self.lambda_gamma = float(lambda_gamma)
        self.lambda_power = float(lambda_power)
        self.lambda_min = float(lambda_min)
        # Caffe increments the iteration before use, so the first step already uses iter = 1.
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def hyper(self) -> dict:
        values = {**super().hyper(), "form": self.form}
        if self.form == "original":
            values.update(
                lambda_base=self.lambda_base,
                lambda_gamma=self.lambda_gamma,
                lambda_power=self.lambda_power,
                lambda_min=self.lambda_min,
            )
        return values

    def current_lambda(self) -> float:
        """λ in use now (0 in the normalised form, which has no annealing)."""
        if self.form != "original":
            return 0.0
        return sphereface_lambda(
            int(self.iteration), self.lambda_base, self.lambda_gamma, self.lambda_power, self.lambda_min
        )

    def target_options(self) -> dict:
        return {"sphereface_lambda": self.current_lambda()}

    def scale_for(self, embeddings: torch.Tensor) -> float | torch.Tensor:
        if self.form == "original":
            return embeddings.float().norm(dim=1, keepdim=True)
        return self.scale

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None and self.training:
            self.iteration += 1
        return super().forward(embeddings, labels)


HEAD_CLASSES: dict[str, type[ClassifierHead]] = {
    "softmax": SoftmaxHead,
    "normface": NormFaceHead,
    "sphereface": SphereFaceHead,
    "cosface": CosFaceHead,
    "arcface": ArcFaceHead,
    "combined": CombinedMarginHead,
}


def build_head(loss: str, embedding_dim: int, num_classes: int, **options) -> ClassifierHead:
    """A head for `loss` (one of LOSSES). Options: scale, margin, gradient, and per-loss extras
    (easy_margin for ArcFace; form, lambda_base, lambda_gamma, lambda_power, lambda_min for SphereFace).
    Options a loss does not use are rejected, so a typo cannot pass silently.
    """
    check_loss(loss)
    cls = HEAD_CLASSES[loss]
    if cls is SoftmaxHead:
        unused = {k for k, v in options.items() if v is not None}
        if unused:
            raise ValueError(f"softmax takes no {sorted(unused)[0]!r}: it is a plain linear layer")
        return SoftmaxHead(embedding_dim, num_classes)
    if loss == "normface":
        options.pop("margin", None)
    return cls(embedding_dim, num_classes, **options)


def combined_equivalent(loss: str, margin: Margin | None) -> tuple[float, float, float]:
    """(m1, m2, m3) whose combined target cos(m1·θ + m2) − m3 matches `loss`'s target, and where it does.

    normface (1, 0, 0) and cosface (1, 0, m) match for every θ. arcface (1, m, 0) matches only for
    θ ≤ π − m: the combined margin has no fallback, so beyond that cos(θ + m) rises again while ArcFace
    takes the monotone cos θ − m·sin m. sphereface (m, 0, 0) is the arccos-style cos(mθ), which equals
    ψ(θ) only on its first piece θ ≤ π/m (and ignores the λ blend of the original form).
    """
    if loss == "normface":
        return (1.0, 0.0, 0.0)
    if loss == "arcface":
        return (1.0, float(margin), 0.0)
    if loss == "cosface":
        return (1.0, 0.0, float(margin))
    if loss == "sphereface":
        return (float(margin), 0.0, 0.0)
    if loss == "combined":
        return tuple(float(v) for v in margin)
    raise ValueError(f"{loss} has no combined-margin equivalent")


def parse_margin(text: str | float | Sequence[float], loss: str) -> Margin | None:
    """Parse a margin given as a number or as "m1,m2,m3" text, and validate it for `loss`."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"margin {text!r} is not a number (or three comma-separated numbers)") from None
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"margin {text!r} must be finite")
        margin: Margin = values[0] if len(values) == 1 else tuple(values)
    elif isinstance(text, (int, float)):
        margin = float(text)
    else:
        margin = tuple(float(v) for v in text)
    if loss == "combined" and isinstance(margin, float):
        raise ValueError("the combined margin needs three comma-separated numbers m1,m2,m3")
    if loss != "combined" and isinstance(margin, tuple):
        raise ValueError(f"{loss} takes one margin number, got {len(margin)}")
    return check_margin(loss, margin)
