"""What a trained run can be saved as: its embeddings (CSV), its metrics and exact config (JSON that
`python -m toy_models replay` re-runs), and its weights (a torch state_dict, read back only with
`torch.load(..., weights_only=True)`).

A run is a `Trainer` or a `MultiTrainer` member (both are `ModelRun`s). Pure: no Streamlit here; the
app's download buttons (`app.live.exports`) call these functions when clicked. Every refusal is a
ValueError whose message is one sentence naming the cause.

    data = embeddings_csv(trainer)          # bytes: one row per test (and held-out) sample
    text = run_json(trainer)                # str: python -m toy_models replay file.json reproduces it
    blob = weights_bytes(trainer)           # bytes: torch.save of the backbone's and head's state_dicts
    backbone, head = load_weights(blob)     # a fresh model with those weights (weights_only=True)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .train import ModelRun, MultiMember, TrainConfig
from .train.model_run import build_model

WEIGHTS_FORMAT = "margin-lab-weights/1"
NOTHING_YET = "Nothing to export yet: press Play or Step to train at least one step first."
CSV_DIGITS = 9  # %.9g round-trips float32 exactly


def check_trained(run: ModelRun) -> None:
    """ValueError (one sentence) when the run has not taken a single training step: there is nothing to save."""
    if run.step < 1:
        raise ValueError(NOTHING_YET)


# --------------------------------------------------------------------------------------------------------
# Metrics and config: a replayable record


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_record(run: ModelRun, epochs: int, steps: int | None = None) -> dict[str, Any]:
    """config (replayable), history, metrics, metric notes and events of one trained model (a Trainer or a
    MultiTrainer member). `steps`: the exact step count, for a run stopped inside an epoch (the app's Play and
    Step); replay then trains that many steps instead of `epochs` whole epochs."""
    metrics = run.evaluate_all()
    notes = metrics.pop("notes")
    length = {"epochs": epochs} if steps is None else {"epochs": epochs, "steps": steps}
    return {
        "loss": run.config.loss,
        "config": {**run.initial_config.to_dict(), **length},
        "history": run.history.to_dict(),
        "metrics": {key: _finite_or_none(value) for key, value in metrics.items()},
        "metric_notes": notes,
        "events": [
            {"step": e.step, "kind": e.kind, "message": e.message, "count": e.count, "restored_step": e.restored_step}
            for e in run.events
        ],
    }


def run_json(run: ModelRun) -> str:
    """The run's metrics and exact config as JSON, in the format `python -m toy_models train/compare --json`
    write, so `python -m toy_models replay FILE` re-trains it from the seed and checks the metrics.

    A MultiTrainer member is saved with all its fellow members (a "compare" record): only the all-at-once
    trainer reproduces its batches and weights exactly. The step count is saved too, so a run paused inside an
    epoch replays to the same step.
    """
    check_trained(run)
    if isinstance(run, MultiMember):
        members = run.owner.members
        payload: dict[str, Any] = {"command": "compare", "epochs": run.epoch,
                                   "runs": [run_record(m, run.epoch, run.step) for m in members]}
    else:
        payload = {"command": "train", **run_record(run, run.epoch, run.step)}
    return json.dumps(payload, indent=1, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------------------
# Embeddings


def embeddings_csv(run: ModelRun) -> bytes:
    """The current unit-length embeddings of every test sample (and held-out sample, split "holdout") as CSV:
    columns index, split, label, class_name, prediction, x0 .. x{d-1}; one row per sample.

    `label` is the training label (0..C-1) for the test split and the original class index for the holdout
    split; `prediction` is the head's prediction (empty for held-out samples, whose classes it never learned).
    """
    check_trained(run)
    data = run.dataset
    test = run.evaluate_test()
    splits = [("test", test.embeddings, test.labels, test.predictions, data.class_names, None)]
    if len(data.y_holdout):
        held = run.evaluate(data.x_holdout, data.y_holdout)
        names = dict(zip(data.holdout_classes, data.holdout_class_names, strict=True))
        splits.append(("holdout", held.embeddings, held.labels, None, None, names))
    dim = test.embeddings.shape[1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "split", "label", "class_name", "prediction", *(f"x{i}" for i in range(dim))])
    for split, embeddings, labels, predictions, class_names, holdout_names in splits:
        for i, (vector, label) in enumerate(zip(np.asarray(embeddings, dtype=np.float32), labels, strict=True)):
            label = int(label)
            name = class_names[label] if class_names is not None else holdout_names.get(label, str(label))
            predicted = "" if predictions is None else int(predictions[i])
            writer.writerow([i, split, label, name, predicted, *(f"{v:.{CSV_DIGITS}g}" for v in vector.tolist())])
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------------------
# Weights


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Cloned: a MultiTrainer member's parameters are views into one stacked tensor, and torch.save would
    # otherwise write the whole stack for every view.
    return {name: value.detach().cpu().clone() for name, value in module.state_dict().items()}


def weights_bytes(run: ModelRun) -> bytes:
    """The model's weights as torch.save bytes: a dict of plain values and tensors (backbone and head
    state_dicts, the config, the input shape and class count), which `torch.load(..., weights_only=True)` reads
    without running any pickled code. Saved on the CPU, so a GPU run loads anywhere."""
    check_trained(run)
    payload = {
        "format": WEIGHTS_FORMAT,
        "config": run.config.to_dict(),
        "input_shape": list(run.dataset.input_shape),
        "num_classes": int(run.dataset.num_classes),
        "class_names": list(run.dataset.class_names),
        "step": int(run.step),
        "backbone": _cpu_state(run.backbone),
        "head": _cpu_state(run.head),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _read_payload(source: bytes | str | os.PathLike | io.IOBase) -> dict[str, Any]:
    name = "the file" if isinstance(source, (bytes, bytearray, io.IOBase)) else os.fspath(source)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with warnings.catch_warnings():  # a plain pickle of another protocol warns before it is refused
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(stream, map_location="cpu", weights_only=True)
    except OSError as err:
        raise ValueError(f"cannot read {name}: {err.strerror or err}") from err
    except Exception as err:  # torch.load raises many kinds (UnpicklingError, RuntimeError, EOFError, ...)
        # torch's own message is a page of advice on weights_only=False, which is exactly what must not be done
        raise ValueError(f"{name} is not a weights file saved by Margin Lab: torch.load with weights_only=True "
                         f"cannot read it as plain tensors and values ({type(err).__name__})") from err
    if not isinstance(payload, Mapping) or payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{name} is a torch file but not Margin Lab weights (it has no format "
                         f"{WEIGHTS_FORMAT!r}): export the weights from the app or toy_models.export")
    return dict(payload)


def load_weights(
    source: bytes | str | os.PathLike | io.IOBase, run_or_config: ModelRun | TrainConfig | None = None
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(backbone, head): a fresh model built from a config, with the weights of `source` (bytes, a path or a
    binary file) loaded into it. The file is read ONLY with torch.load(..., weights_only=True).

    The model is built from `run_or_config` (a run's current config, or a TrainConfig) or, if None, from the
    config saved in the file. ValueError (one sentence) for a file that is not such weights, or weights that do
    not fit the model.
    """
    payload = _read_payload(source)
    try:
        saved_config = TrainConfig.from_dict(payload["config"])
        input_shape = tuple(int(n) for n in payload["input_shape"])
        num_classes = int(payload["num_classes"])
        backbone_state, head_state = payload["backbone"], payload["head"]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"the weights file is incomplete or damaged ({err})") from err
    if isinstance(run_or_config, ModelRun):
        config, input_shape, num_classes = run_or_config.config, run_or_config.dataset.input_shape, \
            run_or_config.dataset.num_classes
    else:
        config = saved_config if run_or_config is None else run_or_config
    backbone, head = build_model(config, input_shape, num_classes)
    try:
        backbone.load_state_dict(backbone_state)
        head.load_state_dict(head_state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(
            f"these weights do not fit a {config.loss} model with a {config.backbone} backbone, a "
            f"{config.embedding_dim}-D embedding and {num_classes} classes (saved: {saved_config.loss}, "
            f"{saved_config.backbone}, {saved_config.embedding_dim}-D)"
        ) from err
    backbone.eval()
    head.eval()
    return backbone, head
