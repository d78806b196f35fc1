"""LossSpec: what Margin Lab knows about a loss, in one place. Each loss subclasses it once (softmax.py, ...).

The base is the loss without a margin (g = cos θ). A loss overrides the data it differs in and one or two
methods, as pytorch-metric-learning's losses override `modify_cosine_of_target_classes`:

    target(cos, margin, ...)          g, the bent target cosine: the one formula the heads and the figures use
    max_margin(separation_rad, ...)   the workable-margin rule: the largest margin the class centres leave room for
    half_arcs(margin, seps, ...)      closed forms of the feasible half-arc, where g allows them
    target_jumps / target_turns       where the curve of g jumps or turns round (to annotate it)
    combined_equivalent(margin)       the (m1, m2, m3) of the combined margin that matches g

Angles are radians; margin maths runs in the input's precision (the heads lift half precision to float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

Margin = float | tuple[float, ...]

# acos'(x) = −1/sqrt(1 − x²) is infinite at ±1: its gradient is taken just inside the interval.
# 1 − 1e-6 is representable in float32 (θ ≈ 0.08°), so the clamp is never a no-op there.
_COS_CLAMP_EPS = 1e-6

UNIT_WORDS = {"rad": "rad", "cos": "cosine units", "x": "multiplier"}  # a margin unit, as a sentence says it
_COUNT_WORDS = ("no", "one", "two", "three", "four", "five")


def count_word(count: int) -> str:
    """3 -> "three", for sentences such as "the combined margin needs three numbers"."""
    return _COUNT_WORDS[count] if 0 <= count < len(_COUNT_WORDS) else str(count)


def angle_of(cos: torch.Tensor) -> torch.Tensor:
    """θ = acos(cos) with the exact forward value and a gradient that stays finite at cos = ±1.

    The gradient is taken from acos of the cosine clamped a hair inside [−1, 1]; the (tiny)
    difference to the exact angle is added without a gradient, so values are not biased.
    """
    exact = torch.acos(cos.clamp(-1.0, 1.0))
    safe = torch.acos(cos.clamp(-1.0 + _COS_CLAMP_EPS, 1.0 - _COS_CLAMP_EPS))
    return safe + (exact - safe).detach()


def value_text(name: str, value: float, unit: str) -> str:
    """'m = 0.50 rad (28.6°)', 'm = 0.35 (cosine units)', 'm = 4 (multiplies θ)': a margin with its unit."""
    if unit == "rad":
        return f"{name} = {value:.2f} rad ({math.degrees(value):.1f}°)"
    if unit == "cos":
        return f"{name} = {value:.2f} (cosine units)"
    return f"{name} = {value:g} (multiplies θ)"  # a multiplier: ψ(θ) is the monotone cos(mθ)


@dataclass(frozen=True)
class MarginPart:
    """One number of a margin made of several (the combined margin's m1, m2, m3): what a control shows."""

    name: str
    unit: str  # "rad", "cos" or "x", as LossSpec.margin_unit
    label: str
    help: str
    step: float


@dataclass(frozen=True)
class MarginNotes:
    """Sentences about the workable margin, as str.format templates (the app fills them from `toy_models.geometry`).

    Fields a template may name: name (the loss's short label), spread ("10 classes on a sphere"), best ("the widest
    spacing 10 centres can have there"), sep_deg (that spacing), margin and each margin part by name (m1, m2, m3),
    limit and limit_deg (`max_margin` at that spacing), arc_deg (the feasible half-arc) and the settled target
    options (`LossSpec.settled_options`, e.g. sphereface_lambda).

    caption:   the margin fits: how much room it leaves.
    too_large: the bounded value (`bounded`, a field name) is at or past `limit`.
    no_room:   even 0 of the bounded value is too much (limit ≤ 0): another part of the margin is too large.
    blend:     appended to the caption as {blend} while a settled option (λ) softens the margin.
    """

    caption: str
    too_large: str = ""
    no_room: str = ""
    blend: str = ""
    bounded: str = "margin"


class LossSpec:
    """One loss's knowledge: labels, units, defaults, ranges, what a control and a legend say, its formula, its
    workable-margin rule. Subclass it per loss and override what differs; LOSS_SPECS holds one instance of each.

    name, label          the key ("arcface") and the name on screen ("ArcFace"); short_label drops "(...)"
    margin_unit          "rad" (an angle), "cos" (cosine units), "x" (a multiplier), "" (none, or several parts)
    default_scale        s when none is given
    default_margin       m when none is given: a number, a tuple (one per part), or None (no margin)
    margin_range         where the formula means what it says: (low, high), one per part, or None
    margin_parts         the parts of a margin of several numbers (MarginPart), else ()
    margin_step          a slider's step for a one-number margin
    margin_label, margin_help   a control's label and help: what the loss does with its margin
    uses_scale           logits are s·cos θ_j (False: softmax's W·x + b has no s)
    normalised           features and class weights are unit vectors (False: softmax keeps their norms)
    target_options       the options `target` honours besides the margin ("easy_margin", "sphereface_lambda")
    head_options         cold head options that fix the head's kind: (head keyword, TrainConfig field) pairs
    own_fields           the TrainConfig fields only this loss reads (SphereFace's form and λ schedule)
    formula              g(θ) as a legend writes it (legend_formula: as an option in use changes it)
    notes                MarginNotes about the workable margin, or None (nothing to say)
    sweep_top            top of a default margin sweep where geometry sets no bound (SphereFace: the paper's 4)
    summary              what the loss does, as the loss control's help says it ("ArcFace adds an angular margin ...")
    logit_text           the target logit without a margin, as a subtitle writes it ("s·cos θ")
    running_text         a sentence the run's status line adds (softmax: what its angle views leave out)
    color                its colour where several losses share a plot (Okabe–Ito, apart from the class palette)
    target_is_monotone   g falls over [0, π] whatever the margin (False: the combined margin can turn and rise)
    curve_figure         (paper figure, θ low, θ high in degrees): the range the target-logit view marks, or None
    """

    name: ClassVar[str]
    label: ClassVar[str]
    margin_unit: ClassVar[str] = ""
    default_scale: ClassVar[float] = 16.0
    default_margin: ClassVar[Margin | None] = None
    margin_range: ClassVar[tuple[float, float] | tuple[tuple[float, float], ...] | None] = None
    margin_parts: ClassVar[tuple[MarginPart, ...]] = ()
    margin_step: ClassVar[float] = 0.01
    margin_label: ClassVar[str] = ""
    margin_help: ClassVar[str] = ""
    uses_scale: ClassVar[bool] = True
    normalised: ClassVar[bool] = True
    target_options: ClassVar[frozenset[str]] = frozenset()
    head_options: ClassVar[tuple[tuple[str, str], ...]] = ()
    own_fields: ClassVar[tuple[str, ...]] = ()
    formula: ClassVar[str] = "cos θ"
    notes: ClassVar[MarginNotes | None] = None
    sweep_top: ClassVar[float | None] = None
    summary: ClassVar[str] = ""
    logit_text: ClassVar[str] = "s·cos θ"
    running_text: ClassVar[str] = ""
    color: ClassVar[str] = "#777777"
    target_is_monotone: ClassVar[bool] = True
    curve_figure: ClassVar[tuple[str, float, float] | None] = None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a LossSpec is read-only; subclass it to change {name}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- derived facts -------------------------------------------------------------------------------
    @property
    def short_label(self) -> str:
        """The name for sentences: "ArcFace", "CosFace", "Combined margin"."""
        return self.label.split(" (")[0]

    @property
    def has_margin(self) -> bool:
        return self.margin_range is not None

    @property
    def has_margin_gradient(self) -> bool:
        """Whether the true / straight-through gradient choice changes anything (only where a margin bends g)."""
        return self.has_margin

    @property
    def verification_rank(self) -> int:
        """Where the papers place the loss in open-set verification: 0 plain softmax, 1 normalised softmax (no
        margin), 2 a margin loss."""
        return 0 if not self.normalised else 2 if self.has_margin else 1

    def feature_norm_scale(self, values: Mapping[str, Any]) -> bool:
        """Whether, under these settings (TrainConfig field names), each feature's length ‖x‖ is the scale instead
        of s (SphereFace's original form): then there is no s to set, and a figure stays in cosine units."""
        return False

    def margin_fields(self, margin: Margin | None) -> dict[str, float]:
        """The margin as template fields: {"margin": m}, plus each part by name ({"m1": ..., "m2": ..., "m3": ...})."""
        if margin is None:
            return {}
        fields: dict[str, Any] = {"margin": margin}
        for part, value in zip(self.margin_parts, margin if self.margin_parts else (), strict=True):
            fields[part.name] = float(value)
        return fields

    # -- checking a margin -----------------------------------------------------------------------------
    def check_margin(self, margin: Any) -> Margin | None:
        """`margin` validated and normalised (a float, or a tuple of floats for a margin of several parts).

        ValueError with one sentence naming the loss, the value and the valid range.
        """
        if self.margin_range is None:
            return None
        if self.margin_parts:
            names = [part.name for part in self.margin_parts]
            if isinstance(margin, (int, float)) or margin is None or len(margin) != len(names):
                example = ",".join(f"{v:g}" for v in self.default_margin)
                raise ValueError(f"the {self.name} margin needs {count_word(len(names))} numbers "
                                 f"{', '.join(names)} (for example {example})")
            values = tuple(float(v) for v in margin)
            for name, value, (low, high) in zip(names, values, self.margin_range, strict=True):
                if not (low <= value <= high) or not math.isfinite(value):
                    raise ValueError(
                        f"{self.name} margin {name}={value:g} is outside its valid range [{low:g}, {high:g}]"
                    )
            return values
        if margin is None or not isinstance(margin, (int, float)):
            raise ValueError(f"{self.name} needs a single number as its margin, got {margin!r}")
        low, high = self.margin_range
        value = float(margin)
        if not (low <= value <= high):
            unit = " rad" if self.margin_unit == "rad" else f" ({UNIT_WORDS[self.margin_unit]})"
            raise ValueError(f"{self.name} margin {value:g} is outside its valid range [{low:g}, {high:.4g}]{unit}")
        return value

    # -- the formula -----------------------------------------------------------------------------------------
    def target(
        self, cos: torch.Tensor, margin: Margin | None, *, easy_margin: bool = False, sphereface_lambda: float = 0.0
    ) -> torch.Tensor:
        """g(θ), the value that replaces the target cosine, elementwise for cosines `cos` (before the scale).

        The base is the plain cosine. A loss honours the options in `target_options` and ignores the others.
        """
        return cos

    def legend_formula(self, **options: Any) -> str:
        """g(θ) as a legend writes it, for the target options in use (easy_margin, sphereface_lambda)."""
        return self.formula

    def margin_text(self, margin: Margin | None) -> str:
        """The margin as a reader wants it, with units: 'm = 0.50 rad (28.6°)', 'm1 = 1 (multiplies θ), ...'."""
        if self.margin_range is None or margin is None:
            return "no margin"
        if self.margin_parts:
            parts = zip(self.margin_parts, margin, strict=True)
            return ", ".join(value_text(part.name, float(value), part.unit) for part, value in parts)
        return value_text("m", float(margin), self.margin_unit)

    def short_margin_text(self, margin: Margin | None) -> str:
        """The margin for a small title: 'm 0.25 rad (14.3°)', 'm 0.35', 'm 1, 0.30 rad, 0.20'; '' without one."""
        if self.margin_range is None or margin is None:
            return ""
        if self.margin_parts:
            texts = {"x": "{:g}", "rad": "{:.2f} rad", "cos": "{:.2f}"}
            parts = zip(self.margin_parts, margin, strict=True)
            return "m " + ", ".join(texts[part.unit].format(float(value)) for part, value in parts)
        m = float(margin)
        return f"m {m:.2f} rad ({math.degrees(m):.1f}°)" if self.margin_unit == "rad" else f"m {m:g}"

    def options_text(self, **options: Any) -> str:
        """The target options in use, to follow the margin in a subtitle (", easy_margin", ", λ = 5"); '' if none."""
        return ""

    def run_note(self, config: Any, hyper: Mapping[str, float], step: int) -> str:
        """A sentence for the run's status line: `running_text`, or what a schedule is doing now (SphereFace's λ).
        config is the run's TrainConfig, hyper the head's current hyperparameters (its snapshot's), step the step."""
        return self.running_text

    # -- the geometry the formula implies -------------------------------------------------------------------
    def max_margin(self, separation_rad: float, *, margin: Margin | None = None, component: str = "m3") -> float:
        """The largest margin for which a sample exactly on its class centre still beats the nearest other centre,
        `separation_rad` away: g(0) ≥ cos(sep). In the loss's margin units; may exceed `margin_range`.

        `margin` and `component` matter only for a margin of several parts (which part is bounded, the others
        held at their values in `margin`).
        """
        if self.margin_range is None:
            raise ValueError(f"{self.name} has no margin, so it has no largest margin")
        raise NotImplementedError(f"{self.name} does not state its workable-margin rule (LossSpec.max_margin)")

    def half_arcs(
        self, margin: Margin | None, seps: np.ndarray, *, easy_margin: bool = False, sphereface_lambda: float = 0.0
    ) -> np.ndarray | None:
        """The feasible half-arc for each separation in `seps` in closed form, or None where there is none (the
        geometry then solves g(φ) = cos(sep − φ) numerically). Only where g(φ) − cos(sep − φ) falls
        monotonically, so that its first root is where the margin fails."""
        return None

    def target_jumps(self, margin: Margin | None, *, easy_margin: bool = False) -> list[tuple[float, str]]:
        """Where g jumps, as (θ in radians, why: a phrase for the plot's note)."""
        return []

    def target_turns(self, margin: Margin | None) -> list[tuple[float, bool, str]]:
        """Where g stops decreasing or starts again, as (θ in radians, rises after it, a sentence)."""
        return []

    def combined_equivalent(self, margin: Margin | None) -> tuple[float, float, float]:
        """(m1, m2, m3) whose combined target cos(m1·θ + m2) − m3 matches this loss's target (where it does)."""
        raise ValueError(f"{self.name} has no combined-margin equivalent")

    def fitting_margin(
        self, margin: Margin | None, separation_rad: float, share: float, snap_down: Callable[[int, float], float]
    ) -> Margin | None:
        """`margin`, lowered where needed to `share` of the room that class centres `separation_rad` apart leave
        (`max_margin`): a default that trains there. snap_down(part, value) puts a value on a control's stop at or
        below it (part 0 for a one-number margin). A loss with no finite bound keeps its margin."""
        if self.margin_range is None or margin is None:
            return margin
        bound = self.max_margin(separation_rad, margin=margin)
        if not math.isfinite(bound):
            return margin
        return snap_down(0, min(float(margin), share * bound))

    def settled_options(self, values: Mapping[str, Any]) -> dict[str, float]:
        """The target options once any schedule has run its course, from a config's values (TrainConfig field
        names): what a note about the margin should assume. Empty when the target has no schedule."""
        return {}
