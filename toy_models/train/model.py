"""The model a run trains: a backbone and a head built from a config alone, and what the fast path reads from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..heads import LOSS_SPECS, ClassifierHead, build_head
from ..nets import MLPBackbone, build_backbone
from .config import TrainConfig


def head_settings(config: TrainConfig, head: ClassifierHead) -> dict[str, Any]:
    """The config's values of the settings that reach `head`: the hot fields it lists in head.hyper().

    The one rule for which settings a head takes, used when the head is built and at every hot change; the
    head declares what it has (SphereFace's λ settings only in its original form, easy_margin only ArcFace).
    """
    return {name: getattr(config, name) for name in head.hyper() if name in TrainConfig.hot_fields}


def build_model(config: TrainConfig, input_shape: Sequence[int], num_classes: int) -> tuple[nn.Module, ClassifierHead]:
    """(backbone, head) initialised from `config.seed` alone: the global RNG is forked, so it is neither
    used nor changed. Two configs with the same seed and architecture get identical backbones."""
    config = config.resolved()
    spec = LOSS_SPECS[config.loss]
    shape = {keyword: getattr(config, field) for keyword, field in spec.head_options}  # cold: fixes the head's kind
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone = build_backbone(config.backbone, input_shape, config.embedding_dim, hidden=config.hidden)
        head = build_head(config.loss, config.embedding_dim, num_classes, **shape)
    head.set_hyper(validated=True, **head_settings(config, head))  # TrainConfig checked them
    return backbone, head


def mlp_plan(backbone: nn.Module) -> list[tuple[str, str | None]] | None:
    """The MLP's layers as [("linear", param prefix), ("relu", None), ...], or None if it is not a plain MLP.

    Only Flatten, Linear and ReLU are understood; anything else (the CNN) is called as a module.
    """
    if not isinstance(backbone, MLPBackbone):
        return None
    layers = [(f"body.{name}", module) for name, module in backbone.body.named_children()]
    layers.append(("embedding", backbone.embedding))
    plan: list[tuple[str, str | None]] = []
    for prefix, module in layers:
        if isinstance(module, nn.Linear) and module.bias is not None:
            plan.append(("linear", prefix))
        elif isinstance(module, nn.ReLU):
            plan.append(("relu", None))
        elif not isinstance(module, nn.Flatten):
            return None
    return plan

