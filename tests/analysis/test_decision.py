"""datavsmath.analysis.decision and repair_effect: clean-equivalent observations on curves with a
known inverse, bootstrap intervals on replicated grids, what repair buys back, and their report
figures in headless Chromium."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.decision import clean_equivalent, iso_accuracy
from datavsmath.analysis.repair_effect import detection_curves, repair_curves
from datavsmath.analysis.report import write_report
from datavsmath.analysis.schema import normalize
from datavsmath.analysis.tables import interpolated_table
from tests.analysis.fixtures import LABELS, power_law_metric, synthetic_results, write_results
from tests.browser import render_report

N = 60_000
CNN = {"model": "cnn", "damage_mode": "constant", "n_total": N}
# Three sizes a decade apart: the "loglinear" curve is linear in log10 n between them.
DECADE_FRACS = (0.01, 0.1, 1.0)
# Accuracy at DECADE_FRACS per damage_frac (quality 1.0, 0.9, 0.8).
HAND = {0.0: (0.80, 0.86, 0.92), 0.1: (0.78, 0.83, 0.88), 0.2: (0.74, 0.78, 0.82)}
# prune at damage_frac 0.2: repaired trials, better than training on the damaged labels.
PRUNED = (0.77, 0.81, 0.85)
SECONDS_PER_LABEL = 0.001


def row(*, sample_frac: float, damage_frac: float, acc: float, seed: int = 0, repair: str | None = None,
        mode: str = "constant", **extra) -> dict:
    out = dict(status="TERMINATED", model="cnn", sample_frac=sample_frac, damage_frac=damage_frac,
               damage_mode=mode if damage_frac > 0 else "none", seed=seed, n_train=round(sample_frac * N),
               acc=acc, auc=0.99, **extra)
    return out if repair is None else {**out, "repair": repair}


def hand_grid(levels=HAND, *, repair: bool = False, fracs=DECADE_FRACS) -> pd.DataFrame:
    """cnn trials on the hand-built grid; repair=True adds a `repair` column (none) and the
    PRUNED trials with repair_seconds = SECONDS_PER_LABEL * n_train."""
    rows = [row(sample_frac=s, damage_frac=d, acc=a, repair="none" if repair else None)
            for d, accs in levels.items() for s, a in zip(fracs, accs)]
    if repair:
        rows += [row(sample_frac=s, damage_frac=0.2, acc=a, repair="prune",
                     repair_seconds=SECONDS_PER_LABEL * round(s * N)) for s, a in zip(DECADE_FRACS, PRUNED)]
    return normalize(pd.DataFrame(rows))


# --- clean-equivalent observations ----------------------------------------------------------

def test_clean_equivalent_inverts_a_known_power_law():
    fracs = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    clean = [power_law_metric(s, a=0.02, b=0.5, c=0.05) for s in fracs]
    # Damaged accuracies whose clean inverse N (0.02 / (1 - acc - 0.05))^2 is 2400, 9600 and 60000.
    df = hand_grid({0.0: clean, 0.3: (0.85, 0.90, 0.93)}, fracs=fracs)
    # acc = 0.95 - 0.02 x^-0.5 is pow3 exactly; 0.93 is the clean curve's value at its largest
    # size, where auto would hand a hair past the data to its learned extrapolation.
    table = clean_equivalent(df, n_boot=10, curve="pow3", **CNN)
    assert table["num_obs"].tolist() == [600, 1200, 3000]
    assert table["clean_equivalent"].tolist() == pytest.approx([2400, 9600, 60000], rel=1e-3)
    assert table["clean_per_damaged"].tolist() == pytest.approx([4, 8, 20], rel=1e-3)
    assert table["quality"].unique().tolist() == [0.7]


def test_clean_equivalent_on_a_log_linear_curve_and_a_level_the_clean_curve_never_reaches():
    df = hand_grid({0.0: (0.80, 0.86, 0.92), 0.2: (0.83, 0.95, 0.70)})
    table = clean_equivalent(df, curve="loglinear", n_boot=10, **CNN)
    assert table.loc[0, "clean_equivalent"] == pytest.approx(600 * math.sqrt(10))  # 0.83: half a decade
    assert table.loc[1, "clean_equivalent"] == np.inf  # 0.95: above the clean curve's best
    with pytest.raises(ValueError, match="clean_equivalent needs quality 1.0"):
        clean_equivalent(hand_grid({0.1: HAND[0.1], 0.2: HAND[0.2]}), n_boot=5, **CNN)


# --- intervals --------------------------------------------------------------------------------

def noisy_grid(*, seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    """synthetic_results' cnn curves over four qualities, each trial off by its own fixed noise."""
    df = synthetic_results(models=("cnn",), damage_fracs=(0.0, 0.1, 0.2, 0.3), seeds=seeds)
    return df.assign(acc=df["acc"] + np.random.default_rng(1).normal(0, 0.003, len(df)))


