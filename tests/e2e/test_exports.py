"""Exports in real Chromium: on the Playground, Step once, then download each file and check it.

The CSV has one row per test sample; the JSON replays through the command line's replay (in this
process) to the same metrics; the weights load with torch.load(..., weights_only=True) into a fresh
model; the figure is a standalone HTML page with plotly.js inside and no <script src=...>. Before
the Step the panel says, in one sentence, that there is nothing to export. The screen is saved at
1366×768 (artifacts/screenshots/exports_panel.png) to look at the panel as a user would.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import torch
from playwright.sync_api import expect

from toy_models import export
from toy_models.cli import main
from toy_models.data import load_dataset

pytestmark = pytest.mark.e2e

APP = "streamlit_app.py"
LAPTOP = {"width": 1366, "height": 768}
LOAD_TIMEOUT_MS = 90_000
DOWNLOAD_TIMEOUT_MS = 60_000
UNIT = "pg"


LABELS = {"csv": "Embeddings (CSV)", "json": "Metrics and config (JSON)", "weights": "Weights (.pt)",
          "html": "Figure (HTML)"}


def download(page, key: str, folder) -> tuple[str, bytes]:
    """Click the download button `key` and return (suggested file name, the file's bytes)."""
    button = page.locator(f".st-key-{UNIT}-export-{key}").get_by_role("button", name=LABELS[key])
    button.wait_for(timeout=LOAD_TIMEOUT_MS)
    print("downloading", key)
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as info:
        button.click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return info.value.suggested_filename, path.read_bytes()


def test_step_then_download_each_export(streamlit_server, browser, tmp_path, screenshot_path, capsys):
    url = streamlit_server(APP)
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(url)
        page.get_by_role("heading", name=re.compile("Playground")).wait_for(timeout=LOAD_TIMEOUT_MS)
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text(export.NOTHING_YET).wait_for(timeout=LOAD_TIMEOUT_MS)
        assert page.locator(f".st-key-{UNIT}-export-csv").count() == 0

        page.get_by_role("button", name="Step").click(force=True)
        page.locator(f".st-key-{UNIT}-export-csv").wait_for(timeout=LOAD_TIMEOUT_MS)
        assert sidebar.get_by_text(export.NOTHING_YET).count() == 0

        name, data = download(page, "csv", tmp_path)
        assert name == "margin-lab-arcface-embeddings.csv"
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        digits = load_dataset("digits")
        assert len(rows) == len(digits.y_test) and {r["split"] for r in rows} == {"test"}
        assert [int(r["label"]) for r in rows] == digits.y_test.tolist()
        assert all(abs(sum(float(r[f"x{i}"]) ** 2 for i in range(3)) - 1) < 1e-4 for r in rows)

        name, data = download(page, "json", tmp_path)
        saved = json.loads(data)
        assert name == "margin-lab-arcface-run.json" and saved["command"] == "train"
        assert saved["config"]["epochs"] == 1 and saved["config"]["steps"] > 0  # Step trains one epoch
        capsys.readouterr()
        assert main(["replay", str(tmp_path / name), "--quiet"]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out.startswith("replay matches: 1 run(s)")

        name, data = download(page, "weights", tmp_path)
        assert name == "margin-lab-arcface-weights.pt"
        payload = torch.load(io.BytesIO(data), weights_only=True)
        assert payload["step"] == saved["config"]["steps"]
        backbone, head = export.load_weights(tmp_path / name)
        with torch.no_grad():
            logits = head(backbone(digits.x_test[:16]))
        assert logits.shape == (16, 10) and torch.isfinite(logits).all()

        name, data = download(page, "html", tmp_path)
        html = data.decode()
        assert name == "margin-lab-arcface-hypersphere.html"
        assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing from a CDN
        assert len(html) > 3_000_000 and "Plotly.newPlot" in html and "<title>Hypersphere</title>" in html

        panel = page.locator(f".st-key-{UNIT}-export-csv")
        panel.scroll_into_view_if_needed()
        expect(panel).to_be_in_viewport(timeout=LOAD_TIMEOUT_MS)
        page.screenshot(path=str(screenshot_path("exports_panel.png")))
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
