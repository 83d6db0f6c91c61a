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


def _answer_first(page) -> tuple[str, str, str]:
    """(the confusion dropdown's new title, the first section's class, the answer's text)."""
    first = page.eval_on_selector("body", "b => b.querySelector('section').className")
    return _switch_confusion_trial(page), first, page.text_content("section.answer-section")


def test_report_renders_in_headless_chromium(tmp_path):
    report = build_full_report(tmp_path / "report")
    seen = render_report(report, screenshot="analysis-report.png", interact=_answer_first)
    assert [f["key"] for f in seen["figures"]] == seen["keys"] and len(seen["keys"]) == 11
    for figure in seen["figures"]:
        assert figure["plots"] == 1, figure
        assert figure["drawn"] == figure["expected"] > 0, figure
    # the routes (3 targets x buy labels and 3 other models), seed and interpolated tables for acc and auc,
    # 4 quality levels; the exchange rate g(q) of the 4 levels; clean-equivalent n (3 damaged levels x 9 sizes)
    assert seen["table_rows"] == [12, 4, 4, 4, 4, 4, 27]
    title, first, answer = seen["extra"]
    assert title.startswith("rf best"), title
    assert first == "answer-section" and answer.startswith("The answerNow: 3,000 labels at quality 1, cnn")
    assert seen["errors"] == [] and seen["requests"] == []
    assert (ARTIFACTS / "analysis-report.png").stat().st_size > 50_000
