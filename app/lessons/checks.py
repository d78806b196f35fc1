"""Checks on the learner's own run: the metrics of a run, and whether a check is passed, not yet, or failed.

    metrics = run_metrics(trainer)                 # {"epoch": 12, "inter_deg": 48.2, ...}
    result = evaluate(check, unit_values, metrics)  # CheckResult(status="not_yet", reason="Inter is 48.2° ...")

Pure functions of the run (no Streamlit): the same config and seed give the same metrics and results.
Settings in a check use share-link keys (m, s, grad, dim, loss, ...); the unit's values are by Param name
(`margin`, `scale`, ...), and app.state maps one to the other.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from app import state
from app.lessons import numbers
from app.lessons.window import Window
from toy_models.heads import LOSSES

COSTLY_METRICS = frozenset({"verification_auc"})
STUCK_ANGLE_DEG = 90.0
VERIFICATION_CACHE_SIZE = 16
# How a metric is named and shown in a reason sentence.
_LABELS = {
    "epoch": ("the epoch", "count"),
    "test_accuracy": ("Test accuracy", "percent"),
    "train_accuracy": ("Train accuracy", "percent"),
    "loss": ("The training loss", "plain"),
    "w_ec_deg": ("W-EC", "deg"),
    "w_inter_deg": ("W-Inter", "deg"),
    "intra_deg": ("Intra", "deg"),
    "inter_deg": ("Inter", "deg"),
    "min_center_angle_deg": ("The closest pair of class centres", "deg"),
    "stuck_classes": ("The number of stuck classes", "count"),
    "norm_ratio": ("The norm ratio", "plain"),
    "verification_auc": ("The verification AUC", "plain"),
}


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    status: str  # "passed", "not_yet" or "failed"
    reason: str  # one sentence: what was measured against what is needed
    feedback: str  # the check's feedback when failed, else ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# --------------------------------------------------------------------------------------------
# Metrics of a run
# --------------------------------------------------------------------------------------------


def _raw_test_features(run: Any) -> np.ndarray:
    """The backbone's raw (unnormalised) features of the whole test set."""
    backbone = run.backbone
    training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            x = run.dataset.x_test.to(run.device)
            raw = torch.cat([backbone(x[i: i + 4096]) for i in range(0, len(x), 4096)]) if len(x) else x
    finally:
        backbone.train(training)
    return raw.float().cpu().numpy()


def _stuck_and_norms(run: Any) -> tuple[float, float]:
    """(classes whose median target angle on the test set is above 90°, largest / smallest class mean norm)."""
    test = run.evaluate_test()
    cos = np.sum(test.embeddings * test.class_weights[test.labels], axis=1)
    target = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    classes = np.unique(test.labels)
    stuck = sum(1 for c in classes if np.median(target[test.labels == c]) > STUCK_ANGLE_DEG)
    norms = np.linalg.norm(_raw_test_features(run), axis=1)
    means = np.array([norms[test.labels == c].mean() for c in classes]) if len(classes) else np.array([1.0])
    ratio = float(means.max() / means.min()) if means.min() > 0 else math.inf
    return float(stuck), ratio


_verification_cache: OrderedDict[tuple[str, int], float] = OrderedDict()


def verification_auc(config: Any, epochs: int) -> float:
    """Open-set ROC AUC: the same config trained `epochs` epochs with experiments.default_holdout(C) held out.
    Costly (a training run), so cached per (config, epochs) in a small LRU."""
    from toy_models import experiments
    from toy_models.data import load_dataset

    if epochs < 1:
        return math.nan
    key = (json.dumps(config.to_dict(), sort_keys=True, default=str), int(epochs))
    if key in _verification_cache:
        _verification_cache.move_to_end(key)
        return _verification_cache[key]
    classes = load_dataset(config.dataset, data_dir=config.data_dir).num_classes
    base = config if not config.holdout_classes else type(config).from_dict({**config.to_dict(), "holdout_classes": ()})
    record = experiments.open_set_verification([base], experiments.default_holdout(classes), epochs=epochs)[0]
    value = float(record.metrics.get("verification_auc", math.nan))
    _verification_cache[key] = value
    while len(_verification_cache) > VERIFICATION_CACHE_SIZE:
        _verification_cache.popitem(last=False)
    return value


def run_metrics(run: Any, *, needs: Collection[str] = ()) -> dict[str, float]:
    """The METRICS of a Trainer (or one MultiTrainer member). Costly metrics only when named in `needs`."""
    if hasattr(run, "members"):
        raise TypeError("run_metrics measures one run; for a MultiTrainer use member_metrics(multi), by loss.")
    snap = run.snapshot()
    history = run.history
    metrics: dict[str, float] = {
        "epoch": float(run.epoch),
        "test_accuracy": float(history.test_accuracy[-1]) if history.test_accuracy else float(snap.test_accuracy),
        "train_accuracy": float(history.train_accuracy[-1]) if history.train_accuracy else 0.0,
        "loss": float(snap.loss),
    }
    metrics.update({name: float(value) for name, value in snap.angle_stats.items()})
    metrics["stuck_classes"], metrics["norm_ratio"] = _stuck_and_norms(run)
    if "verification_auc" in needs:
        metrics["verification_auc"] = verification_auc(run.config, run.epoch)
    return metrics


