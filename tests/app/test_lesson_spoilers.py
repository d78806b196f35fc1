"""No spoilers: for every question of every lesson, the page does not show its answer before it is answered.

The page is read as a student reads it: every Markdown block, caption, alert and metric, in the main column and
the sidebar (a choice question's own options are the only place its right option may appear). It is read twice
before the answer, at the lesson's preset and with the worked solution's settings (where the student's own
moves take them: a circle, a sphere, another margin), and once after: then the answer shows, and so does the
prose held back by `[after: ID]`.

A number is looked for at the precision its tolerance states (tolerance 1 -> "36"; 0.02 -> "0.19") and at the
three significant digits placeholders print ("36.0", "0.191").
"""

from __future__ import annotations

import math
import re

import pytest
from apphelpers import texts
from lessonhelpers import apply_live, open_lesson

from app.lessons import load_lessons, numbers, presets, withhold

LESSONS = load_lessons()
CLASSES = 10  # every shipped dataset has ten classes
CASES = [pytest.param(lesson, question, id=f"{lesson.id}-{question.id}") for lesson in LESSONS
         for question in lesson.questions]  # fmt: skip


def shown(at) -> str:
    """Everything a student can read on the page (radio options aside)."""
    parts = [*texts(at.markdown), *texts(at.caption), *texts(at.warning), *texts(at.info), *texts(at.success),
             *texts(at.error), *texts(at.title), *texts(at.header), *texts(at.subheader)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def number_patterns(value: float, tolerance: float, unit: str, printed: str) -> list[re.Pattern]:
    """The ways a page may print `value`: at the tolerance's precision, at three significant digits, and as its
    placeholder prints it (`printed`). A whole number is looked for with its unit ("36°"): "10" alone is more
    often "10 classes" than an answer."""
    places = max(0, math.ceil(-math.log10(tolerance))) if tolerance > 0 else 3
    sign = "[-−]" if value < 0 else ""
    # Not part of a longer number: no digit or decimal point before it, no further digit after it.
    patterns = [rf"(?<![\d.]){sign}{re.escape(text.lstrip('-−'))}(?!\.?\d)"
                for text in sorted({numbers.format_number(abs(value)), printed})]
    rounded = f"{abs(value):.{places}f}"
    if places or unit:
        patterns.append(rf"(?<![\d.]){sign}{re.escape(rounded)}(?!\.?\d)" + (rf"\s?{re.escape(unit)}" * (not places)))
    return [re.compile(p) for p in patterns]


def answer_text(lesson, question, dim: int) -> str | list[re.Pattern]:
    if question.kind == "choice":
        return numbers.fill(question.options[int(question.answer)], classes=CLASSES, dim=dim)
    value = numbers.number_answer(question, classes=CLASSES, dim=dim)
    printed = numbers.fill(str(question.answer), classes=CLASSES, dim=dim)  # a typed-in number: as typed
    return number_patterns(value, float(question.tolerance), question.unit, printed)


def assert_not_shown(page: str, answer, where: str) -> None:
    if isinstance(answer, str):
        assert answer not in page, f"{where}: the right option's text is on the page before the answer"
    else:
        for pattern in answer:
            found = pattern.search(page)
            context = page[max(0, found.start() - 80): found.end() + 40] if found else ""
            assert found is None, f"{where}: the answer {pattern.pattern!r} shows before it is given: …{context}…"


def answer(at, lesson, question, dim: int) -> None:
    key = f"lesson-{lesson.id}-q-{question.id}"
    if question.kind == "choice":
        at.radio(key=f"{key}-choice").set_value(int(question.answer))
    else:
        value = numbers.number_answer(question, classes=CLASSES, dim=dim)
        at.number_input(key=f"{key}-number").set_value(round(value, 2))
    [submit] = [b for b in at.button if b.proto.form_id == f"{key}-form"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]


def dim_of(at, lesson) -> int:
    if lesson.unit == "live":
        return int(at.session_state[f"lesson-{lesson.id}-values"]["embedding_dim"])
    return lesson.dim


@pytest.mark.parametrize(("lesson", "question"), CASES)
def test_a_question_s_answer_shows_only_once_it_is_answered(lesson, question):
    at = open_lesson(lesson.id)
    dim = dim_of(at, lesson)
    assert_not_shown(shown(at), answer_text(lesson, question, dim), f"{lesson.id} at its preset")
    held = [b for b in lesson.blocks if question.id in b.after]
    for block in held:
        text = numbers.fill(block.text_or_name, classes=CLASSES, dim=dim)
        assert text not in texts(at.markdown), f"held-back prose shows before {question.id} is answered: {text[:60]}"
    if held:  # in its place, one line says why
        assert any(c.endswith("The next paragraph shows once you have answered the question above.")
                   for c in texts(at.caption))

    if lesson.unit == "live":  # where the student's own moves take the run: the worked solution's settings
        for step in lesson.solution:
            apply_live(at, f"lesson-{lesson.id}", {**lesson.preset, **step.values})
            dim = dim_of(at, lesson)
            assert_not_shown(shown(at), answer_text(lesson, question, dim),
                             f"{lesson.id} with the solution's settings {presets.live_values(step.values)}")

    answer(at, lesson, question, dim)
    page = shown(at)
    expected = answer_text(lesson, question, dim)
    if isinstance(expected, str):
        assert expected in page
    else:
        assert any(p.search(page) for p in expected), f"the answer of {question.id} does not show once answered"
    for block in held:  # (prose waiting for another question too stays back)
        text = numbers.fill(block.text_or_name, classes=CLASSES, dim=dim)
        assert (text in texts(at.markdown)) == (block.after == (question.id,)), f"{block.after}: {text[:60]}"


def test_open_questions_withhold_the_facts_their_answers_are():
    cosface = next(lesson for lesson in LESSONS if lesson.id == "cosface")
    everything = withhold.withheld_facts(cosface, ())
    assert everything == {"margin_limit:2:*", "margin_limit:3:*"}
    assert withhold.withheld_facts(cosface, {"largest-circle"}) == {"margin_limit:3:*"}
    assert withhold.withheld_facts(cosface, {q.id for q in cosface.questions}) == frozenset()
