"""The address bar: read a page's setup from the link, write it back, and build the share link.

A unit that is bound to the URL (the Playground, Compare) reads its values from here on the first run and
on Back/Forward, and writes them back after every change, so the link always reproduces the page. A hosted
page's server mark (`hosted.SERVER_PARAM`) is not a setting: it is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import hosted


def raw_query() -> dict[str, list[str]]:
    """The current query parameters with repeated keys kept as lists (the server mark left out)."""
    qp = st.query_params
    return {key: qp.get_all(key) for key in qp if key != hosted.SERVER_PARAM}


def write(query: Mapping[str, str]) -> None:
    """Make the address bar hold `query` (only when it differs, to avoid needless messages to the browser)."""
    current = {key: st.query_params.get_all(key) for key in st.query_params if key != hosted.SERVER_PARAM}
    if current != {key: [text] for key, text in query.items()}:
        kept = {k: v for k, v in st.query_params.to_dict().items() if k == hosted.SERVER_PARAM}
        st.query_params.from_dict({**query, **kept})


def link(query: Mapping[str, str], path: str | None = None) -> str:
    """The full link to `query` on this page, or on `path` (host included when Streamlit knows it)."""
    try:
        base = st.context.url or ""
    except Exception:  # no browser context (bare run / AppTest)
        base = ""
    parts = urlsplit(base or "http://localhost:8501/")
    page = path if path is not None else (parts.path or "/")
    return urlunsplit((parts.scheme, parts.netloc, page, urlencode(query), ""))


def history_navigation() -> bool:
    """Whether this run was started by the browser's Back or Forward button (the page then re-reads the link)."""
    return bool(get_script_run_ctx().is_history_navigation)  # private (tests/unit/test_streamlit_internals.py)