def member_metrics(multi: Any, *, needs: Mapping[str, Collection[str]] | Collection[str] = ()) -> dict[str, dict]:
    """run_metrics for every member of a MultiTrainer, by the member's loss. `needs` may be per loss."""
    out = {}
    for member in multi.members:
        loss = member.config.loss
        wanted = needs.get(loss, ()) if isinstance(needs, Mapping) else needs
        out[loss] = run_metrics(member, needs=wanted)
    return out


def check_metric_names(check: Any) -> set[str]:
    """The metrics a check needs (its reach and stay_below targets, and the epoch)."""
    return {*check.reach, *check.stay_below, "epoch"}


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _show_metric(name: str, value: float, *, target: bool = False) -> str:
    """A measured value with one decimal ("48.2°", "91.3 %"); a target as written ("55°", "90 %")."""
    kind = _LABELS.get(name, (name, "plain"))[1]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    if kind == "deg":
        return f"{value:g}°" if target else f"{value:.1f}°"
    if kind == "percent":
        return f"{100 * value:.4g} %" if target else f"{100 * value:.1f} %"
    if kind == "count":
        return f"{value:g}"
    return numbers.format_number(value)


def _label(name: str) -> str:
    return _LABELS.get(name, (name, ""))[0]


def _setting(values: Mapping[str, Any], key: str) -> tuple[Any, Any]:
    """(Param or None, the unit's current value) for a share-link key."""
    loss = values.get("loss")
    if key == "loss":
        return None, loss
    for p in state.params_for(loss) if loss else ():
        if key in p.url_keys:
            value = values.get(p.name, p.default)
            for index, part in enumerate(p.parts):
                if key in (part.name, *part.aliases):  # one number of the combined margin (m1, m2, m3)
                    return part, value[index]
            return p, value
    return None, None


def _show_value(param: Any, value: Any) -> str:
    if param is None:
        return state.loss_label(value) if value in LOSSES else str(value)
    return param.label_of(value) if param.kind == "choice" else f"{state.format_value(param, value)}{_unit(param)}"


def _short(label: str) -> str:
    """"Margin m (rad)" -> "Margin m": the unit is shown with the value."""
    return label.split(" (")[0]


def _unit(param: Any) -> str:
    return {"rad": " rad", "cos": "", "x": "×"}.get(param.unit, "")


def _same(param: Any, actual: Any, wanted: Any) -> bool:
    if param is None or param.kind == "choice":
        return str(actual).lower() == str(wanted).lower() or (_is_number(actual) and _is_number(wanted)
                                                              and float(actual) == float(wanted))
    return _is_number(actual) and _is_number(wanted) and math.isclose(float(actual), float(wanted), abs_tol=1e-9)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _broken_setting(check: Any, values: Mapping[str, Any]) -> str | None:
    """The first settings / at_most / at_least constraint the unit's values break, as a sentence."""
    for key, wanted in check.settings.items():
        param, actual = _setting(values, key)
        if actual is None:
            return f"This check needs {key} = {wanted}, and the current loss has no such setting."
        if not _same(param, actual, wanted):
            name = _short(param.label) if param is not None else "Loss"
            return f"{name} is {_show_value(param, actual)}; this check needs {_show_value(param, wanted)}."
    for bound, verb, ok in (("at_most", "at most", lambda a, b: a <= b + 1e-9),
                            ("at_least", "at least", lambda a, b: a >= b - 1e-9)):
        for key, limit in getattr(check, bound).items():
            param, actual = _setting(values, key)
            if not _is_number(actual):
                return f"This check needs {key} {verb} {limit:g}, and the current loss has no such setting."
            if not ok(float(actual), limit):
                return (f"{_short(param.label)} is {_show_value(param, actual)}; this check needs it {verb} "
                        f"{_show_value(param, limit)}.")
    return None


def _targets(check: Any, metrics: Mapping[str, float], start: int) -> tuple[list, list]:
    """(targets met, targets missed), each as (metric, value, sign, target). An `epoch` target counts epochs
    into the window (the epochs trained since `start`)."""
    met, missed = [], []
    for name, target, sign, ok in (
        *((n, t, "≥", lambda v, t: v >= t) for n, t in check.reach.items()),
        *((n, t, "≤", lambda v, t: v <= t) for n, t in check.stay_below.items()),
    ):
        value = metrics.get(name, math.nan)
        judged = value - start if name == "epoch" and value is not None else value
        good = judged is not None and not math.isnan(judged) and ok(judged, target)
        (met if good else missed).append((name, value, sign, target))
    return met, missed


