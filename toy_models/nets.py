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
WIDE_FROM_PX = 24  # the cnn gets its third block from this input size on: 24 → 12 → 6 → 3 (see CNNBackbone)


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
    """3×3 conv blocks with max-pooling, average-pooled to a small grid, then an MLP head ending in a linear layer.

    Small inputs (the 8×8 digits) get two blocks (16, 32 channels) pooled to 2×2, as before. Inputs of at least
    :data:`WIDE_FROM_PX` pixels a side (28×28 MNIST and glyphs) get a third block (64 channels) and keep a 3×3 grid
    (576 features into the hidden layer instead of 128): the two-block net was too small for hundreds of identities.
    Measured on the glyphs (289 training identities, softmax, 16-D, 300 steps of batch 128, lr 3e-3, seeds 0-2):
    held-out verification AUC 0.81 (test accuracy 6 %) with two blocks, 0.95-0.96 (34-45 %) with three, hidden 64 or
    128 alike, for about 1.4× the CPU time per step (benchmarks/glyph_open_set.py).
    """

    def __init__(self, input_shape: tuple[int, ...], embedding_dim: int, hidden: int = 64,
                 channels: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.embedding_dim = embedding_dim
        wide = min(self.input_shape[1:]) >= WIDE_FROM_PX
        if channels is None:
            channels = (16, 32, 64) if wide else (16, 32)
        grid = 3 if wide else 2
        layers: list[nn.Module] = []
        previous = input_shape[0]
        for count in channels:  # each block halves the side: 8 → 4 → 2; 28 → 14 → 7 → 3
            layers += [nn.Conv2d(previous, count, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            previous = count
        self.body = nn.Sequential(
            *layers,
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(previous * grid * grid, hidden),
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
