"""Lesson files: TOML front matter between two `+++` lines, then Markdown. Parsed and validated, never run.

    lesson = load_lesson(Path("lessons/05-arcface.md"))   # Lesson, or LessonError
    lessons = load_lessons()                              # every lesson, sorted by number
    lesson_problems()                                     # one sentence per bad file, for the app

Every problem is a LessonError whose message is one sentence naming the file, the field and the problem:
"lessons/05-arcface.md: preset.m: Lesson file value m=2 is above ArcFace's maximum 1.57 rad." The
author's guide (lessons/README.md) documents every field.

This module reads the file (front matter, top-level fields, body markers) and the folder; the typed field
reader and LessonError live in app.lessons.reader, the questions and checks in app.lessons.tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import state
from app.compat import tomllib
from app.lessons import presets, withhold
from app.lessons.presets import SolutionStep
from app.lessons.reader import REPO, LessonError, Reader
from app.lessons.tasks import (
    COMPARE_VIEWS,
    ID,
    LIVE_VIEWS,
    METRICS,
    VIEWS,
    Check,
    Question,
    read_checks,
    read_questions,
)
from toy_models.heads import LOSSES
from toy_models.train import DEFAULT_COMPARE_LOSSES

LESSONS_DIR = REPO / "lessons"
UNITS = ("live", "compare")
_MARKER = re.compile(r"\[([A-Za-z_]+):\s*(.*?)\s*\]")
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Block:
    kind: str  # "prose", "view", "question" or "check"
    text_or_name: str
    after: tuple[str, ...] = ()  # prose (or a check) held back until these are answered (app.lessons.withhold)


@dataclass(frozen=True)
class Lesson:
    id: str
    number: int
    title: str
    version: int
    minutes: int
    summary: str
    objectives: tuple[str, ...]
    unit: str
    preset: dict
    locked: frozenset
    hidden: frozenset
    solution: tuple[SolutionStep, ...]
    questions: tuple[Question, ...]
    checks: tuple[Check, ...]
    blocks: tuple[Block, ...]
    path: Path = field(compare=False)
    pace: str | None = None  # the pace the lesson opens at (app.training.pace); None: the unit's default

    @property
    def unit_preset(self) -> dict:
        """What the lesson's unit is built with: the preset, and the pace when the lesson sets one."""
        return {**self.preset, presets.PACE_KEY: self.pace} if self.pace else dict(self.preset)

    def question(self, id: str) -> Question:
        return next(q for q in self.questions if q.id == id)

    def check(self, id: str) -> Check:
        return next(c for c in self.checks if c.id == id)

    @property
    def dim(self) -> int:
        """The preset's embedding dimension (for placeholders before the learner changed anything)."""
        return int(presets.clean_shared(self.preset)["embedding_dim"])


# --------------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------------

_TOP_KEYS = ("id", "number", "title", "version", "minutes", "summary", "objectives", "unit", "locked", "hidden",
             "preset", "solution", "questions", "checks")
_TOP_REQUIRED = ("id", "number", "title", "version", "minutes", "summary", "objectives", "unit", "preset",
                 "solution", "questions", "checks")


