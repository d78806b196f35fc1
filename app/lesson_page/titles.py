"""The page's layout of a lesson's body (its sections), the headings of its views, and links to them (a reveal
points at the view it talks about).

The sphere view is headed for what it shows: the circle in 2-D, the sphere in 3-D.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

VIEW_TITLES = {
    "sphere": "Features on the sphere",
    "angle_histograms": "Angle histograms",
    "target_logit": "Target logit",
    "decision_margins": "Decision margins",
    "angle_statistics": "Angle statistics",
    "training_curves": "Training curves",
    "compare": "The losses side by side",
    "papers_figures": "The papers' figures",
    "open_set_verification": "Open-set verification",
    "margin_sweep": "Margin sweep",
}


def view_title(name: str, dim: int = 3) -> str:
    """A view's heading: "Features on the circle" for the sphere view of a 2-D run."""
    title = VIEW_TITLES.get(name, name)
    return "Features on the circle" if name == "sphere" and dim == 2 else title


def view_anchor(name: str, dim: int = 3) -> str:
    """The anchor Streamlit gives a view's heading (its title, lower case, words joined by hyphens)."""
    return re.sub(r"[^a-z0-9]+", "-", view_title(name, dim).lower().replace("'", "")).strip("-")


def view_link(name: str, dim: int = 3) -> str:
    """A Markdown link to a view's heading on the page (the reveal points at it)."""
    return f"[{view_title(name, dim)}](#{view_anchor(name, dim)})"


def sections(blocks: Sequence[Any]) -> list[tuple[list[Any], list[str]]]:
    """The body as (text blocks, views) pairs: each run of prose, questions and checks with the views named
    right after it. Views that follow one another share a section; trailing text has no views."""
    out: list[tuple[list[Any], list[str]]] = []
    text: list[Any] = []
    for block in blocks:
        if block.kind == "view":
            if not text and out:
                out[-1][1].append(block.text_or_name)
            else:
                out.append((text, [block.text_or_name]))
                text = []
        else:
            text.append(block)
    if text:
        out.append((text, []))
    return out
