"""datavsmath.analysis.decision: the buy-or-clean decision on hand-built grids whose costs are known
exactly, clean-equivalent observations on curves with a known inverse, bootstrap intervals
on replicated grids, and the new report figures in headless Chromium."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.decision import (
    audit_fraction,
    cheapest_routes,
    clean_equivalent,
    decision_table,
    detection_curves,
    has_repair,
    iso_accuracy,
    repair_curves,
)
from datavsmath.analysis.report import write_report
from datavsmath.analysis.schema import DATASET, normalize
from datavsmath.analysis.tables import interpolated_table
from tests.analysis.fixtures import LABELS, power_law_metric, synthetic_results, write_results
from tests.browser import render_report

N = DATASET.n_train
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


def decide(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    options = dict(current_quality=0.8, current_n=6000, method="loglinear", n_boot=20)
    return decision_table(df, **{**options, **kwargs}).set_index(["target", "route"])


# --- the decision, exact -------------------------------------------------------------------

def test_cleaning_wins_when_audits_are_cheap():
    table = decide(hand_grid(), targets=[0.80])
    # collect: quality 0.8 reaches 0.80 half a decade after 6000 (0.78 -> 0.82).
    collect = 6000 * math.sqrt(10) - 6000
    assert table.loc[(0.80, "collect"), "cost"] == pytest.approx(collect)
    assert table.loc[(0.80, "collect"), "n_bought"] == pytest.approx(collect)
    # clean: quality 0.9 reaches 0.80 at 600 * 10^0.4 < 6000 labels; audit 6000 (0.9 - 0.8) / (1 - 0.8) = 3000.
    assert table.loc[(0.80, "clean"), "cost"] == pytest.approx(0.2 * 3000)
    assert table.loc[(0.80, "clean"), ["quality_to", "n_audited", "n_bought"]].tolist() == pytest.approx([0.9, 3000, 0])
    assert table.loc[(0.80, "both"), "cost"] == np.inf  # every audited level suffices without buying
    assert table.xs(0.80)["cheapest"].to_dict() == {"collect": False, "clean": True, "both": False}
    summary = cheapest_routes(decision_table(hand_grid(), targets=[0.80], current_quality=0.8, current_n=6000,
                                             method="loglinear", n_boot=20))
    assert summary.loc[0, "route"] == "clean" and summary.loc[0, "cost"] == pytest.approx(600)
    assert summary.loc[0, "cost_collect"] == pytest.approx(collect)


def test_collecting_wins_when_audits_are_dear():
    table = decide(hand_grid(), targets=[0.80], price_audit=5.0)
    assert table.loc[(0.80, "clean"), "cost"] == pytest.approx(5.0 * 3000)
    assert table.loc[(0.80, "collect"), "cost"] == pytest.approx(6000 * math.sqrt(10) - 6000)
    assert table.xs(0.80)["cheapest"].to_dict() == {"collect": True, "clean": False, "both": False}


def test_both_buys_and_audits_the_whole_set_and_an_unreachable_target_costs_inf():
    table = decide(hand_grid(), targets=[0.85, 0.95])
    assert table.loc[(0.85, "collect"), "cost"] == np.inf  # quality 0.8 tops out at 0.82
    assert not table.loc[(0.85, "collect"), "reached"]
    # clean: quality 1.0 reaches 0.85 at 600 * 10^(5/6) < 6000; auditing every label.
    assert table.loc[(0.85, "clean"), "cost"] == pytest.approx(0.2 * 6000)
    # both: quality 0.9 reaches 0.85 at n = 6000 * 10^0.4; buy n - 6000, audit half of n.
    n = 6000 * 10 ** 0.4
    assert table.loc[(0.85, "both"), "cost"] == pytest.approx((n - 6000) + 0.2 * n / 2)
    assert table.loc[(0.85, "both"), ["quality_to", "n_final"]].tolist() == pytest.approx([0.9, n])
    assert (table.xs(0.95)["cost"] == np.inf).all() and not table.xs(0.95)["cheapest"].any()
    assert cheapest_routes(decision_table(hand_grid(), targets=[0.95], current_quality=0.8, current_n=6000,
                                          method="loglinear", n_boot=20)).loc[0, "route"] == "none"


def test_repair_wins_with_its_measured_curve_and_the_base_routes_do_not_change():
    with_repair = decide(hand_grid(repair=True), targets=[0.80, 0.83], price_second=0.05)
    # prune's curve at quality 0.8 reaches 0.80 at 600 * 10^0.75 < 6000: nothing to buy, 6000 labels repaired.
    assert with_repair.loc[(0.80, "repair_prune"), "cost"] == pytest.approx(0.05 * SECONDS_PER_LABEL * 6000)
    assert with_repair.xs(0.80)["cheapest"].to_dict() == {"collect": False, "clean": False, "both": False,
                                                          "repair_prune": True}
    # 0.83: buy up to 6000 * sqrt(10), then repair them all.
    n = 6000 * math.sqrt(10)
    assert with_repair.loc[(0.83, "repair_prune"), "cost"] == pytest.approx(n - 6000 + 0.05 * SECONDS_PER_LABEL * n)
    without = decide(hand_grid(), targets=[0.80, 0.83])
    base = with_repair.drop(index="repair_prune", level="route").drop(columns="cheapest")
    pd.testing.assert_frame_equal(base, without.drop(columns="cheapest"))
    assert has_repair(hand_grid(repair=True)) and not has_repair(hand_grid())


def test_audit_fraction_and_input_checks():
    assert audit_fraction(0.8, 0.9) == pytest.approx(0.5) and audit_fraction(0.8, 1.0) == 1.0
    assert audit_fraction(0.7, 0.7) == 0.0
    with pytest.raises(ValueError, match="target_quality must be at least quality 0.8, got 0.7"):
        audit_fraction(0.8, 0.7)
    with pytest.raises(ValueError, match=r"quality must be in \[0, 1\], got 1.3"):
        audit_fraction(1.3, 1.0)
    df = hand_grid()
    with pytest.raises(ValueError, match=r"price_label must be in \(0, inf\), got 0"):
        decision_table(df, price_label=0, n_boot=5)
    with pytest.raises(ValueError, match=r"price_audit must be in \[0, inf\), got -1"):
        decision_table(df, price_audit=-1, n_boot=5)
    with pytest.raises(ValueError, match=r"current_quality must be one of the swept quality levels \[0.8, 0.9, 1.0\], "
                                         r"got 0.75"):
        decision_table(df, current_quality=0.75, n_boot=5)
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\), got 1.2"):
        decision_table(df, targets=[1.2], n_boot=5)


def test_default_current_set_and_targets():
    table = decision_table(hand_grid(), method="loglinear", n_boot=5)
    assert table["current_quality"].unique().tolist() == [0.8]  # the lowest quality
    assert table["current_n"].unique().tolist() == [6000]  # its median swept size
    targets = sorted(table["target"].unique())
    assert len(targets) == 5 and 0.78 < targets[0] and targets[-1] < 0.92  # inside (acc now, best measured)


# --- clean-equivalent observations ----------------------------------------------------------

def test_clean_equivalent_inverts_a_known_power_law():
    fracs = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    clean = [power_law_metric(s, a=0.02, b=0.5, c=0.05) for s in fracs]
    # Damaged accuracies whose clean inverse N (0.02 / (1 - acc - 0.05))^2 is 2400, 9600 and 60000.
    df = hand_grid({0.0: clean, 0.3: (0.85, 0.90, 0.93)}, fracs=fracs)
    table = clean_equivalent(df, n_boot=10)
    assert table["num_obs"].tolist() == [600, 1200, 3000]
    assert table["clean_equivalent"].tolist() == pytest.approx([2400, 9600, 60000], rel=1e-3)
    assert table["clean_per_damaged"].tolist() == pytest.approx([4, 8, 20], rel=1e-3)
    assert table["quality"].unique().tolist() == [0.7]


def test_clean_equivalent_on_a_log_linear_curve_and_a_level_the_clean_curve_never_reaches():
    df = hand_grid({0.0: (0.80, 0.86, 0.92), 0.2: (0.83, 0.95, 0.70)})
    table = clean_equivalent(df, method="loglinear", n_boot=10)
    assert table.loc[0, "clean_equivalent"] == pytest.approx(600 * math.sqrt(10))  # 0.83: half a decade
    assert table.loc[1, "clean_equivalent"] == np.inf  # 0.95: above the clean curve's best
    with pytest.raises(ValueError, match="clean_equivalent needs quality 1.0"):
        clean_equivalent(hand_grid({0.1: HAND[0.1], 0.2: HAND[0.2]}), n_boot=5)


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
    assert ordered(iso_accuracy(df, n_boot=60), "num_obs", "ci_low", "ci_high")
    assert ordered(clean_equivalent(df, n_boot=60), "clean_equivalent", "ci_low", "ci_high")
    costs = decision_table(df, n_boot=60)
    assert ordered(costs[np.isfinite(costs["cost"])], "cost", "ci_low", "ci_high")
    assert costs["p_cheapest"].between(0, 1).all()


def test_one_seed_gives_no_interval_and_contours_match_the_interpolated_table():
    one = synthetic_results(models=("cnn",), damage_fracs=(0.0, 0.1, 0.2), seeds=(0,))
    assert interpolated_table(one, n_boot=10)[["d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi"]].isna().all().all()
    assert decision_table(one, n_boot=10)[["ci_low", "ci_high", "p_cheapest"]].isna().all().all()
    df = noisy_grid()
    contours = iso_accuracy(df, targets=[0.88], n_boot=40).drop(columns="target")
    table = interpolated_table(df, threshold=0.88, n_boot=40)
    pd.testing.assert_frame_equal(contours[["quality", "num_obs", "ci_low", "ci_high"]],
                                  table[["quality", "num_obs", "ci_low", "ci_high"]])


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


def test_report_shows_the_decision_figures_in_headless_chromium(tmp_path):
    write_results(repaired_results(), tmp_path)
    report = write_report(tmp_path / "results.parquet", out=tmp_path / "report.html", n_boot=20, labels=LABELS)
    html = report.read_text()
    for key in ("iso_accuracy_cnn_constant", "decision_cnn_constant", "repair", "detection"):
        assert f'data-figure="{key}"' in html, key
    assert 'data-table="cheapest_cnn_constant"' in html and 'data-table="clean_equivalent_cnn_constant"' in html
    seen = render_report(report, screenshot="analysis-decision.png")
    figures = {f["key"]: f for f in seen["figures"]}
    for key in ("iso_accuracy_cnn_constant", "decision_cnn_constant", "repair", "detection"):
        assert figures[key]["drawn"] == figures[key]["expected"] > 0, figures[key]
    # The cost figure: per route a line (and a band with replicates), plus the cheapest stars.
    assert figures["decision_cnn_constant"]["expected"] >= 2 * 5 + 1
    assert seen["errors"] == [] and seen["requests"] == []


def test_report_without_damage_says_why_the_decision_is_not_shown(tmp_path):
    write_results(synthetic_results(models=("cnn",)), tmp_path)
    html = write_report(tmp_path / "results.parquet", out=tmp_path / "r.html", n_boot=5).read_text()
    assert "Not shown: needs two or more quality levels" in html
    assert "Not shown: the results have no repair axis" in html
    assert "data-figure=\"decision" not in html


def test_sizes_follow_the_datasets_training_set_size():
    # A dataset of 6,000 training rows: every num_obs is a tenth of Fashion-MNIST's, and so is every cost.
    table = decision_table(hand_grid(), targets=[0.80], current_quality=0.8, current_n=600, method="loglinear",
                           n_boot=5, n_total=6000).set_index("route")
    assert table.loc["collect", "cost"] == pytest.approx(600 * math.sqrt(10) - 600)
    assert table.loc["clean", "cost"] == pytest.approx(0.2 * 300)
    assert clean_equivalent(hand_grid(), method="loglinear", n_boot=5, n_total=6000)["num_obs"].max() == 6000
