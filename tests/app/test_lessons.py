"""Every shipped lesson through AppTest: it renders with its preset, its locked controls are disabled and its
hidden ones absent, a question reveals its answer only once answered, and its worked solution can be followed
through the controls to the runs that tests/unit/test_lessons_shipped.py trains headless (where every check
passes). For each kind of lesson (live or compare, one step or several, a hot change, a costly metric) one
lesson is also trained on the page: its checks pass on the student's own run, and the list shows it passed."""

from __future__ import annotations

import pytest
from apphelpers import ENTRY, texts
from lessonhelpers import (
    LESSONS_PAGE,
    answer_question,
    apply_compare,
    apply_live,
    open_lesson,
    passed,
    shown,
    train_until_passed,
    widget,
)
from streamlit.testing.v1 import AppTest

from app import state
from app.compare.values import parse_preset
from app.lessons import load_lessons, numbers, presets
from app.lessons.checks import COSTLY_METRICS, check_metric_names
from app.lessons.format import load_all
from app.live.controls import widget_key
from toy_models.data import load_dataset
from toy_models.train import TrainConfig

LESSONS = load_lessons()


def control_keys(lesson, name: str) -> list[str]:
    """The widget keys of a control (by Param name) in the lesson's unit (a member control: every member's)."""
    unit = f"lesson-{lesson.id}"
    if name in ("losses", "loss") and lesson.unit == "compare":
        return [f"{unit}-losses"]
    if lesson.unit == "compare":
        losses = presets.compare_losses(lesson.preset)
        p = state.param_by_name("arcface", name)
        if p is not None and name not in ("margin", "scale", "gradient"):
            return [widget_key(unit, p.name)]
        params = [(loss, state.param_by_name(loss, name)) for loss in losses]
        return [widget_key(f"{unit}-{loss}", p.name) for loss, p in params if p is not None and not p.parts]
    p = state.param_by_name(lesson.preset.get("loss", "arcface"), name)
    if p is None:
        return []
    return [widget_key(unit, part.name) for part in p.parts] if p.parts else [widget_key(unit, p.name)]


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


def page_configs(at, lesson) -> list[TrainConfig]:
    """The TrainConfig(s) of the lesson page's own run, the trainer's or each compare member's, with the scale and
    margin the run uses (resolved: a default left as None is the same run as that default written out)."""
    run = at.session_state[f"lesson-{lesson.id}-run"]
    configs = list(run.frame.configs)
    return [config.resolved() for config in configs]


def headless_configs(lesson, step) -> list[TrainConfig]:
    """The TrainConfig(s) app.lessons.headless.run_lesson trains for this step (tests/unit/test_lessons_shipped.py
    proves that those runs pass every check): the values' fields, one thread."""
    if lesson.unit == "compare":
        classes = load_dataset(presets.clean_shared(step.values)["dataset"]).num_classes
        values = [presets.member_values(step.values, loss, classes) for loss in presets.compare_losses(step.values)]
    else:
        values = [presets.live_values(step.values)]
    return [TrainConfig(**{**state.config_fields(v), "num_threads": 1}).resolved() for v in values]


def follow_the_solution(at, lesson, *, train: bool) -> None:
    """The worked solution through the controls, step by step (Reset before a step that starts afresh); with
    `train`, Play until every check passed or the step's epochs are spent, as a student does."""
    unit = f"lesson-{lesson.id}"
    for step in lesson.solution:
        if lesson.unit == "compare":
            apply_compare(at, unit, step.values)
        else:
            apply_live(at, unit, step.values)
        if not step.continue_run:
            at.button(key=f"{unit}-reset").click().run()
        assert page_configs(at, lesson) == headless_configs(lesson, step), "the page trains another run"
        if train:
            train_until_passed(at, lesson, step.epochs)
            for check in lesson.checks:  # a costly check is measured on request, as a student presses Check my run
                if check_metric_names(check) & COSTLY_METRICS and check.id not in passed(at, lesson):
                    at.button(key=f"{unit}-c-{check.id}-run").click().run()


def signature(lesson) -> tuple:
    """What a lesson asks of the page's crediting: its unit, several steps (a pass kept across a Reset), a step
    that continues the run (a hot change), a costly metric (measured at step ends and check budgets only)."""
    costly = any(check_metric_names(c) & COSTLY_METRICS for c in lesson.checks)
    steps = lesson.solution
    return lesson.unit, len(steps) > 1, any(s.continue_run for s in steps), costly


# Per signature, the lesson with the shortest solution is trained to its passed checks on the page; not the one the
# browser test trains to its checks (tests/e2e/test_lessons.py) where another has that signature.
TRAINED_IN_THE_BROWSER = "softmax"


def training_cost(lesson) -> tuple[bool, int]:
    return lesson.id == TRAINED_IN_THE_BROWSER, sum(step.epochs for step in lesson.solution)


CREDITED = [min((lesson for lesson in LESSONS if signature(lesson) == kind), key=training_cost)
            for kind in dict.fromkeys(map(signature, LESSONS))]  # fmt: skip


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_a_lesson_page_sets_its_preset_locks_its_controls_and_reaches_its_solution(lesson):
    """Every lesson: the preset is applied, locked controls are disabled and hidden ones absent, a question
    reveals its answer only once answered, and the worked solution can be followed through the controls to the
    very runs the headless solution trains (tests/unit/test_lessons_shipped.py: they pass every check)."""
    at = open_lesson(lesson.id)
    unit = f"lesson-{lesson.id}"
    assert [t.value for t in at.title] == [f"{lesson.number}. {lesson.title}"]

    # The preset is applied.
    if lesson.unit == "compare":
        preset = parse_preset(lesson.preset)
        run = at.session_state[f"{unit}-run"]
        assert tuple(c.loss for c in run.frame.configs) == tuple(presets.compare_losses(lesson.preset))
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
    answer_question(at, lesson, question.id)
    assert explanation in shown(at)
    assert any(s.startswith("Right:") for s in texts(at.success))

    # The worked solution through the controls (a locked control it needs fails here), without training.
    follow_the_solution(at, lesson, train=False)


def test_every_kind_of_lesson_is_trained_to_its_checks_on_the_page():
    assert {signature(lesson) for lesson in CREDITED} == {signature(lesson) for lesson in LESSONS}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", CREDITED, ids=[lesson.id for lesson in CREDITED])
def test_the_page_credits_the_worked_solution_trained_on_it(lesson):
    """The checks pass on the page's own run when the student trains the worked solution, each judged at the
    epoch ends the page shows; then the list marks the lesson passed. One lesson per signature."""
    at = open_lesson(lesson.id)
    follow_the_solution(at, lesson, train=True)
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
        widget(at, "lesson-arcface-embedding_dim")
    [warning] = texts(at.warning)
    assert "sed" in warning
