"""Helpers for the Playground's AppTests: start the app (optionally from a URL), read what it shows.

conftest.py holds the fixtures; the tests import these helpers directly.

AppTest runs the real script headless. Facts these helpers lean on (docs/architecture.md §8):
each `at.run()` executes the `run_every` fragment once, so a test drives the training ticks;
`st.plotly_chart` comes back as an UnknownElement whose `proto.spec` is the figure JSON;
the live_plotly component is found and decoded with app.components.live_plotly's test hooks.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
ENTRY = str(ROOT / "streamlit_app.py")


def start(query: dict[str, Any] | None = None, *, timeout: float = 30) -> AppTest:
    """A fresh session of the app, opened with `query` as the URL's parameters, after its first run."""
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at


def unescape(text: str) -> str:
    """Markdown backslash escapes removed: what the user reads."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(elements) -> list[str]:
    return [unescape(e.value) for e in elements]


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0]


def epoch(at: AppTest) -> int:
    return int(metric(at, "Epoch").replace(",", ""))


UNIT = "pg"  # the Playground's live unit: its widget, fragment and chart keys start with "pg-"


def k(key: str, unit: str = UNIT) -> str:
    """The widget or chart key of `key` in a unit ("m" -> "pg-margin")."""
    return f"{unit}-{key}"


def run_state(at: AppTest, unit: str = UNIT):
    return at.session_state[f"{unit}-run"]


def figure(at: AppTest, key: str, unit: str = UNIT) -> dict:
    """The figure a live chart of the unit was sent ({"data": [...], "layout": {...}})."""
    from app.components.live_plotly import find_live_plotly, sent_figure

    return sent_figure(find_live_plotly(at, k(key, unit)))


def previews(at: AppTest, key: str, unit: str = UNIT) -> list[dict]:
    """The previews a live chart of the unit was sent (app.live.preview), [] if none."""
    from app.components.live_plotly import find_live_plotly, sent_data

    data = sent_data(find_live_plotly(at, k(key, unit)))
    return json.loads(data["preview"]) if "preview" in data else []


def margin_widget(at: AppTest, key: str = "m", unit: str = UNIT):
    """A float control's widget: a select_slider for radians, a slider otherwise."""
    try:
        return at.select_slider(key=k(key, unit))
    except KeyError:
        return at.slider(key=k(key, unit))


def decode(value: Any) -> np.ndarray:
    """A plotly typed array ({"dtype", "bdata"}) or a plain list, as numpy."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def record_downloads(monkeypatch) -> dict[str, Any]:
    """Patch st.download_button to record each button's data (a callable, when deferred) by its label."""
    import streamlit as st

    recorded: dict[str, Any] = {}
    original = st.download_button

    def recording(label, data, *args, **kwargs):
        recorded[label] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return recorded


def build_on_threads(callables: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Call every recorded download callable on a thread of its own, as Streamlit does on a click; the results
    of those that finished within `timeout` (a hung one is simply missing)."""
    import threading

    results: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda n=n, f=f: results.__setitem__(n, f()), daemon=True)
               for n, f in callables.items()]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
