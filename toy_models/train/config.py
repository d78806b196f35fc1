"""TrainConfig: every setting a run depends on, one row of a table each (FIELDS), validated once; the device."""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import torch

from ..data import DATASETS
from ..glyphs import TRAIN_IDENTITIES as GLYPH_TRAIN_IDENTITIES
from ..heads import GRADIENTS, LOSS_SPECS, LOSSES, SPHEREFACE_FORMS, LossSpec, Margin, losses_with_option
from ..heads.spec import count_word
from ..nets import BACKBONES

DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_COMPARE_LOSSES = ("softmax", "sphereface", "cosface", "arcface")


def is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


# --------------------------------------------------------------------------------------------------------
# The table: one row per setting


@dataclass(frozen=True)
class Setting:
    """One row of TrainConfig's table: a field, the values it accepts, what it means, whether it is hot.

    kind:      "int", "float", "choice", "bool", "path" (a folder, or None), "classes" (class indices), or "margin"
               (its rule is the loss's: LossSpec.check_margin, applied by TrainConfig).
    low, high: the range of an int or float; low_open / high_open exclude that end (lr > 0, momentum < 1).
    choices:   the values of a choice; `normalise` makes a raw value's spelling canonical first ("Fashion_MNIST").
    none_ok:   None is accepted (it means: all samples, the loss's default, torch's own thread count).
    hot:       a running model takes a new value in place (Trainer.set_hyper); every other setting is cold.
    what:      how "unknown ..." names a choice ("gradient option"), when not by its field name.
    """

    kind: str
    doc: str
    name: str = ""  # filled in from the field the row describes
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    none_ok: bool = False
    hot: bool = False
    what: str = ""
    normalise: Callable[[Any], Any] | None = None

    def describe(self) -> str:
        """What a valid value is, as the error sentence says it: "a positive integer or None"."""
        text = {
            "int": self._describe_int,
            "float": self._describe_float,
            "choice": lambda: f"one of {', '.join(map(str, self.choices))}",
            "bool": lambda: "true or false",
            "path": lambda: "a folder",
            "classes": lambda: "non-negative class indices",
            "margin": lambda: "the loss's margin",
        }[self.kind]()
        return text + (" or None" if self.none_ok else "")

    def _describe_int(self) -> str:
        if self.high is not None:
            return f"an integer from {self.low} to {self.high}"
        named = {0: "a non-negative integer", 1: "a positive integer"}
        return named.get(self.low, f"an integer of at least {self.low}")

    def _describe_float(self) -> str:
        if self.high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"a number in {opening}{self.low:g}, {self.high:g}{closing}"
        if self.low == 0:
            return "a positive number" if self.low_open else "a non-negative number"
        return f"a number {'above' if self.low_open else 'of at least'} {self.low:g}"

    def _in_range(self, value: float) -> bool:
        above_low = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below_high = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above_low and below_high

    def check(self, value: Any) -> Any:
        """The value, normalised (a float for a float, the canonical spelling of a choice), or ValueError naming
        the field, the rule and the value."""
        if value is None and self.none_ok:
            return None
        if self.kind == "choice":
            key = self.normalise(value) if self.normalise is not None else value
            if key not in self.choices:
                raise ValueError(f"unknown {self.what or self.name} {value!r}: choose one of "
                                 f"{', '.join(map(str, self.choices))}")
            return key
        if self.kind == "path":
            return str(value)
        if self.kind == "margin":
            return value
        if self.kind == "classes":
            indices = (value,) if is_int(value) else value
            try:
                valid = not isinstance(indices, str) and all(is_int(c) and c >= 0 for c in indices)
            except TypeError:  # not a sequence at all
                valid = False
            if valid:
                return tuple(int(c) for c in indices)
        elif self.kind == "bool" and isinstance(value, bool):
            return value
        elif self.kind == "int" and is_int(value) and self._in_range(value):
            return value
        elif self.kind == "float" and is_number(value) and self._in_range(float(value)):
            return float(value)
        raise ValueError(f"{self.name} must be {self.describe()}, got {value!r}")


def setting(default: Any, kind: str, doc: str, **rule: Any) -> Any:
    """A dataclass field whose metadata is its row of the table (the name is filled in below the class)."""
    return dataclasses.field(default=default, metadata={"setting": Setting(kind, doc, default=default, **rule)})


