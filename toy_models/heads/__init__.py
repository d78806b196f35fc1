"""Margin heads: softmax, NormFace, SphereFace, CosFace, ArcFace and the combined margin.

Every margin loss is cross-entropy over logits in which only the *target* column is bent:

    f_j = s·cos θ_j  (j ≠ y)          f_y = s·g(θ_y)

and the losses differ only in g (docs/losses.md §1):

    normface    g = cos θ
    sphereface  g = ψ(θ) = (−1)^k cos(mθ) − 2k,  k = floor(mθ/π)   (real m ≥ 1, monotone)
    cosface     g = cos θ − m                                       (m in cosine units)
    arcface     g = cos(θ + m), and cos θ − m·sin m for θ > π − m   (m in radians)
    combined    g = cos(m1·θ + m2) − m3                             (all three honoured)

Each loss is one module: a `LossSpec` subclass (its labels, units, defaults, valid margins, what a control and
a legend say, g itself as `target`, its workable-margin rule) and its head. spec.py and head.py are the shared
bases; registry.py lists the losses and holds the functions that take a loss's name. `target_cos` and
`margin_logits` apply a spec's g; the heads, the batched training pass and the analytic geometry
(`toy_models.geometry`) all reach g through the spec, so there is one formula in the code base.

Angles are radians. Margin maths runs in float32 or better. Gradients stay finite at
cos = ±1 because θ's gradient is taken from a cosine clamped a hair inside [−1, 1].
"""

from .arcface import ArcFaceHead, ArcFaceSpec
from .combined import CombinedMarginHead, CombinedSpec
from .cosface import CosFaceHead, CosFaceSpec
from .head import GRADIENTS, ClassifierHead, MarginHead, Target, bend_target
from .normface import NormFaceHead, NormFaceSpec
from .registry import (
    HEAD_CLASSES,
    LOSS_SPECS,
    LOSSES,
    MARGIN_LOSSES,
    build_head,
    check_loss,
    check_margin,
    combined_equivalent,
    losses_with_option,
    margin_logits,
    parse_margin,
    target_cos,
)
from .softmax import SoftmaxHead, SoftmaxSpec
from .spec import UNIT_WORDS, LossSpec, Margin, MarginNotes, MarginPart, angle_of
from .sphereface import SPHEREFACE_FORMS, SphereFaceHead, SphereFaceSpec, psi, sphereface_lambda

__all__ = [
    "GRADIENTS",
    "HEAD_CLASSES",
    "LOSSES",
    "LOSS_SPECS",
    "MARGIN_LOSSES",
    "SPHEREFACE_FORMS",
    "UNIT_WORDS",
    "ArcFaceHead",
    "ArcFaceSpec",
    "ClassifierHead",
    "CombinedMarginHead",
    "CombinedSpec",
    "CosFaceHead",
    "CosFaceSpec",
    "LossSpec",
    "Margin",
    "MarginHead",
    "MarginNotes",
    "MarginPart",
    "NormFaceHead",
    "NormFaceSpec",
    "SoftmaxHead",
    "SoftmaxSpec",
    "SphereFaceHead",
    "SphereFaceSpec",
    "Target",
    "angle_of",
    "bend_target",
    "build_head",
    "check_loss",
    "check_margin",
    "combined_equivalent",
    "losses_with_option",
    "margin_logits",
    "parse_margin",
    "psi",
    "sphereface_lambda",
    "target_cos",
]
