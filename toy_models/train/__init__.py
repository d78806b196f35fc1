"""The training engine the app animates: step-wise, time-budgeted, deterministic and hard to break.

    config = TrainConfig(loss="arcface", embedding_dim=3)      # every setting, validated, JSON-safe
    trainer = Trainer(config)                                  # loads the data, builds backbone + head
    trainer.advance(seconds=0.15)                              # train for a wall-time budget (or steps / epochs)
    trainer.set_hyper(margin=0.3)                              # hot change: weights and optimizer state kept
    trainer.request_hyper(margin=0.3)                          # the same from another thread: at the next step
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
* Hot vs cold. Settings in `TrainConfig.hot_fields` change a running model in place (`set_hyper`, or
  `request_hyper` from another thread); any other change needs a new trainer (`is_hot_change` tells which).
  A hot value is checked once, by `TrainConfig.with_hot`; the head takes the ones it lists in `hyper()`.

The modules, in reading order:

    config.py    TrainConfig (every setting one row of the table FIELDS: kind, range or choices, doc, hot),
                 is_hot_change, choose_device
    device.py    device_reason: where auto trains (the GPU only where it is faster for the workload) and why
    fast.py      the sync-free path the trainers take on CUDA: a ledger read back once per frame; CUDA graphs
    records.py   what a run reports: TrainEvent, History, Snapshot, EvalResult
    model.py     build_model (backbone + head from a config alone), head_settings, mlp_plan
    loop.py      the loop's shared parts: BatchStream, train_for, load_checked_dataset, the guard's copies and checks
    model_run.py ModelRun, one model's bookkeeping shared by both trainers: history, events, the guard, hot
                 settings, evaluation, snapshots
    trainer.py   Trainer: one backbone + head, torch.optim, autograd (the head's training_logits is the forward)
    multi.py     MultiTrainer: several heads on identical batches; its members; the autograd reference pass
    stack.py     ParameterStack: the members' parameters in one flat buffer, their optimizer state and update
    batched.py   the fast path: all members' MLP and heads in one batched pass with the backward written out
    replay.py    replay(initial_config, hyper_log, step): a live run rebuilt from its log of hot changes;
                 replay_multi(initial_configs, hyper_logs, step): the same for a MultiTrainer
"""

from .config import (
    DEFAULT_COMPARE_LOSSES,
    DEVICES,
    FIELDS,
    OPTIMIZERS,
    Setting,
    TrainConfig,
    choose_device,
    is_hot_change,
)
from .device import DeviceChoice, device_reason
from .model import build_model
from .model_run import GUARD_EVERY, ModelRun
from .multi import MultiMember, MultiTrainer, reference_losses_and_gradients
from .records import EvalResult, History, Snapshot, TrainEvent
from .replay import replay, replay_multi
from .trainer import Trainer

__all__ = [
    "DEFAULT_COMPARE_LOSSES",
    "DEVICES",
    "FIELDS",
    "GUARD_EVERY",
    "OPTIMIZERS",
    "DeviceChoice",
    "EvalResult",
    "History",
    "ModelRun",
    "MultiMember",
    "MultiTrainer",
    "Setting",
    "Snapshot",
    "TrainConfig",
    "TrainEvent",
    "Trainer",
    "build_model",
    "choose_device",
    "device_reason",
    "is_hot_change",
    "reference_losses_and_gradients",
    "replay",
    "replay_multi",
]
