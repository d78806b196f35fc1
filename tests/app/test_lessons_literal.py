"""For every lesson, a student who follows the prose literally: does what the text says, in its order, at the
lesson's pace, with its changes made while the run plays, and passes every check without a Reset the prose does
not ask for (issue 17, "Checks judge what the student did").

Each page run of the AppTest is one tick at the lesson's pace; a control moved with `set_control` while playing
is a hot change handed to the running model, as the slider does in the browser. Where the prose leaves a number
to the student ("raise m"), the student takes the one the lesson names nearby. Lesson 7 is rebuilt on another
branch, with its own literal test.
"""

from __future__ import annotations

import pytest
from lessonhelpers import (
    _on_stop as on_stop,
)
from lessonhelpers import (
    answer_question,
    check_reason,
    epoch,
    keep_playing,
    open_lesson,
    passed,
    press,
    set_control,
)

from app import state
from app.lessons import load_lessons
from app.live.controls import widget_key

LESSONS = {lesson.id: lesson for lesson in load_lessons()}


def lesson_of(lesson_id: str):
    if lesson_id not in LESSONS:
        pytest.skip(f"lesson {lesson_id} is not in lessons/")
    return LESSONS[lesson_id]


def open_at_pace(lesson):
    """The lesson opened as a student opens it: at the pace its preset sets, shown in the Pace box."""
    at = open_lesson(lesson.id)
    assert lesson.pace is not None and at.session_state[f"lesson-{lesson.id}-pace"] == lesson.pace
    assert at.selectbox(key=f"lesson-{lesson.id}-pace").value == lesson.pace
    return at


def move(at, lesson, name: str, value, *, member: str | None = None) -> None:
    """Move one of the lesson's controls (by control name; a compare member's with `member`) to `value`, as the
    student does: a slider's value is its nearest stop."""
    unit = f"lesson-{lesson.id}"
    loss = member or at.session_state[f"{unit}-values"]["loss"]
    param = state.param_by_name(loss, name)
    set_control(at, widget_key(f"{unit}-{member}" if member else unit, name), on_stop(param, value))


def all_passed(at, lesson) -> None:
    missing = {c.id: check_reason(at, lesson, c.id) for c in lesson.checks if c.id not in passed(at, lesson)}
    assert not missing, missing


def test_cosface_lower_m_while_it_trains_then_the_sphere():
    lesson = lesson_of("cosface")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "band")
    answer_question(at, lesson, "largest-circle")
    answer_question(at, lesson, "too-much")
    press(at, lesson, "play")  # "Press Play and watch the loss."
    keep_playing(at, lesson, 60)  # a student who watches past the check's 50 epochs, as in the issue
    move(at, lesson, "margin", 0.1)  # "Now lower Margin m below the bound while it trains"
    changed_at = epoch(at, lesson)
    assert changed_at > lesson.check("circle").within_epochs
    keep_playing(at, lesson, 50, until={"circle"})
    assert "circle" in passed(at, lesson), check_reason(at, lesson, "circle")
    assert epoch(at, lesson) <= changed_at + 50
    move(at, lesson, "embedding_dim", 3)  # "Then switch Embedding dim to 3-D sphere. The model is rebuilt."
    answer_question(at, lesson, "largest-sphere")
    move(at, lesson, "margin", 0.35)  # "Put Margin m back to the paper's 0.35 while it trains"
    keep_playing(at, lesson, 30, until={"sphere"})
    all_passed(at, lesson)


def test_softmax_watch_the_sphere_then_the_circle():
    lesson = lesson_of("softmax")
    at = open_at_pace(lesson)
    press(at, lesson, "play")  # "Press Play and watch the sphere."
    keep_playing(at, lesson, 3)
    answer_question(at, lesson, "longer")
    move(at, lesson, "embedding_dim", 2)  # "Switch Embedding dim to 2-D circle"
    answer_question(at, lesson, "circle-spacing")
    keep_playing(at, lesson, 30, until={"radial", "circle-accuracy"})
    answer_question(at, lesson, "open-set")
    all_passed(at, lesson)


def test_normface_too_small_too_large_then_near_the_bound():
    lesson = lesson_of("normface")
    at = open_at_pace(lesson)
    press(at, lesson, "play")  # "The preset uses s = 2. Press Play."
    answer_question(at, lesson, "cap")
    keep_playing(at, lesson, 10)  # "Watch the loss level off well above zero"
    answer_question(at, lesson, "bound")
    answer_question(at, lesson, "too-large")
    move(at, lesson, "scale", 64)  # "Now set s = 64"
    keep_playing(at, lesson, 10)
    move(at, lesson, "scale", 10.5)  # "s should sit near the bound ... (10.1 here for p = 0.99)"
    keep_playing(at, lesson, 30, until={"converge", "spread"})
    all_passed(at, lesson)


