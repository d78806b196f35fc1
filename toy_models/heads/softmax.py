"""Softmax: the baseline, a plain linear layer with bias on unnormalised features (W·x + b). No scale, no margin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .head import ClassifierHead
from .spec import LossSpec


class SoftmaxSpec(LossSpec):
    name = "softmax"
    label = "Softmax"
    default_scale = 1.0
    uses_scale = False
    normalised = False  # the weights and features keep their norms: angles alone do not decide
    summary = "Softmax keeps features and weights unnormalised"
    logit_text = "‖W‖‖x‖·cos θ + b; drawn: cos θ"
    running_text = ("It predicts with W·x + b; the views show only the directions of x and W (norms and biases "
                    "left out).")
    color = "#999999"


class SoftmaxHead(ClassifierHead):
    """logits = W·x + b; its prediction scores are those logits (the angles alone do not decide them)."""

    spec = SoftmaxSpec()

    def __init__(self, embedding_dim: int, num_classes: int):
        super().__init__(embedding_dim, num_classes)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def training_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(embeddings)
        return logits, logits

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return F.linear(embeddings, self.weight, self.bias)
