"""Every shipped lesson through AppTest: it renders with its preset, its locked controls are disabled and its
hidden ones absent, a question reveals its answer only once answered, and its checks pass on the student's
own run when the worked solution is followed through the controls; then the list shows it passed."""

from __future__ import annotations

import pytest
from apphelpers import ENTRY, texts
from lessonhelpers import (
    LESSONS_PAGE,
    apply_compare,
    apply_live,
    open_lesson,
    passed,
    train_until_passed,
    widget,
)
from streamlit.testing.v1 import AppTest

from app import state
from app.compare.values import parse_preset
from app.lessons import load_lessons, numbers, presets
from app.lessons.page import load_all
from app.live.controls import widget_key

LESSONS = load_lessons()


def shown(at) -> str:
    return "\n".join(texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.error))


def control_keys(lesson, name: str) -> list[str]:
    """The widget keys of a control (by Param name) in the lesson's unit (a member control: every member's)."""
    unit = f"lesson-{lesson.id}"
    if name in ("losses", "loss") and lesson.unit == "compare":
        return [f"{unit}-losses"]
    if lesson.unit == "compare":
        losses = presets.compare_losses(lesson.preset)
        p = state.param_by_name("arcface", name)
        if p is not None and name not in ("margin", "scale", "gradient"):
            return [widget_key(unit, p.key)]
        params = [(loss, state.param_by_name(loss, name)) for loss in losses]
        return [widget_key(f"{unit}-{loss}", p.key) for loss, p in params if p is not None and not p.parts]
    p = state.param_by_name(lesson.preset.get("loss", "arcface"), name)
    if p is None:
        return []
    return [widget_key(unit, part.key) for part in p.parts] if p.parts else [widget_key(unit, p.key)]


def answer(at, lesson, question) -> None:
    key = f"lesson-{lesson.id}-q-{question.id}"
    if question.kind == "choice":
        at.radio(key=f"{key}-choice").set_value(int(question.answer))
    else:
        value = numbers.number_answer(question, classes=10, dim=lesson.dim)
        at.number_input(key=f"{key}-number").set_value(round(value, 1))
    [submit] = [b for b in at.button if b.proto.form_id == f"{key}-form"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_nine_lessons_are_listed_with_their_minutes_and_marks():
    at = open_lesson(None)
    cards = [c for c in texts(at.caption) if " min · " in c]
    assert len(LESSONS) >= 9 and len(cards) == len(LESSONS)
    assert all(c.endswith("not started") for c in cards)


def test_an_unknown_lesson_gets_one_sentence_and_the_list():
    at = open_lesson("no-such-lesson")
    [warning] = texts(at.warning)
    assert warning.startswith("There is no lesson 'no-such-lesson'; the lessons are softmax,")
    assert len([c for c in texts(at.caption) if " min · " in c]) == len(LESSONS)


def test_a_bad_lesson_file_is_named_in_one_sentence_and_the_others_still_load(tmp_path):
    good = LESSONS[0].path.read_text()
    (tmp_path / "01-good.md").write_text(good)
    (tmp_path / "02-bad.md").write_text(good.replace('id = "', 'id = "other-').replace("number = 1", "number = 2")
                                        .replace("[preset]", "[preset]\nspeed = 3", 1))  # fmt: skip
    lessons, problems = load_all(str(tmp_path))
    assert [lesson.id for lesson in lessons] == [LESSONS[0].id]
    [problem] = problems
    assert problem.startswith("02-bad.md") or "02-bad.md" in problem.split(":")[0]
    assert "speed" in problem and problem.count(". ") <= 1


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_a_lesson_from_preset_to_passed_checks(lesson):
    at = open_lesson(lesson.id)
    unit = f"lesson-{lesson.id}"
    assert [t.value for t in at.title] == [f"{lesson.number}. {lesson.title}"]

    # The preset is applied.
    if lesson.unit == "compare":
        preset = parse_preset(lesson.preset)
        run = at.session_state[f"{unit}-run"]
        assert tuple(c.loss for c in run.multi.configs) == tuple(presets.compare_losses(lesson.preset))
        assert {k: at.session_state[f"{unit}-shared"][k] for k in preset.shared} == preset.shared
    else:
        values = at.session_state[f"{unit}-values"]
        wanted = presets.live_values(lesson.preset)
        assert {name: values[name] for name in wanted} == wanted

    # Locked controls are disabled; hidden ones are not drawn.
    for name in lesson.locked:
        for key in control_keys(lesson, name):
            assert widget(at, key).disabled, key
    for name in lesson.hidden:
        for key in control_keys(lesson, name):
            with pytest.raises(KeyError):
                widget(at, key)

    # Predict, then reveal: the explanation shows only once the question is answered.
    question = lesson.questions[0]
    explanation = numbers.fill(question.explanation, classes=10, dim=lesson.dim)[:60]
    assert explanation not in shown(at)
    answer(at, lesson, question)
    assert explanation in shown(at)
    assert any(s.startswith("Right:") for s in texts(at.success))

    # The worked solution, followed through the controls, passes every check on the page's own run.
    for step in lesson.solution:
        if lesson.unit == "compare":
            apply_compare(at, unit, step.values)
        else:
            apply_live(at, unit, step.values)
        if not step.continue_run:
            at.button(key=f"{unit}-reset").click().run()
        train_until_passed(at, lesson, step.epochs)
    at.run()  # the statistics fragment shows what the last tick judged
    assert passed(at, lesson) == {c.id for c in lesson.checks}
    assert sum(s.startswith("Passed on your run") for s in texts(at.success)) == len(lesson.checks)

    # The list marks it passed.
    at.query_params.pop("lesson")
    at.run()
    assert [c for c in texts(at.caption) if c.endswith("checks passed")] == [f"{lesson.minutes} min · checks passed"]


def test_explore_in_the_playground_carries_the_lesson_settings():
    at = open_lesson("cosface")
    at.button(key="lesson-cosface-explore").click().run()
    assert not at.exception, [e.value for e in at.exception]
    values = at.session_state["pg-values"]
    wanted = presets.live_values(next(lesson for lesson in LESSONS if lesson.id == "cosface").preset)
    assert {name: values[name] for name in wanted} == wanted


def test_an_instructor_link_locks_and_hides_more_and_names_a_bad_control():
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.switch_page(LESSONS_PAGE)
    at.query_params.update({"lesson": "arcface", "lock": "lr,sed", "hide": "dim"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.select_slider(key="lesson-arcface-lr").disabled
    with pytest.raises(KeyError):
        widget(at, "lesson-arcface-dim")
    [warning] = texts(at.warning)
    assert "sed" in warning
