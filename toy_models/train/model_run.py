"""One model's run: the bookkeeping Trainer and every MultiTrainer member share (history, events, the divergence
guard, hot settings, evaluation, snapshots).

A `ModelRun` does not optimise. The trainer that owns it takes the steps and reports each one through the
"driving" methods (`keep_last_good`, `record_step`, `add_correct`, `end_epoch`, `restore_last_good`,
`apply_requested_hyper`); everything a caller reads (`snapshot`, `history`, `events`, `evaluate_all`) and every
hot change (`set_hyper`, `request_hyper`) lives here, written once for both trainers. The model comes from
model.py, the loop's parts from loop.py.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics
from ..data import Dataset
from ..heads import ClassifierHead, MarginHead
from .config import TrainConfig
from .loop import all_finite
from .model import build_model, head_settings
from .records import EvalResult, History, Snapshot, TrainEvent

GUARD_EVERY = 25  # steps between last-good copies; a copy of these tiny nets costs microseconds
LOSS_EMA_DECAY = 0.9  # the live loss curve: an exponential moving average over roughly the last 10 steps
LIVE_TEST_LIMIT = 4096  # test sets up to this size are re-scored at every snapshot; larger ones per epoch
EVAL_CHUNK = 4096  # evaluation batch: bounds the memory of a CNN over 60k MNIST images
PENDING_LIMIT = 256  # steps whose predictions may wait before they are counted (see Trainer._count_pending)
INITIAL_LOSS_SAMPLES = 2048  # training samples that score the untrained model (history entry of epoch 0)

# Layers whose output depends on train() / eval(): evaluation switches the backbone to eval() only if it has one.
_MODE_DEPENDENT = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
)



def _class_balanced_indices(labels: torch.Tensor, num_classes: int, per_class: int) -> torch.Tensor:
    """The first `per_class` samples of every class, in data order (deterministic, no RNG)."""
    labels = labels.cpu()
    picks = [torch.nonzero(labels == c).flatten()[:per_class] for c in range(num_classes)]
    return torch.sort(torch.cat(picks)).values


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"



# --------------------------------------------------------------------------------------------------------
# One model's bookkeeping


class ModelRun:
    """A backbone + head and everything recorded about their training. Subclasses own the optimisation.

    Subclass hooks: the properties step, epoch, epoch_fraction; _capture_state / _load_state (model and optimizer
    state of a last-good copy); _apply_optimizer_hyper (push the config's lr, momentum and weight decay to the
    optimizer); _count_pending (count queued predictions).
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, device: torch.device,
                 model: tuple[nn.Module, ClassifierHead] | None = None):
        self.config = config.resolved()
        self.initial_config = self.config
        self.dataset = dataset
        self.device = device
        if model is None:
            model = build_model(self.config, dataset.input_shape, dataset.num_classes)
        self.backbone, self.head = model
        self.backbone.to(device)
        self.head.to(device)
        self._mode_matters = any(isinstance(m, _MODE_DEPENDENT) for m in self.backbone.modules())
        self._x_test = dataset.x_test.to(device)
        self._y_test = dataset.y_test.to(device)
        self.events: list[TrainEvent] = []
        self._history_rows: dict[str, list] = {name: [] for name in History.names()}  # appended per epoch
        self._history_cache: History | None = None
        self.last_loss = math.nan  # the training loss of the most recent step (NaN before the first)
        self._loss_ema = 0.0
        self._ema_weight = 0.0  # for the bias correction of an EMA started at zero
        self._epoch_loss_sum = 0.0
        self._epoch_seen = 0
        self._epoch_correct = 0
        self._epoch_steps = 0
        self._checkpoint: tuple[int, Any] | None = None
        self._candidate: tuple[int, Any] | None = None  # the sync-free path's copy not yet proven (propose_last_good)
        self._version = 0  # bumped by anything that changes what a snapshot shows
        self._snapshot_cache: tuple[Any, Snapshot] | None = None
        self._test_accuracy = (0.0, 0)  # (accuracy, step it was scored at)
        self._sample = _class_balanced_indices(self._y_test, dataset.num_classes, self.config.snapshot_per_class)
        self._requested: TrainConfig | None = None  # hot settings handed over by request_hyper, not yet applied
        self._request_lock = threading.Lock()
        # Every hot change, as (step it applied before, {TrainConfig field: new value}): with the initial config,
        # all a replay needs (toy_models.train.replay) to rebuild this run step for step.
        self.hyper_log: list[tuple[int, dict[str, Any]]] = []

    # -- subclass hooks ----------------------------------------------------------------------------------
    step: int
    epoch: int

    @property
    def epoch_fraction(self) -> float:
        raise NotImplementedError

    def _capture_state(self, shared: Any = None) -> Any:
        raise NotImplementedError

    def _load_state(self, state: Any) -> None:
        raise NotImplementedError

    def _apply_optimizer_hyper(self) -> None:
        raise NotImplementedError

    def _count_pending(self) -> None:
        """Add the predictions queued by recent steps to the epoch's count (add_correct)."""

    def _start(self, x_train: torch.Tensor, y_train: torch.Tensor) -> None:
        """Score the untrained model (history entry 0) and keep it as the first last-good copy."""
        count = min(len(y_train), INITIAL_LOSS_SAMPLES)
        self.backbone.eval()
        self.head.eval()
        with torch.no_grad():
            embeddings = self._embed(x_train[:count])
            logits, scores = self.head.training_logits(embeddings, y_train[:count])
            loss = float(F.cross_entropy(logits, y_train[:count]))
            train_accuracy = float((scores.argmax(1) == y_train[:count]).float().mean())
        self.backbone.train()
        self.head.train()
        if not math.isfinite(loss):  # only an absurd setting (e.g. a huge scale) can do this
            loss = 0.0
        self._loss_ema, self._ema_weight = loss, 1.0
        self._record_epoch(loss=loss, train_accuracy=train_accuracy)
        self.keep_last_good(0)

    # -- driving a run: called by the trainer that takes the steps ------------------------------------------
    def keep_last_good(self, step: int, shared: Any = None) -> None:
        """Keep the current weights and optimizer state as the last-good copy, taken before step `step`.

        Called with weights that just gave a finite loss on real data (finite weights alone are not enough:
        weights of 1e30 are finite and still overflow the next forward pass). `shared`: a copy the owner took
        for several runs at once (MultiTrainer), passed to _capture_state.
        """
        self._checkpoint = (step, self._capture_state(shared))

    def propose_last_good(self, step: int, shared: Any = None) -> None:
        """The sync-free path's guard (fast.py): copy the weights now, as a candidate that becomes the last-good copy
        only when the next step's loss from them proves finite (confirm_last_good); finite weights alone are not
        enough."""
        self._candidate = (step, self._capture_state(shared))

    def confirm_last_good(self, proven: bool) -> None:
        """The candidate's next loss was finite (`proven`): it becomes the last-good copy; else it is dropped."""
        if proven and self._candidate is not None:
            self._checkpoint = self._candidate
        self._candidate = None

    def record_step(self, step: int, loss_value: float, count: int) -> None:
        """After optimiser step number `step` on `count` samples: record its loss, or, if the loss was not finite,
        restore the last-good copy."""
        if math.isfinite(loss_value):
            self.last_loss = loss_value
            self._loss_ema = LOSS_EMA_DECAY * self._loss_ema + (1 - LOSS_EMA_DECAY) * loss_value
            self._ema_weight = LOSS_EMA_DECAY * self._ema_weight + (1 - LOSS_EMA_DECAY)
            self._epoch_loss_sum += loss_value
            self._epoch_steps += 1
            self._epoch_seen += count
        else:
            self.restore_last_good(step, "the loss became non-finite")
        self._version += 1

    def add_correct(self, count: int) -> None:
        """`count` more correct training predictions in the current epoch (counted in bulk by the owner)."""
        self._epoch_correct += count

    def end_epoch(self, test_features: torch.Tensor | None = None) -> None:
        """Close the epoch: its history entry, with the test set scored now (`test_features`: the backbone's
        output on it, if the owner computed it already)."""
        self._count_pending()
        train_accuracy = self._epoch_correct / self._epoch_seen if self._epoch_seen else self._last("train_accuracy")
        loss = self._epoch_loss_sum / self._epoch_steps if self._epoch_steps else self._last("loss")
        self._epoch_loss_sum, self._epoch_seen, self._epoch_correct, self._epoch_steps = 0.0, 0, 0, 0
        self._record_epoch(loss=loss, train_accuracy=train_accuracy, test_features=test_features)

    def restore_last_good(self, step: int, reason: str) -> None:
        """The divergence guard: restore the last-good copy and say so, once per copy (repeats raise the event's
        count). Weights and optimizer moments go back; the user's current settings stand."""
        restored_step, state = self._checkpoint
        self._candidate = None  # taken from the weights being abandoned
        self._load_state(state)
        self._apply_optimizer_hyper()  # a state_dict brings its lr along: the current config's wins
        count = 1
        last = self.events[-1] if self.events else None
        if last is not None and last.kind == "diverged" and last.restored_step == restored_step:
            count = last.count + 1
            self.events.pop()
        again = f" ({_ordinal(count)} time from this copy)" if count > 1 else ""
        message = (
            f"{self.config.loss} diverged at step {step} ({reason}) with {self._hyper_text()}; "
            f"restored the weights of step {restored_step}{again}"
        )
        self.events.append(TrainEvent(step, "diverged", message, count, restored_step))
        self._version += 1

    def params_finite(self) -> bool:
        return all_finite([*self.backbone.parameters(), *self.head.parameters()])

    # -- history -------------------------------------------------------------------------------------------
    def _last(self, name: str) -> float:
        values = self._history_rows[name]
        return values[-1] if values else 0.0

    @property
    def history(self) -> History:
        """The per-epoch record so far (an immutable copy, rebuilt only after an epoch ends)."""
        if self._history_cache is None:
            self._history_cache = History(**{name: tuple(rows) for name, rows in self._history_rows.items()})
        return self._history_cache

    def _record_epoch(self, *, loss: float, train_accuracy: float, test_features: torch.Tensor | None = None) -> None:
        test = self.evaluate_test(test_features)
        row = {
            "epoch": self.epoch,
            "step": self.step,
            "loss": float(loss),
            "train_accuracy": float(train_accuracy),
            "test_accuracy": test.accuracy,
        }
        for name, value in row.items():
            self._history_rows[name].append(value)
        self._history_cache = None
        self._version += 1

    def _hyper_text(self) -> str:
        c = self.config
        parts = []
        if c.effective_scale is not None:
            parts.append(f"s={c.effective_scale:g}")
        margin = c.effective_margin
        if margin is not None:
            parts.append("m=" + (",".join(f"{v:g}" for v in margin) if isinstance(margin, tuple) else f"{margin:g}"))
        parts.append(f"lr={c.lr:g}")
        return ", ".join(parts)

    # -- hot settings --------------------------------------------------------------------------------------
    def set_hyper(self, **changes: Any) -> None:
        """Change hot settings (TrainConfig.hot_fields) of the running model now; weights and optimizer state stay.

        Validated once, by TrainConfig.with_hot, and applied all together or not at all; each change is recorded
        as a "hyper" event. How m travels: set_hyper(margin=m) -> TrainConfig.with_hot checks it (the only check)
        -> head.set_hyper(validated=True) stores head.margin -> every training step passes head.margin to
        head.training_logits -> the loss's spec.target, which bends the target cosine. Call it from the thread that
        trains; from any other thread use request_hyper.
        """
        with self._request_lock:
            self._apply_requested()  # an earlier request comes first
            self._apply_config(self.config.with_hot(**changes))

    def request_hyper(self, **changes: Any) -> None:
        """Hand hot settings to a run that another thread may be advancing right now. Thread-safe.

        Validated at once, in the caller's thread (ValueError, and nothing changes); applied by the training
        thread before its next optimiser step (or by snapshot()), never in the middle of one. Requests add up:
        a newer value of a setting replaces an older one not yet applied.
        """
        with self._request_lock:
            base = self.config if self._requested is None else self._requested
            self._requested = base.with_hot(**changes)

    def apply_requested_hyper(self) -> None:
        """Apply what request_hyper handed over, if anything (the trainers call this before every step)."""
        if self._requested is not None:  # read without the lock: a request arriving now waits for the next step
            with self._request_lock:
                self._apply_requested()

    def _apply_requested(self) -> None:
        requested, self._requested = self._requested, None
        if requested is not None:
            self._apply_config(requested)

    def _apply_config(self, new: TrainConfig) -> None:
        """Make `new` (validated, resolved, differing in hot fields only) the running config."""
        old = self.config
        changed = sorted(name for name in TrainConfig.hot_fields if getattr(new, name) != getattr(old, name))
        head_changes = {name: value for name, value in head_settings(new, self.head).items() if name in changed}
        self.head.set_hyper(validated=True, **head_changes)
        self.config = new
        self._apply_optimizer_hyper()
        if new.snapshot_per_class != old.snapshot_per_class:
            self._sample = _class_balanced_indices(self._y_test, self.dataset.num_classes, new.snapshot_per_class)
        if changed:
            self.hyper_log.append((self.step, {name: getattr(new, name) for name in changed}))
            text = ", ".join(f"{name} {getattr(old, name)} → {getattr(new, name)}" for name in changed)
            self.events.append(TrainEvent(self.step, "hyper", f"step {self.step}: {text}"))
        self._version += 1

    def hyper(self) -> dict[str, Any]:
        """The current hot settings, plus SphereFace's current λ (0 unless form="original")."""
        c = self.config
        values = {name: getattr(c, name) for name in sorted(TrainConfig.hot_fields)}
        values["loss"] = c.loss
        values["sphereface_form"] = c.sphereface_form
        values["sphereface_lambda"] = self.head.current_lambda()
        return values

    # -- evaluation and snapshots ------------------------------------------------------------------------------
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features of x, in chunks (so a CNN over 60k images stays within memory)."""
        if len(x) <= EVAL_CHUNK:
            return self.backbone(x)
        return torch.cat([self.backbone(x[i : i + EVAL_CHUNK]) for i in range(0, len(x), EVAL_CHUNK)])

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, features: torch.Tensor | None = None) -> EvalResult:
        """Score the current model on images x with labels y (any split, e.g. the held-out classes).

        `features` may hold the backbone's raw output for x, already computed. The features are checked: if
        the weights overflow on these images (finite weights can), the guard restores the last-good copy and
        scores again. Should even that fail, non-finite values are zeroed, so a result never holds NaN.
        """
        result = self._evaluate(x, y, features)  # non-finite weights always show in the features (NaN·0 = NaN)
        if not (np.isfinite(result.embeddings).all() and np.isfinite(result.class_weights).all()):
            self.restore_last_good(self.step, "the features became non-finite")
            result = self._evaluate(x, y)
            result = dataclasses.replace(
                result,
                embeddings=np.nan_to_num(result.embeddings, nan=0.0, posinf=0.0, neginf=0.0),
                class_weights=np.nan_to_num(result.class_weights, nan=0.0, posinf=0.0, neginf=0.0),
            )
        return result

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, features: torch.Tensor | None = None) -> EvalResult:
        if self._mode_matters:
            self.backbone.eval()
        try:
            # Without labels the heads apply no margin and SphereFace's λ schedule does not advance.
            with torch.no_grad():
                raw = self._embed(x.to(self.device)) if features is None else features
                unit = F.normalize(raw.float(), dim=1)
                weights = self.head.class_directions().float()
                # The head's own prediction: a margin head's logits are s·cos (s > 0), so the largest cosine; the
                # softmax head's are W·x + b, which the angles alone do not decide.
                scores = unit @ weights.T if isinstance(self.head, MarginHead) else self.head(raw)
                predictions = scores.argmax(1) if len(raw) else torch.zeros(0, dtype=torch.long)
        finally:
            if self._mode_matters:
                self.backbone.train()
        return EvalResult(
            embeddings=unit.cpu().numpy(),
            labels=y.cpu().numpy(),
            predictions=predictions.cpu().numpy(),
            class_weights=weights.cpu().numpy(),
        )

    def evaluate_test(self, features: torch.Tensor | None = None) -> EvalResult:
        """The whole test set; also refreshes the test accuracy that snapshots report."""
        result = self.evaluate(self._x_test, self._y_test, features)
        self._test_accuracy = (result.accuracy, self.step)
        return result

    def evaluate_all(self, *, max_pairs: int = 200_000, seed: int = 0) -> dict[str, Any]:
        """Final metrics of the current model, as the command line reports them.

        train_accuracy and test_accuracy over the whole splits, from the head's predictions; the angle statistics
        of the test set (degrees, metrics.angle_statistics); with classes held out, open-set verification on their
        samples (metrics.verification_metrics: verification_auc, tar_at_far_1e-2, tar_at_far_1e-3 and pair
        counts). Values that cannot be computed are NaN and "notes" ({metric: reason}) says why.
        """
        train = self.evaluate(self.dataset.x_train, self.dataset.y_train)
        test = self.evaluate_test()
        result: dict[str, Any] = {"train_accuracy": train.accuracy, "test_accuracy": test.accuracy}
        result.update(metrics.angle_statistics(test.embeddings, test.labels, test.class_weights))
        notes: dict[str, str] = {}
        if len(self.dataset.y_holdout):
            held = self.evaluate(self.dataset.x_holdout, self.dataset.y_holdout)
            verification = metrics.verification_metrics(held.embeddings, held.labels, max_pairs=max_pairs, seed=seed)
            notes.update(verification.pop("notes"))
            result.update(verification)
        result["notes"] = notes
        return result

    def _running_train_accuracy(self) -> float:
        self._count_pending()
        if self._epoch_seen:
            return self._epoch_correct / self._epoch_seen
        return self._last("train_accuracy")

    def snapshot(self, *, refresh_test: bool = False) -> Snapshot:
        """A plot-ready picture of the model now. Cheap: the same state returns the cached snapshot.

        Test accuracy covers the whole test set; sets up to LIVE_TEST_LIMIT samples are re-scored whenever the
        model changed, larger ones at epoch ends (or now, with refresh_test=True). Accuracies are the head's own
        predictions; the angles are those of unit features to unit class weights (for softmax, whose bias and
        feature norms also decide, they do not decide the prediction).
        """
        self.apply_requested_hyper()
        key = (self._version, self.step, refresh_test)
        if self._snapshot_cache is not None and self._snapshot_cache[0] == key:
            return self._snapshot_cache[1]

        if refresh_test or len(self._y_test) <= LIVE_TEST_LIMIT:
            test = self.evaluate_test()
            sample = self._sample.numpy()
            embeddings, labels, weights = test.embeddings[sample], test.labels[sample], test.class_weights
        else:
            index = self._sample.to(self.device)
            part = self.evaluate(self._x_test[index], self._y_test[index])
            embeddings, labels, weights = part.embeddings, part.labels, part.class_weights
        target, nearest = metrics.target_angles(embeddings, labels, weights)
        ema = self._loss_ema / self._ema_weight if self._ema_weight else 0.0
        test_accuracy, test_step = self._test_accuracy
        snap = Snapshot(
            loss_name=self.config.loss,
            step=self.step,
            epoch=self.epoch,
            epoch_fraction=self.epoch_fraction,
            loss=float(ema),
            train_accuracy=float(self._running_train_accuracy()),
            test_accuracy=float(test_accuracy),
            test_accuracy_step=int(test_step),
            embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
            labels=labels.astype(np.int64),
            class_weights=np.ascontiguousarray(weights, dtype=np.float32),
            target_angle=target.astype(np.float32),
            nearest_angle=nearest.astype(np.float32),
            angle_stats=metrics.angle_statistics(embeddings, labels, weights),
            hyper=self.hyper(),
            history=self.history,
            events=tuple(self.events),
            class_names=tuple(self.dataset.class_names),
        )
        self._snapshot_cache = (key, snap)
        return snap