def integer(default: int | None, doc: str, *, low: int, high: int | None = None, **rule: Any) -> Any:
    return setting(default, "int", doc, low=low, high=high, **rule)


def number(default: float | None, doc: str, *, low: float | None = None, above: float | None = None,
           below: float | None = None, **rule: Any) -> Any:
    """low: the smallest value allowed; above: values must exceed it; below: values must stay under it."""
    return setting(default, "float", doc, low=above if low is None else low, low_open=low is None and above is not None,
                high=below, high_open=below is not None, **rule)


def choice(default: str, doc: str, choices: tuple, **rule: Any) -> Any:
    return setting(default, "choice", doc, choices=tuple(choices), **rule)


def _dataset_key(name: Any) -> str:
    return str(name).strip().lower().replace("_", "-")


def _backbone_key(name: Any) -> str:
    return str(name).strip().lower()


# "margin must be a number (three numbers for combined)": the losses whose margin has several parts, named.
_MARGIN_SHAPES = ", ".join(f"{count_word(len(spec.margin_parts))} numbers for {name}"
                           for name, spec in LOSS_SPECS.items() if spec.margin_parts)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Validated on construction; `to_dict`/`from_dict` for JSON.

    Each field is one row of a table (`FIELDS`: kind, range or choices, doc, hot), checked by the row on
    construction; the rules that join fields follow (`_check_loss_settings`). `scale` and `margin` may be None,
    meaning the loss's default from `heads.LOSS_SPECS`; `resolved()` fills them in (a Trainer always stores the
    resolved config, so a saved config replays even if a default changes later). The defaults train digits with a
    3-D embedding to ≥ 95 % test accuracy in a few seconds on a laptop CPU.
    """

    # -- data --------------------------------------------------------------------------------------------
    dataset: str = choice("digits", "the data: the embedded 8×8 digits, MNIST, Fashion-MNIST (IDX files in data_dir) "
                          "or the synthetic toy identities", DATASETS, normalise=_dataset_key)
    data_dir: str | None = setting(None, "path", "the folder of the MNIST / Fashion-MNIST IDX files", none_ok=True)
    max_train: int | None = integer(None, "use at most this many training samples (None: all)", low=1, none_ok=True)
    max_test: int | None = integer(None, "use at most this many test samples (None: all)", low=1, none_ok=True)
    holdout_classes: tuple[int, ...] = setting((), "classes", "classes kept out of training, for open-set verification")
    data_seed: int = integer(0, "seeds the train/test split; apart from `seed`, so that runs can share one dataset",
                             low=0)
    num_identities: int = integer(8, "identities of the toy dataset (the others ignore it)", low=2, high=20)
    train_identities: int | None = integer(None, "the glyphs dataset only: train on its first K identities (None: "
                                           "all)", low=2, high=GLYPH_TRAIN_IDENTITIES, none_ok=True)
    # -- model -------------------------------------------------------------------------------------------
    backbone: str = choice("mlp", "the network from image to embedding", BACKBONES, normalise=_backbone_key)
    embedding_dim: int = integer(3, "the embedding's dimension: 2 puts the features on a circle, 3 on a sphere", low=2)
    hidden: int = integer(64, "the width of the backbone's hidden layers", low=1)
    # -- loss --------------------------------------------------------------------------------------------
    loss: str = choice("arcface", "the loss, and with it the head", LOSSES)
    scale: float | None = number(None, "s: logits are s·cos θ (None: the loss's default; softmax has none)", above=0,
                                 none_ok=True, hot=True)
    margin: float | tuple[float, float, float] | None = setting(
        None, "margin", "m, in the loss's own unit (None: the loss's default); checked by the loss's spec",
        none_ok=True, hot=True)
    # "detached": the straight-through gradient of insightface and opensphere (forward values unchanged, the
    # gradient of plain scaled softmax). "true" differentiates through the margin, whose slope vanishes where the
    # target bends (ArcFace: d cos(θ + m)/dθ = 0 at θ = π − m). Measured on 3-D digits, this config otherwise,
    # 30 epochs, seeds 0-10: with "true", seed 0 gets stuck (ArcFace m=0.5: test accuracy 0.553, W-EC 151.9°,
    # median θ_y 151.4° ≈ π − m; SphereFace m=1.5 partly: 0.811, W-EC 135.8°); seeds 1-10 train normally
    # (ArcFace 0.897-0.975, W-EC 2.6-9.9°; SphereFace 0.947-0.975, W-EC 5.4-9.3°), as all eleven do with
    # "detached" (ArcFace 0.950-0.972, SphereFace 0.928-0.978). A real trap, but not the rule; the default
    # cannot fall into it. tests/unit/test_science.py keeps seed 0 on record.
    gradient: str = choice("detached", "the margin's gradient: straight-through (detached) or true", GRADIENTS,
                           what="gradient option", hot=True)
    easy_margin: bool = setting(False, "bool", "ArcFace only: the margin applies only where cos θ > 0", hot=True)
    sphereface_form: str = choice("normalized", "SphereFace's form: unit features and s, or the 2017 paper's ‖x‖ "
                                  "and λ annealing", SPHEREFACE_FORMS, what="SphereFace form")
    lambda_base: float = number(1000.0, "SphereFace original form: λ = max(λ_min, base·(1 + γ·iter)^−power)", low=0,
                                hot=True)
    lambda_gamma: float = number(0.12, "SphereFace original form: γ, how fast λ decays", low=0, hot=True)
    lambda_power: float = number(1.0, "SphereFace original form: the power of λ's decay", low=0, hot=True)
    lambda_min: float = number(5.0, "SphereFace original form: the floor λ decays to", low=0, hot=True)
    # -- optimisation ------------------------------------------------------------------------------------
    optimizer: str = choice("adam", "the optimizer", OPTIMIZERS)
    lr: float = number(0.01, "the learning rate", above=0, hot=True)
    momentum: float = number(0.9, "SGD only: the momentum", low=0, below=1, hot=True)
    weight_decay: float = number(0.0, "L2 weight decay", low=0, hot=True)
    batch_size: int = integer(64, "samples per optimiser step", low=1)
    seed: int = integer(0, "seeds the initial weights and the batch order", low=0)
    # -- runtime -----------------------------------------------------------------------------------------
    device: str = choice("auto", "where to train: auto picks the GPU (CUDA, then Apple MPS) where it is faster "
                         "for the workload, else the CPU (toy_models.train.device)", DEVICES)
    num_threads: int | None = integer(None, "torch's CPU threads (None: leave torch's setting alone)", low=1,
                                      none_ok=True)
    snapshot_per_class: int = integer(50, "test samples per class that a snapshot shows", low=1, hot=True)

    # Hot fields change a running model (their rows say hot=True); every other field is cold: changing it needs a
    # new Trainer (model shape, data, seed, optimizer kind, device). Set below the class, from the table.
    hot_fields: ClassVar[frozenset[str]]
    cold_fields: ClassVar[frozenset[str]]
    # Fields that MultiTrainer members may set differently; all the others they must share.
    member_fields: ClassVar[frozenset[str]]

    def __post_init__(self) -> None:
        for row in FIELDS.values():  # each field by its row of the table
            object.__setattr__(self, row.name, row.check(getattr(self, row.name)))  # normalised before anyone sees it
        self._check_loss_settings()

    def _check_loss_settings(self) -> None:
        """The rules that join fields: the loss decides whether a scale and a margin exist, checks the margin, and
        takes easy_margin only if its target honours it."""
        spec = LOSS_SPECS[self.loss]
        if self.scale is not None and not spec.uses_scale:
            raise ValueError(f"{self.loss} takes no scale: it is a plain linear layer on unnormalised features")
        if self.margin is not None:
            object.__setattr__(self, "margin", self._checked_margin(spec))
        if self.easy_margin and "easy_margin" not in spec.target_options:
            raise ValueError(f"easy_margin applies to {' and '.join(losses_with_option('easy_margin'))} only, "
                             f"not {self.loss}")

    def _checked_margin(self, spec: LossSpec) -> Margin:
        if spec.margin_range is None:
            raise ValueError(f"{self.loss} takes no margin")
        margin = self.margin
        if isinstance(margin, (list, tuple)) and not spec.margin_parts:
            if len(margin) != 1:
                raise ValueError(f"{self.loss} takes one margin number, got {len(margin)}")
            margin = margin[0]
        if isinstance(margin, bool) or not (is_number(margin) or isinstance(margin, (list, tuple))):
            raise ValueError(f"margin must be a number ({_MARGIN_SHAPES}), got {self.margin!r}")
        if isinstance(margin, (list, tuple)) and not all(is_number(v) for v in margin):
            raise ValueError(f"margin must be finite numbers, got {self.margin!r}")
        return spec.check_margin(margin)

    @property
    def effective_scale(self) -> float | None:
        """The scale s in use (None for softmax, which has none)."""
        spec = LOSS_SPECS[self.loss]
        if not spec.uses_scale:
            return None
        return spec.default_scale if self.scale is None else self.scale

    @property
    def effective_margin(self) -> float | tuple[float, float, float] | None:
        """The margin in use (the loss's default when `margin` is None; None for softmax and normface)."""
        spec = LOSS_SPECS[self.loss]
        if spec.margin_range is None:
            return None
        return spec.default_margin if self.margin is None else self.margin

    def resolved(self) -> TrainConfig:
        """This config with scale and margin filled in from the loss's defaults.

        Not validated again: the values are this config's own (checked when it was made) or the loss's defaults.
        """
        scale, margin = self.effective_scale, self.effective_margin
        if self.scale == scale and self.margin == margin:
            return self
        out = copy.copy(self)
        object.__setattr__(out, "scale", scale)  # as __post_init__ normalises a frozen dataclass in place
        object.__setattr__(out, "margin", margin)
        return out

    def with_hot(self, **changes: Any) -> TrainConfig:
        """This config, resolved, with hot settings changed: the one place a hot value is validated.

        ValueError (one sentence, nothing changed) names a cold or unknown setting or a bad value. None for scale
        or margin means the loss's default. The result is resolved, so nothing downstream checks the values again.
        """
        cold = sorted(set(changes) - self.hot_fields)
        if cold:
            if cold[0] in self.cold_fields:
                raise ValueError(f"{cold[0]} cannot change while training: start a new trainer for it")
            raise ValueError(f"unknown setting {cold[0]!r}")
        base = self.resolved()
        spec = LOSS_SPECS[self.loss]
        if "scale" in changes and changes["scale"] is None:
            changes["scale"] = spec.default_scale if spec.uses_scale else None
        if "margin" in changes and changes["margin"] is None:
            changes["margin"] = spec.default_margin
        return dataclasses.replace(base, **changes)  # __post_init__ validates everything, once

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (tuples become lists); `from_dict` turns it back into an equal config."""
        out = dataclasses.asdict(self)
        out["holdout_classes"] = list(self.holdout_classes)
        if isinstance(self.margin, tuple):
            out["margin"] = list(self.margin)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A validated config from a dict such as `to_dict` writes; ValueError names any unknown or bad field."""
        if not isinstance(values, Mapping):
            raise ValueError(f"a config must be a mapping of field names to values, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}")
        values = dict(values)
        if isinstance(values.get("holdout_classes"), list):
            values["holdout_classes"] = tuple(values["holdout_classes"])
        if isinstance(values.get("margin"), list):
            values["margin"] = tuple(values["margin"])
        return cls(**values)


FIELDS: Mapping[str, Setting] = MappingProxyType({
    field.name: dataclasses.replace(field.metadata["setting"], name=field.name)
    for field in dataclasses.fields(TrainConfig)
})
"""TrainConfig's table: {field name: Setting}, in field order. A new setting is one new field row in the class."""

TrainConfig.hot_fields = frozenset(name for name, setting in FIELDS.items() if setting.hot)
TrainConfig.cold_fields = frozenset(FIELDS) - TrainConfig.hot_fields
TrainConfig.member_fields = TrainConfig.hot_fields | {"loss", "sphereface_form"}


def is_hot_change(old: TrainConfig, new: TrainConfig) -> bool:
    """True when `new` differs from `old` only in hot fields, i.e. `Trainer.reconfigure(new)` can apply it.

    Scale and margin are compared as resolved values, so None and the loss's default count as equal.
    """
    old, new = old.resolved(), new.resolved()
    return all(getattr(old, name) == getattr(new, name) for name in TrainConfig.cold_fields)


def choose_device(requested: str = "auto") -> torch.device:
    """"auto": the GPU there is (CUDA, else Apple MPS), else the CPU. An unavailable explicit choice is an error.
    Whether a run should use that GPU is device.device_reason's question: the trainers ask it."""
    cuda = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested == "cuda" and not cuda:
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
    if requested == "mps" and not mps:
        raise ValueError("device 'mps' was requested but Apple MPS is not available")
    if requested not in DEVICES:
        raise ValueError(f"unknown device {requested!r}: choose one of {', '.join(DEVICES)}")
    return torch.device(requested)
