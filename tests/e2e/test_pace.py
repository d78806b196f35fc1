"""The Playground's default pace lets a student watch training: press Play and the angle statistics follow
every epoch, so Intra (how spread each class is) is seen to rise as the first clump tears apart, then fall as
the classes tighten (README, "What to try first", step 1).

The page is sampled in the browser every 50 ms: each time the Epoch metric changes, the Intra shown with it
is recorded, so the test sees what a student sees, epoch by epoch.
"""

from __future__ import annotations

import pytest

from .test_playground import APP, LAPTOP, LOAD_TIMEOUT_MS, assert_no_exception, button, open_app, shot

pytestmark = pytest.mark.e2e

RECORD = """
(() => {
  window.__intra = [];  // [epoch, intra in degrees] each time the shown epoch changes
  const read = (label) => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      const name = metric.querySelector('[data-testid="stMetricLabel"]');
      if (name && name.innerText.trim() === label)
        return parseFloat(metric.querySelector('[data-testid="stMetricValue"]').innerText.replace(/,/g, ''));
    }
    return NaN;
  };
  setInterval(() => {
    const epoch = read('Epoch'), intra = read('Intra');
    const last = window.__intra[window.__intra.length - 1];
    if (Number.isFinite(epoch) && Number.isFinite(intra) && (!last || last[0] !== epoch || last[1] !== intra))
      window.__intra.push([epoch, intra]);
  }, 50);
})();
"""


def test_at_the_default_pace_intra_visibly_rises_then_falls(streamlit_server, page, screenshot_path):
    console: list[tuple[str, str]] = []
    page.add_init_script(RECORD)
    open_app(page, streamlit_server(APP), console)
    page.set_viewport_size(LAPTOP)
    play = button(page, "play")
    play.filter(has_text="Play").wait_for(timeout=LOAD_TIMEOUT_MS)
    play.click()
    page.wait_for_function("() => window.__intra.length && window.__intra[window.__intra.length - 1][0] >= 25",
                           timeout=120_000)  # fmt: skip
    seen = page.evaluate("window.__intra")
    shot(page, screenshot_path, "pace_watch_after_25_epochs")
    epochs = sorted({epoch for epoch, _ in seen})
    # Watch draws every epoch (at full speed the first frame showed epoch ~30). On a loaded machine the browser
    # may fold two ticks into one paint now and then, so most, not all, of the first ten are required here.
    assert len(set(range(1, 11)) & set(epochs)) >= 8, (epochs, seen)
    by_epoch = {epoch: intra for epoch, intra in seen}  # the last value shown at each epoch
    start, peak_epoch = by_epoch[min(by_epoch)], max(by_epoch, key=by_epoch.get)
    peak, end = by_epoch[peak_epoch], by_epoch[max(by_epoch)]
    assert 0 < peak_epoch < max(by_epoch), seen  # the peak is neither the first nor the last epoch shown
    assert peak > start + 3 and peak > end + 3, seen  # visibly: several degrees up, then several down
    assert_no_exception(page)
