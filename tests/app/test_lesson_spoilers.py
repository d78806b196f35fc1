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

from app.components.live_plotly import find_live_plotly
from app.lessons import load_lessons, numbers, presets, withhold
from app.lessons.checks import CheckResult
from app.live.notes import MARGIN_WITHHELD

LESSONS = load_lessons()
CLASSES = 10  # every shipped dataset has ten classes
CASES = [pytest.param(lesson, question, id=f"{lesson.id}-{question.id}") for lesson in LESSONS
         for question in lesson.questions]  # fmt: skip


def shown(at) -> str:
    """Everything a student can read on the page (radio options aside), as read: without Markdown's escapes
    (a check's title is escaped, "0\\.19")."""
    parts = [*texts(at.markdown), *texts(at.caption), *texts(at.warning), *texts(at.info), *texts(at.success),
             *texts(at.error), *texts(at.title), *texts(at.header), *texts(at.subheader)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return _MD_ESCAPE.sub(r"\1", "\n".join(parts))


_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~$:])")
HELD_CHECK = "This check shows once you have answered the question above."


def fail_every_check(at, lesson) -> None:
    """Every check as a failed run shows it (its reason and feedback under its title), as if the student had
    trained and missed: the feedback is on the page before any question is answered."""
    at.session_state[f"lesson-{lesson.id}-results"] = {
        check.id: (CheckResult(check.id, "failed", f"Missed on this run ({check.id}).", check.feedback), 1)
        for check in lesson.checks}  # fmt: skip
    at.run()
    assert not at.exception, [e.value for e in at.exception]


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
    held = [b for b in lesson.blocks if b.kind == "prose" and question.id in b.after]
    for block in held:
        text = numbers.fill(block.text_or_name, classes=CLASSES, dim=dim)
        assert text not in texts(at.markdown), f"held-back prose shows before {question.id} is answered: {text[:60]}"
    if held:  # in its place, one line says why
        assert any(c.endswith("The next paragraph shows once you have answered the question above.")
                   for c in texts(at.caption))

    # The checks: each title shows from the start, and a failed check's reason and feedback (what to try) show
    # before the question is answered too, unless `[after: ID]` holds the check back.
    fail_every_check(at, lesson)
    page = shown(at)
    held_checks = [b.text_or_name for b in lesson.blocks if b.kind == "check" and b.after]
    for check in lesson.checks:
        if check.id in held_checks:
            assert f"Missed on this run ({check.id})." not in page, f"{check.id} is held back, yet shows"
        else:
            assert f"Missed on this run ({check.id})." in page, f"{check.id}'s failure is not on the page"
            assert numbers.fill(check.title, classes=CLASSES, dim=dim) in page, f"{check.id}'s title is not shown"
    assert sum(c.endswith(HELD_CHECK) for c in texts(at.caption)) == len(held_checks)
    assert_not_shown(page, answer_text(lesson, question, dim), f"{lesson.id}'s checks, failed, at its preset")

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
    for block in lesson.blocks:  # a check waiting for this question alone shows now, with its failure
        if block.kind == "check" and block.after == (question.id,):
            assert f"Missed on this run ({block.text_or_name})." in page, f"{block.text_or_name} still held back"


def test_open_questions_withhold_the_facts_their_answers_are():
    cosface = next(lesson for lesson in LESSONS if lesson.id == "cosface")
    everything = withhold.withheld_facts(cosface, ())
    assert everything == {"margin_limit:2:*", "margin_limit:3:*"}
    assert withhold.withheld_facts(cosface, {"largest-circle"}) == {"margin_limit:3:*"}
    assert withhold.withheld_facts(cosface, {q.id for q in cosface.questions}) == frozenset()
    # A choice question names what it keeps back: lesson 8's sphere-scale, the sphere's scale warning's number.
    lesson8 = next(lesson for lesson in LESSONS if lesson.id == "choosing-s-and-m")
    assert "scale_bound:3:8" in withhold.withheld_facts(lesson8, {"digits-bound", "sphere-bound"})
    assert "scale_bound:3:8" not in withhold.withheld_facts(lesson8, {"sphere-scale"})


