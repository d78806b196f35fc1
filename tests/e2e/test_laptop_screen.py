"""On a 1366×768 laptop screen the Playground's statistics row stays on the first screen, whatever the status
line above the views says: a rebuild's sentence, softmax's note on what the angle views show, SphereFace's λ.

The status line runs across the page in one line (a longer one ends in "…" and shows whole in its tooltip);
a second line, or the rebuild's sentence on a line of its own, pushed the statistics' values below the fold.
A screenshot of each screen goes to artifacts/screenshots/laptop_*.png.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

LAPTOP = {"width": 1366, "height": 768}
LOAD_TIMEOUT_MS = 90_000
STATUS = ".st-key-pg-messages [data-testid='stCaptionContainer'] p"


def values_bottom(page) -> float:
    """Where the lowest of the statistics' values ends (px from the top of the screen)."""
    return page.evaluate("""() => Math.max(...[...document.querySelectorAll('[data-testid="stMetric"]')]
        .filter(m => m.textContent.includes('Tammes bound') || m.textContent.includes('Closest centres'))
        .map(m => m.querySelector('[data-testid="stMetricValue"]').getBoundingClientRect().bottom))""")


@pytest.mark.parametrize("query", ["seed=0", "loss=softmax&seed=0", "loss=sphereface&form=original&m=4&seed=0"],
                         ids=["arcface", "softmax", "sphereface-original"])  # fmt: skip
def test_the_statistics_stay_on_a_laptop_screen_after_a_rebuild(streamlit_server, browser, screenshot_path, query):
    page = browser.new_page(viewport=LAPTOP)
    try:
        page.goto(streamlit_server("streamlit_app.py", query))
        page.get_by_text("Tammes bound").first.wait_for(timeout=LOAD_TIMEOUT_MS)
        seed = page.locator(".st-key-pg-seed input")
        seed.fill("3")
        seed.press("Enter")  # a cold change: the model is rebuilt, and the page says so
        page.get_by_text("Seed changed: model rebuilt from seed 3.").first.wait_for(timeout=LOAD_TIMEOUT_MS)
        page.wait_for_timeout(1500)  # let the last redraw settle
        name = query.split("&")[0].replace("=", "_")
        page.screenshot(path=str(screenshot_path(f"laptop_{name}.png")))
        status = page.locator(STATUS).first
        assert status.bounding_box()["height"] < 30, "the status line wraps onto a second line"
        if "sphereface" in query:  # a line longer than the page: its whole text is in the tooltip, in sight
            icon, line = status.get_by_test_id("stTooltipIcon").bounding_box(), status.bounding_box()
            assert icon is not None and icon["x"] + icon["width"] <= line["x"] + line["width"] + 1
        assert values_bottom(page) <= LAPTOP["height"], "the statistics' values are below the fold"
    finally:
        page.close()
