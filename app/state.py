"""THE parameter schema of Margin Lab: one typed table of every control of the Playground.

Every value that reaches the model goes through here, whatever its origin: a widget, the URL
(`?loss=cosface&m=0.3`), and later a lesson or course file. The table says, for each setting,
its URL key, type, default, range, step, unit, label and help text, and whether it is *hot*
(applied to the running model, which keeps its weights: margins, scale, learning rate) or *cold*
(the model is rebuilt from the seed: loss family, dataset, embedding dim, backbone, batch size,
seed) -- the TensorFlow Playground convention (research/teaching.md §1).

Defaults are not typed in here: they come from the library (`toy_models.train.TrainConfig` and
`toy_models.heads.LOSS_SPECS`). What this module adds are the *UI* ranges the library leaves open
(the scale slider, the learning-rate ladder, the batch sizes on offer).

    values, notices = validate(st.query_params-like mapping)   # clamp, ignore, say which
    to_query(values)                                          # the share link's parameters

`validate` never raises for bad input: an out-of-range number is clamped, a malformed or unknown
value is ignored, and each correction comes back as one plain sentence, e.g.
"URL value m=9 is above ArcFace's maximum 1.571 rad; using 1.571."
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from toy_models.data import DATASETS
from toy_models.heads import LOSS_SPECS, LOSSES, SPHEREFACE_FORMS
from toy_models.nets import BACKBONES

__all__ = [
    "BATCH_SIZES",
    "LR_LADDER",
    "SCALE_RANGE",
    "SEED_MAX",
    "Param",
    "Validated",
    "all_url_keys",
    "cold_changes",
    "cold_key",
    "defaults",
    "format_value",
    "hot_values",
    "loss_label",
    "param_by_name",
    "params_for",
    "schema_rows",
    "to_query",
    "validate",
]

# --------------------------------------------------------------------------------------------
# UI ranges the library leaves open. Defaults themselves come from TrainConfig / LOSS_SPECS.
# --------------------------------------------------------------------------------------------

# losses.md §6.13: s = 64 comes from 10k-85k-class face data; with 10 classes a large s collapses
# training and a small one caps the probability (CosFace bound: 3.96/6.11/8.19 for P = .9/.99/.999).
SCALE_RANGE = (1.0, 64.0)
SCALE_STEP = 0.5
# A log-spaced ladder (1-2-5 per decade), like the Playground's learning-rate select.
LR_LADDER = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
EMBEDDING_DIMS = (2, 3)  # the dimensions the hypersphere view can draw
SEED_MAX = 2**31 - 1
_DATASET_LABELS = {
    "digits": "Digits (8×8, built in)",
    "mnist": "MNIST (needs a folder)",
    "fashion-mnist": "Fashion-MNIST (needs a folder)",
    "toy": "Toy identities (synthetic)",
}
MAX_TEXT = 80  # a URL value longer than this is rejected before parsing (and quoted shortened)

# Margin steps per unit: radians and cosine units in hundredths, multipliers in twentieths.
_MARGIN_STEP = {"rad": 0.01, "cos": 0.01, "x": 0.05}


def _config_defaults() -> Any:
    """The training defaults of the library (a TrainConfig instance)."""
    from toy_models.train import TrainConfig

    return TrainConfig()


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One control: what it is called, where it lives in the URL, what values it accepts.

    kind:    "choice" (one of `options`), "float", "int", or "ladder" (a float restricted to the
             values of `options`, e.g. the log-spaced learning rates).
    hot:     True: applied to the running model (Trainer.set_hyper), weights kept.
             False: changing it rebuilds the model from the seed.
    config:  the TrainConfig field (or set_hyper keyword) the value feeds.
    unit:    "rad", "cos", "x", or "" -- shown in the label and in notices.
    """

    name: str
    key: str
    kind: str
    default: Any
    label: str
    help: str
    hot: bool
    config: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str = ""
    options: tuple = field(default=())
    option_labels: tuple[str, ...] = field(default=())

    def label_of(self, value: Any) -> str:
        """How a choice is shown to the user (e.g. "ArcFace" for "arcface")."""
        if self.option_labels and value in self.options:
            return self.option_labels[self.options.index(value)]
        return format_value(self, value)

    def describe_range(self) -> str:
        if self.kind in ("choice", "ladder"):
            return ", ".join(format_value(self, v) for v in self.options)
        return f"{_num(self.minimum)}{_unit(self.unit)} to {_num(self.maximum)}{_unit(self.unit)}"


