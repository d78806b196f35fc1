"""Helpers for the Playground's AppTests: start the app (optionally from a URL), read what it shows.

conftest.py holds the fixtures; the tests import these helpers directly.

AppTest runs the real script headless. Facts these helpers lean on (research/teaching.md §6.1):
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


def run_state(at: AppTest):
    return at.session_state["_run"]


def plotly_spec(at: AppTest, key: str) -> dict:
    """The figure JSON of the st.plotly_chart with `key`."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):  # element ids end in the user key
            return json.loads(element.proto.spec)
    raise LookupError(f"no plotly chart with key {key!r}")


def decode(value: Any) -> np.ndarray:
    """A plotly typed array ({"dtype", "bdata"}) or a plain list, as numpy."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)
