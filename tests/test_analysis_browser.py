"""The report opened in a real headless Chromium: every figure renders, no console errors,
no network request, tables present. A screenshot lands in test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.test_analysis_fixtures import build_full_report

# Debian's Chromium; Playwright must never download a browser (the machine is offline).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
RENDER_TIMEOUT_MS = 30_000
# Per figure: its key, the visible traces it should have, and what Plotly drew as SVG
# (scatter and bar traces are <g class="trace">, heatmaps <g class="hm">).
RENDERED = """els => els.map(e => ({key: e.dataset.figure, expected: Number(e.dataset.expectedTraces),
  drawn: e.querySelectorAll('.js-plotly-plot g.trace').length + e.querySelectorAll('.js-plotly-plot g.hm').length,
  plots: e.querySelectorAll('.js-plotly-plot').length}))"""


def test_report_renders_in_headless_chromium(tmp_path):
    report = build_full_report(tmp_path / "report")
    keys = re.findall(r'data-figure="([^"]+)"', report.read_text())
    errors, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                       if not route.request.url.startswith("file:") else route.continue_())
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(keys)}",
                                   timeout=RENDER_TIMEOUT_MS)
            figures = page.eval_on_selector_all("div.figure", RENDERED)
            table_rows = page.eval_on_selector_all("section.table-section", "els => els.map(e => "
                                                   "e.querySelectorAll('table tbody tr').length)")
            # The confusion drill-down's dropdown switches to the next trial.
            page.click("#fig-confusion .updatemenu-header-group")
            page.click("#fig-confusion .updatemenu-dropdown-button >> nth=1")
            title = page.text_content("#fig-confusion .gtitle")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "analysis-report.png"), full_page=True)
        finally:
            browser.close()
    assert [f["key"] for f in figures] == keys and len(keys) == 8
    for figure in figures:
        assert figure["plots"] == 1, figure
        assert figure["drawn"] == figure["expected"] > 0, figure
    assert table_rows == [4, 4, 4, 4]  # seed and interpolated tables for acc and auc, 4 quality levels
    assert title.startswith("rf best"), title
    assert errors == [] and requests == []
    assert (ARTIFACTS / "analysis-report.png").stat().st_size > 50_000
