"""The answer at the end of a real sweep: scikit-learn's breast-cancer table with rf and a
LogisticRegression that stops before converging; its ConvergenceWarning, raised inside the
trials, reaches the terminal summary once and the report's answer section."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

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


def test_the_sweep_ends_with_the_answer_for_the_datasets_own_size(cancer):
    proc, _ = cancer
    answer = proc.stdout[proc.stdout.index("Now: "):]
    assert answer.startswith("Now: 455 labels at quality 1, ")  # 569 rows, test_frac 0.2: 455 to train on
    assert "60,000" not in proc.stdout and "2 seeds: no interval" in answer
