"""The parameter table: every control of a live unit, its name, range, stops and default.

One name per setting: a control's name is its URL key, its key in a unit's values and the `TrainConfig`
field it feeds (`margin`, `scale`, `embedding_dim`, `batch_size`, ...), as TensorFlow Playground's `PROPS`.
The short keys of older links (`m`, `s`, `dim`, `batch`, `grad`, `lbase`, ...) are read as aliases, so
existing links and lesson files keep working; links are written with the names.

Defaults are not typed in here: they come from the library (`toy_models.train.TrainConfig` and
`toy_models.heads.LOSS_SPECS`), and whether a setting is hot or cold is the library's own
`TrainConfig.hot_fields`. What this module adds are the *UI* ranges the
library leaves open (the scale slider, the learning-rate ladder, the batch sizes on offer) and the
stops of every slider. `app.state.urls` checks what comes from a user against this table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from toy_models.data import DATASETS
from toy_models.glyphs import TRAIN_IDENTITIES as GLYPH_TRAIN_IDENTITIES
from toy_models.heads import LOSS_SPECS, LOSSES, SPHEREFACE_FORMS
from toy_models.nets import BACKBONES

# docs/losses.md §2.2, §7.2: s = 64 comes from 10k-85k-class face data; with 10 classes a large s collapses
# training and a small one caps the probability (CosFace bound: 3.96/6.11/8.19 for P = .9/.99/.999).
SCALE_RANGE = (1.0, 64.0)
SCALE_STEP = 0.5


# A log-spaced ladder (1-2-5 per decade), like the Playground's learning-rate select.
LR_LADDER = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
# The circle and the sphere are drawn; past 3-D the views that work in any dimension (angle statistics, histograms,
# verification) carry the story, and the sphere's place says why it is not drawn.
EMBEDDING_DIMS = (2, 3, 16)  # three: a radio, as before; 16-D is where the glyphs have room
DRAWN_DIMS = (2, 3)
SEED_MAX = 2**31 - 1
_DATASET_LABELS = {
    "digits": "Digits (8×8, built in)",
    "mnist": "MNIST (needs a folder)",
    "fashion-mnist": "Fashion-MNIST (needs a folder)",
    "toy": "Toy identities (synthetic)",
    "glyphs": "Glyphs (hundreds of identities, built in)",
}
MAX_TEXT = 80  # a URL value longer than this is rejected before parsing (and quoted shortened)
GRADIENTS_SHOWN = ("detached", "true")  # the library's default first


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
    """One control: its name (URL key, value key and TrainConfig field alike), what values it accepts.

    kind:    "choice" (one of `options`), "float", "int", "ladder" (a float restricted to the
             values of `options`, e.g. the log-spaced learning rates), or "parts" (one value made of
             several numbers, each with its own range: the combined margin (m1, m2, m3), written in a
             link as `margin=1,0.3,0.2`).
    unit:    "rad", "cos", "x", or "" -- shown in the label and in notices.
    parts:   for kind "parts", one float Param per component, in order (named m1, m2, m3; a link may
             also give them one by one under those names).
    aliases: the keys older links used for this setting (read, never written).
    Whether the setting is hot or cold is the library's declaration (`TrainConfig.hot_fields`), read
    through `hot`, never restated here.
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str = ""
    options: tuple = field(default=())
    option_labels: tuple[str, ...] = field(default=())
    parts: tuple[Param, ...] = field(default=())
    aliases: tuple[str, ...] = field(default=())

    @property
    def hot(self) -> bool:
        """True: applied to the running model (Trainer.set_hyper), weights kept. False: a change rebuilds it."""
        return self.name in _hot_fields()

    @property
    def url_keys(self) -> tuple[str, ...]:
        """Every key a link may use for this control: its name, its aliases, and its parts' (m1, m2, m3)."""
        return (self.name, *self.aliases, *(key for part in self.parts for key in (part.name, *part.aliases)))

    def label_of(self, value: Any) -> str:
        """How a choice is shown to the user (e.g. "ArcFace" for "arcface")."""
        if self.option_labels and value in self.options:
            return self.option_labels[self.options.index(value)]
        return format_value(self, value)

    def describe_range(self) -> str:
        if self.kind in ("choice", "ladder"):
            return ", ".join(format_value(self, v) for v in self.options)
        return f"{_num(self.minimum)}{_unit(self.unit)} to {_num(self.maximum)}{_unit(self.unit)}"


@functools.lru_cache(maxsize=1)
def _hot_fields() -> frozenset[str]:
    from toy_models.train import TrainConfig

    return TrainConfig.hot_fields


