"""Numbers in a lesson's text come from the code: `{{ tammes_deg(10, 3) }}` placeholders.

A placeholder is `{{ NAME(ARGS) }}` or `{{ NAME(ARGS) :.1f }}` (a format spec after a colon). NAME is one
of a fixed catalogue (CATALOGUE), each a thin call into `toy_models.geometry`; ARGS are whole numbers,
decimals, loss names, or `classes` / `dim` (the learner's current number of classes and embedding
dimension). Nothing is evaluated: the text is read with regular expressions and the call is looked up.

    fill("The bound is {{ tammes_deg(classes, dim) }}°.", classes=10, dim=3)   # "The bound is 66.1°."
    number_answer(question, classes=10, dim=2)                                 # 36.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toy_models import geometry
from toy_models.heads import LOSS_SPECS, LOSSES

# {{ name(args) }} or {{ name(args) :spec }}; the spec is short and made of format-spec characters only.
PLACEHOLDER = re.compile(
    r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^(){}]*)\)\s*(?::\s*([0-9A-Za-z.,+\- %]{1,12}?))?\s*\}\}"
)
_OPENING = re.compile(r"\{\{")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Number:
    """One entry of the catalogue: what it computes, the kinds of its arguments, and its call."""

    signature: str  # as the author's guide shows it
    meaning: str
    kinds: tuple[str, ...]  # "classes" / "dim" (int >= 2), "loss", "probability" (0 < P < 1), "radians" (0..π),
    #                         "degrees" (0..360)
    compute: Callable[..., float]


def _angular(number: str, loss: str) -> None:
    """ValueError unless `loss`'s margin is an angle (radians), which a number in degrees needs."""
    if LOSS_SPECS[loss].margin_unit != "rad":
        angular = " and ".join(name for name, spec in LOSS_SPECS.items() if spec.margin_unit == "rad")
        raise ValueError(f"{number} needs an angular margin, and only {angular} has one ({loss} does not)")


def _max_margin_deg(loss: str, classes: int) -> float:
    _angular("max_margin_deg", loss)
    return math.degrees(geometry.max_margin(loss, classes))


def _max_margin_deg_sphere(loss: str, classes: int) -> float:
    _angular("max_margin_deg_sphere", loss)
    return math.degrees(geometry.max_margin(loss, separation_rad=geometry.tammes_angle(classes, 3)))


CATALOGUE: dict[str, Number] = {
    "tammes_deg": Number("tammes_deg(C, d)", "the Tammes angle of C points in d dimensions, in degrees",
                         ("classes", "dim"), lambda c, d: math.degrees(geometry.tammes_angle(c, d))),
    "separation_deg": Number("separation_deg(C)", "2π/C in degrees: C class centres spread evenly on a circle",
                             ("classes",), lambda c: math.degrees(geometry.multiclass_separation(c))),
    "max_margin": Number("max_margin(loss, C)", "the largest margin for C classes on a circle, in the loss's "
                         "own unit (radians for arcface, cosine units for cosface)",
                         ("loss", "classes"), lambda loss, c: geometry.max_margin(loss, c)),
    "max_margin_deg": Number("max_margin_deg(loss, C)", "the same in degrees (arcface only)",
                             ("loss", "classes"), _max_margin_deg),
    "max_margin_sphere": Number("max_margin_sphere(loss, C)", "the largest margin for C classes on the "
                                "sphere (at the Tammes angle of C points in 3-D), in the loss's own unit",
                                ("loss", "classes"), lambda loss, c: geometry.max_margin(
                                    loss, separation_rad=geometry.tammes_angle(c, 3))),
    "max_margin_deg_sphere": Number("max_margin_deg_sphere(loss, C)", "the same in degrees (arcface only)",
                                    ("loss", "classes"), _max_margin_deg_sphere),
    "min_scale": Number("min_scale(C, d, P)", "the smallest scale s that lets every one of C classes in d "
                        "dimensions reach probability P", ("classes", "dim", "probability"),
                        lambda c, d, p: geometry.min_scale(c, d, p).scale),
    "deg": Number("deg(m)", "an angle m in radians, in degrees (ArcFace's m = 0.5 is 28.6°)", ("radians",),
                  math.degrees),
    "plus_margin_deg": Number("plus_margin_deg(θ, m)", "θ + m in degrees, θ in degrees and m in radians: the "
                              "angle ArcFace's target cosine sees", ("degrees", "radians"),
                              lambda theta, m: theta + math.degrees(m)),
    "flat_deg": Number("flat_deg(m)", "180° − m in degrees: the target angle where cos(θ + m) turns and the "
                       "true ArcFace gradient vanishes", ("radians",), lambda m: 180.0 - math.degrees(m)),
    "cosface_min_scale": Number("cosface_min_scale(C, P)", "CosFace's bound on s for probability P "
                                "(a regular simplex, any dimension)", ("classes", "probability"),
                                lambda c, p: geometry.cosface_min_scale(c, p)),
}