def split_front_matter(text: str, r: Reader) -> tuple[str, str, int]:
    """(TOML text, Markdown body, the file line the body starts on)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise r.fail("front matter", "the file must start with a line holding exactly +++")
    for index in range(1, len(lines)):
        if lines[index].strip() == "+++":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1:]), index + 2
    raise r.fail("front matter", "no closing line holding exactly +++")


def parse_toml(front: str, r: Reader) -> dict:
    try:
        return tomllib.loads(front)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        found = _TOML_LINE.search(message)
        what = _TOML_LINE.sub("", message).strip().rstrip(".")
        if found:  # the front matter starts on the file's second line
            line = int(found.group(1)) + 1
            raise r.fail("front matter", f"TOML syntax error at line {line}: {what}") from None
        raise r.fail("front matter", f"TOML syntax error: {what}") from None


def load_lesson(path: Path | str) -> Lesson:
    """The lesson in `path`, validated; LessonError (one sentence) otherwise."""
    path = Path(path)
    r = Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise r.fail("file", f"cannot be read ({err.__class__.__name__})") from None
    front, body, body_line = split_front_matter(text, r)
    data = parse_toml(front, r)
    r.keys(data, _TOP_KEYS, _TOP_REQUIRED, "")

    lesson_id = r.text(data, "id", "")
    if not ID.fullmatch(lesson_id):
        raise r.fail("id", f"{lesson_id!r} must use only a-z, 0-9 and -")
    number = r.integer(data, "number", "", 1, 99)
    title = r.text(data, "title", "")
    version = r.integer(data, "version", "", 1)
    minutes = r.integer(data, "minutes", "", 1, 120)
    summary = r.text(data, "summary", "")
    objectives = r.texts(data, "objectives", "")
    if not objectives:
        raise r.fail("objectives", "a lesson needs at least one learning objective")
    unit = r.text(data, "unit", "")
    if unit not in UNITS:
        raise r.fail("unit", f"{unit!r} is not a unit; use \"live\" or \"compare\"")
    # Control names (an alias such as "dim" is read as its name); a compare lesson may also fix the member
    # selection ("losses"), as the Compare unit calls it.
    controls = state.control_names() | ({"losses"} if unit == "compare" else set())
    fixed = {}
    for name in ("locked", "hidden"):
        names = set()
        for control in sorted(r.texts(data, name, "")):
            known = "losses" if control == "losses" and unit == "compare" else state.control_name(control)
            if known is None:
                raise r.fail(name, f"{control!r} is not a control; the controls are {', '.join(sorted(controls))}")
            names.add(known)
        fixed[name] = frozenset(names)
    locked, hidden = fixed["locked"], fixed["hidden"]

    pace = presets.read_pace(r.table(data, "preset", ""), r)
    preset = presets.read_preset(r.table(data, "preset", ""), unit, r)
    dim = int(presets.clean_shared(preset, r, "preset")["embedding_dim"])
    solution = presets.read_solution(data["solution"], preset, unit, r)
    for text_key in ("title", "summary"):
        r.fill(data[text_key], text_key, dim)
    for i, objective in enumerate(objectives):
        r.fill(objective, f"objectives[{i + 1}]", dim)

    questions = read_questions(data["questions"], unit, dim, r)
    losses = _member_losses(preset, solution) if unit == "compare" else ()
    default_loss = str(preset.get("loss", state.defaults()["loss"]))
    checks = read_checks(data["checks"], unit, losses, r, dim, default_loss)
    blocks = _read_body(body, body_line, unit, questions, checks, dim, r)
    return Lesson(lesson_id, number, title, version, minutes, summary, objectives, unit, preset, locked, hidden,
                  solution, questions, checks, blocks, path, pace)


def _member_losses(preset: dict, solution: tuple[SolutionStep, ...]) -> tuple[str, ...]:
    names = list(preset.get("losses", DEFAULT_COMPARE_LOSSES))
    for step in solution:
        names += [n for n in step.values.get("losses", ()) if n not in names]
    return tuple(names)


# --------------------------------------------------------------------------------------------
# The body
# --------------------------------------------------------------------------------------------


def _read_body(body: str, first_line: int, unit: str, questions: tuple[Question, ...], checks: tuple[Check, ...],
               dim: int, r: Reader) -> tuple[Block, ...]:
    blocks: list[Block] = []
    prose: list[str] = []
    placed: set[tuple[str, str]] = set()
    known = {"question": {q.id for q in questions}, "check": {c.id for c in checks}}

    def flush() -> None:
        text = "\n".join(prose).strip()
        if text:
            blocks.append(Block("prose", text))
        prose.clear()

    for offset, line in enumerate(body.splitlines()):
        where = f"body line {first_line + offset}"
        marker = _MARKER.fullmatch(line.strip())
        if marker is None:
            r.fill(line, where, dim)
            prose.append(line)
            continue
        kind, name = marker.group(1), marker.group(2)
        if kind == "view":
            if name not in VIEWS[unit]:
                views = ", ".join(VIEWS[unit])
                raise r.fail(where, f"unknown view {name!r} for a {unit} lesson; the views are {views}")
        elif kind in known:
            if name not in known[kind]:
                raise r.fail(where, f"[{kind}: {name}] names no {kind} of this lesson")
            if (kind, name) in placed:
                raise r.fail(where, f"the {kind} {name!r} is placed twice")
            placed.add((kind, name))
        elif kind == withhold.MARKER:
            withhold.check_marker(name, known["question"], {n for k, n in placed if k == "question"}, where, r)
        else:
            raise r.fail(where, f"unknown marker [{kind}: …]; markers are [view: NAME], [question: ID], "
                                "[check: ID], [after: ID]")
        flush()
        blocks.append(Block(kind, name))
    flush()
    blocks = withhold.attach(blocks, "body", r)
    blocks += [Block("question", q.id) for q in questions if ("question", q.id) not in placed]
    blocks += [Block("check", c.id) for c in checks if ("check", c.id) not in placed]
    return tuple(blocks)


# --------------------------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------------------------


def lesson_files(folder: Path | str = LESSONS_DIR) -> list[Path]:
    """Every lesson file of a folder (*.md except README.md), by name."""
    return sorted(p for p in Path(folder).glob("*.md") if p.name.lower() != "readme.md")


def _scan(folder: Path | str) -> tuple[list[Lesson], list[str]]:
    lessons, problems = [], []
    for path in lesson_files(folder):
        try:
            lessons.append(load_lesson(path))
        except LessonError as err:
            problems.append(str(err))
    for attribute in ("id", "number"):
        seen: dict[Any, Lesson] = {}
        for lesson in sorted(lessons, key=lambda item: item.path.name):
            value = getattr(lesson, attribute)
            if value in seen:
                other = Reader(seen[value].path).name
                clash = Reader(lesson.path).fail(attribute, f"{value!r} is also the {attribute} of {other}")
                problems.append(str(clash))
            seen[value] = lesson
    return sorted(lessons, key=lambda item: item.number), problems


def load_lessons(folder: Path | str = LESSONS_DIR) -> list[Lesson]:
    """Every lesson in `folder`, sorted by number; LessonError for the first problem."""
    lessons, problems = _scan(folder)
    if problems:
        raise LessonError(problems[0])
    return lessons


def lesson_problems(folder: Path | str = LESSONS_DIR) -> list[str]:
    """One sentence per problem in `folder` (an empty list when every lesson is fine)."""
    return _scan(folder)[1]


def load_all(folder: str = str(LESSONS_DIR)) -> tuple[list[Lesson], list[str]]:
    """The lessons that validate, in order, and one sentence for each file that does not (it is left out;
    a lesson whose id or number repeats an earlier one is left out too)."""
    lessons, problems, seen = [], [], {}
    for path in sorted(Path(folder).glob("[0-9]*.md")):
        try:
            lesson = load_lesson(path)
        except LessonError as error:
            problems.append(str(error))
            continue
        for what, value in (("id", lesson.id), ("number", lesson.number)):
            if (what, value) in seen:
                problems.append(f"{path.name}: {what}: {value!r} is already used by {seen[what, value]}; "
                                "this lesson is left out.")  # fmt: skip
                break
        else:
            seen["id", lesson.id] = seen["number", lesson.number] = path.name
            lessons.append(lesson)
    return sorted(lessons, key=lambda lesson: lesson.number), problems


__all__ = ["COMPARE_VIEWS", "LESSONS_DIR", "LIVE_VIEWS", "LOSSES", "METRICS", "VIEWS", "Block", "Check", "Lesson",
           "LessonError", "Question", "SolutionStep", "lesson_files", "lesson_problems", "load_all", "load_lesson",
           "load_lessons"]
