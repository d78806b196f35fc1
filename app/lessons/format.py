"""Lesson files: TOML front matter between two `+++` lines, then Markdown. Parsed and validated, never run.

    lesson = load_lesson(Path("lessons/05-arcface.md"))   # Lesson, or LessonError
    lessons = load_lessons()                              # every lesson, sorted by number
    lesson_problems()                                     # one sentence per bad file, for the app

Every problem is a LessonError whose message is one sentence naming the file, the field and the problem:
"lessons/05-arcface.md: preset.m: Lesson file value m=2 is above ArcFace's maximum 1.57 rad." The
author's guide (lessons/README.md) documents every field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import state
from app.compat import tomllib
from app.lessons import numbers, presets, withhold
from app.lessons.presets import SolutionStep
from toy_models.heads import LOSSES
from toy_models.train import DEFAULT_COMPARE_LOSSES

REPO = Path(__file__).resolve().parents[2]
LESSONS_DIR = REPO / "lessons"

LIVE_VIEWS = ("sphere", "angle_histograms", "target_logit", "decision_margins", "angle_statistics",
              "training_curves")
COMPARE_VIEWS = ("compare", "papers_figures", "open_set_verification", "margin_sweep")
VIEWS = {"live": LIVE_VIEWS, "compare": COMPARE_VIEWS}
UNITS = ("live", "compare")
METRICS = ("epoch", "test_accuracy", "train_accuracy", "loss", "w_ec_deg", "w_inter_deg", "intra_deg",
           "inter_deg", "min_center_angle_deg", "stuck_classes", "norm_ratio", "verification_auc")
CLASSES_AT_VALIDATION = 10  # every shipped dataset has ten classes (digits, MNIST, Fashion-MNIST)
_ID = re.compile(r"[a-z0-9-]+")
_MARKER = re.compile(r"\[([A-Za-z_]+):\s*(.*?)\s*\]")
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


class LessonError(ValueError):
    """A lesson file that cannot be used; str() is one sentence naming the file, the field and the problem."""


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # "choice" or "number"
    prompt: str
    options: tuple[str, ...]
    answer: float | int | str  # choice: index into options; number: a number or one placeholder
    tolerance: float | None
    unit: str
    explanation: str
    view: str | None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    settings: dict
    at_most: dict
    at_least: dict
    within_epochs: int | None
    reach: dict
    stay_below: dict
    member: str | None
    feedback: str


@dataclass(frozen=True)
class Block:
    kind: str  # "prose", "view", "question" or "check"
    text_or_name: str
    after: tuple[str, ...] = ()  # prose held back until these questions are answered (app.lessons.withhold)


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

    def question(self, id: str) -> Question:
        return next(q for q in self.questions if q.id == id)

    def check(self, id: str) -> Check:
        return next(c for c in self.checks if c.id == id)

    @property
    def dim(self) -> int:
        """The preset's embedding dimension (for placeholders before the learner changed anything)."""
        return int(presets.clean_shared(self.preset)["embedding_dim"])


