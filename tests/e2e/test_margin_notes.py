"""The notes under the margin slider follow its thumb in the browser, as the charts do.

While training plays the server answers a slider move only after the tick under way (0.3-1.1 s here); the
caption "Workable for 10 classes on a sphere: m < 1.15 rad ..., At m = 0.53, a sample must stay within ±17.9°
of its centre" used to wait for it, behind the charts. The charts' previews now carry the notes at the nearby
stops too (app/live/preview.py with_notes), and live_plotly.js writes them the moment the thumb moves: the
notes' box records the stop it shows in data-shown, which only the browser's preview writes.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

LOAD_TIMEOUT_MS = 90_000
NOTES = ".st-key-pg-notes"


def test_the_margin_caption_follows_the_thumb_before_the_server_answers(streamlit_server, page):
    page.goto(streamlit_server("streamlit_app.py", "seed=0"))
    page.get_by_text("Tammes bound").first.wait_for(timeout=LOAD_TIMEOUT_MS)
    caption = page.locator(f"{NOTES} [data-testid='stCaptionContainer'] p").first
    caption.wait_for(timeout=LOAD_TIMEOUT_MS)
    assert "At m = 0.50," in caption.text_content()
    page.locator(".st-key-pg-play button").first.click(force=True)  # playing: the server answers late
    page.wait_for_timeout(2000)
    slider = page.get_by_role("slider", name="Margin m (rad)")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    # The browser's own preview wrote the notes at the new stop (data-shown is the preview's mark) ...
    page.wait_for_function(f"() => document.querySelector('{NOTES}').dataset.shown === '0.53'", timeout=10_000)
    assert "At m = 0.53," in caption.text_content()
    assert re.search(r"within ±\d+\.\d° of its centre", caption.text_content())
    # ... and the server's notes, when they come, say the same.
    page.wait_for_url(re.compile(r"[?&]margin=0\.53(&|$)"), timeout=45_000)
    page.wait_for_timeout(3000)
    assert "At m = 0.53," in page.locator(f"{NOTES} [data-testid='stCaptionContainer'] p").first.text_content()
    page.locator(".st-key-pg-play button").first.click(force=True)
