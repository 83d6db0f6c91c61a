"""Open a report in Debian's headless Chromium (via Playwright) and read back what rendered."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

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
TABLE_ROWS = "els => els.map(e => e.querySelectorAll('table tbody tr').length)"


def render_report(report: Path, *, screenshot: str, interact=None) -> dict[str, Any]:
    """Load `report`, wait for every figure, screenshot it into test-artifacts/.

    Returns {keys (figures in the HTML), figures (RENDERED per figure), table_rows,
    errors (console and page errors), requests (non-file URLs, all blocked), extra
    (whatever `interact(page)` returned)}.
    """
    keys = re.findall(r'data-figure="([^"]+)"', report.read_text())
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page: Page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                       if not route.request.url.startswith("file:") else route.continue_())
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(keys)}",
                                   timeout=RENDER_TIMEOUT_MS)
            figures = page.eval_on_selector_all("div.figure", RENDERED)
            table_rows = page.eval_on_selector_all("section.table-section", TABLE_ROWS)
            extra = interact(page) if interact else None
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            browser.close()
    return {"keys": keys, "figures": figures, "table_rows": table_rows, "errors": errors,
            "requests": requests, "extra": extra}
