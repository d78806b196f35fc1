"""The widgets of a live unit, drawn from the parameter schema (`app.state`), one per control.

Every widget key is namespaced by the unit (`"<unit>-<control name>"`, e.g. "pg-margin"), so two units on one
page never share a widget. A widget seeds itself from the unit's clean values; its callback writes
the new value back there and into the trainer. Locked controls are drawn disabled with a note saying
who fixed them; hidden ones are not drawn at all (their preset value stays in force).

Which widget a Param gets:
    choice (more than 3 options) -> selectbox        choice (3 or fewer) -> horizontal radio
    ladder (learning rate, batch) -> select_slider    int -> number_input
    float in radians -> select_slider over the step grid, each stop labelled "0.50 rad · 28.6°", so the
                        degrees follow the thumb in the browser, with no round trip
    float otherwise -> slider
The combined margin is one control of three sliders (m1, m2, m3) and one value (m1, m2, m3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from app import state


def widget_key(unit_key: str, name: str) -> str:
    """The session-state key (and CSS class suffix, `.st-key-<key>`) of one widget of a unit."""
    return f"{unit_key}-{name}"


def decimals(step: float | None) -> int:
    """Decimals that show every stop of a slider with this step (0.01 -> 2, 0.5 -> 1, 10 -> 0)."""
    if not step:
        return 2
    return max(0, -math.floor(math.log10(step) + 1e-9))


def uses_stops(param: state.Param) -> bool:
    """Whether a float control is a select_slider over its stops (radians, shown with degrees), whose
    <input type=range> then holds a stop's index rather than the value."""
    return param.kind == "float" and param.unit == "rad"


def radians_label(value: float) -> str:
    return f"{value:.2f} rad · {math.degrees(value):.1f}°"


def _parts(param: state.Param) -> Sequence[state.Param]:
    return param.parts or (param,)


def read_widgets(unit_key: str, param: state.Param) -> Any:
    """The value a control's widget(s) hold now (a tuple for the combined margin)."""
    values = [st.session_state[widget_key(unit_key, part.name)] for part in _parts(param)]
    return tuple(float(v) for v in values) if param.parts else values[0]


def seed_widgets(unit_key: str, param: state.Param, value: Any, *, force: bool = False) -> None:
    """Put `value` into the control's widget(s), if they hold nothing yet (or always, with force)."""
    parts = _parts(param)
    part_values = value if param.parts else (value,)
    for part, part_value in zip(parts, part_values, strict=True):
        key = widget_key(unit_key, part.name)
        if force or key not in st.session_state:
            st.session_state[key] = part_value


def draw(
    unit_key: str,
    param: state.Param,
    *,
    locked_note: str | None,
    on_change: Callable[..., None],
    args: tuple = (),
) -> None:
    """The widget(s) of one control, seeded beforehand with `seed_widgets`.

    locked_note: None for a free control; otherwise the widget is disabled and this note follows it.
    on_change, args: the callback (it reads the widgets with `read_widgets`).
    """
    disabled = locked_note is not None
    for part in _parts(param):
        common = {"key": widget_key(unit_key, part.name), "help": part.help, "disabled": disabled,
                  "on_change": on_change, "args": args}  # fmt: skip
        if part.kind == "choice" and len(part.options) > 3:
            st.selectbox(part.label, part.options, format_func=part.label_of, **common)
        elif part.kind == "choice":
            st.radio(part.label, part.options, format_func=part.label_of, horizontal=True, **common)
        elif part.kind == "ladder":
            st.select_slider(part.label, part.options, format_func=lambda v: f"{v:g}", **common)
        elif part.kind == "int":
            st.number_input(part.label, int(part.minimum), int(part.maximum), step=1, **common)
        elif uses_stops(part):
            st.select_slider(part.label, state.stops(part), format_func=radians_label, **common)
        else:
            st.slider(part.label, float(part.minimum), float(part.maximum), step=float(part.step),
                      format=f"%.{decimals(part.step)}f", **common)  # fmt: skip
    if locked_note:
        st.caption(f":material/lock: {locked_note}")
