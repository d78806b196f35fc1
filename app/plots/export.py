"""A figure as a standalone HTML file: plotly.js inlined, so it opens offline and loads nothing from a CDN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio


def figure_html(figure: go.Figure | Mapping[str, Any], *, title: str | None = None) -> str:
    """The full HTML page of `figure` (a go.Figure, or the plain dict a builder returns with as_spec=True),
    with the whole plotly.js bundle inside it (~4.7 MB): it works offline and years from now.

    ValueError (one sentence) for something that is not a plotly figure.
    """
    if isinstance(figure, go.Figure):
        fig = figure
    elif isinstance(figure, Mapping):
        try:
            # skip_invalid: a live figure may carry keys for the browser only (meta, uirevision are valid;
            # anything else is dropped rather than refused), and the file must still be written
            fig = go.Figure(dict(figure), skip_invalid=True)
        except (ValueError, TypeError) as err:
            raise ValueError(f"this is not a plotly figure, so it cannot be saved as HTML ({err})") from err
    else:
        raise ValueError(f"a figure must be a plotly Figure or its dict, got {type(figure).__name__}")
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
    html = pio.to_html(fig, include_plotlyjs=True, full_html=True, config=config)
    if title:  # the browser tab's title (plotly writes none)
        html = html.replace("<head>", f"<head><title>{_escape(title)}</title>", 1)
    return html


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
