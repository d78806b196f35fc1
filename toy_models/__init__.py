"""Margin Lab's model library: margin heads, analytic geometry, datasets, backbones, training.

Pure PyTorch + numpy. Nothing here imports streamlit or plotly, so everything can be
used from a notebook, a test or the command line (`python -m toy_models --help`).
"""

from .metrics import (
    angle_statistics,
    closed_set_accuracy,
    pair_angles,
    target_angles,
    verification_metrics,
)
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
    "History",
    "MultiTrainer",
    "Snapshot",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "angle_statistics",
    "choose_device",
    "closed_set_accuracy",
    "is_hot_change",
    "pair_angles",
    "target_angles",
    "verification_metrics",
]