def loss_label(loss: str) -> str:
    """The short name of a loss for sentences: "ArcFace", "CosFace", "Combined margin"."""
    return LOSS_SPECS[loss].short_label


def _loss_param() -> Param:
    default = _config_defaults().loss
    return Param(
        name="loss",
        kind="choice",
        default=default,
        label="Loss",
        help="; ".join(LOSS_SPECS[name].summary for name in LOSSES) + ". Changing it rebuilds the model.",
        options=LOSSES,
        option_labels=tuple(LOSS_SPECS[name].label for name in LOSSES),
    )
HOT = " Applied to the running model."  # what a hot control's help ends with


def _on_grid(limits: tuple[float, float], unit: str) -> tuple[float, float]:
    """A margin range whose maximum is a stop of its slider: π/2 rad becomes 1.57 (steps of 0.01)."""
    low, high = limits
    step = _MARGIN_STEP[unit]
    return low, low + math.floor((high - low) / step + 1e-9) * step


def _margin_params(loss: str) -> tuple[Param, ...]:
    spec = LOSS_SPECS[loss]
    if spec.margin_range is None:
        return ()
    if spec.margin_parts:
        parts = tuple(
            Param(part.name, "float", default, part.label, part.help, *_on_grid(limits, part.unit), part.step,
                  part.unit)
            for part, default, limits in zip(spec.margin_parts, spec.default_margin, spec.margin_range, strict=True)
        )
        return (Param("margin", "parts", tuple(spec.default_margin), spec.margin_label, spec.margin_help + HOT,
                      parts=parts),)
    low, high = _on_grid(spec.margin_range, spec.margin_unit)
    return (Param("margin", "float", spec.default_margin, spec.margin_label, spec.margin_help + HOT, low, high,
                  spec.margin_step, spec.margin_unit, aliases=("m",)),)


def _scale_param(loss: str) -> tuple[Param, ...]:
    spec = LOSS_SPECS[loss]
    if not spec.uses_scale:
        return ()
    return (
        Param("scale", "float", spec.default_scale, "Scale s",
              "Logits are s·cos θ: the radius of the hypersphere the features live on. Too small caps the "
              "probability a sample can reach; too large makes the loss collapse. Applied to the running model.",
              SCALE_RANGE[0], SCALE_RANGE[1], SCALE_STEP, aliases=("s",)),
    )


# Which papers and libraries use which margin gradient (docs/losses.md §5): the help text of the control.
_GRADIENT_HELP = (
    "True gradient: differentiate through the margin, as the papers' equations and pytorch-metric-learning do. "
    "Straight-through (detached): the forward value keeps the margin but the gradient is plain scaled softmax's, "
    "as insightface and opensphere train. With the true gradient ArcFace and SphereFace can get stuck with "
    "θ_y near 180° − m on 3-D digits for some seeds (lesson 9 has you find one). Applied to the running model."
)


def _gradient_params(loss: str) -> tuple[Param, ...]:
    if not LOSS_SPECS[loss].has_margin_gradient:
        return ()  # no margin, so nothing to differentiate differently
    default = _config_defaults().gradient
    return (
        Param("gradient", "choice", default, "Margin gradient", _GRADIENT_HELP, options=GRADIENTS_SHOWN,
              option_labels=("Straight-through", "True gradient"), aliases=("grad",)),
    )


def _training_params() -> tuple[Param, ...]:
    cfg = _config_defaults()
    lrs = tuple(sorted({*LR_LADDER, float(cfg.lr)}))
    batches = tuple(sorted({*BATCH_SIZES, int(cfg.batch_size)}))
    return (
        Param("lr", "ladder", float(cfg.lr), "Learning rate",
              "Step size of the optimiser. Applied to the running model.", lrs[0], lrs[-1], options=lrs),
        Param("embedding_dim", "choice", int(cfg.embedding_dim), "Embedding dim",
              "2: features on a circle; 3: on a sphere (drag to rotate); 16: room for many identities, not "
              "drawn. Changing it rebuilds the model.", options=EMBEDDING_DIMS,
              option_labels=("2-D circle", "3-D sphere", *(f"{d}-D (not drawn)" for d in EMBEDDING_DIMS[2:])),
              aliases=("dim",)),
        Param("dataset", "choice", cfg.dataset, "Dataset",
              "digits ships with scikit-learn (1,797 8×8 images). MNIST and Fashion-MNIST need a folder with "
              "the IDX files. Glyphs: 28×28 renderings of Unicode glyphs, one identity each, some held out and "
              "never trained on. Changing it rebuilds the model.", options=DATASETS,
              option_labels=tuple(_DATASET_LABELS.get(d, d) for d in DATASETS)),
        Param("train_identities", "int", cfg.train_identities or GLYPH_TRAIN_IDENTITIES, "Training identities K",
              "Glyphs only: train on the first K identities; the held-out identities stay the same for every K. "
              "Changing it rebuilds the model.", 2, GLYPH_TRAIN_IDENTITIES, 1, aliases=("k",)),
        Param("backbone", "choice", cfg.backbone, "Backbone",
              "The small network that maps an image to its embedding. Changing it rebuilds the model.",
              options=BACKBONES, option_labels=tuple(b.upper() for b in BACKBONES)),
        Param("batch_size", "ladder", int(cfg.batch_size), "Batch size",
              "Samples per optimiser step. Changing it rebuilds the model.", batches[0], batches[-1],
              options=batches, aliases=("batch",)),
        Param("seed", "int", int(cfg.seed), "Seed",
              "Seeds the data split, the initial weights and the batch order: the same link reproduces the same "
              "run. Changing it rebuilds the model.", 0, SEED_MAX, 1),
    )


