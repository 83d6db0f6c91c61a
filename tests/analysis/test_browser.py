"""The report opened in a real headless Chromium: every figure renders, no console errors,
no network request, tables present. A screenshot lands in test-artifacts/."""

from __future__ import annotations

import re

from tests.analysis.fixtures import build_full_report
from tests.browser import ARTIFACTS, render_report


def _switch_confusion_trial(page) -> str:
    """The confusion drill-down's dropdown switches to the next trial; returns the new title."""
    page.click("#fig-confusion .updatemenu-header-group")
    page.click("#fig-confusion .updatemenu-dropdown-button >> nth=1")
    return page.text_content("#fig-confusion .gtitle")


ROUTE_ROWS = """() => {
    const table = document.getElementById('routes').closest('section').querySelector('table');
    const head = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
    return [...table.querySelectorAll('tbody tr')].map(
        tr => Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [head[i], td.innerText.trim()])));
}"""


def _answer_first(page) -> tuple[str, str, str, list[dict[str, str]], str]:
    """(the confusion dropdown's new title, the first section's class, the answer's text, the
    routes table's rows, the page's whole text)."""
    first = page.eval_on_selector("body", "b => b.querySelector('section').className")
    answer = page.text_content("section.answer-section")
    return _switch_confusion_trial(page), first, answer, page.evaluate(ROUTE_ROWS), page.inner_text("body")


def _assert_the_summary_names_each_cheapest_route(answer: str, routes: list[dict[str, str]]) -> None:
    """Each target's sentence opens with the route the table marks cheapest, at its cost (one per
    target that a route reaches within the data: here 2 of the 3, the third past every bound)."""
    cheapest = [r for r in routes if r["cheapest"] == "True"]
    assert len({r["target"] for r in routes}) == 3, routes
    assert len(cheapest) == len({r["target"] for r in cheapest}) >= 2, routes
    for row in cheapest:
        sentence = answer.split(f"To reach {row['metric']} {float(row['target']):.3f}: ")[1]
        opening = "switch to " + row["model"] if row["route"].startswith("switch to") else row["route"].split()[0]
        assert sentence.startswith(opening) and f"(cost {row['cost']}" in sentence.split(". Instead")[0], (row, sentence)


def _counted_observations(text: str) -> list[int]:
    """Every number the page gives as a count of labels or observations."""
    return [int(n.replace(",", "")) for n in re.findall(r"(\d[\d,]*) (?:more )?(?:labels|observations|obs)\b", text)]


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
    title, first, answer, routes, text = seen["extra"]
    assert title.startswith("rf best"), title
    assert first == "answer-section" and answer.startswith("The answerNow: 3,000 labels at quality 1, cnn")
    _assert_the_summary_names_each_cheapest_route(answer, routes)
    counts = _counted_observations(text)  # the fixture's dataset: Fashion-MNIST's 60,000 training images
    finals = [int(r["n_final"].replace(",", "")) for r in routes if r["n_final"] != "beyond the data"]
    assert counts and max(counts) <= 60_000 and finals and max(finals) <= 60_000
    assert seen["errors"] == [] and seen["requests"] == []
    assert (ARTIFACTS / "analysis-report.png").stat().st_size > 50_000
