"""A plotly chart that stays alive across reruns, so a live 3-D view keeps the user's camera.

Why: `st.plotly_chart` rebuilds a 3-D scene's camera on every rerun of its fragment, even with
a fixed `layout.uirevision` and a stable key (streamlit/streamlit#8882), so a rotation made by
the user survives only until the next training tick. This component keeps ONE plotly.js graph
in the page and updates it with `Plotly.react`, which honours `uirevision`: the data change,
the camera (zoom, legend toggles, ...) stays where the user put it.

How (Streamlit 1.67, `st.components.v2`, no build step):

- `live_plotly.js` is registered inline (a few KB). Streamlit imports it once per page and
  calls its default export again with the same parent element whenever the data change, so
  the graph div and its plotly state persist for as long as the element stays on the page.
- plotly.js itself (~4.7 MB, shipped inside the plotly Python package) is NOT sent with the
  data: its folder is declared as a static component path (`declare_component(path=...)`),
  Streamlit serves it at `<baseUrlPath>/component/<name>/plotly.min.js` with
  `Cache-Control: public`, and the JS loads it once per page with a `<script>` tag. Nothing
  is fetched from a CDN.
- Each rerun sends only the figure JSON (numpy arrays travel as base64 typed arrays).

Testing: AppTest runs no JavaScript, but the element is still in the tree, as an
`UnknownElement` of type ``"bidi_component"``. `sent_figure(element)` returns the figure dict
it carried, and `find_live_plotly(at, key)` finds the element of a key::

    el = find_live_plotly(at, "sphere")
    spec = sent_figure(el)          # {"data": [...], "layout": {...}}

If `st.components.v2` is missing (an older Streamlit), `live_plotly` falls back to
`st.plotly_chart` (camera resets on rerun, nothing breaks).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit as st

COMPONENT_NAME = "margin_lab.live_plotly"
PLOTLY_JS_DIR = Path(plotly.__file__).parent / "package_data"
PLOTLY_JS_FILE = "plotly.min.js"
_JS = (Path(__file__).with_name("live_plotly.js")).read_text(encoding="utf-8")
_DEFAULT_CONFIG = {"displaylogo": False}

_mount = st.components.v2.component(COMPONENT_NAME, js=_JS, isolate_styles=False)


def _asset_component_name() -> str:
    """Register plotly's package_data folder as a static component path; return its served name.

    Registration lives on the running Runtime (AppTest makes a new one per test), so it is
    repeated on every call: re-registering an identical component is a silent no-op.
    """
    from streamlit.components.v1 import declare_component

    return declare_component("plotlyjs", path=str(PLOTLY_JS_DIR)).name


def plotly_js_url() -> str:
    """The URL path at which this app serves plotly.min.js (honours server.baseUrlPath)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    return f"{prefix}/component/{_asset_component_name()}/{PLOTLY_JS_FILE}"


def figure_json(figure: go.Figure | dict, *, theme: str | None = "streamlit") -> str:
    """Compact figure JSON as sent to the browser.

    figure: a plotly Figure, or a plain figure dict such as the builders' `as_spec=True` gives (numpy
    arrays inside; encoded here directly, which is ~20x faster than Figure.to_plotly_json).
    With theme="streamlit" the figure's `layout.template` is dropped (it is ~9/10 of a small
    figure and holds plotly's or Streamlit's placeholder styling); the browser then applies
    the app theme (text colour, font, grid colour, transparent background) wherever the
    figure does not set a value itself. Explicit colours in the figure always win.
    """
    if isinstance(figure, go.Figure):
        spec = figure.to_plotly_json()
    elif isinstance(figure, dict):
        spec = dict(figure)
    else:
        raise TypeError(f"live_plotly needs a plotly Figure or a figure dict, got {type(figure).__name__}")
    if theme == "streamlit":
        layout = dict(spec.get("layout") or {})
        layout.pop("template", None)
        spec["layout"] = layout
    return encode_json(spec)


SIGNIFICANT_DIGITS = 7  # what a float32 holds; a drawing needs no more


