"""The report opened in a real headless Chromium: every figure renders, no console errors,
no network request, tables present. A screenshot lands in test-artifacts/."""

from __future__ import annotations

from tests.analysis.fixtures import build_full_report
from tests.browser import ARTIFACTS, render_report


def _switch_confusion_trial(page) -> str:
    """The confusion drill-down's dropdown switches to the next trial; returns the new title."""
    page.click("#fig-confusion .updatemenu-header-group")
    page.click("#fig-confusion .updatemenu-dropdown-button >> nth=1")
    return page.text_content("#fig-confusion .gtitle")


def test_report_renders_in_headless_chromium(tmp_path):
    report = build_full_report(tmp_path / "report")
    seen = render_report(report, screenshot="analysis-report.png", interact=_switch_confusion_trial)
    assert [f["key"] for f in seen["figures"]] == seen["keys"] and len(seen["keys"]) == 10
    for figure in seen["figures"]:
        assert figure["plots"] == 1, figure
        assert figure["drawn"] == figure["expected"] > 0, figure
    # seed and interpolated tables for acc and auc, 4 quality levels; clean-equivalent n (3 damaged levels x 9
    # sizes) and the cheapest route per target (5 targets)
    assert seen["table_rows"] == [4, 4, 4, 4, 27, 5]
    assert seen["extra"].startswith("rf best"), seen["extra"]
    assert seen["errors"] == [] and seen["requests"] == []
    assert (ARTIFACTS / "analysis-report.png").stat().st_size > 50_000