# --------------------------------------------------------------------------------------------
# Small typed readers: each failure is one LessonError naming the field
# --------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.name = str(path.resolve().relative_to(REPO))
        except ValueError:
            self.name = str(path)

    def fail(self, where: str, problem: str) -> LessonError:
        return LessonError(f"{self.name}: {where}: {problem.rstrip('.')}.")

    def keys(self, table: Mapping, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(_join(where, key), f"unknown key; the keys here are {', '.join(allowed)}")
        for key in required:
            if key not in table:
                raise self.fail(_join(where, key), "missing (it is required)")

    def text(self, table: Mapping, key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(_join(where, key), f"expected text, got {_kind(value)}")
        return value

    def integer(self, table: Mapping, key: str, where: str, low: int, high: int | None = None) -> int:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(_join(where, key), f"expected a whole number, got {_kind(value)}")
        if value < low or (high is not None and value > high):
            span = f"{low} to {high}" if high is not None else f"at least {low}"
            raise self.fail(_join(where, key), f"{value} is out of range ({span})")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {_kind(value)}")
        return float(value)

    def texts(self, table: Mapping, key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(_join(where, key), f"expected a list of texts, got {_kind(value)}")
        return tuple(value)

    def table(self, table: Mapping, key: str, where: str) -> dict:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(_join(where, key), f"expected a table, got {_kind(value)}")
        return value

    def fill(self, text: str, where: str, dim: int) -> None:
        try:
            numbers.fill(text, classes=CLASSES_AT_VALIDATION, dim=dim)
        except ValueError as err:
            raise self.fail(where, str(err)) from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, str):
        return f"the text {value[:30]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------------

_TOP_KEYS = ("id", "number", "title", "version", "minutes", "summary", "objectives", "unit", "locked", "hidden",
             "preset", "solution", "questions", "checks")
_TOP_REQUIRED = ("id", "number", "title", "version", "minutes", "summary", "objectives", "unit", "preset",
                 "solution", "questions", "checks")


def split_front_matter(text: str, r: _Reader) -> tuple[str, str, int]:
    """(TOML text, Markdown body, the file line the body starts on)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise r.fail("front matter", "the file must start with a line holding exactly +++")
    for index in range(1, len(lines)):
        if lines[index].strip() == "+++":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1:]), index + 2
    raise r.fail("front matter", "no closing line holding exactly +++")


def parse_toml(front: str, r: _Reader) -> dict:
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
    r = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise r.fail("file", f"cannot be read ({err.__class__.__name__})") from None
    front, body, body_line = split_front_matter(text, r)
    data = parse_toml(front, r)
    r.keys(data, _TOP_KEYS, _TOP_REQUIRED, "")

    lesson_id = r.text(data, "id", "")
    if not _ID.fullmatch(lesson_id):
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

    preset = presets.read_preset(r.table(data, "preset", ""), unit, r)
    dim = int(presets.clean_shared(preset, r, "preset")["embedding_dim"])
    solution = presets.read_solution(data["solution"], preset, unit, r)
    for text_key in ("title", "summary"):
        r.fill(data[text_key], text_key, dim)
    for i, objective in enumerate(objectives):
        r.fill(objective, f"objectives[{i + 1}]", dim)

    questions = _read_questions(data["questions"], unit, dim, r)
    losses = _member_losses(preset, solution) if unit == "compare" else ()
    default_loss = str(preset.get("loss", state.defaults()["loss"]))
    checks = _read_checks(data["checks"], unit, losses, r, dim, default_loss)
    blocks = _read_body(body, body_line, unit, questions, checks, dim, r)
    return Lesson(lesson_id, number, title, version, minutes, summary, objectives, unit, preset, locked, hidden,
                  solution, questions, checks, blocks, path)


def _member_losses(preset: dict, solution: tuple[SolutionStep, ...]) -> tuple[str, ...]:
    names = list(preset.get("losses", DEFAULT_COMPARE_LOSSES))
    for step in solution:
        names += [n for n in step.values.get("losses", ()) if n not in names]
    return tuple(names)


# --------------------------------------------------------------------------------------------
# Questions, checks, body
# --------------------------------------------------------------------------------------------

_QUESTION_KEYS = ("id", "kind", "prompt", "options", "answer", "tolerance", "unit", "explanation", "view")
_CHECK_KEYS = ("id", "title", "settings", "at_most", "at_least", "within_epochs", "reach", "stay_below", "member",
               "feedback")


def _tables(value: Any, key: str, r: _Reader, at_least: int) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise r.fail(key, f"expected an array of tables ([[{key}]]), got {_kind(value)}")
    if len(value) < at_least:
        raise r.fail(key, f"a lesson needs at least {at_least} of them, found {len(value)}")
    return value


def _where(array: str, index: int, table: dict) -> str:
    """How a field of an array entry is named: by its id when it has a usable one, else by position."""
    ident = table.get("id")
    return f"{array}.{ident}" if isinstance(ident, str) and _ID.fullmatch(ident) else f"{array}[{index}]"


def _unique_id(table: dict, where: str, seen: set, r: _Reader) -> str:
    ident = r.text(table, "id", where)
    if not _ID.fullmatch(ident):
        raise r.fail(f"{where}.id", f"{ident!r} must use only a-z, 0-9 and -")
    if ident in seen:
        raise r.fail(f"{where}.id", f"duplicate id {ident!r}")
    seen.add(ident)
    return ident


def _read_questions(value: Any, unit: str, dim: int, r: _Reader) -> tuple[Question, ...]:
    out, seen = [], set()
    for i, table in enumerate(_tables(value, "questions", r, 2), start=1):
        where = _where("questions", i, table)
        r.keys(table, _QUESTION_KEYS, ("id", "kind", "prompt", "answer", "explanation"), where)
        ident = _unique_id(table, where, seen, r)
        where = f"questions.{ident}"
        kind = r.text(table, "kind", where)
        prompt, explanation = r.text(table, "prompt", where), r.text(table, "explanation", where)
        unit_text = r.text(table, "unit", where, "")
        options = r.texts(table, "options", where)
        for key, text in (("prompt", prompt), ("explanation", explanation)):
            r.fill(text, f"{where}.{key}", dim)
        for j, option in enumerate(options, start=1):
            r.fill(option, f"{where}.options[{j}]", dim)
        view = table.get("view")
        if view is not None and (not isinstance(view, str) or view not in VIEWS[unit]):
            raise r.fail(f"{where}.view", f"{view!r} is not a view of a {unit} lesson; the views are "
                                          f"{', '.join(VIEWS[unit])}")
        answer = table["answer"]
        tolerance = None
        if kind == "choice":
            if len(options) < 2:
                raise r.fail(f"{where}.options", "a choice question needs at least two options")
            if isinstance(answer, bool) or not isinstance(answer, int):
                raise r.fail(f"{where}.answer", f"expected the 0-based index of an option, got {_kind(answer)}")
            if not 0 <= answer < len(options):
                raise r.fail(f"{where}.answer", f"{answer} is out of range (0 to {len(options) - 1}, 0-based)")
            if "tolerance" in table:
                raise r.fail(f"{where}.tolerance", "only a number question has a tolerance")
        elif kind == "number":
            if options:
                raise r.fail(f"{where}.options", "a number question has no options")
            if isinstance(answer, str):
                if numbers.single_placeholder(answer) is None:
                    raise r.fail(f"{where}.answer", "a text answer must be exactly one placeholder {{ name(args) }}")
                r.fill(answer, f"{where}.answer", dim)
            else:
                answer = r.number(answer, f"{where}.answer")
            if "tolerance" not in table:
                raise r.fail(f"{where}.tolerance", "missing (a number question needs one)")
            tolerance = r.number(table["tolerance"], f"{where}.tolerance")
            if tolerance < 0:
                raise r.fail(f"{where}.tolerance", f"{tolerance:g} is negative")
        else:
            raise r.fail(f"{where}.kind", f"{kind!r} is not a question kind; use \"choice\" or \"number\"")
        out.append(Question(ident, kind, prompt, options, answer, tolerance, unit_text, explanation, view))
    return tuple(out)


def _read_checks(value: Any, unit: str, losses: tuple[str, ...], r: _Reader, dim: int,
                 default_loss: str) -> tuple[Check, ...]:
    out, seen = [], set()
    url_keys = state.all_url_keys() | {"loss"}
    for i, table in enumerate(_tables(value, "checks", r, 1), start=1):
        where = _where("checks", i, table)
        r.keys(table, _CHECK_KEYS, ("id", "title", "feedback"), where)
        ident = _unique_id(table, where, seen, r)
        where = f"checks.{ident}"
        title, feedback = r.text(table, "title", where), r.text(table, "feedback", where)
        r.fill(title, f"{where}.title", dim)
        r.fill(feedback, f"{where}.feedback", dim)
        if not feedback.strip():
            raise r.fail(f"{where}.feedback", "empty; say what to try when the check fails")
        member = table.get("member")
        if unit == "compare":
            if member is None:
                raise r.fail(f"{where}.member", "missing (a compare lesson's check names whose run it checks)")
            member = r.text(table, "member", where)
            if member not in losses:
                raise r.fail(f"{where}.member", f"{member!r} is not one of the compared losses ({', '.join(losses)})")
        elif member is not None:
            raise r.fail(f"{where}.member", "only a compare lesson's check names a member")
        settings = r.table(table, "settings", where)
        for key, wanted in settings.items():
            if key not in url_keys:
                raise r.fail(f"{where}.settings.{key}", "not a setting (a share-link key such as loss, m, s, dim)")
            if isinstance(wanted, (dict, list)):
                raise r.fail(f"{where}.settings.{key}", f"expected one value, got {_kind(wanted)}")
        loss = member if unit == "compare" else settings.get("loss", default_loss)
        for key, wanted in settings.items():
            presets.check_constraint(str(loss), key, wanted, f"{where}.settings.{key}", r, numeric=False)
        limits = {}
        for name in ("at_most", "at_least"):
            limits[name] = r.table(table, name, where)
            for key, limit in limits[name].items():
                if key not in url_keys:
                    raise r.fail(f"{where}.{name}.{key}", "not a setting (a share-link key such as m, s, lr)")
                r.number(limit, f"{where}.{name}.{key}")
                presets.check_constraint(str(loss), key, limit, f"{where}.{name}.{key}", r, numeric=True)
        targets = {}
        for name in ("reach", "stay_below"):
            targets[name] = r.table(table, name, where)
            for metric, target in targets[name].items():
                if metric not in METRICS:
                    raise r.fail(f"{where}.{name}.{metric}", f"unknown metric; the metrics are {', '.join(METRICS)}")
                r.number(target, f"{where}.{name}.{metric}")
        if not targets["reach"] and not targets["stay_below"]:
            raise r.fail(f"{where}.reach", "a check needs a target in reach or stay_below")
        within = r.integer(table, "within_epochs", where, 1, 10_000) if "within_epochs" in table else None
        out.append(Check(ident, title, dict(settings), {k: float(v) for k, v in limits["at_most"].items()},
                         {k: float(v) for k, v in limits["at_least"].items()}, within,
                         {k: float(v) for k, v in targets["reach"].items()},
                         {k: float(v) for k, v in targets["stay_below"].items()}, member, feedback))
    return tuple(out)


def _read_body(body: str, first_line: int, unit: str, questions: tuple[Question, ...], checks: tuple[Check, ...],
               dim: int, r: _Reader) -> tuple[Block, ...]:
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
                other = _Reader(seen[value].path).name
                clash = _Reader(lesson.path).fail(attribute, f"{value!r} is also the {attribute} of {other}")
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