def _number_list(array: np.ndarray) -> list:
    """A numeric array as (nested) JSON lists: floats rounded to SIGNIFICANT_DIGITS, NaN and inf as null.

    Lists, not plotly's base64 typed arrays: the browser's native JSON.parse reads them faster than
    plotly.js decodes base64 in JavaScript (the live sphere redrew in ~50 ms instead of ~75 ms), which
    matters more on every training tick than the bytes (about 2.4x as many, ~70 KB a sphere).
    """
    if array.dtype.kind in "iub":
        return array.tolist()
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    top = float(np.abs(values[finite]).max()) if finite.any() else 0.0
    decimals = SIGNIFICANT_DIGITS - (math.floor(math.log10(top)) + 1 if top > 0 else 0)
    rounded = np.round(values, max(decimals, 0))
    if finite.all():
        return rounded.tolist()
    out = rounded.astype(object)
    out[~finite] = None  # JSON has no NaN: plotly.js reads null as a gap
    return out.tolist()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:  # a typed array from Figure.to_plotly_json
            return _number_list(decode_array(value))
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _number_list(value) if value.dtype.kind in "iufb" else [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_json(value: Any) -> str:
    """JSON for plotly.js: numpy arrays (and plotly's typed arrays) as number lists, non-finite floats as null."""
    return json.dumps(_jsonable(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def live_plotly(
    figure: go.Figure | dict,
    *,
    key: str,
    height: int = 520,
    theme: str | None = "streamlit",
    config: dict[str, Any] | None = None,
    preview: list[dict[str, Any]] | None = None,
    camera_group: str | None = None,
) -> None:
    """Show `figure` in a chart that is updated in place (Plotly.react) on every rerun.

    figure: a plotly Figure or figure dict; give it a fixed `layout.uirevision` so that
            plotly keeps the user's camera/zoom while the data change (a new uirevision
            value resets the view on purpose).
    key:    required and stable: the same key on every rerun is what keeps the graph alive.
    height: chart height in pixels; the width follows the container.
    theme:  "streamlit" applies the app's light/dark colours in the browser; None sends the
            figure untouched (template included).
    config: plotly.js config (modebar etc.), merged over {"displaylogo": False}.
    preview: what the chart looks like at nearby stops of the sliders that bend it (`app.live.preview`):
            the browser draws those the moment a slider moves, before the server answers.
    camera_group: 3-D charts with the same group share one camera: turning one turns the others, and
            the shared camera survives every redraw (the Compare page's small multiples).
    """
    if not key:
        raise ValueError("live_plotly needs a stable key: it is what keeps the same graph alive across reruns")
    if theme not in ("streamlit", None):
        raise ValueError(f"theme must be 'streamlit' or None, got {theme!r}")
    height = int(height)
    data = {
        "figure": figure_json(figure, theme=theme),
        "height": height,
        "theme": theme == "streamlit",
        "config": {**_DEFAULT_CONFIG, **(config or {})},
        "plotly_url": plotly_js_url(),
    }
    if preview:
        data["preview"] = encode_json(preview)
    if camera_group:
        data["camera_group"] = str(camera_group)
    _mount(key=key, data=data, height="content")


def preload_plotly_js(*, key: str = "plotly_js_preload") -> None:
    """Start fetching and parsing plotly.js in the browser now, before any figure is ready.

    Call it first thing on a page: the element draws nothing and hides itself, but the browser
    loads the component's code and plotly.js (~4.7 MB to parse) while the server is still computing
    the first figures, instead of after they arrive.
    """
    _mount(key=key, data={"preload": True, "plotly_url": plotly_js_url()}, height="content")


# ------------------------------------------------------------------------------------------
# Helpers for AppTest (which runs no JavaScript): read back what the component was sent.
# ------------------------------------------------------------------------------------------


def sent_data(element: Any) -> dict:
    """The data dict a live_plotly element carried (figure still a JSON string)."""
    proto = getattr(element, "proto", element)
    if getattr(proto, "component_name", None) != COMPONENT_NAME:
        raise ValueError(f"not a live_plotly element: {getattr(proto, 'component_name', type(proto).__name__)!r}")
    return json.loads(proto.json)


def sent_figure(element: Any) -> dict:
    """The figure dict a live_plotly element carried: {"data": [...], "layout": {...}}.

    numpy arrays arrive as plotly typed arrays {"dtype": "f4", "bdata": "<base64>"}; decode
    them with `decode_array`.
    """
    return json.loads(sent_data(element)["figure"])


def decode_array(value: Any):
    """A plotly typed array {"dtype", "bdata"[, "shape"]}, or a plain number list (null: NaN), as numpy."""
    import base64

    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            if isinstance(shape, str):
                shape = [int(v) for v in shape.split(",")]
            array = array.reshape(shape)
        return array
    try:
        return np.array(value, dtype=np.float64)  # None (JSON null) becomes NaN
    except (TypeError, ValueError):
        return np.asarray(value)  # not numbers (e.g. texts)


def find_live_plotly(at: Any, key: str | None = None) -> Any:
    """The live_plotly element of an AppTest run (the one with `key`, or the only one)."""
    found = [el for el in at.get("bidi_component") if getattr(el.proto, "component_name", "") == COMPONENT_NAME]
    if key is not None:
        found = [el for el in found if el.key == key]
    if len(found) != 1:
        raise LookupError(f"expected one live_plotly element{f' with key {key!r}' if key else ''}, found {len(found)}")
    return found[0]