def ordered(table: pd.DataFrame, value: str, low: str, high: str) -> bool:
    known = table[table[value].notna()]
    return bool(known[[low, high]].notna().all().all() and (known[low] <= known[value]).all()
                and (known[value] <= known[high]).all() and (known[low] < known[high]).any())


def test_intervals_are_present_and_ordered_on_a_replicated_grid():
    df = noisy_grid()
    interpolated = interpolated_table(df, metric="acc", n_boot=60)
    assert ordered(interpolated, "d_num_obs_d_quality", "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi")
    assert interpolated["d_num_obs_d_quality"].iloc[1:].notna().all()
    assert ordered(iso_accuracy(df, n_boot=60, **CNN), "num_obs", "ci_low", "ci_high")
    assert ordered(clean_equivalent(df, n_boot=60, **CNN), "clean_equivalent", "ci_low", "ci_high")


def test_too_few_points_give_no_interval():
    """A pow3 interval needs 3 + 5 points (curves.estimate_crossing): one seed at 5 sizes has none."""
    one = synthetic_results(models=("cnn",), damage_fracs=(0.0, 0.1, 0.2), seeds=(0,),
                            sample_fracs=(0.01, 0.05, 0.2, 0.6, 1.0))
    table = interpolated_table(one, n_boot=10, curve="pow3")
    assert table[["ci_low", "ci_high", "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi"]].isna().all().all()
    assert iso_accuracy(one, n_boot=10, curve="pow3", **CNN)[["ci_low", "ci_high"]].isna().all().all()


@pytest.mark.parametrize("curve", ["auto", "power_law"])
def test_contours_match_the_interpolated_table(curve):
    """One engine: a contour at a target is the interpolated table at that threshold, interval
    included, inside the data and (auto: learned) past it."""
    df = noisy_grid()
    for target in (0.88, 0.93):
        contours = iso_accuracy(df, targets=[target], n_boot=40, curve=curve, **CNN).drop(columns="target")
        table = interpolated_table(df, threshold=target, n_boot=40, curve=curve)
        given = table["num_obs"].notna()
        pd.testing.assert_frame_equal(contours.loc[given, ["quality", "num_obs", "ci_low", "ci_high", "curve"]],
                                      table.loc[given, ["quality", "num_obs", "ci_low", "ci_high", "curve"]])
        assert given.any()
        assert (contours["found"].str.split(";").str[0] == table["found"].str.split(";").str[0]).all()


# --- what repair buys back, and the report ----------------------------------------------------

