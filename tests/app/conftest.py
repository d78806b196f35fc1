"""Fixtures of the Playground's AppTests (helpers live in apphelpers.py)."""

from __future__ import annotations

import pytest
from apphelpers import start
from streamlit.testing.v1 import AppTest


@pytest.fixture
def app() -> AppTest:
    """The app opened on a bare URL (the defaults), after its first run."""
    at = start()
    assert not at.exception, [e.value for e in at.exception]
    return at
