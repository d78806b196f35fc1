"""Previews: what a chart looks like at the neighbouring stops of a slider, sent along with the chart.

The browser cannot compute a figure, and a round trip to the server while training plays takes
hundreds of milliseconds. So every chart that a slider bends carries, for each such slider, the
patches that turn it into the figure at the stops around the current value (PREVIEW_REACH on each
side). `live_plotly.js` watches the slider's thumb: the moment it moves, the chart draws the patch
for the new stop, and the server's own figure replaces it a moment later. The patches are computed
by the same figure builders, so a preview is exactly what the server will draw, never a second
implementation of the maths.

A patch says what differs from the figure it was sent with:
    {"data": {"<trace index>": {field: value, ...}}, "layout": {key: value, ...},
     "rings": {"<trace index>": [cx, cy, cz, half_arc_rad, points]},    # a 3-D margin cap's edge
     "arcs": {"<trace index>": [centre_rad, cw_rad, ccw_rad, radius, points]}}  # a 2-D margin wedge
`rings` and `arcs` are drawn by live_plotly.js exactly as app/plots/sphere.py draws them (the browser
tests compare the two), so a per-tick hypersphere preview costs a few numbers per class, not arrays.
A patch may also hold "notes": the notes under the sliders at that stop, [[level, text], ...] (`with_notes`),
which live_plotly.js writes into the notes' own elements; the control then names them in "notes_box", with
the notes at the figure's own values in "notes_now".
A value of None removes the field. Float arrays travel as float32 (a preview is on screen for a
fraction of a second; the server's figure brings full precision).

One control is described as
    {"widget": "<widget key>", "by_index": bool, "start": float, "step": float, "current": float,
     "variants": [[value, patch], ...]}
`by_index`: the slider's <input type=range> holds the index of a stop (select_slider), not the value.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from app import plots, state
from app.live import controls
from toy_models import geometry

PREVIEW_REACH = 6  # stops on each side of the current value that the browser can draw on its own
RING_POINTS = 61  # a 3-D cap's ring, as app/plots/sphere.py draws it
WEDGE_POINTS = 33  # a 2-D wedge's rim, as app/plots/sphere.py draws it


def window(param: state.Param, value: float, reach: int = PREVIEW_REACH) -> list[float]:
    """The stops of a float control within `reach` steps of `value` (value included)."""
    stops = state.stops(param)
    here = min(range(len(stops)), key=lambda i: abs(stops[i] - value))
    return stops[max(0, here - reach) : here + reach + 1]


def _plain(figure: go.Figure | Mapping) -> dict:
    """A figure as a dict: a plot builder's `as_spec=True` output as it is (numpy arrays inside)."""
    return figure.to_plotly_json() if isinstance(figure, go.Figure) else dict(figure)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f" and b.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _light(value: Any) -> Any:
    """Float arrays as float32: half the bytes, and plenty for a preview. (Figure.to_plotly_json has
    already turned numpy arrays into plotly's typed arrays, {"dtype": "f8", "bdata": base64}.)"""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(np.float32)
    if isinstance(value, dict) and value.get("dtype") == "f8" and "bdata" in value and "shape" not in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.float64).astype(np.float32)
        return {"dtype": "f4", "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    return value


def diff(base: Mapping, other: Mapping) -> dict:
    """The patch that turns figure dict `base` into `other` (both as `Figure.to_plotly_json()` gives them)."""
    patch: dict[str, Any] = {}
    base_data, other_data = base.get("data", []), other.get("data", [])
    if len(base_data) != len(other_data):
        # A trace appeared or vanished: send every trace (rare: a jump that comes or goes).
        patch["traces"] = [{k: _light(v) for k, v in trace.items()} for trace in other_data]
    else:
        changed = {}
        for i, (a, b) in enumerate(zip(base_data, other_data, strict=True)):
            fields = {k: _light(b.get(k)) for k in a.keys() | b.keys() if not _same(a.get(k), b.get(k))}
            if fields:
                changed[str(i)] = fields
        if changed:
            patch["data"] = changed
    base_layout, other_layout = base.get("layout", {}), other.get("layout", {})
    layout = {k: other_layout.get(k) for k in base_layout.keys() | other_layout.keys()
              if not _same(base_layout.get(k), other_layout.get(k))}  # fmt: skip
    if layout:
        patch["layout"] = layout
    return patch


def _control(unit_key: str, part: state.Param, current: float) -> dict[str, Any]:
    return {
        "widget": controls.widget_key(unit_key, part.name),
        "by_index": controls.uses_stops(part),
        "start": part.minimum,
        "step": part.step,
        "current": current,
        "variants": [],
    }


def _with(values: Mapping[str, Any], name: str, index: int | None, value: float) -> dict[str, Any]:
    if index is None:
        return {**values, name: value}
    parts = list(values[name])
    parts[index] = value
    return {**values, name: tuple(parts)}


def sliders(values: Mapping[str, Any], names: Sequence[str]) -> list[tuple[str, int | None, state.Param, float]]:
    """(name, part index, part Param, current value) for each active float slider among `names`."""
    found = []
    for name in names:
        p = state.param_by_name(values["loss"], name)
        if p is None or not state.is_active(p, values):
            continue
        for index, part in enumerate(p.parts) if p.parts else [(None, p)]:
            current = values[name][index] if index is not None else values[name]
            if part.kind == "float":
                found.append((name, index, part, float(current)))
    return found


def figure_previews(
    unit_key: str,
    values: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], go.Figure],
    names: Sequence[str],
    base: go.Figure | Mapping,
) -> list[dict[str, Any]]:
    """For each slider in `names`: the patches from `base` (= build(values)) to the figure at each nearby stop."""
    base_plain = _plain(base)
    out = []
    for name, index, part, current in sliders(values, names):
        control = _control(unit_key, part, current)
        for value in window(part, current):
            if math.isclose(value, current, abs_tol=1e-12):
                continue
            control["variants"].append([value, diff(base_plain, _plain(build(_with(values, name, index, value))))])
        if control["variants"]:
            out.append(control)
    return out


