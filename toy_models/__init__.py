"""Margin Lab's model library: margin heads, analytic geometry, datasets, backbones, training.

Pure PyTorch + numpy. Nothing here imports streamlit or plotly, so everything can be
used from a notebook, a test or the command line (`python -m toy_models --help`).
"""

from .data import DATASETS, Dataset, DatasetError, load_dataset
from .geometry import (
    cosface_min_scale,
    decision_boundary,
    feasible_half_arc,
    max_margin,
    min_scale,
    tammes_angle,
    target_logit_curve,
)
from .heads import LOSS_SPECS, LOSSES, build_head, margin_logits, target_cos
from .metrics import (
    angle_statistics,
    closed_set_accuracy,
    pair_angles,
    target_angles,
    verification_metrics,
)
from .nets import BACKBONES, build_backbone
from .train import (
    History,
    MultiTrainer,
    Snapshot,
    TrainConfig,
    Trainer,
    TrainEvent,
    choose_device,
    is_hot_change,
)

__all__ = [
    "BACKBONES",
    "DATASETS",
    "LOSSES",
    "LOSS_SPECS",
    "Dataset",
    "DatasetError",
    "History",
    "MultiTrainer",
    "Snapshot",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "angle_statistics",
    "build_backbone",
    "build_head",
    "choose_device",
    "closed_set_accuracy",
    "cosface_min_scale",
    "decision_boundary",
    "feasible_half_arc",
    "is_hot_change",
    "load_dataset",
    "margin_logits",
    "max_margin",
    "min_scale",
    "pair_angles",
    "tammes_angle",
    "target_angles",
    "target_cos",
    "target_logit_curve",
    "verification_metrics",
]
