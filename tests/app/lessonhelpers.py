"""Drive a lesson through AppTest as a student would: open it, move its controls, train, answer.

Controls are moved through their widgets (so a locked or hidden control cannot be moved: a worked solution
that needs one fails here), and training advances the page's own run, a few epochs between page runs: each
run evaluates the checks in the live unit's statistics fragment, as a tick does in the browser.
"""

from __future__ import annotations

from typing import Any

from apphelpers import ENTRY, texts
from streamlit.testing.v1 import AppTest

from app import state
from app.compare.values import parse_preset
from app.lessons import numbers, presets
from app.live.controls import uses_stops, widget_key

LESSONS_PAGE = "app/pages/lessons.py"
WIDGETS = ("selectbox", "radio", "select_slider", "slider", "number_input", "multiselect", "segmented_control",
           "pills")  # fmt: skip


def open_lesson(lesson_id: str | None, *, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    at.switch_page(LESSONS_PAGE)
    if lesson_id is not None:
        at.query_params["lesson"] = lesson_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, key: str) -> Any:
    for kind in WIDGETS:
        try:
            return getattr(at, kind)(key=key)
        except (KeyError, AttributeError):
            continue
    raise KeyError(f"no widget with key {key!r}")


def _on_stop(param: Any, value: Any) -> Any:
    """A value as its slider offers it: the nearest stop (a float from a file may differ in the last bit)."""
    if isinstance(value, float) and uses_stops(param):
        return min(state.stops(param), key=lambda stop: abs(stop - value))
    return value


def set_control(at: AppTest, key: str, value: Any) -> None:
    w = widget(at, key)
    assert not w.disabled, f"the solution moves {key!r}, which the lesson locked"
    w.set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]


def _set_params(at: AppTest, unit: str, wanted: dict[str, Any], current: dict[str, Any]) -> None:
    loss = wanted["loss"]
    for p in state.params_for(loss):
        if p.name == "loss" or p.name not in wanted or wanted[p.name] == current.get(p.name):
            continue
        if p.parts:
            for part, value in zip(p.parts, wanted[p.name], strict=True):
                set_control(at, widget_key(unit, part.name), _on_stop(part, value))
        else:
            set_control(at, widget_key(unit, p.name), _on_stop(p, wanted[p.name]))


def apply_live(at: AppTest, unit: str, url_values: dict[str, Any]) -> None:
    """Move the live unit's controls to `url_values` (share-link keys), the loss first."""
    wanted = presets.live_values(url_values)
    if at.session_state[f"{unit}-values"]["loss"] != wanted["loss"]:
        set_control(at, widget_key(unit, "loss"), wanted["loss"])
    _set_params(at, unit, wanted, at.session_state[f"{unit}-values"])


def apply_compare(at: AppTest, unit: str, url_values: dict[str, Any]) -> None:
    """Move the Compare unit's shared and member controls to `url_values` (a compare preset's shape)."""
    preset = parse_preset(url_values)
    for name, value in preset.shared.items():
        p = state.param_by_name("arcface", name)
        if at.session_state[f"{unit}-shared"].get(name) != value:
            set_control(at, widget_key(unit, p.name), value)
    for loss, values in preset.members.items():
        member = f"{unit}-{loss}"
        current = dict(at.session_state[f"{unit}-members"][loss]) if f"{unit}-members" in at.session_state else {}
        _set_params(at, member, {"loss": loss, **{k: v for k, v in values.items()}}, {"loss": loss, **current})


def passed(at: AppTest, lesson: Any) -> set[str]:
    store = at.session_state["lesson-progress"]
    return {c.id for c in lesson.checks if lesson.id in store and store[lesson.id].has_passed(c.id)}


def train_until_passed(at: AppTest, lesson: Any, epochs: int) -> None:
    """Play the lesson's run (each page run is one training tick, judged at every epoch end as in the browser)
    until every check passed or it trained about `epochs` more epochs; then Pause."""
    unit = f"lesson-{lesson.id}"
    run = at.session_state[f"{unit}-run"]
    model = lambda: run.trainer  # noqa: E731 (rebuilt by Reset)
    start = model().epoch
    at.button(key=f"{unit}-play").click().run()
    while model().epoch < start + epochs and passed(at, lesson) != {c.id for c in lesson.checks}:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    at.button(key=f"{unit}-play").click().run()
    assert not run.playing


# ------------------------------------------------------------------------------------------------------------
# A student who follows a lesson's prose: answer, press, move a control while it plays, keep playing


def shown(at: AppTest) -> str:
    """The page's prose, captions and verdicts, as one text to search."""
    return "\n".join(texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.error))


def answer_question(at: AppTest, lesson: Any, question_id: str) -> None:
    """Answer a question of the lesson correctly, through its form (the answer shows once committed)."""
    question = lesson.question(question_id)
    key = f"lesson-{lesson.id}-q-{question.id}"
    if question.kind == "choice":
        at.radio(key=f"{key}-choice").set_value(int(question.answer))
    else:
        value = numbers.number_answer(question, classes=10, dim=lesson.dim)
        at.number_input(key=f"{key}-number").set_value(round(value, 1))
    [submit] = [b for b in at.button if b.proto.form_id == f"{key}-form"]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]


def press(at: AppTest, lesson: Any, button: str) -> None:
    """Press Play (Pause), Step or Reset of the lesson's unit ("play", "step", "reset")."""
    at.button(key=f"lesson-{lesson.id}-{button}").click().run()
    assert not at.exception, [e.value for e in at.exception]


def epoch(at: AppTest, lesson: Any) -> int:
    return int(at.session_state[f"lesson-{lesson.id}-run"].trainer.epoch)


def keep_playing(at: AppTest, lesson: Any, epochs: int, *, until: Any = ()) -> None:
    """Let the playing run train about `epochs` more epochs (each page run is one tick at the lesson's pace),
    or stop sooner once every check in `until` passed."""
    unit = f"lesson-{lesson.id}"
    run = at.session_state[f"{unit}-run"]
    assert run.playing, "the student pressed Play before this"
    stop = epoch(at, lesson) + epochs
    while epoch(at, lesson) < stop and not (until and set(until) <= passed(at, lesson)):
        at.run()
        assert not at.exception, [e.value for e in at.exception]


def check_reason(at: AppTest, lesson: Any, check_id: str) -> str:
    """What the page last said about a check (its reason), for an assertion message."""
    found = at.session_state[f"lesson-{lesson.id}-results"].get(check_id) if f"lesson-{lesson.id}-results" in \
        at.session_state else None  # fmt: skip
    return found[0].reason if found else "not judged yet"
