"""The losses by name: LOSS_SPECS and HEAD_CLASSES, and the functions that take a loss's name.

Adding a loss: write its module (a LossSpec subclass and its head, as arcface.py) and add the head to _HEADS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .amsoftmax import AMSoftmaxHead
from .arcface import ArcFaceHead
from .combined import CombinedMarginHead
from .cosface import CosFaceHead
from .head import ClassifierHead, bend_target, check_gradient
from .normface import NormFaceHead
from .softmax import SoftmaxHead
from .spec import LossSpec, Margin, count_word
from .sphereface import SphereFaceHead

_HEADS: tuple[type[ClassifierHead], ...] = (
    SoftmaxHead,
    NormFaceHead,
    SphereFaceHead,
    CosFaceHead,
    AMSoftmaxHead,
    ArcFaceHead,
    CombinedMarginHead,
)

HEAD_CLASSES: dict[str, type[ClassifierHead]] = {head.spec.name: head for head in _HEADS}
LOSS_SPECS: dict[str, LossSpec] = {name: head.spec for name, head in HEAD_CLASSES.items()}
LOSSES = tuple(LOSS_SPECS)
MARGIN_LOSSES = tuple(name for name, spec in LOSS_SPECS.items() if spec.normalised)  # the heads margin_logits serves


def check_loss(loss: str) -> LossSpec:
    """The spec of `loss`, or ValueError naming the valid choices."""
    try:
        return LOSS_SPECS[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}") from None


def losses_with_option(option: str) -> tuple[str, ...]:
    """The losses whose target honours `option` ("easy_margin": arcface), for rules and their messages."""
    return tuple(name for name, spec in LOSS_SPECS.items() if option in spec.target_options)


def check_margin(loss: str, margin: Margin | None) -> Margin | None:
    """Validate a margin for `loss`; return it normalised (float, or a tuple for a margin of several parts).

    Raises ValueError with one sentence naming the loss, the value and the valid range.
    """
    return check_loss(loss).check_margin(margin)


def target_cos(
    cos: torch.Tensor, loss: str, margin: Margin | None, *, easy_margin: bool = False, sphereface_lambda: float = 0.0
) -> torch.Tensor:
    """The margin-modified target value g(θ), before scaling, for target cosines `cos`.

    Works elementwise on any shape; the analytic figures call it on a grid of cosines.
    `sphereface_lambda` blends SphereFace's target as (λ·cos + ψ)/(1 + λ) (0 = pure ψ).
    `easy_margin` (ArcFace only) applies the margin only where cos θ > 0, as legacy insightface did.
    """
    spec = check_loss(loss)
    return spec.target(cos, margin, easy_margin=easy_margin, sphereface_lambda=sphereface_lambda)


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
    spec = check_loss(loss)
    if not spec.normalised:
        raise ValueError(f"{loss} has no margin: use a plain linear layer (SoftmaxHead)")
    check_gradient(gradient)
    options = {"easy_margin": easy_margin, "sphereface_lambda": sphereface_lambda}
    return bend_target(cosine, labels, lambda cos: spec.target(cos, margin, **options), scale, gradient)


def build_head(loss: str, embedding_dim: int, num_classes: int, **options) -> ClassifierHead:
    """A head for `loss` (one of LOSSES). Options: scale, margin, gradient, and per-loss extras
    (easy_margin for ArcFace; form, lambda_base, lambda_gamma, lambda_power, lambda_min for SphereFace).
    Options a loss does not use are rejected, so a typo cannot pass silently.
    """
    cls = HEAD_CLASSES[check_loss(loss).name]
    if cls is SoftmaxHead:
        unused = {k for k, v in options.items() if v is not None}
        if unused:
            raise ValueError(f"softmax takes no {sorted(unused)[0]!r}: it is a plain linear layer")
        return SoftmaxHead(embedding_dim, num_classes)
    if not cls.spec.has_margin:
        options.pop("margin", None)
    return cls(embedding_dim, num_classes, **options)


def combined_equivalent(loss: str, margin: Margin | None) -> tuple[float, float, float]:
    """(m1, m2, m3) whose combined target cos(m1·θ + m2) − m3 matches `loss`'s target, and where it does.

    normface (1, 0, 0) and cosface (1, 0, m) match for every θ. arcface (1, m, 0) matches only for
    θ ≤ π − m: the combined margin has no fallback, so beyond that cos(θ + m) rises again while ArcFace
    takes the monotone cos θ − m·sin m. sphereface (m, 0, 0) is the arccos-style cos(mθ), which equals
    ψ(θ) only on its first piece θ ≤ π/m (and ignores the λ blend of the original form).
    """
    return check_loss(loss).combined_equivalent(margin)


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
    spec = check_loss(loss)
    if spec.margin_parts and isinstance(margin, float):
        names = ",".join(part.name for part in spec.margin_parts)
        count = count_word(len(spec.margin_parts))
        raise ValueError(f"the {loss} margin needs {count} comma-separated numbers {names}")
    if not spec.margin_parts and isinstance(margin, tuple):
        raise ValueError(f"{loss} takes one margin number, got {len(margin)}")
    return spec.check_margin(margin)
