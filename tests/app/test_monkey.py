"""A randomized "monkey" walks the Playground, Compare and a lesson: random control changes, Play, Pause, Step,
Reset and page switches, in a seeded order, and no exception may ever reach the page.

The walk that found the bug it guards: ArcFace playing, the margin moved thirty times, then at once Softmax
in the Loss box: the slider's callback ran after the loss had no margin and the page showed an AttributeError.
"""

from __future__ import annotations

import random

import pytest
from apphelpers import ENTRY
from streamlit.testing.v1 import AppTest

from app import state
from toy_models.heads import LOSSES

PAGES = ("app/pages/playground.py", "app/pages/compare.py", "app/pages/lessons.py")
BUTTONS = ("play", "step", "reset")


def _widgets(at: AppTest) -> list:
    found = []
    for kind in ("slider", "select_slider", "selectbox", "radio", "number_input", "multiselect"):
        for widget in getattr(at, kind):
            key = widget.key or ""
            if widget.disabled or not key or "export" in key or key.endswith("-data"):
                continue
            found.append((kind, widget))
    return found


def _ladder_values() -> list:
    """Every value some select_slider of the app offers (the radian stops, the learning rates, the batches)."""
    values = {*state.LR_LADDER, *state.BATCH_SIZES}
    for loss in LOSSES:
        for p in state.params_for(loss):
            for part in p.parts or (p,):
                if part.kind == "float" and part.unit == "rad":
                    values.update(state.stops(part))
    return sorted(values)


LADDER = _ladder_values()


def _random_value(rng: random.Random, kind: str, widget) -> object:
    if kind in ("selectbox", "radio"):
        return rng.choice(list(widget.options))
    if kind == "select_slider":
        return rng.choice(LADDER)
    if kind == "multiselect":
        options = list(widget.options)
        return rng.sample(options, rng.randint(0, min(3, len(options))))
    if kind == "number_input":
        return rng.randint(0, 50)
    return rng.uniform(widget.min, widget.max)


def _act(at: AppTest, rng: random.Random) -> str:
    roll = rng.random()
    unit_buttons = [b for b in at.button if (b.key or "").rsplit("-", 1)[-1] in BUTTONS]
    if roll < 0.35 and unit_buttons:
        button = rng.choice(unit_buttons)
        button.click().run()
        return f"click {button.key}"
    if roll < 0.45:
        at.run()  # a tick
        return "tick"
    widgets = _widgets(at)
    if not widgets:
        at.run()
        return "tick"
    kind, widget = rng.choice(widgets)
    for _ in range(20):  # a select_slider takes only its own stops: draw until one of them
        value = _random_value(rng, kind, widget)
        try:
            widget.set_value(value)
            widget.value  # noqa: B018 - serializes the value now, so a foreign stop is refused here
            break
        except ValueError:
            continue
    at.run()
    return f"set {widget.key}={value!r}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_walk_through_the_pages_raises_nothing(seed):
    rng = random.Random(seed)
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.run()
    trail: list[str] = []
    for _ in range(40):
        if rng.random() < 0.1:
            page = rng.choice(PAGES)
            at.switch_page(page)
            if page.endswith("lessons.py"):
                at.query_params["lesson"] = rng.choice(["softmax", "cosface", "side-by-side"])
            at.run()
            trail.append(f"open {page}")
        else:
            trail.append(_act(at, rng))
        assert not at.exception, (trail[-8:], [e.value for e in at.exception])
        assert not [e for e in at.error if "Traceback" in str(e.value)], trail[-8:]


def test_moving_the_margin_then_switching_to_a_loss_without_one_raises_nothing():
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.run()
    at.button(key="pg-play").click().run()
    margin = at.select_slider(key="pg-margin")
    for value in (0.49, 0.48, 0.47):
        margin.set_value(value)  # queued, as fast arrow keys queue their callbacks
    at.selectbox(key="pg-loss").set_value("softmax")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["pg-values"]["loss"] == "softmax"
