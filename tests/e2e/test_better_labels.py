"""Better labels end to end: a tiny Fashion-MNIST sweep through the real CLI with the ranked audit
(repair audit), repeated labels (repair vote) and damaged test labels (damage_test), then its
results, the estimate of the labels' quality and the answer's routes."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
import yaml

import datavsmath as dvm
from datavsmath.analysis.situation import SituationError
from datavsmath.cli import dry_run
from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.resources import Node
from datavsmath.sweeps.spec import expand_trials
from datavsmath.sweeps.validation import load_spec
from tests.conftest import run_cli

TINY = {
    "name": "tiny_labels",
    "grids": [
        {"model": ["rf"], "sample_frac": [0.01, 0.03], "damage_frac": [0.0, 0.2], "damage_mode": ["constant"]},
        {"model": ["rf"], "sample_frac": [0.01, 0.03], "damage_frac": [0.2], "damage_mode": ["constant"],
         "repair": ["audit", "vote"]},
        {"model": ["rf"], "sample_frac": [0.03], "damage_frac": [0.0, 0.1], "damage_mode": ["constant"],
         "repair": ["audit"]},
    ],
    "overrides": {"rf": {"n_estimators": 10}},
    "repair_model": {"folds": 3},
    "audit_frac": 0.2,
    "vote_k": 3,
    "damage_test": True,
    "seeds": [0],
}
TIMEOUT_S = 300


def test_the_better_labels_spec_runs_every_route_within_its_budget():
    spec = load_spec("better_labels")
    trials = expand_trials(spec)
    assert {t["repair"] for t in trials} == {"none", "audit", "vote", "prune"} and spec.damage_test
    assert {t["damage_frac"] for t in trials if t["repair"] == "none"} == {0.0, 0.1, 0.2}  # buy and random audit
    assert {t["damage_frac"] for t in trials if t["repair"] == "audit"} == {0.0, 0.1, 0.2, 0.3}  # label quality
    text = dry_run(spec, options=SweepOptions(), nodes=[Node(node_id="local", address="local", cpu=2, gpu=0)])
    minutes = float(text.rsplit("estimated compute: ", 1)[1].split()[0])
    assert minutes <= 2 * 15 * 0.7, text  # two 1-CPU trials at a time, room for Tune's overhead


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """10 trials (about 20 s on 2 cores): the experiment folder."""
    folder = tmp_path_factory.mktemp("labels")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    proc = run_cli("sweep", str(folder / "tiny.yaml"), "--storage", str(folder / "st"), "--no-dashboard",
                   "--no-live", timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "st" / "tiny_labels"


def test_the_audit_and_the_vote_record_what_they_cost_and_what_they_left(tiny):
    df = pd.read_parquet(tiny / "results.parquet")
    assert len(df) == 10 and (df["status"] == "TERMINATED").all()
    damaged = df[df["damage_frac"] == 0.2].set_index(["sample_frac", "seed", "repair"])
    for frac in (0.01, 0.03):
        for seed in (0,):
            none, audit, vote = (damaged.loc[(frac, seed, r)] for r in ("none", "audit", "vote"))
            n = round(frac * 60000)
            assert none["n_wrong"] == none["n_damaged"] and none["n_audited"] == 0 and none["n_bought"] == 0
            assert audit["n_audited"] == round(0.2 * n) and audit["audit_frac"] == 0.2
            assert audit["n_wrong"] < none["n_wrong"] - audit["n_audited"] / 2  # most audited labels were wrong
            assert vote["vote_k"] == 3 and vote["n_bought"] == 2 * n and vote["n_audited"] == 0
            assert vote["n_wrong"] < 0.7 * none["n_wrong"]  # the majority of 3 labels at 20 % noise: ~10 %
            assert audit["cleanlab_noise"] > 0 and np.isnan(vote["cleanlab_noise"])


def test_damaged_test_labels_are_corrected_to_the_clean_accuracy(tiny):
    df = pd.read_parquet(tiny / "results.parquet")
    damaged = df[df["damage_frac"] == 0.2]
    assert (damaged["test_noise_rate"] == 0.2).all()
    assert (damaged["acc_test_damaged"] < damaged["acc"] - 0.1).all()  # the noisy test set reads ~0.15 low
    assert (damaged["acc_test_corrected"] - damaged["acc"]).abs().max() < 0.02
    clean = df[df["damage_frac"] == 0]
    assert (clean["acc_test_damaged"] == clean["acc"]).all()


def test_the_labels_quality_is_estimated_and_calibrated_on_the_sweeps_damage(tiny):
    quality = dvm.load(tiny).label_quality()
    assert quality.method == "calibrated" and quality.damage_mode == "constant" and quality.damage_fracs == (0, 0.1)
    assert 0.85 < quality.raw <= 1 and 0.85 < quality.estimate <= 1  # Fashion-MNIST's labels are nearly clean
    assert quality.n_trials == 2 and np.isnan(quality.low)  # one seed: a line through 2 points, no interval
    assert "(no interval: 2 trials)" in quality.describe()
    assert list(quality.to_frame().columns[:4]) == ["estimate", "low", "high", "raw"]


def test_the_routes_price_the_ranked_audit_and_the_repeated_labels(tiny):
    res = dvm.load(tiny)
    current = {"model": "rf", "n": 600, "quality": 0.8, "damage_mode": "constant"}
    routes = res.decision(current=current, target={"acc": [0.72, 0.76]}).set_index("route")
    assert {"buy labels", "audit labels", "ranked audit (20% of labels)", "relabel each item 3 times"} <= set(routes.index)
    ranked, vote = routes.loc["ranked audit (20% of labels)"], routes.loc["relabel each item 3 times"]
    assert (ranked["repair"] == "audit").all() and (vote["repair"] == "vote").all()
    for rows, per_label in ((ranked, 0.2 * 0.2), (vote, 2.0)):
        priced = rows[rows["status"] == "priced"]
        assert len(priced), rows  # the first target is reached by both
        bought = priced["n_final"] - 600
        assert np.allclose(priced["cost"], bought + per_label * priced["n_final"])
    lines = res.answer(current=current, target={"acc": [0.72]}).attrs["lines"]
    assert any("the ranked audit and the repeated labels were measured on the sweep's own damage" in line
               for line in lines), lines


def test_quality_auto_and_test_quality_say_what_they_estimated(tiny):
    res = dvm.load(tiny)
    lines = res.answer(current={"model": "rf", "quality": "auto", "test_quality": 0.9},
                       target={"acc": [0.8]}).attrs["lines"]
    text = "\n".join(lines)
    assert lines[0].startswith("Now: 1,800 labels as given (estimated quality 0.9"), lines[0]
    assert "Note: quality auto: estimated quality" in text and "calibrated on how cleanlab's" in text
    assert "accuracies are corrected to a clean test set from test labels of quality 0.900" in text
    measured = res.answer(current={"model": "rf"}, target={"acc": [0.8]}).attrs["lines"][0]
    assert float(lines[0].split("acc ")[1][:5]) > float(measured.split("acc ")[1][:5])  # corrected upward
    with pytest.raises(SituationError, match=r"current.quality must be a number in \[0, 1\] or 'auto', got 'best'"):
        res.answer(current={"quality": "best"})


@pytest.mark.slow
def test_the_better_labels_report_opens_with_the_cheapest_route(tmp_path):
    """The shipped spec end to end (81 trials, 8.4 min on the shared 2-core machine): every
    route is priced, and the report opens with the answer naming the cheapest of them."""
    proc = run_cli("sweep", "better_labels", "--storage", str(tmp_path), "--no-dashboard", "--no-live", timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = dvm.load(tmp_path / "better_labels")
    routes = res.decision()
    assert {"buy labels", "audit labels", "repair: prune", "ranked audit (20% of labels)",
            "relabel each item 3 times"} <= set(routes["route"])
    cheapest = routes.loc[routes["cheapest"], "route"].iloc[0]
    answer = res.answer()
    assert answer.loc[0, "route"] == cheapest
    page = (tmp_path / "better_labels" / "report.html").read_text()
    first = page.index("<h2")
    assert page.index('<h2 id="answer">') == first
    assert html.escape(answer.loc[0, "sentence"]) in page[first:page.index("<h2", first + 1)]


@pytest.mark.parametrize(("current", "without_audit", "match"), [
    ({"test_quality": 1.5}, False, r"^current.test_quality must be in \(0, 1\], got 1.5$"),
    ({"test_quality": "auto"}, True, r"^current.test_quality auto: label quality needs finished trials of a repair"),
    ({"quality": "auto"}, True, r"^current.quality auto: label quality needs finished trials of a repair"),
])
def test_a_quality_that_cannot_be_used_is_refused_naming_the_key(tiny, current, without_audit, match):
    from datavsmath.analysis.answer import answer

    df = dvm.load(tiny).frame
    with pytest.raises(SituationError, match=match):
        answer(df[df["repair"] != "audit"] if without_audit else df, current=current, n_total=60000)