def loss_label(loss: str) -> str:
    """The short name of a loss for sentences: "ArcFace", "CosFace", "Combined margin"."""
    return LOSS_SPECS[loss].label.split(" (")[0]


def _loss_param() -> Param:
    default = _config_defaults().loss
    return Param(
        name="loss",
        key="loss",
        kind="choice",
        default=default,
        label="Loss",
        help=(
            "Softmax keeps features and weights unnormalised; NormFace normalises both and scales by s; "
            "SphereFace multiplies the target angle (m×θ), CosFace subtracts a cosine margin (cos θ − m), "
            "ArcFace adds an angular margin (cos(θ + m)); the combined margin does all three. "
            "Changing it rebuilds the model."
        ),
        hot=False,
        config="loss",
        options=LOSSES,
        option_labels=tuple(LOSS_SPECS[name].label for name in LOSSES),
    )


def _margin_params(loss: str) -> tuple[Param, ...]:
    spec = LOSS_SPECS[loss]
    if spec.margin_range is None:
        return ()
    if loss == "combined":
        (r1, r2, r3), (d1, d2, d3) = spec.margin_range, spec.default_margin
        return (
            Param("m1", "m1", "float", d1, "Multiplier m1 (×)",
                  "Multiplies the target angle: cos(m1·θ + m2) − m3. 1 = no multiplicative margin (SphereFace).",
                  True, "margin", r1[0], r1[1], _MARGIN_STEP["x"], "x"),
            Param("m2", "m2", "float", d2, "Angular margin m2 (rad)",
                  "Added to the target angle: cos(m1·θ + m2) − m3. 0 = no additive angular margin (ArcFace).",
                  True, "margin", r2[0], r2[1], _MARGIN_STEP["rad"], "rad"),
            Param("m3", "m3", "float", d3, "Cosine margin m3 (cosine)",
                  "Subtracted from the target cosine: cos(m1·θ + m2) − m3. 0 = no cosine margin (CosFace).",
                  True, "margin", r3[0], r3[1], _MARGIN_STEP["cos"], "cos"),
        )
    low, high = spec.margin_range
    label, text = {
        "arcface": ("Margin m (rad)",
                    "ArcFace adds m to the angle between a feature and its own class centre: the target logit "
                    "is s·cos(θ + m). Radians (0.5 rad = 28.6°). Applied to the running model."),
        "cosface": ("Margin m (cosine)",
                    "CosFace subtracts m from the target cosine: s·(cos θ − m). Cosine units, not an angle. "
                    "Applied to the running model."),
        "sphereface": ("Multiplier m (×)",
                       "SphereFace multiplies the target angle: s·ψ(m·θ), a monotone extension of cos(m·θ). "
                       "1 = no margin. Applied to the running model."),
    }[loss]
    return (Param("margin", "m", "float", spec.default_margin, label, text, True, "margin",
                  low, high, _MARGIN_STEP[spec.margin_unit], spec.margin_unit),)


def _scale_param(loss: str) -> tuple[Param, ...]:
    spec = LOSS_SPECS[loss]
    if not spec.uses_scale:
        return ()
    return (
        Param("scale", "s", "float", spec.default_scale, "Scale s",
              "Logits are s·cos θ: the radius of the hypersphere the features live on. Too small caps the "
              "probability a sample can reach; too large makes the loss collapse. Applied to the running model.",
              True, "scale", SCALE_RANGE[0], SCALE_RANGE[1], SCALE_STEP),
    )


def _training_params() -> tuple[Param, ...]:
    cfg = _config_defaults()
    lrs = tuple(sorted({*LR_LADDER, float(cfg.lr)}))
    batches = tuple(sorted({*BATCH_SIZES, int(cfg.batch_size)}))
    return (
        Param("lr", "lr", "ladder", float(cfg.lr), "Learning rate",
              "Step size of the optimiser. Applied to the running model.", True, "lr", lrs[0], lrs[-1],
              options=lrs),
        Param("dim", "dim", "choice", int(cfg.embedding_dim), "Embedding dim",
              "2: features on a circle; 3: features on a sphere (drag to rotate). Changing it rebuilds the model.",
              False, "embedding_dim", options=EMBEDDING_DIMS, option_labels=("2-D circle", "3-D sphere")),
        Param("dataset", "dataset", "choice", cfg.dataset, "Dataset",
              "digits ships with scikit-learn (1,797 8×8 images). MNIST and Fashion-MNIST need a folder with "
              "the IDX files. Changing it rebuilds the model.", False, "dataset", options=DATASETS,
              option_labels=tuple(_DATASET_LABELS.get(d, d) for d in DATASETS)),
        Param("backbone", "backbone", "choice", cfg.backbone, "Backbone",
              "The small network that maps an image to its embedding. Changing it rebuilds the model.",
              False, "backbone", options=BACKBONES, option_labels=tuple(b.upper() for b in BACKBONES)),
        Param("batch_size", "batch", "ladder", int(cfg.batch_size), "Batch size",
              "Samples per optimiser step. Changing it rebuilds the model.", False, "batch_size",
              batches[0], batches[-1], options=batches),
        Param("seed", "seed", "int", int(cfg.seed), "Seed",
              "Seeds the data split, the initial weights and the batch order: the same link reproduces the same "
              "run. Changing it rebuilds the model.", False, "seed", 0, SEED_MAX, 1),
    )