def repaired_results(*, seeds=(0, 1)) -> pd.DataFrame:
    """synthetic_results' cnn and rf under constant damage, crossed with repair none, prune
    and relabel: repair wins back a share of what damage cost, and records detection."""
    base = synthetic_results(models=("rf", "cnn"), damage_fracs=(0.0, 0.1, 0.2, 0.3), seeds=seeds)
    frames = [base.assign(repair="none")]
    for repair, share in (("prune", 0.5), ("relabel", 0.7)):
        damaged = base[base["damage_frac"] > 0]
        clean = base[base["damage_frac"] == 0].set_index(["model", "sample_frac", "seed"])["acc"]
        lost = clean.reindex(pd.MultiIndex.from_frame(damaged[["model", "sample_frac", "seed"]])).to_numpy() - damaged["acc"]
        frames.append(damaged.assign(
            repair=repair, acc=damaged["acc"] + share * lost, n_flagged=(damaged["n_train"] * damaged["damage_frac"]),
            repair_seconds=damaged["n_train"] * SECONDS_PER_LABEL,
            detection_precision=0.8 - 0.2 * damaged["damage_frac"] + 0.01 * damaged["seed"],
            detection_recall=0.9 - 0.1 * damaged["damage_frac"] - 0.01 * damaged["seed"]))
    return normalize(pd.concat(frames, ignore_index=True))


def test_repair_and_detection_curves():
    df = repaired_results()
    curves = repair_curves(df)
    assert set(curves["repair"]) == {"none", "prune", "relabel"} and set(curves["model"]) == {"rf", "cnn"}
    assert (curves["sample_frac"] == 1.0).all() and curves["acc_lo"].notna().all()
    cnn = curves[curves["model"] == "cnn"].pivot_table(index="damage_frac", columns="repair", values="acc")
    assert (cnn.loc[0.1:, "prune"] > cnn.loc[0.1:, "none"]).all()  # repair buys accuracy back
    detection = detection_curves(df)
    assert set(detection["repair"]) == {"prune", "relabel"}
    assert detection.loc[detection["damage_frac"] == 0.1, "precision"].tolist() == pytest.approx([0.785] * 4)
    assert (detection["recall_lo"] <= detection["recall"]).all()
    with pytest.raises(ValueError, match="repair_curves needs a 'repair' column"):
        repair_curves(synthetic_results(models=("cnn",)).drop(columns="repair"))  # the tidy frame always has it


@pytest.mark.slow  # the report's browser test (test_browser.py) stays in make test
def test_report_shows_the_decision_figures_in_headless_chromium(tmp_path):
    write_results(repaired_results(), tmp_path)
    report = write_report(tmp_path / "results.parquet", out=tmp_path / "report.html", n_boot=20, labels=LABELS,
                          situation={"current": {"n": 3000}})  # less than all: buying labels is a route
    html = report.read_text()
    for key in ("iso_accuracy_cnn_constant", "routes_figure", "repair", "detection"):
        assert f'data-figure="{key}"' in html, key
    assert 'data-table="routes"' in html and 'data-table="clean_equivalent_cnn_constant"' in html
    seen = render_report(report, screenshot="analysis-decision.png")
    figures = {f["key"]: f for f in seen["figures"]}
    for key in ("iso_accuracy_cnn_constant", "routes_figure", "repair", "detection"):
        assert figures[key]["drawn"] == figures[key]["expected"] > 0, figures[key]
    assert seen["errors"] == [] and seen["requests"] == []


def test_report_without_damage_says_why_the_decision_is_not_shown(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    html = write_report(tmp_path / "results.parquet", out=tmp_path / "r.html", n_boot=5).read_text()
    assert "Not shown: needs two or more quality levels" in html
    assert "Not shown: the results have no repair axis" in html
    assert "data-figure=\"iso_accuracy" not in html


def test_sizes_follow_the_datasets_training_set_size():
    # A dataset of 6,000 training rows: every num_obs is a tenth of a 60,000-row one's.
    assert clean_equivalent(hand_grid(), curve="loglinear", n_boot=5, model="cnn", damage_mode="constant",
                            n_total=6000)["num_obs"].max() == 6000


def test_a_damaged_label_worth_more_than_a_clean_one_is_flagged_as_noise():
    df = hand_grid({0.0: (0.80, 0.86, 0.92), 0.1: (0.81, 0.85, 0.91)})
    table = clean_equivalent(df, curve="loglinear", n_boot=5, **CNN)
    assert table["within_noise"].tolist() == [True, False, False]  # 0.81 > 0.80: ratio above 1
    assert table.loc[0, "clean_per_damaged"] > 1