def dims_of(lesson) -> set[int]:
    """The dimensions a student meets in the lesson: its own, and those its worked solution moves to."""
    return {int(lesson.dim), *(int(step.values["embedding_dim"]) for step in lesson.solution
                               if "embedding_dim" in step.values)}  # fmt: skip


@pytest.mark.parametrize(("lesson", "question"), CASES)
def test_no_title_objective_summary_or_check_wording_states_an_answer(lesson, question):
    """What shows before any question (the lesson list's summary, the objectives, every check's title and feedback
    not held back by `[after: ID]`) states no answer, in every dimension the lesson visits. (The rendered test
    above reads the same on the page at the preset; this one reads every check and every dimension, quickly.)"""
    held = {b.text_or_name for b in lesson.blocks if b.kind == "check" and question.id in b.after}
    words = [lesson.title, lesson.summary, *lesson.objectives]
    words += [text for check in lesson.checks if check.id not in held for text in (check.title, check.feedback)]
    for dim in sorted(dims_of(lesson)):
        page = "\n".join(numbers.fill(text, classes=CLASSES, dim=dim) for text in words)
        assert_not_shown(page, answer_text(lesson, question, dim), f"{lesson.id} (dim {dim}): before the answer")


def test_a_check_held_back_is_judged_and_shows_once_answered():
    """`[after: ID]` above a check: the check's box says why it is empty until ID is answered, then shows the
    check with the result its run already has."""
    lesson = next(lesson for lesson in LESSONS if lesson.id == "gradient")
    [block] = [b for b in lesson.blocks if b.kind == "check" and b.after]
    at = open_lesson(lesson.id)
    fail_every_check(at, lesson)
    assert f"Missed on this run ({block.text_or_name})." not in shown(at)
    for name in block.after:
        answer(at, lesson, lesson.question(name), dim_of(at, lesson))
    assert f"Missed on this run ({block.text_or_name})." in shown(at)
    assert not any(c.endswith(HELD_CHECK) for c in texts(at.caption))


def test_a_margin_question_keeps_back_the_limit_in_a_dimension_no_question_asks_about():
    """Lesson 5 asks for the circle's largest margin only: the sphere's note (m < 1.15 rad, the widest spacing)
    would state the rule, so it waits too. Lesson 4 asks about both: each question keeps back its own."""
    arcface = next(lesson for lesson in LESSONS if lesson.id == "arcface")
    assert withhold.withheld_facts(arcface, ()) == {"margin_limit:2:*", "margin_limit:3:*"}
    assert withhold.withheld_facts(arcface, {q.id for q in arcface.questions}) == frozenset()
    at = open_lesson(arcface.id)  # on its preset's sphere: the note says why it is short, not the rule
    assert dim_of(at, arcface) == 3 and MARGIN_WITHHELD[1] in texts(at.caption)
    assert "widest spacing" not in shown(at)
    answer(at, arcface, arcface.question("largest"), 3)
    assert "widest spacing" in shown(at) and MARGIN_WITHHELD[1] not in texts(at.caption)


def test_a_view_that_draws_an_answer_waits_for_it():
    """Lesson 3's target-logit curve reaches ψ(180°) = −7, the answer to psi-end: `[after: psi-end]` above
    `[view: target_logit]` keeps the chart off the page (its place says why) until the question is answered."""
    lesson = next(lesson for lesson in LESSONS if lesson.id == "sphereface")
    [block] = [b for b in lesson.blocks if b.kind == "view" and b.after]
    assert (block.text_or_name, block.after) == ("target_logit", ("psi-end",))
    at = open_lesson(lesson.id)
    chart_key = f"lesson-{lesson.id}-target-logit"
    with pytest.raises(LookupError):
        find_live_plotly(at, chart_key)
    assert any(c.startswith("This view shows the answer to the question beside it") for c in texts(at.caption))
    answer(at, lesson, lesson.question("psi-end"), dim_of(at, lesson))
    assert find_live_plotly(at, chart_key)
    assert not any(c.startswith("This view shows the answer to the question beside it") for c in texts(at.caption))