def _sphereface_params(loss: str) -> tuple[Param, ...]:
    """SphereFace's form and its λ annealing (docs/losses.md §3); λ matters in the original form only."""
    if "sphereface_form" not in LOSS_SPECS[loss].own_fields:
        return ()
    cfg = _config_defaults()
    lam = (
        "Original form only: target = (λ·cos θ + ψ(θ)) / (1 + λ), λ = max(λ_min, base·(1 + γ·step)^−power). "
        "A large λ starts training close to plain softmax; the margin phases in as λ decays."
    )
    return (
        Param("sphereface_form", "choice", cfg.sphereface_form, "SphereFace form",
              "normalized: unit features, logits s·cos θ and s·ψ(θ). original (2017 paper): features keep their "
              "length ‖x‖, which takes the place of s, and the margin is phased in by λ annealing. Changing it "
              "rebuilds the model.", options=SPHEREFACE_FORMS,
              option_labels=tuple(f.capitalize() for f in SPHEREFACE_FORMS), aliases=("form",)),
        Param("lambda_base", "float", cfg.lambda_base, "λ base", lam, 0.0, 5000.0, 10.0, aliases=("lbase",)),
        Param("lambda_gamma", "float", cfg.lambda_gamma, "λ decay γ", lam, 0.0, 1.0, 0.01, aliases=("lgamma",)),
        Param("lambda_power", "float", cfg.lambda_power, "λ power", lam, 0.0, 5.0, 0.1, aliases=("lpower",)),
        Param("lambda_min", "float", cfg.lambda_min, "λ minimum", lam, 0.0, 100.0, 0.5, aliases=("lmin",)),
    )


# The settings every loss has (and every member of a comparison shares), in the order the units show them.
TRAINING_NAMES = ("lr", "batch_size", "backbone", "seed")
DATA_NAMES = ("dataset", "train_identities", "embedding_dim")
SHARED_NAMES = (*TRAINING_NAMES, *DATA_NAMES)


@functools.lru_cache(maxsize=1)
def shared_params() -> tuple[Param, ...]:
    """The Params of SHARED_NAMES, in that order: the settings that do not depend on the loss."""
    by_name = {p.name: p for p in _training_params()}
    assert set(by_name) == set(SHARED_NAMES), "SHARED_NAMES must list exactly the loss-independent controls"
    return tuple(by_name[name] for name in SHARED_NAMES)


def shared_param(name: str) -> Param:
    """The shared setting called `name` (one of SHARED_NAMES)."""
    return next(p for p in shared_params() if p.name == name)


def shared_url_keys() -> frozenset[str]:
    """Every key a link may use for a shared setting (names and aliases: "batch_size", "batch", ...)."""
    return frozenset(key for p in shared_params() for key in p.url_keys)


@functools.lru_cache(maxsize=len(LOSSES))
def params_for(loss: str) -> tuple[Param, ...]:
    """Every control that applies under `loss`, in display order."""
    return (
        _loss_param(),
        *_margin_params(loss),
        *_scale_param(loss),
        *_gradient_params(loss),
        *_sphereface_params(loss),
        *_training_params(),
    )


def param_by_name(loss: str, name: str) -> Param | None:
    """The Param called `name` under `loss`, or None if that loss has no such control."""
    return next((p for p in params_for(loss) if p.name == name), None)


