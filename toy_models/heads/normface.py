"""NormFace (normalised softmax, NSL): s·cos θ_j for every class, no margin."""

from __future__ import annotations

from .head import MarginHead
from .spec import LossSpec


class NormFaceSpec(LossSpec):
    name = "normface"
    label = "NormFace (normalised softmax)"
    summary = "NormFace normalises both and scales by s"
    color = "#CC79A7"

    def combined_equivalent(self, margin):
        return (1.0, 0.0, 0.0)

    def half_arcs(self, margin, seps, **options):
        return seps / 2.0  # halfway to the neighbour: the boundary is θ1 = θ2


class NormFaceHead(MarginHead):
    spec = NormFaceSpec()
