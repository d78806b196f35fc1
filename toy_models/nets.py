"""Tiny backbones that map images to low-dimensional embeddings, small enough to train live on a CPU.

Both end in a plain ``nn.Linear`` embedding layer with no activation after it: a ReLU there would
confine every feature to the positive orthant and waste most of the hypersphere (SphereFace, appendix),
which is exactly the picture the 2-D and 3-D plots are meant to show.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BACKBONES", "CNNBackbone", "MLPBackbone", "build_backbone"]

BACKBONES = ("mlp", "cnn")


class MLPBackbone(nn.Module):
    """flatten → Linear(hidden) → ReLU → Linear(hidden) → ReLU → Linear(embedding_dim), the last one linear."""

    def __init__(self, input_shape: tuple[int, ...], embedding_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.embedding_dim = embedding_dim
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.embedding = nn.Linear(hidden, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.body(x))


class CNNBackbone(nn.Module):
    """Two 3×3 conv blocks with max-pooling, average-pooled to 2×2, then an MLP head ending in a linear layer.

    The adaptive pooling makes the head the same size for 8×8 digits and 28×28 MNIST.
    """

    def __init__(self, input_shape: tuple[int, ...], embedding_dim: int, hidden: int = 64,
                 channels: tuple[int, int] = (16, 32)) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.embedding_dim = embedding_dim
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(input_shape[0], c1, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8×8 → 4×4, 28×28 → 14×14
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4×4 → 2×2, 14×14 → 7×7
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * 2 * 2, hidden),
            nn.ReLU(),
        )
        self.embedding = nn.Linear(hidden, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.body(x))


def _is_positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def build_backbone(name: str, input_shape: Sequence[int], embedding_dim: int, *, hidden: int = 64) -> nn.Module:
    """A fresh backbone mapping a batch (N, *input_shape) to float32 embeddings (N, embedding_dim).

    ``name`` is one of :data:`BACKBONES`. The final layer is ``module.embedding``, an ``nn.Linear``
    with nothing after it. Weights come from torch's global RNG, so ``torch.manual_seed`` fixes them.
    """
    key = str(name).strip().lower()
    if key not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}: expected one of {', '.join(BACKBONES)}")
    if not _is_positive_int(embedding_dim) or embedding_dim < 2:
        raise ValueError(f"embedding_dim must be an integer of at least 2 (2 and 3 can be plotted), "
                         f"got {embedding_dim!r}")
    if not _is_positive_int(hidden):
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    shape = tuple(input_shape)
    if not shape or not all(_is_positive_int(n) for n in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers such as (1, 8, 8), got {input_shape!r}")
    shape = tuple(int(n) for n in shape)

    if key == "mlp":
        return MLPBackbone(shape, int(embedding_dim), int(hidden))
    if len(shape) != 3 or shape[1] < 4 or shape[2] < 4:
        raise ValueError(f"the cnn backbone needs input_shape (channels, height, width) with height and width "
                         f"of at least 4, got {shape}")
    return CNNBackbone(shape, int(embedding_dim), int(hidden))
