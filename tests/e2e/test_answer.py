"""The answer at the end of a real sweep: scikit-learn's breast-cancer table with rf and a
LogisticRegression that stops before converging; its ConvergenceWarning, raised inside the
trials, reaches the terminal summary once and the report's answer section."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import datavsmath as dvm
from datavsmath.analysis.estimate_limits import BY_DATASET
from tests.conftest import run_cli

SPEC = """\
name: cancer
dataset: {kind: table, path: cancer.csv, label: target}
models:
  logreg: {estimator: "sklearn.linear_model:LogisticRegression", params: {max_iter: 5}}
model: [rf, logreg]
sample_frac: [0.3, 1.0]
damage_frac: [0.0]
damage_mode: [none]
seeds: [0, 1]
"""
SWEEP_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cancer")
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)
    (folder / "cancer.yaml").write_text(SPEC)
    proc = run_cli("sweep", str(folder / "cancer.yaml"), "--storage", str(folder / "results"), "--no-dashboard",
                   "--no-live", timeout=SWEEP_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, folder / "results" / "cancer"


def test_a_warning_raised_in_trials_reaches_the_summary_once(cancer):
    proc, exp = cancer
    lines = [line for line in proc.stdout.splitlines() if line.startswith("Warnings inside trials:")]
    assert len(lines) == len(set(lines)), lines  # each model and category once
    convergence = [line for line in lines if "ConvergenceWarning" in line]
    assert convergence == ["Warnings inside trials: logreg raised ConvergenceWarning in 4 of 4 trials (4 times)"], \
        proc.stdout[-3000:]
    results = pd.read_parquet(exp / "results.parquet").set_index("model")
    assert all(json.loads(text)["ConvergenceWarning"] == 1 for text in results.loc["logreg", "warning_counts"])
    assert not any("ConvergenceWarning" in text for text in results.loc["rf", "warning_counts"])
    assert convergence[0] in (exp / "report.html").read_text()
    # The counted warning's text can be read (Results.warnings)
    table = dvm.load(exp).warnings.set_index(["model", "category"])
    assert table.loc[("logreg", "ConvergenceWarning"), "trials"] == 4
    assert re.search(r"failed to converge", table.loc[("logreg", "ConvergenceWarning"), "text"])


def test_the_sweep_ends_with_the_answer_for_the_datasets_own_size(cancer):
    proc, _ = cancer
    answer = proc.stdout[proc.stdout.index("Now: "):]
    assert answer.startswith("Now: 455 labels at quality 1, ")  # 569 rows, test_frac 0.2: 455 to train on
    assert "60,000" not in proc.stdout and "2 seeds: no interval" in answer


# An ordinary sweep without damage: the damaged mode `constant`
# swept at damage_frac 0 only, two models, sizes up to 182 of the 455 training rows.
CLEAN_SPEC = """\
name: clean
dataset: {kind: table, path: cancer.csv, label: target}
models:
  logreg: {estimator: "sklearn.linear_model:LogisticRegression", params: {max_iter: 200}}
model: [rf, logreg]
sample_frac: [0.1, 0.2, 0.4]
damage_frac: [0.0]
damage_mode: [constant]
seeds: [0, 1]
"""
RAY_EXPERIMENT = Path(__file__).parents[1] / "data" / "analysis" / "ray_experiment"


@pytest.fixture(scope="module")
def clean_only(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)
    (folder / "clean.yaml").write_text(CLEAN_SPEC)
    proc = run_cli("sweep", str(folder / "clean.yaml"), "--storage", str(folder / "results"), "--no-dashboard",
                   "--no-live", "--no-report", timeout=SWEEP_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "results" / "clean"


def test_an_answer_without_damage_swept_has_the_buy_and_switch_routes(clean_only):
    res = dvm.load(clean_only)
    frame = res.answer(current={"model": "logreg"}, target={"acc": [0.9]})
    assert frame.attrs["lines"][0].startswith("Now: 182 labels at quality 1, logreg, acc ")
    assert set(res.decision(current={"model": "logreg"}, target={"acc": [0.9]})["route"]) == {"buy labels",
                                                                                               "switch to rf"}
    assert res.answer(current={"damage_mode": "none"}).attrs["lines"][0].startswith("Now: 182 labels at quality 1, rf")
    with pytest.raises(ValueError, match=r"current.damage_mode 'random' was not swept for rf; swept: 'constant'$"):
        res.answer(current={"damage_mode": "random"})


def test_a_current_n_past_the_sizes_swept_is_an_extrapolation(clean_only):
    res = dvm.load(clean_only)
    lines = res.answer(current={"model": "rf", "n": 300}, target={"acc": [0.99]}).attrs["lines"]
    assert ("Note: 300 labels lie past the largest size swept for rf (182); the current value is read off its "
            "fitted curve, extrapolated ×1.6.") in lines
    assert not any("already" in line for line in lines), lines
    with pytest.raises(ValueError, match=r"current.n must be at most the dataset's 455 training rows, got 1,000,000,000"):
        res.answer(current={"n": 10**9})


def test_beyond_the_data_names_the_bound_that_applies(clean_only):
    """4x the largest size swept (728) is past the dataset's 455 rows: the dataset bounds the
    routes; the recorded experiment's 4x 600 = 2,400 lies within its 60,000 rows."""
    res = dvm.load(clean_only)
    routes = res.decision(target={"acc": [0.99]})
    beyond = routes[routes["status"] == "beyond the data"]
    assert len(beyond) and set(beyond["bound"]) == {455.0} and set(beyond["bound_by"]) == {BY_DATASET}
    assert "beyond the data (more than the dataset's 455 training rows)" in " ".join(res.answer().attrs["lines"])
    recorded = dvm.load(RAY_EXPERIMENT).answer(target={"acc": [0.99]}).attrs["lines"]
    assert "beyond the data (more than 4× the largest size swept: 2,400 labels)" in " ".join(recorded)


def test_the_report_answers_the_situation_of_the_last_answer(clean_only, tmp_path):
    res = dvm.load(clean_only)
    first = res.answer(current={"model": "logreg"}, target={"acc": [0.97]}).attrs["lines"][0]
    page = res.report(tmp_path / "last.html").read_text()
    assert f'<p class="situation">{html.escape(first)}</p>' in page and "acc 0.970" in page
    page = res.report(tmp_path / "given.html", target={"acc": [0.99]}).read_text()
    assert f'<p class="situation">{html.escape(first)}</p>' in page
    assert "acc 0.990" in page and "acc 0.970" not in page
