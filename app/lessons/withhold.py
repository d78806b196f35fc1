"""No spoilers: what a lesson page holds back until a question is answered.

Predict, then reveal only works if nothing on the page shows the answer first. Two things can:

- **The prose after a question.** `[after: ID]`, alone on its line after `[question: ID]`, holds back the
  paragraph right below it (up to the next blank line or marker) until question ID is answered
  (`[after: ID1, ID2]`: until both are); repeat the marker to hold back more paragraphs:

      [question: largest-circle]

      [after: largest-circle]
      So m must stay below {{ max_margin(cosface, classes) }} on the circle ...

  `format.py` calls `check_marker` for each such marker and `attach` once the body is read: the prose block
  comes out with `after = ("largest-circle",)` and the page shows a one-line "answer first" note in its place.
  Right above a `[check: ID]`, the marker holds back the check itself (its title, its hint, its feedback) where
  they cannot be worded without the answer; the check is still judged on the run meanwhile.

- **The live unit's own numbers.** The notes under the margin slider ("Workable ... m < 0.19"), the scale
  warning ("only when s ≥ 27.7") and the Tammes bound in the angle statistics are computed from the code,
  so they can state a number question's answer. `withheld_facts(lesson, answered)` names the facts the open
  questions would give away, from the placeholder each answer is computed with (for its dimension and number
  of classes), or from a choice question's `keeps_back` placeholder; the unit words its notes without them
  (app.live.notes, app.live.views). A largest workable margin follows one rule in every dimension (ArcFace: the
  spacing itself), so a margin question also keeps back the limit in the dimensions no other question of the
  lesson asks about: the sphere's note would state the rule behind the circle's answer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence
from typing import Any

from app.lessons import numbers

MARKER = "after"
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")

# The facts the live unit can state, each for one dimension and number of classes: "margin_limit:2:10" is the
# largest workable margin for ten classes on a circle ("*": any number of classes, the learner's `classes`).
# app.live.notes.FACTS names the same three. FACT_OF: which placeholder function computes which fact, the position
# of its classes argument, and its dimensions (an int: the position of its dimension argument).
MARGIN_LIMIT, SCALE_BOUND, TAMMES = "margin_limit", "scale_bound", "tammes"
FACT_OF: dict[str, tuple[str, int, tuple[int, ...] | int]] = {
    "max_margin": (MARGIN_LIMIT, 1, (2,)),  # max_margin(loss, C)
    "max_margin_deg": (MARGIN_LIMIT, 1, (2,)),
    "max_margin_sphere": (MARGIN_LIMIT, 1, (3,)),
    "max_margin_deg_sphere": (MARGIN_LIMIT, 1, (3,)),
    "min_scale": (SCALE_BOUND, 0, 1),  # min_scale(C, d, P)
    "cosface_min_scale": (SCALE_BOUND, 0, (2, 3)),  # cosface_min_scale(C, P): a simplex, in any dimension
    "tammes_deg": (TAMMES, 0, 1),  # tammes_deg(C, d)
    "separation_deg": (TAMMES, 0, (2,)),  # separation_deg(C): on a circle the Tammes angle is 2π/C
}
DIMS = (2, 3)
ANY = "*"


def fact(name: str, dim: int, classes: int | str = ANY) -> str:
    """A fact's key: its name, the dimension and the number of classes it is about ("tammes:2:10")."""
    return f"{name}:{dim}:{classes}"


def names(marker_text: str) -> tuple[str, ...]:
    """The question ids of an `[after: ...]` marker ("a, b" -> ("a", "b"))."""
    return tuple(name.strip() for name in marker_text.split(","))


def check_marker(text: str, questions: Collection[str], placed: Collection[str], where: str, r: Any) -> None:
    """`[after: ID, ...]` must name questions of the lesson, each placed above it (the prose follows them)."""
    for name in names(text):
        if name not in questions:
            raise r.fail(where, f"[after: {text}] names no question {name!r} of this lesson")
        if name not in placed:
            raise r.fail(where, f"[after: {text}] comes before [question: {name}]; put it below the question whose "
                                "answer its prose gives")  # fmt: skip


def attach(blocks: Sequence[Any], where: str, r: Any) -> list[Any]:
    """Fold each `after` block into the first paragraph of the prose block that follows it (`after=` the
    questions' ids); the rest of that prose stays a block of its own, shown as usual."""
    out: list[Any] = []
    waiting = None
    for block in blocks:
        if waiting is not None:
            if block.kind in ("check", "view"):  # the whole check (title and feedback), or a view that shows it
                out.append(dataclasses.replace(block, after=names(waiting)))
                waiting = None
                continue
            if block.kind != "prose":
                raise r.fail(where, f"[after: {waiting}] holds back nothing; put the prose, check or view it holds "
                                    "back right below it")  # fmt: skip
            held, *rest = _PARAGRAPH_END.split(block.text_or_name, maxsplit=1)
            out.append(dataclasses.replace(block, text_or_name=held.strip(), after=names(waiting)))
            if rest and rest[0].strip():
                out.append(dataclasses.replace(block, text_or_name=rest[0].strip()))
            waiting = None
        elif block.kind == MARKER:
            waiting = block.text_or_name
        else:
            out.append(block)
    if waiting is not None:
        raise r.fail(where, f"[after: {waiting}] at the end holds back nothing; put the prose it holds back right "
                            "below it")  # fmt: skip
    return out


def question_facts(question: Any) -> frozenset[str]:
    """The live unit's facts this question's answer is (none for a number typed into the file), and the one its
    `keeps_back` names (a choice question whose answer a note would show)."""
    facts = _facts_of(getattr(question, "keeps_back", ""))
    if question.kind == "number" and isinstance(question.answer, str):
        facts |= _facts_of(question.answer)
    return facts


def _facts_of(placeholder: str) -> frozenset[str]:
    """The facts one placeholder computes ("{{ max_margin(cosface, classes) }}" -> margin limits on a circle)."""
    match = numbers.single_placeholder(placeholder) if placeholder else None
    if match is None or match.group(1) not in FACT_OF:
        return frozenset()
    name, classes_at, dims = FACT_OF[match.group(1)]
    args = [a.strip() for a in match.group(2).split(",")]

    def literal(at: int) -> int | None:  # a whole number written in the file; None for `classes` / `dim`
        return int(args[at]) if at < len(args) and args[at].isdigit() else None

    classes = literal(classes_at) or ANY
    if isinstance(dims, int):
        dims = (literal(dims),) if literal(dims) else DIMS
    return frozenset(fact(name, d, classes) for d in dims)


def withheld_facts(lesson: Any, answered: Collection[str]) -> frozenset[str]:
    """The facts the live unit keeps back: those of every question not answered yet, and with a margin limit the
    same limit in the dimensions no question of the lesson asks about (it shows the rule behind the answer)."""
    asked = {key.split(":")[1] for question in lesson.questions for key in question_facts(question)
             if key.startswith(f"{MARGIN_LIMIT}:")}  # fmt: skip
    facts: set[str] = set()
    for question in lesson.questions:
        if question.id not in answered:
            own = question_facts(question)
            facts |= own
            facts |= {fact(MARGIN_LIMIT, d, key.split(":")[2]) for key in own if key.startswith(f"{MARGIN_LIMIT}:")
                      for d in DIMS if str(d) not in asked}  # fmt: skip
    return frozenset(facts)


def held_back(block: Any, answered: Collection[str]) -> bool:
    """Whether this block waits for an answer still to come."""
    return any(name not in answered for name in getattr(block, "after", ()))