def test_sphereface_collapse_then_anneal_then_let_the_margin_take_over():
    lesson = lesson_of("sphereface")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "psi-end")
    answer_question(at, lesson, "no-anneal")  # "Press Play and predict first."
    press(at, lesson, "play")
    keep_playing(at, lesson, 3)
    answer_question(at, lesson, "large-lambda")
    move(at, lesson, "lambda_base", 1000.0)  # "Set λ base to 1000, press Reset, then Play."
    press(at, lesson, "reset")
    press(at, lesson, "play")
    keep_playing(at, lesson, 30, until={"trains"})
    assert "trains" in passed(at, lesson), check_reason(at, lesson, "trains")
    move(at, lesson, "lambda_gamma", 1.0)  # "Make λ fall faster (raise λ decay γ ...) and let it go below 1"
    keep_playing(at, lesson, 30, until={"takes-over"})
    all_passed(at, lesson)


def test_arcface_no_margin_then_raise_m_while_it_trains():
    lesson = lesson_of("arcface")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "width")
    press(at, lesson, "play")  # "Press Play with m = 0 and read the angle statistics when the run settles."
    keep_playing(at, lesson, 40)
    assert epoch(at, lesson) > lesson.check("spread").within_epochs  # settled, past the checks' 30 epochs
    move(at, lesson, "margin", 0.5)  # "Now raise Margin m while the model trains" (the paper's 0.5 rad)
    keep_playing(at, lesson, 30, until={"spread", "centred"})
    answer_question(at, lesson, "largest")
    answer_question(at, lesson, "fallback")
    press(at, lesson, "reset")  # "Press Reset and look before playing": the passes are kept
    all_passed(at, lesson)


def test_side_by_side_no_margins_then_the_papers_margins():
    lesson = lesson_of("side-by-side")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "no-margin")
    press(at, lesson, "play")  # "Press Play and watch the four small spheres"
    keep_playing(at, lesson, 5)
    for loss, margin in (("sphereface", 1.35), ("cosface", 0.35), ("arcface", 0.5)):  # "Set the margins ..."
        move(at, lesson, "margin", margin, member=loss)
    press(at, lesson, "reset")  # "Press Reset so that the members start again from the seed ..., then Play."
    press(at, lesson, "play")
    answer_question(at, lesson, "constant-band")
    answer_question(at, lesson, "tammes")
    answer_question(at, lesson, "w-ec")
    keep_playing(at, lesson, 20, until={c.id for c in lesson.checks})
    all_passed(at, lesson)


def test_choosing_s_and_m_each_fix_alone_then_both_then_the_sphere():
    lesson = lesson_of("choosing-s-and-m")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "digits-bound")
    answer_question(at, lesson, "accuracy")
    press(at, lesson, "play")  # "Press Play on the preset: m = 0.35 and s = 4 break both rules."
    keep_playing(at, lesson, 5)
    move(at, lesson, "scale", 24)  # "Try each fix alone: raise s with m = 0.35 ..."
    keep_playing(at, lesson, 3)
    move(at, lesson, "scale", 4)  # "... lower m with s = 4"
    move(at, lesson, "margin", 0.1)  # (a third of the circle's bound)
    keep_playing(at, lesson, 3)
    move(at, lesson, "scale", 24)  # both fixes: "with some headroom" above the scale bound
    keep_playing(at, lesson, 20, until={"circle"})
    assert "circle" in passed(at, lesson), check_reason(at, lesson, "circle")
    answer_question(at, lesson, "sphere-bound")
    answer_question(at, lesson, "sphere-scale")
    move(at, lesson, "embedding_dim", 3)  # "Switch Embedding dim to 3-D ... set m back to 0.35 and choose s"
    move(at, lesson, "margin", 0.35)
    move(at, lesson, "scale", 16)
    keep_playing(at, lesson, 15, until={"sphere"})
    all_passed(at, lesson)


def test_gradient_find_a_trapped_seed_then_free_it():
    lesson = lesson_of("gradient")
    at = open_at_pace(lesson)
    answer_question(at, lesson, "flat-slope")
    answer_question(at, lesson, "trap-angle")
    press(at, lesson, "play")  # "Press Play: every class finds its spoke"
    keep_playing(at, lesson, 15)
    move(at, lesson, "seed", 0)  # "Now change the Seed and watch each run for 15 epochs."
    keep_playing(at, lesson, 25, until={"find-trap"})
    assert "find-trap" in passed(at, lesson), check_reason(at, lesson, "find-trap")
    answer_question(at, lesson, "detached")
    move(at, lesson, "gradient", "detached")  # "Keep the trapped run and switch Margin gradient"
    keep_playing(at, lesson, 12, until={"free-them"})
    all_passed(at, lesson)


def test_reset_restarts_the_count_on_the_page():
    """Lesson 4's feedback names Reset as a way out too: after a run that spent the 50 epochs at m = 0.35, Reset
    builds the model again, and its count starts at 0."""
    lesson = lesson_of("cosface")
    at = open_at_pace(lesson)
    press(at, lesson, "play")
    keep_playing(at, lesson, 52)
    assert "by epoch 50." in check_reason(at, lesson, "circle") and "circle" not in passed(at, lesson)
    press(at, lesson, "reset")  # (Reset pauses)
    move(at, lesson, "margin", 0.1)
    press(at, lesson, "play")
    keep_playing(at, lesson, 50, until={"circle"})
    record = at.session_state["lesson-progress"][lesson.id].checks["circle"]
    assert record["run"]["epoch"] <= 50 and all(step == 0 for step, _ in record["run"]["hyper_log"]), record