def _sphereface_params(loss: str) -> tuple[Param, ...]:
    """SphereFace's form and its λ annealing (research/losses.md §6.6); λ matters in the original form only."""
    if loss != "sphereface":
        return ()
    cfg = _config_defaults()
    lam = (
        "Used by the original form only: target = (λ·cos θ + ψ(θ)) / (1 + λ), "
        "λ = max(λ_min, base·(1 + γ·step)^−power)."
    )
    return (
        Param("sphereface_form", "form", "choice", cfg.sphereface_form, "SphereFace form",
              "normalized: unit features, logits s·cos θ and s·ψ(θ). original (2017 paper): features keep their "
              "length, which plays the part of s, and the margin is phased in by λ annealing. Changing it rebuilds "
              "the model.", False, "sphereface_form", options=SPHEREFACE_FORMS,
              option_labels=tuple(f.capitalize() for f in SPHEREFACE_FORMS)),
        Param("lambda_base", "lbase", "float", cfg.lambda_base, "λ base", lam, True, "lambda_base", 0.0, 5000.0, 10.0),
        Param("lambda_gamma", "lgamma", "float", cfg.lambda_gamma, "λ decay γ", lam, True, "lambda_gamma",
              0.0, 1.0, 0.01),
        Param("lambda_power", "lpower", "float", cfg.lambda_power, "λ power", lam, True, "lambda_power",
              0.0, 5.0, 0.1),
        Param("lambda_min", "lmin", "float", cfg.lambda_min, "λ minimum", lam, True, "lambda_min", 0.0, 100.0, 0.5),
    )


@functools.lru_cache(maxsize=len(LOSSES))
def params_for(loss: str) -> tuple[Param, ...]:
    """Every control that applies under `loss`, in display order."""
    return (
        _loss_param(),
        *_margin_params(loss),
        *_scale_param(loss),
        *_sphereface_params(loss),
        *_training_params(),
    )


def param_by_name(loss: str, name: str) -> Param | None:
    """The Param called `name` under `loss`, or None if that loss has no such control."""
    return next((p for p in params_for(loss) if p.name == name), None)


@functools.lru_cache(maxsize=1)
def all_url_keys() -> frozenset[str]:
    """URL keys that some loss understands (anything else is unknown)."""
    return frozenset(p.key for loss in LOSSES for p in params_for(loss))


def defaults(loss: str | None = None) -> dict[str, Any]:
    """Default values of every control under `loss` (the library's default loss if None)."""
    loss = loss or _loss_param().default
    values = {p.name: p.default for p in params_for(loss)}
    values["loss"] = loss
    return values


