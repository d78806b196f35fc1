"""The training engine the app animates: step-wise, time-budgeted, deterministic and hard to break.

    config = TrainConfig(loss="arcface", embedding_dim=3)      # every setting, validated, JSON-safe
    trainer = Trainer(config)                                  # loads the data, builds backbone + head
    trainer.advance(seconds=0.15)                              # train for a wall-time budget (or steps / epochs)
    trainer.set_hyper(margin=0.3)                              # hot change: weights and optimizer state kept
    snap = trainer.snapshot()                                  # small, plot-ready, never NaN

    multi = MultiTrainer(config)                               # softmax, SphereFace, CosFace, ArcFace at once:
    multi.advance(epochs=5)                                    # identical batches, identical initial backbones,
    multi.snapshot(3)                                          # one batched model, one optimizer step

Three promises hold the design together:

* Replay. A `TrainConfig` holds everything a run depends on. The same config on the same machine gives
  bit-identical snapshots: the initial weights come from a generator seeded with `config.seed` (the global
  RNG is forked, never touched), the shuffling from a generator the trainer owns.
* No NaN reaches the caller. A divergence guard keeps a last-good copy of model and optimizer state every
  `GUARD_EVERY` steps; a non-finite loss or weight restores it and records one `TrainEvent`. Nothing is
  lowered silently: the caller sees the event and decides what to change.
* Hot vs cold. Settings in `TrainConfig.hot_fields` change a running model in place (`set_hyper`); any
  other change needs a new trainer (`is_hot_change` tells which).
"""

from .config import DEFAULT_COMPARE_LOSSES, DEVICES, OPTIMIZERS, TrainConfig, choose_device, is_hot_change
from .multi import MultiMember, MultiTrainer, reference_losses_and_gradients
from .records import EvalResult, History, Snapshot, TrainEvent
from .run import GUARD_EVERY, ModelRun, build_model, training_logits
from .trainer import Trainer

__all__ = [
    "DEFAULT_COMPARE_LOSSES",
    "DEVICES",
    "GUARD_EVERY",
    "OPTIMIZERS",
    "EvalResult",
    "History",
    "ModelRun",
    "MultiMember",
    "MultiTrainer",
    "Snapshot",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "build_model",
    "choose_device",
    "is_hot_change",
    "reference_losses_and_gradients",
    "training_logits",
]
