"""The pages of Margin Lab. Each page is a script in this folder; the entry point lists those that exist.

The Playground is the default page. Compare, Lessons and Course are listed once their files exist,
so a page can be added by dropping its script here and naming it in PAGE_FILES.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

PAGES_DIR = Path(__file__).parent


class PageFile(NamedTuple):
    file: str
    title: str
    icon: str
    url_path: str


PAGE_FILES = (
    PageFile("playground.py", "Playground", ":material/science:", "playground"),
    PageFile("compare.py", "Compare", ":material/compare:", "compare"),
    PageFile("lessons.py", "Lessons", ":material/school:", "lessons"),
    PageFile("course.py", "Course", ":material/assignment:", "course"),
)


def navigation_pages() -> list[st.Page]:
    """st.Page objects for the page scripts that exist; the first (the Playground) is the default."""
    pages = []
    for page in PAGE_FILES:
        path = PAGES_DIR / page.file
        if path.is_file():
            pages.append(
                st.Page(path, title=page.title, icon=page.icon, url_path=page.url_path, default=not pages)
            )
    return pages