def schema_rows() -> list[dict[str, str]]:
    """The schema as a table: one row per control (and per loss variant of the margin), for docs."""
    rows: dict[tuple, dict[str, str]] = {}
    for loss in LOSSES:
        for p in params_for(loss):
            ident = (p.name, p.label, p.minimum, p.maximum, p.default)
            row = rows.setdefault(
                ident,
                {
                    "name": p.name,
                    "url": p.key,
                    "label": p.label,
                    "losses": [],
                    "default": format_value(p, p.default),
                    "range": p.describe_range(),
                    "step": "" if p.step is None or p.kind != "float" else _num(p.step),
                    "hot/cold": "hot" if p.hot else "cold",
                },
            )
            row["losses"].append(loss)
    out = []
    for row in rows.values():
        losses = row.pop("losses")
        row["losses"] = "all" if len(losses) == len(LOSSES) else ", ".join(losses)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _num(value: float | int | None) -> str:
    """A number for sentences: 4 significant digits, no trailing zeros (1.571, 0.5, 16, 0.0001)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.4g}"


def format_value(param: Param, value: Any) -> str:
    """The URL text of a value: short, and parsed back by `validate` to a value inside the range."""
    if param.kind == "choice":
        return str(value)
    if param.kind == "int" or (isinstance(value, int) and not isinstance(value, bool)):
        return str(int(value))
    value = float(value)
    for digits in range(6, 18):
        text = f"{value:.{digits}g}"
        back = float(text)
        inside = (param.minimum is None or back >= param.minimum) and (param.maximum is None or back <= param.maximum)
        if inside and back == value:  # exact: the share link must reproduce the run, not a rounded one
            return text
    return repr(value)


def _quote(text: str) -> str:
    """A raw value made safe to echo in one line of plain text: control characters spelled out
    (\\x00), long values shortened. (Markdown escaping is the page's job.)"""
    shown = text if len(text) <= 24 else text[:20] + "…"
    out = []
    for ch in shown:
        if unicodedata.category(ch)[0] == "C":  # control, format, unassigned, private use, surrogate
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _unit(unit: str) -> str:
    """Unit suffix for a number in a sentence: " rad", " (cosine units)", "×", ""."""
    return {"rad": " rad", "cos": " (cosine units)", "x": "×"}.get(unit, "")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class Validated(NamedTuple):
    """Clean values (by param name, every control of the chosen loss) and one sentence per correction."""

    values: dict[str, Any]
    notices: list[str]


class _Bad(Exception):
    """A raw value that cannot be used; the message completes "URL value k=v ..."."""


def _last_text(key: str, raw: Any, source: str, notices: list[str]) -> str | None:
    """One text value out of a raw entry (repeated keys: the last one wins, with a notice)."""
    if isinstance(raw, (list, tuple)):
        items = list(raw)
        if not items:
            return None
        if len(items) > 1:
            last = _quote(_text(items[-1]))
            notices.append(f"{source} key {_quote(key)} appears {len(items)} times; using the last value {last}.")
        raw = items[-1]
    return _text(raw)


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e15:
        return repr(float(raw))  # float(): numpy's repr of np.float64(5.0) is "np.float64(5.0)"
    return str(raw)


def _parse_number(text: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise _Bad("is empty")
    if len(stripped) > MAX_TEXT:
        raise _Bad(f"is too long ({len(stripped)} characters) to be a number")
    try:
        value = float(stripped)
    except ValueError:
        raise _Bad("is not a number") from None
    if not math.isfinite(value):
        raise _Bad("is not a finite number")
    return value


def _clean(param: Param, text: str, loss: str) -> tuple[Any, str | None]:
    """(value, None) for a usable value, (clamped value, why) for a clamped one; _Bad if unusable."""
    if param.kind == "choice":
        if len(text) > MAX_TEXT:
            raise _Bad(f"is not one of {param.describe_range()}")
        wanted = text.strip().lower().replace("_", "-")
        for option in param.options:
            if isinstance(option, int):
                try:
                    number = float(wanted)
                except ValueError:
                    continue
                if number == option:
                    return option, None
            elif str(option).lower() == wanted:
                return option, None
        raise _Bad(f"is not one of {param.describe_range()}")

    value = _parse_number(text)
    if param.kind == "int" and not value.is_integer():
        raise _Bad("is not a whole number")
    whose = f"{loss_label(loss)}'s " if param.name in ("margin", "m1", "m2", "m3") else "the "
    unit = _unit(param.unit)
    if param.minimum is not None and value < param.minimum:
        used = int(param.minimum) if param.kind == "int" else param.minimum
        if param.kind == "ladder":
            used = param.options[0]
        return used, f"is below {whose}minimum {_num(used)}{unit}"
    if param.maximum is not None and value > param.maximum:
        used = int(param.maximum) if param.kind == "int" else param.maximum
        if param.kind == "ladder":
            used = param.options[-1]
        return used, f"is above {whose}maximum {_num(used)}{unit}"
    if param.kind == "int":
        return int(value), None
    if param.kind == "ladder":
        nearest = min(param.options, key=lambda o: abs(math.log(o) - math.log(value)) if value > 0 else o)
        if not math.isclose(nearest, value, rel_tol=1e-9):
            return nearest, f"is not one of the offered values ({param.describe_range()})"
        return nearest, None
    return value, None


def _lookup(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw entries by key, keys stripped; a non-string key is turned into text."""
    return {str(k): v for k, v in raw.items()}


def validate(raw: Mapping[str, Any], *, source: str = "URL") -> Validated:
    """Clean values for every control of the requested loss, plus one sentence per correction.

    raw:    query parameters ({key: text} or {key: [texts]} for repeated keys), or values from a
            lesson/course file (numbers allowed). Keys are URL keys (`loss`, `m`, `s`, ...).
    source: how the sentences name the origin ("URL", "Lesson file", ...).

    Out-of-range numbers are clamped, malformed values fall back to the default, keys that no
    loss understands or that the chosen loss does not use are ignored -- each with a notice. Never
    raises for any input mapping of strings.
    """
    entries = _lookup(raw)
    notices: list[str] = []

    loss_param = _loss_param()
    loss = loss_param.default
    if "loss" in entries:
        text = _last_text("loss", entries["loss"], source, notices)
        if text is not None:
            try:
                loss, _ = _clean(loss_param, text, loss)
            except _Bad as bad:
                notices.append(
                    f"{source} value loss={_quote(text)} {bad}; using {loss_label(loss)}."
                )

    active = {p.key: p for p in params_for(loss)}
    values: dict[str, Any] = {p.name: p.default for p in active.values()}
    values["loss"] = loss
    unknown: list[str] = []
    for key, raw_value in entries.items():
        if key == "loss":
            continue
        param = active.get(key)
        if param is None:
            if key in all_url_keys():
                text = _text(raw_value[-1] if isinstance(raw_value, (list, tuple)) and raw_value else raw_value)
                notices.append(
                    f"{source} value {_quote(key)}={_quote(text)} ignored: {loss_label(loss)} has no "
                    f"{_inactive_label(key, loss)}."
                )
            else:
                unknown.append(key)
            continue
        text = _last_text(key, raw_value, source, notices)
        if text is None:
            continue
        try:
            value, why = _clean(param, text, loss)
        except _Bad as bad:
            notices.append(
                f"{source} value {key}={_quote(text)} {bad}; using the default {format_value(param, param.default)}."
            )
            continue
        values[param.name] = value
        if why:
            notices.append(f"{source} value {key}={_quote(text)} {why}; using {_num(value)}.")

    shown = unknown[:5]
    for key in shown:
        notices.append(f"{source} key {_quote(key)} is not a setting of this page; ignored.")
    if len(unknown) > len(shown):
        notices.append(f"{len(unknown) - len(shown)} more unknown {source} keys ignored.")
    return Validated(values, notices)


_KEY_MEANING = {
    "m": "margin m",
    "s": "scale s (it uses the raw logits)",
    "m1": "m1 (only the combined margin has m1, m2, m3)",
    "m2": "m2 (only the combined margin has m1, m2, m3)",
    "m3": "m3 (only the combined margin has m1, m2, m3)",
}


def _inactive_label(key: str, loss: str) -> str:
    """What a key means, for "ignored: NormFace has no <this>"."""
    if key == "m" and loss == "combined":
        return "single margin m (it uses m1, m2, m3)"
    if key in _KEY_MEANING:
        return _KEY_MEANING[key]
    return f"{key} (a SphereFace setting)"


def to_query(values: Mapping[str, Any]) -> dict[str, str]:
    """URL parameters reproducing `values` (every control of the loss, so links survive new defaults)."""
    loss = values.get("loss") or _loss_param().default
    query = {}
    for p in params_for(loss):
        value = values.get(p.name, p.default)
        if p.name.startswith("lambda_") and values.get("sphereface_form") != "original" and value == p.default:
            continue  # λ only acts in SphereFace's original form: keep the link short
        query[p.key] = format_value(p, value)
    return query


# --------------------------------------------------------------------------------------------
# Hot / cold
# --------------------------------------------------------------------------------------------


def hot_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Trainer.set_hyper: margin (a float or (m1, m2, m3)), scale, lr, SphereFace's λ."""
    loss = values["loss"]
    hyper: dict[str, Any] = {"lr": float(values["lr"])}
    if loss == "combined":
        hyper["margin"] = (float(values["m1"]), float(values["m2"]), float(values["m3"]))
    elif "margin" in values and LOSS_SPECS[loss].margin_range is not None:
        hyper["margin"] = float(values["margin"])
    if LOSS_SPECS[loss].uses_scale and "scale" in values:
        hyper["scale"] = float(values["scale"])
    for p in params_for(loss):
        if p.name.startswith("lambda_") and p.name in values:
            hyper[p.name] = float(values[p.name])
    return hyper


def cold_key(values: Mapping[str, Any]) -> tuple:
    """The cold part of `values`: when it changes, the model is rebuilt."""
    return tuple((p.name, values.get(p.name)) for p in params_for(values["loss"]) if not p.hot)


def cold_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Labels of the cold settings that differ between two value sets ("Embedding dim", "Loss", ...)."""
    changed = []
    for p in params_for(new["loss"]):
        if not p.hot and old.get(p.name) != new.get(p.name):
            changed.append(p.label)
    return changed