def _argument(text: str, kind: str, *, classes: int, dim: int) -> Any:
    """One argument, read without evaluation; ValueError (a clause) if it does not fit `kind`."""
    word = text.strip()
    if kind == "loss":
        if word not in LOSSES:
            raise ValueError(f"{word or 'an empty argument'} is not a loss (expected one of {', '.join(LOSSES)})")
        return word
    if kind in ("classes", "dim"):
        if word in ("classes", "dim"):
            return classes if word == "classes" else dim
        if not _INT.fullmatch(word):
            raise ValueError(f"{word or 'an empty argument'} is not a whole number, classes or dim")
        value = int(word)
        if value < 2 or value > 200:
            raise ValueError(f"{value} is outside 2 to 200")
        return value
    if not _FLOAT.fullmatch(word):
        raise ValueError(f"{word or 'an empty argument'} is not a number")
    value = float(word)
    if kind == "radians":
        if not 0.0 <= value <= math.pi:
            raise ValueError(f"the angle {word} rad is not between 0 and π")
        return value
    if kind == "degrees":
        if not 0.0 <= value <= 360.0:
            raise ValueError(f"the angle {word}° is not between 0 and 360")
        return value
    if not 0.0 < value < 1.0:
        raise ValueError(f"the probability {word} is not between 0 and 1")
    return value


def evaluate_placeholder(match: re.Match, *, classes: int, dim: int) -> float:
    """The value of one matched placeholder; ValueError (one sentence) if it is not in the catalogue or its
    arguments do not fit."""
    name, args_text = match.group(1), match.group(2)
    shown = match.group(0)
    entry = CATALOGUE.get(name)
    if entry is None:
        raise ValueError(f"{shown} names no known number; the catalogue has {', '.join(CATALOGUE)}.")
    args = [a for a in args_text.split(",")] if args_text.strip() else []
    if len(args) != len(entry.kinds):
        raise ValueError(f"{shown} gives {len(args)} argument(s) but {entry.signature} takes {len(entry.kinds)}.")
    try:
        values = [_argument(a, k, classes=classes, dim=dim) for a, k in zip(args, entry.kinds, strict=True)]
        return float(entry.compute(*values))
    except ValueError as err:
        raise ValueError(f"{shown} cannot be computed: {str(err).rstrip('.')}.") from None


def format_number(value: float, spec: str | None = None) -> str:
    """The text of a number: `spec` if given, else 3 significant digits ("66.1", "0.628", "27.7", "110")."""
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if spec:
        return format(value, spec)
    if abs(value) >= 100:
        return str(round(value))
    return f"{value:.3g}"


def _check_spec(match: re.Match) -> None:
    spec = match.group(3)
    if spec:
        try:
            format(1.5, spec)
        except ValueError:
            raise ValueError(f"{match.group(0)} has a format spec :{spec} that numbers do not accept.") from None


def fill(text: str, *, classes: int, dim: int) -> str:
    """`text` with every placeholder replaced by its number; ValueError (one sentence) for a bad one."""
    out: list[str] = []
    position = 0
    for opening in _OPENING.finditer(text):
        if opening.start() < position:
            continue  # inside a placeholder already replaced
        match = PLACEHOLDER.match(text, opening.start())
        if match is None:
            snippet = text[opening.start(): opening.start() + 30].split("\n")[0]
            raise ValueError(f"{snippet!r} is not a placeholder of the form {{{{ name(args) }}}}.")
        _check_spec(match)
        value = evaluate_placeholder(match, classes=classes, dim=dim)
        out.append(text[position: match.start()])
        out.append(format_number(value, match.group(3)))
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def single_placeholder(text: str) -> re.Match | None:
    """The match when `text` is exactly one placeholder (a number question's answer), else None."""
    return PLACEHOLDER.fullmatch(text.strip())


def number_answer(question: Any, *, classes: int, dim: int) -> float:
    """A number question's answer: its number, or the value of its one placeholder (not rounded)."""
    answer = question.answer
    if isinstance(answer, str):
        match = single_placeholder(answer)
        if match is None:
            raise ValueError(f"{answer!r} is not exactly one placeholder.")
        return evaluate_placeholder(match, classes=classes, dim=dim)
    return float(answer)


def catalogue_rows() -> Sequence[tuple[str, str]]:
    """(signature, meaning) for the author's guide."""
    return [(n.signature, n.meaning) for n in CATALOGUE.values()]