def _span(check: Any, window: Window, values: Mapping[str, Any]) -> str:
    """When the targets are due: " by epoch 30", " between epochs 15 and 25", and, for a window that a change
    started, which change: " by epoch 180 (50 epochs after your last change of Margin m)"."""
    budget = check.within_epochs
    floor = check.reach.get("epoch")
    deadline = None if budget is None else window.start + budget
    if floor is not None:
        first = window.start + int(floor)
        span = f" between epochs {first} and {deadline}" if deadline is not None else f" from epoch {first} on"
    else:
        span = f" by epoch {deadline}" if deadline is not None else ""
    if deadline is not None and window.changed:
        param = state.param_by_name(values.get("loss") or "", window.changed)
        name = _short(param.label) if param is not None else window.changed
        span += f" ({budget} epochs after your last change of {name})"
    return span


def evaluate(check: Any, values: Mapping[str, Any], metrics: Mapping[str, float],
             window: Window | None = None) -> CheckResult:
    """Passed, not yet, or failed, with one sentence saying what was measured against what is needed.

    failed: a settings / at_most / at_least constraint is broken, or the epoch budget is spent (the targets
    were not met by the end of epoch within_epochs of the window). not_yet: the constraints hold and there is
    still time. `window` (app.lessons.window.window_start) says where the budget counts from: the student's last
    change of a setting the check is about; by default, the model's build.
    """
    broken = _broken_setting(check, values)
    if broken:
        return CheckResult(check.id, "failed", broken, check.feedback)
    window = window or Window()
    epoch = int(metrics.get("epoch", 0))
    met, missed = _targets(check, metrics, window.start)
    deadline = None if check.within_epochs is None else window.start + check.within_epochs
    span = _span(check, window, values)
    if not missed:
        shown = [item for item in met if item[0] != "epoch"] or met
        if deadline is not None and epoch > deadline:
            return CheckResult(check.id, "failed", f"{_phrases(shown)} only at epoch {epoch}; this check needs "
                                                   f"{'it' if len(shown) == 1 else 'them'}{span}.", check.feedback)
        return CheckResult(check.id, "passed", f"{_phrases(shown)} at epoch {epoch}: {_needs(shown)}{span}, as "
                                               "this check needs.", "")
    missing = [item for item in missed if item[0] != "epoch"]
    if missing:
        name, _, sign, target = missing[0]
        reason = f"{_phrases(missing[:1])} at epoch {epoch}; this check needs {sign} " \
                 f"{_show_metric(name, target, target=True)}{span}."
    else:  # only the epoch is missing: the check is judged later in the window
        reason = f"It is epoch {epoch}; this check is judged{span}."
    if deadline is not None and epoch >= deadline:
        return CheckResult(check.id, "failed", reason, check.feedback)
    return CheckResult(check.id, "not_yet", reason, "")


def _phrases(items: list) -> str:
    """"Inter is 58.3° and test accuracy is 91.0 %": the first label as written, the others mid-sentence."""
    parts = []
    for i, (name, value, _, _) in enumerate(items):
        label = _label(name)
        if i and (label.startswith("The ") or label.endswith(" accuracy")):
            label = label[0].lower() + label[1:]
        parts.append(f"{label} is {_show_metric(name, value)}")
    return " and ".join(parts)


def _needs(items: list) -> str:
    """"at least 55° and at most 0.1"."""
    return " and ".join(f"{'at least' if sign == '≥' else 'at most'} {_show_metric(name, target, target=True)}"
                        for name, _, sign, target in items)


def quiz_answer_correct(question: Any, given: Any, *, classes: int, dim: int) -> bool:
    """Whether `given` answers `question`: the option's index for a choice, a number within the tolerance."""
    if given is None or isinstance(given, bool):
        return False
    if question.kind == "choice":
        return _is_number(given) and float(given) == float(question.answer)
    if not _is_number(given):
        return False
    value = float(given)
    if not math.isfinite(value):
        return False
    return abs(value - numbers.number_answer(question, classes=classes, dim=dim)) <= (question.tolerance or 0.0)


def quiz_feedback(question: Any, given: Any, *, classes: int, dim: int) -> tuple[bool, str]:
    """(whether `given` is right, the sentence that says so): a choice quotes the options as written, each
    with its own full stop ("You chose “Nothing: ….” The answer is “It rises: ….”"); a number names both
    numbers with the unit ("You said 30°; the answer is 36° (± 1)."). Placeholders are filled for the
    learner's classes and dimension."""
    right = quiz_answer_correct(question, given, classes=classes, dim=dim)
    if question.kind == "choice":
        yours = _quoted(numbers.fill(question.options[int(given)], classes=classes, dim=dim))
        if right:
            return True, f"Right: {yours}"
        answer = _quoted(numbers.fill(question.options[int(question.answer)], classes=classes, dim=dim))
        return False, f"You chose {yours} The answer is {answer}"
    value = numbers.number_answer(question, classes=classes, dim=dim)
    yours = f"{float(given):g}{question.unit}"
    if right:
        return True, f"Right: {yours}."
    return False, f"You said {yours}; the answer is {value:.3g}{question.unit} (± {question.tolerance:g})."


def _quoted(text: str) -> str:
    """An option as a quoted sentence: “It rises.” (a full stop added only where it has no end mark)."""
    text = text.strip()
    return f"“{text if text.endswith(('.', '?', '!', '…')) else text + '.'}”"
