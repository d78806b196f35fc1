"""The papers' figures and the verification section in real Chromium (the harness page of tests/app).

One journey: open the page, press "Reproduce the figures" and "Train and verify", and check that every figure
is drawn (plotly's SVG in the browser, not just sent) with no exception box. The screenshots are saved under
artifacts/screenshots/ to be looked at.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

APP = "tests/app/_compare_sections_app.py"
TIMEOUT_MS = 120_000
# Drawn before any training: target logits, two decision-margin grids. After: target angles, pair angles,
# 3 + 3 toy circles (four losses, then CosFace m = 0, 0.1, 0.2, in rows of four), 4 SphereFace spheres;
# after verification: the ROC and the held-out pair angles.
BEFORE, AFTER_PAPERS, AFTER_VERIFY = 3, 3 + 2 + 7 + 4, 3 + 2 + 7 + 4 + 2


def drawn_charts(page) -> int:
    return page.locator('[data-testid="stPlotlyChart"] .main-svg').evaluate_all(
        "nodes => new Set(nodes.map(n => n.closest('[data-testid=\"stPlotlyChart\"]'))).size")


def wait_for_charts(page, count: int, *, exactly: bool = False) -> None:
    """Until `count` charts are drawn (at least, or exactly: during a rerun the old elements linger a moment)."""
    page.wait_for_function(
        """([count, exactly]) => {
             const n = new Set([...document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg')]
               .map(node => node.closest('[data-testid="stPlotlyChart"]'))).size;
             return exactly ? n === count : n >= count;
           }""",
        arg=[count, exactly], timeout=TIMEOUT_MS,
    )  # fmt: skip


def test_reproduce_the_figures_and_verify(streamlit_server, page, screenshot_path):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(streamlit_server(APP))
    wait_for_charts(page, BEFORE)
    page.get_by_role("button", name="Reproduce the figures").click()
    wait_for_charts(page, AFTER_PAPERS)
    page.get_by_role("button", name="Train and verify").click()
    wait_for_charts(page, AFTER_VERIFY)
    page.get_by_text("AUC from best to worst").wait_for(timeout=TIMEOUT_MS)
    wait_for_charts(page, AFTER_VERIFY, exactly=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert drawn_charts(page) == AFTER_VERIFY
    table = page.locator('[data-testid="stTable"]').inner_text()
    for loss in ("Softmax", "SphereFace, m = 1.5", "CosFace, m = 0.35", "ArcFace, m = 0.50 rad"):
        assert loss in table  # one row per loss
    page.screenshot(path=screenshot_path("compare_sections.png"), full_page=True)
    assert not [e for e in page.console_errors if "favicon" not in e], page.console_errors