def with_notes(previews: list[dict[str, Any]], unit_key: str, values: Mapping[str, Any], box: str,
               notes_at: Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]) -> list[dict[str, Any]]:
    """The previews, each margin or scale stop also carrying the notes under the sliders at that stop
    (`notes_at(values)`, e.g. app.live.notes.geometry_notes), for the notes in the container keyed `box`:
    live_plotly.js writes them there the moment the thumb moves, as it redraws the charts."""
    for name, index, part, _ in sliders(values, ("margin", "scale")):
        widget = controls.widget_key(unit_key, part.name)
        for control in previews:
            if control["widget"] != widget:
                continue
            control["notes_box"] = box
            control["notes_now"] = [list(note) for note in notes_at(values)]
            for variant in control["variants"]:
                variant[1]["notes"] = [list(note) for note in notes_at(_with(values, name, index, variant[0]))]
    return previews


def sphere_previews(
    unit_key: str, values: Mapping[str, Any], base: go.Figure | Mapping, class_weights: np.ndarray,
    sphereface_lambda: float,
) -> list[dict[str, Any]]:
    """The hypersphere's margin regions at the margin's nearby stops, as small patches the browser draws.

    Only the regions move with the margin (the points and weights are the model's), so a patch holds,
    per class, what the browser needs to draw its cap ring or wedge (`rings` / `arcs`, see the module
    docstring), the weight ray's style where a region empties or fills, and the subtitle. The half-arcs
    come from `geometry.cap_half_arcs`, the same function the figure was drawn with.
    """
    loss = values["loss"]
    plain = _plain(base)
    roles = [(i, t, t.get("meta", {}).get("role")) for i, t in enumerate(plain["data"])]
    regions = [(i, t["meta"]) for i, t, role in roles if role in ("cap", "wedge")]
    if not regions:
        return []
    rays = {t["meta"]["class"]: (i, t) for i, t, role in roles if role == "weight"}
    layout = geometry.margin_layout(class_weights)
    out = []
    for name, index, part, current in sliders(values, ("margin",)):
        control = _control(unit_key, part, current)
        base_arcs = geometry.cap_half_arcs(loss, values[name], layout.gaps_rad, sphereface_lambda=sphereface_lambda)
        for value in window(part, current):
            if math.isclose(value, current, abs_tol=1e-12):
                continue
            margin = _with(values, name, index, value)[name]
            arcs = geometry.cap_half_arcs(loss, margin, layout.gaps_rad, sphereface_lambda=sphereface_lambda)
            control["variants"].append([value, _region_patch(plain, regions, rays, arcs, base_arcs, loss, margin)])
        out.append(control)
    return out


def _region_patch(plain, regions, rays, arcs, base_arcs, loss, margin) -> dict[str, Any]:
    patch: dict[str, Any] = {"data": {}, "rings": {}, "arcs": {}}
    for i, meta in regions:
        k = meta["class"]
        if meta["role"] == "cap":
            if arcs[k, 0] > 0:
                patch["rings"][str(i)] = [*meta["centre"], float(arcs[k, 0]), RING_POINTS]
            else:
                patch["data"][str(i)] = {"x": [], "y": [], "z": []}
        else:
            patch["arcs"][str(i)] = [meta["centre_rad"], float(arcs[k, 0]), float(arcs[k, 1]), meta["radius"],
                                     WEDGE_POINTS]  # fmt: skip
        empty, was_empty = not np.any(arcs[k] > 0), not np.any(base_arcs[k] > 0)
        if empty != was_empty and k in rays:
            i_ray, ray = rays[k]
            patch["data"][str(i_ray)] = {"line": {**ray["line"], "dash": "dot" if empty else "solid"}}
    title = plain["layout"].get("title")
    if isinstance(title, dict) and isinstance(title.get("subtitle"), dict):
        subtitle = {**title["subtitle"], "text": plots.margin_text(loss, margin)}
        patch["layout"] = {"title": {**title, "subtitle": subtitle}}
    return {key: value for key, value in patch.items() if value}