@functools.lru_cache(maxsize=1)
def all_url_keys() -> frozenset[str]:
    """URL keys that some loss understands (anything else is unknown)."""
    return frozenset(key for loss in LOSSES for p in params_for(loss) for key in p.url_keys)


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
            for q in p.parts or (p,):
                ident = (q.name, q.label, q.minimum, q.maximum, q.default)
                row = rows.setdefault(
                    ident,
                    {
                        "name": q.name,
                        "aliases": ", ".join(q.aliases),
                        "label": q.label,
                        "losses": [],
                        "default": format_value(q, q.default),
                        "range": q.describe_range(),
                        "step": "" if q.step is None or q.kind != "float" else _num(q.step),
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


def is_active(param: Param, values: Mapping[str, Any]) -> bool:
    """Whether `param` acts under `values`: SphereFace's original form has no scale s (‖x‖ takes its place)
    and the λ schedule acts in that form only; the number of training identities K acts on glyphs only."""
    spec = LOSS_SPECS.get(values.get("loss"))
    original = spec is not None and spec.feature_norm_scale(values)
    if param.name == "scale":
        return not original
    if param.name.startswith("lambda_"):
        return original
    return param.name != "train_identities" or values.get("dataset") == "glyphs"


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
    if param.parts:
        return ",".join(format_value(part, v) for part, v in zip(param.parts, value, strict=True))
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


def _unit(unit: str) -> str:
    """Unit suffix for a number in a sentence: " rad", " (cosine units)", "×", ""."""
    return {"rad": " rad", "cos": " (cosine units)", "x": "×"}.get(unit, "")


# --------------------------------------------------------------------------------------------
# Slider stops and control names
# --------------------------------------------------------------------------------------------


def _step_digits(step: float) -> int:
    """Decimals that keep every stop of a step exact (0.01 -> 3, 0.5 -> 2, 10 -> 1): one more than shown."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) + 1


def snap(param: Param, value: float) -> float:
    """`value` moved to the nearest stop of a float control (minimum + k·step), inside its range."""
    k = round((value - param.minimum) / param.step)
    k = min(max(k, 0), round((param.maximum - param.minimum) / param.step))
    return round(param.minimum + k * param.step, _step_digits(param.step))


def stops(param: Param) -> list[float]:
    """Every value a float control can take: minimum, minimum + step, ..., maximum."""
    count = round((param.maximum - param.minimum) / param.step)
    return [round(param.minimum + k * param.step, _step_digits(param.step)) for k in range(count + 1)]


def control_names() -> frozenset[str]:
    """Every control's name under some loss ("margin", "scale", "lr", "embedding_dim", ...)."""
    return frozenset(p.name for loss in LOSSES for p in params_for(loss))


@functools.lru_cache(maxsize=1)
def _names_by_key() -> dict[str, str]:
    """Every key a link or a lesson may use for a control (its name or an alias) -> the control's name."""
    return {key: p.name for loss in LOSSES for p in params_for(loss) for key in (p.name, *p.aliases)}


def control_name(key: str) -> str | None:
    """The name of the control `key` names (itself, or the name of the control whose alias it is), or None."""
    return _names_by_key().get(key)


def check_control_names(names: Collection[str], *, what: str = "control") -> frozenset[str]:
    """The controls `names` names (aliases such as "dim" read as their names), for locked / hidden lists;
    ValueError naming the first entry that is not a control."""
    out = set()
    for name in names:
        known = control_name(name)
        if known is None:
            listed = ", ".join(sorted(control_names()))
            raise ValueError(f"{what} {name!r} is not a control; the controls are {listed}")
        out.add(known)
    return frozenset(out)


# --------------------------------------------------------------------------------------------
# From clean values to the library: the TrainConfig fields, hot and cold
# --------------------------------------------------------------------------------------------


def config_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """TrainConfig keyword arguments for every active control of `values` (a control's name is its field)."""
    return {p.name: values[p.name] for p in params_for(values["loss"]) if p.name in values and is_active(p, values)}


def hot_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Trainer.set_hyper: the active hot settings (margin as one value, scale, lr, ...)."""
    return {name: value for name, value in config_fields(values).items() if name in _hot_fields()}


def cold_key(values: Mapping[str, Any]) -> tuple:
    """The cold part of `values`: when it changes, the model is rebuilt."""
    return tuple((p.name, values.get(p.name)) for p in params_for(values["loss"]) if not p.hot)


def cold_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Labels of the cold settings that differ between two value sets ("Embedding dim", "Loss", ...); values
    without a loss are compared on the shared settings."""
    changed = []
    for p in params_for(new["loss"]) if "loss" in new else shared_params():
        if not p.hot and old.get(p.name) != new.get(p.name):
            changed.append(p.label)
    return changed
