"""The typed reader behind lesson files: each field read with one LessonError naming the file and the field.

    r = Reader(Path("lessons/05-arcface.md"))
    r.integer(data, "number", "", 1, 99)      # the value, or LessonError("lessons/05-arcface.md: number: ...")
    raise r.fail("preset.m", "2 is above ArcFace's maximum 1.57 rad")

app.lessons.format reads the file with it; app.lessons.tasks (questions, checks) and app.lessons.presets take
it as `r`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.lessons import numbers

REPO = Path(__file__).resolve().parents[2]
CLASSES_AT_VALIDATION = 10  # every shipped dataset has ten classes (digits, MNIST, Fashion-MNIST)


class LessonError(ValueError):
    """A lesson file that cannot be used; str() is one sentence naming the file, the field and the problem."""


class Reader:
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
                raise self.fail(join(where, key), f"unknown key; the keys here are {', '.join(allowed)}")
        for key in required:
            if key not in table:
                raise self.fail(join(where, key), "missing (it is required)")

    def text(self, table: Mapping, key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.fail(join(where, key), f"expected text, got {describe(value)}")
        return value

    def integer(self, table: Mapping, key: str, where: str, low: int, high: int | None = None) -> int:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(join(where, key), f"expected a whole number, got {describe(value)}")
        if value < low or (high is not None and value > high):
            span = f"{low} to {high}" if high is not None else f"at least {low}"
            raise self.fail(join(where, key), f"{value} is out of range ({span})")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {describe(value)}")
        return float(value)

    def texts(self, table: Mapping, key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(join(where, key), f"expected a list of texts, got {describe(value)}")
        return tuple(value)

    def table(self, table: Mapping, key: str, where: str) -> dict:
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(join(where, key), f"expected a table, got {describe(value)}")
        return value

    def fill(self, text: str, where: str, dim: int) -> None:
        try:
            numbers.fill(text, classes=CLASSES_AT_VALIDATION, dim=dim)
        except ValueError as err:
            raise self.fail(where, str(err)) from None


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def describe(value: Any) -> str:
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
