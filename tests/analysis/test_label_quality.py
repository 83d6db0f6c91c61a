"""The labels' quality estimated from cleanlab's figures, on real data: scikit-learn's digits whose
labels a "user" damaged before the sweep (20 % random damage, unknown to the sweep), then
damaged further by the sweep's own levels, each repaired by the ranked audit as a trial would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from datavsmath.analysis.label_quality import corrected_for_test_quality, label_quality
from datavsmath.trainables.damage import damage_labels
from datavsmath.trainables.label_noise import damaged_test_labels
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.repair import repair_labels

K = 10
HIDDEN = 0.2  # the user's own label noise, which the sweep does not know
LEVELS = (0.0, 0.1)
# Measured on these digits (seeds 0-1): cleanlab misses some wrong labels, so both figures read
# the quality 0.02-0.06 too high; a broken estimate (the damage applied, a fit gone wrong) is off by more.
TOLERANCE = 0.08


@pytest.fixture(scope="module")
def trials():
    """A finished `audit` trial per sweep damage level and seed on the user's digits (4 CVs, ~6 s)."""
    x, y = load_digits(return_X_y=True)
    given, _ = damage_labels(y, n_classes=K, damage_frac=HIDDEN, damage_mode="random", seed=99)
    rows = []
    for d, seed in [(d, seed) for d in LEVELS for seed in (0, 1)]:
        labels, damaged = damage_labels(given, n_classes=K, damage_frac=d, damage_mode="random", seed=seed)
        fixed = repair_labels(x, labels, repair="audit", n_classes=K, seed=seed, damaged=damaged, clean_labels=given,
                              folds=3, n_jobs=2)
        rows.append({"status": "TERMINATED", "model": "rf", "sample_frac": 1.0, "damage_frac": d, "seed": seed,
                     "damage_mode": "random" if d else "none", "acc": fixed.label_acc, "auc": fixed.label_acc,
                     "confusion": None, **fixed.stats()})
    return pd.DataFrame(rows), 1 - float(np.mean(given != y))


def test_the_calibrated_estimate_finds_the_users_own_noise(trials):
    df, truth = trials
    quality = label_quality(df, n_classes=K)
    assert quality.method == "calibrated" and quality.damage_mode == "random" and quality.n_trials == 4
    assert abs(quality.estimate - truth) < TOLERANCE and abs(quality.raw - truth) < TOLERANCE
    assert quality.low <= quality.estimate <= quality.high < 1
    assert quality.raw == pytest.approx(1 - df.loc[df["damage_frac"] == 0, "cleanlab_noise"].iloc[0])
    assert "calibrated on how cleanlab's estimate grew with the sweep's own random damage" in quality.describe()


def test_without_damaged_trials_the_raw_figure_is_said_as_such(trials):
    df, _ = trials
    quality = label_quality(df[df["damage_frac"] == 0], n_classes=K)
    assert quality.method == "raw" and quality.estimate == quality.raw and np.isnan(quality.low)
    assert "raw figure" in quality.describe() and "no damaged trials to calibrate it on" in quality.describe()


@pytest.mark.parametrize("keep", [lambda df: df["damage_frac"] > 0, lambda df: df["repair"] == "none"])
def test_an_estimate_needs_cleanlabs_figure_of_the_labels_as_given(trials, keep):
    df, _ = trials
    rows = df[keep(df)] if keep(df).any() else df.assign(repair="none", cleanlab_noise=np.nan)
    with pytest.raises(ValueError, match=r"label quality needs finished trials of a repair that reads the cheap"):
        label_quality(rows, n_classes=K)


def test_the_random_damage_correction_needs_the_class_count(trials):
    df, _ = trials
    with pytest.raises(ValueError, match=r"label quality needs the class count: no trial records a confusion matrix"):
        label_quality(df)


@pytest.mark.parametrize("test_quality", [0.8, 0.9])
def test_accuracies_are_corrected_for_noisy_test_labels(fashion, test_quality):
    """A trial measured on test labels of quality q: the corrected accuracy is the clean one."""
    proba = np.eye(K)[np.asarray(fashion.y_test)] * 0.6 + 0.04  # a predictor right on every test image...
    proba[::4] = np.roll(proba[::4], 1, axis=1)  # ...but a quarter of them, sent one class on
    labels, _ = damaged_test_labels(fashion.y_test, n_classes=K, damage_frac=1 - test_quality,
                                    damage_mode="random", seed=0)
    noisy, clean = evaluate(labels, proba, n_classes=K), evaluate(fashion.y_test, proba, n_classes=K)
    df = pd.DataFrame([{"acc": noisy["acc"], "confusion": noisy["confusion"]}])
    out = corrected_for_test_quality(df, test_quality=test_quality)
    assert out["acc_measured"].iloc[0] == noisy["acc"] < clean["acc"] - 0.05
    assert abs(out["acc"].iloc[0] - clean["acc"]) < 0.01
