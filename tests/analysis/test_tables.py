"""datavsmath.analysis.tables on hand-built grids whose crossings are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.curves import (
    fit_curve,
    fit_power_law,
    isotonic_increasing,
    loglinear_crossing,
    power_law_crossing,
)
from datavsmath.analysis.schema import DATASET, normalize
from datavsmath.analysis.tables import interpolated_table, seed_table
from tests.analysis.fixtures import power_law_metric

# The talk's grid: c(1:9 / 100, 1:9 / 10, 91:100 / 100).
TALK_FRACS = tuple(sorted({*(i / 100 for i in range(1, 10)), *(i / 10 for i in range(1, 10)),
                           *(i / 100 for i in range(91, 101))}))
BELOW, ABOVE = 0.85, 0.91


def step_grid(crossings: dict[float, float | None], *, metric: str, seeds=(0,), below=BELOW, above=ABOVE,
              mode: str = "constant") -> pd.DataFrame:
    """cnn trials over the talk's grid: metric = `below` before the level's crossing
    sample_frac, `above` from it on (None: never). damage_frac 0 trials are mode none."""
    rows = []
    for damage, cross in crossings.items():
        for s in TALK_FRACS:
            for seed in seeds:
                value = above if cross is not None and s >= cross - 1e-12 else below
                rows.append(dict(status="TERMINATED", model="cnn", sample_frac=s, damage_frac=damage,
                                 damage_mode=mode if damage > 0 else "none", seed=seed, n_train=int(s * DATASET.n_train),
                                 acc=value if metric == "acc" else 0.8, auc=value if metric == "auc" else 0.99))
    return normalize(pd.DataFrame(rows))


@pytest.mark.parametrize("metric, threshold, crossings, expected_obs, expected_d_obs", [
    # The talk's "Observations needed for > 90% accuracy" table, plus a level that never gets there.
    ("acc", 0.90, {0.0: 0.40, 0.1: 0.50, 0.2: 0.70, 0.3: 0.94, 0.4: None},
     [24000, 30000, 42000, 56400, None], [np.nan, 0.25, 0.40, (56400 - 42000) / 42000, np.nan]),
    # The talk's "Observations needed for > 98% AUC" table.
    ("auc", 0.98, {0.0: 0.05, 0.1: 0.10, 0.2: 0.20, 0.3: 0.50},
     [3000, 6000, 12000, 30000], [np.nan, 1.0, 1.0, 1.5]),
])
def test_seed_table_reproduces_the_talks_tables(metric, threshold, crossings, expected_obs, expected_d_obs):
    above = 0.981 if metric == "auc" else ABOVE
    df = step_grid(crossings, metric=metric, above=above, below=threshold - 0.01)
    table = seed_table(df, metric=metric, threshold=threshold)
    reached = [c is not None for c in crossings.values()]
    expected = pd.DataFrame({
        "quality": [round(1 - d, 10) for d in crossings],
        metric: [above if r else np.nan for r in reached],
        "sample_frac": [np.nan if c is None else c for c in crossings.values()],
        "num_obs": pd.array(expected_obs, dtype="Int64"),
        "d_obs": expected_d_obs,
        "damage_frac": list(crossings),
        "n_seeds": 1,
        "reached": reached,
        f"max_{metric}": [above if r else threshold - 0.01 for r in reached],
    })
    pd.testing.assert_frame_equal(table, expected)


def test_seed_table_uses_the_mean_over_seeds():
    # seed 0 clears 0.90 from sample_frac 0.2 on, seed 1 only from 0.4: the mean (0.895 at
    # 0.2 and 0.3) first clears at 0.4.
    first = step_grid({0.0: 0.2}, metric="acc", below=0.88, above=0.91)
    second = step_grid({0.0: 0.4}, metric="acc", below=0.88, above=0.91).assign(seed=1)
    table = seed_table(pd.concat([first, second], ignore_index=True), metric="acc")
    assert table.loc[0, "sample_frac"] == 0.4
    assert table.loc[0, "num_obs"] == 24000
    assert table.loc[0, "n_seeds"] == 2


def test_seed_table_needs_the_metric_strictly_above_the_threshold():
    table = seed_table(step_grid({0.0: 0.3}, metric="acc", below=0.8, above=0.90), metric="acc", threshold=0.90)
    assert not table.loc[0, "reached"] and pd.isna(table.loc[0, "num_obs"])


def test_seed_table_takes_quality_one_from_clean_trials_of_another_mode():
    # damage_frac 0 trials are mode "none": they are the quality 1.0 level of both modes.
    df = pd.concat([step_grid({0.0: 0.4, 0.1: 0.5}, metric="acc", mode="random"),
                    step_grid({0.2: 0.7}, metric="acc", mode="constant")], ignore_index=True)
    assert seed_table(df, metric="acc", damage_mode="random")["quality"].tolist() == [1.0, 0.9]
    assert seed_table(df, metric="acc", damage_mode="constant")["num_obs"].tolist() == [24000, 42000]


@pytest.mark.parametrize("kwargs, words", [
    ({"metric": "f1"}, ["metric", "'f1'", "acc", "auc"]),
    ({"threshold": 1.5}, ["threshold", "1.5"]),
    ({"model": "svm"}, ["model='svm'", "damage_mode='constant'"]),
    ({"damage_mode": "evil"}, ["damage_mode", "'evil'", "random", "constant"]),
])
def test_table_errors_name_the_parameter_and_value(kwargs, words):
    df = step_grid({0.0: 0.4}, metric="acc")
    for build in (seed_table, interpolated_table):
        with pytest.raises(ValueError) as info:
            build(df, **kwargs)
        assert all(w in str(info.value) for w in words), str(info.value)


# --- interpolation -------------------------------------------------------------------

# Per damage level: (a, b, c) of err(x) = a * x^-b + c with x = sample_frac; c >= 0.1 never
# reaches 90 % accuracy.
CURVES = {0.0: (0.02, 0.5, 0.05), 0.1: (0.03, 0.45, 0.06), 0.2: (0.05, 0.4, 0.07), 0.3: (0.02, 0.5, 0.12)}


def power_law_grid(*, seeds=(0,), spread: float = 0.004) -> pd.DataFrame:
    """cnn acc on the talk's grid following CURVES exactly in the mean over seeds."""
    rows = []
    for damage, (a, b, c) in CURVES.items():
        for s in TALK_FRACS:
            for i, seed in enumerate(seeds):
                shift = spread * (i - (len(seeds) - 1) / 2)  # symmetric: the mean is the curve
                rows.append(dict(status="TERMINATED", model="cnn", sample_frac=s, damage_frac=damage,
                                 damage_mode="constant" if damage else "none", seed=seed,
                                 n_train=int(s * DATASET.n_train), acc=power_law_metric(s, a=a, b=b, c=c) + shift, auc=0.99))
    return normalize(pd.DataFrame(rows))


def true_crossing(a: float, b: float, c: float, *, threshold: float = 0.90) -> float:
    return DATASET.n_train * (a / (1 - threshold - c)) ** (1 / b)


def test_interpolation_recovers_a_known_power_law_crossing_within_2_percent():
    table = interpolated_table(power_law_grid(), metric="acc", threshold=0.90, curve="power_law")
    for row in table.itertuples():
        a, b, c = CURVES[row.damage_frac]
        if c >= 0.1:
            assert not row.reached and np.isnan(row.num_obs)
        else:
            assert row.reached and row.curve == "power_law"
            assert row.num_obs == pytest.approx(true_crossing(a, b, c), rel=0.02)
    assert table["quality"].tolist() == [1.0, 0.9, 0.8, 0.7]


def test_interpolated_marginal_rates_follow_adjacent_levels():
    table = interpolated_table(power_law_grid(), metric="acc", curve="power_law")
    n, q = table["num_obs"], table["quality"]
    assert table.loc[1, "d_obs"] == pytest.approx(n[1] / n[0] - 1)
    assert table.loc[1, "d_num_obs_d_quality"] == pytest.approx((n[1] - n[0]) / (q[1] - q[0]))
    assert table.loc[1, "elasticity"] == pytest.approx((n[1] / n[0] - 1) / ((q[1] - q[0]) / q[0]))
    assert table.loc[1, "d_num_obs_d_quality"] < -1  # the talk's d data / d quality << -1
    assert np.isnan(table.loc[0, "d_obs"]) and np.isnan(table.loc[3, "d_obs"])  # first row; never-crossing row


@pytest.mark.parametrize("seeds", [(0, 1), (0,)])
def test_an_interval_from_enough_points_whatever_the_number_of_seeds(seeds):
    """curves.estimate_crossing's interval: from the family's parameters + 5 points, one seed
    or more (28 sizes here); it holds the estimate and says what it is made of."""
    table = interpolated_table(power_law_grid(seeds=seeds), metric="acc", n_boot=50, curve="pow3")
    given = table[table["num_obs"].notna()]
    assert len(given) == 3
    assert (given["ci_low"] <= given["num_obs"] + 1e-6).all() and (given["num_obs"] <= given["ci_high"] + 1e-6).all()
    # One seed on these exact points: no scatter about the curve, a zero-width interval.
    assert (given["ci_high"] > given["ci_low"]).all() if len(seeds) > 1 else (given["ci_high"] == given["ci_low"]).all()
    assert given["interval"].str.contains(f"{28 * len(seeds)} points about the fitted pow3 curve").all()


def test_too_few_points_give_no_interval_and_say_why():
    df = power_law_grid()
    few = df[df["sample_frac"].isin([0.1, 0.2, 0.4, 0.6, 0.8, 1.0])]  # 6 points: pow3's interval needs 3 + 5
    table = interpolated_table(few, metric="acc", n_boot=50, curve="pow3")
    assert table["ci_low"].isna().all() and table["ci_high"].isna().all() and table["p_reachable"].isna().all()
    assert (table["interval"] == "no interval: 6 points, a pow3 interval needs 8").all()
    assert table["num_obs"].iloc[:3].notna().all()


def test_n_boot_must_be_positive():
    with pytest.raises(ValueError, match="n_boot must be a positive integer, got 0"):
        interpolated_table(power_law_grid(seeds=(0, 1)), n_boot=0)


def test_a_missing_trial_of_one_seed_is_tolerated():
    df = power_law_grid(seeds=(0, 1, 2))
    gap = (df["seed"] == 2) & (df["sample_frac"] == 0.5)
    df.loc[gap, "status"], df.loc[gap, "acc"] = "ERROR", np.nan
    table = interpolated_table(df, metric="acc", n_boot=40)
    assert table["num_obs"].iloc[:2].notna().all() and np.isnan(table["num_obs"].iloc[3])  # 0.88 at most: not given
    assert table["ci_low"].notna().all() and (table["n_seeds"] == 3).all()


def test_bootstrap_is_reproducible():
    df = power_law_grid(seeds=(0, 1, 2))
    first = interpolated_table(df, metric="acc", n_boot=30, random_state=7)
    pd.testing.assert_frame_equal(first, interpolated_table(df, metric="acc", n_boot=30, random_state=7))


def test_fit_power_law_recovers_its_parameters():
    x = np.array(TALK_FRACS)
    a, b, c = fit_power_law(x * DATASET.n_train, 0.03 * x ** -0.45 + 0.06)
    assert (a, b, c) == pytest.approx((0.03, 0.45, 0.06), rel=1e-4)


def test_power_law_crossing_edges():
    assert power_law_crossing(0.02, 0.5, 0.05, threshold=0.90) == pytest.approx(true_crossing(0.02, 0.5, 0.05))
    assert power_law_crossing(0.02, 0.5, 0.10, threshold=0.90) == np.inf  # floor at the target: never
    assert power_law_crossing(10.0, 1e-3, 0.0, threshold=0.5) == np.inf  # beyond any float
    assert power_law_crossing(0.0, 0.5, 0.01, threshold=0.9) == 0.0  # flat and already there


def test_isotonic_fit_pools_violators():
    assert isotonic_increasing(np.array([1.0, 3.0, 2.0, 4.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert isotonic_increasing(np.array([3.0, 1.0, 2.0])).tolist() == [2.0, 2.0, 2.0]


def test_loglinear_crossing_is_exact_on_log_linear_data():
    n = np.array([1000.0, 10000.0, 100000.0])
    values = np.array([0.80, 0.88, 0.96])  # linear in log10 n: 0.90 at 10^4.25
    assert loglinear_crossing(n, values, threshold=0.90) == pytest.approx(10 ** 4.25)
    assert loglinear_crossing(n, values, threshold=0.97) == np.inf
    assert loglinear_crossing(n, values, threshold=0.70) == 1000.0


def test_power_law_falls_back_to_loglinear_with_two_sizes():
    fitted = fit_curve(np.array([1000.0, 10000.0]), np.array([0.8, 0.95]), curve="power_law")
    assert fitted.family == "loglinear" and 1000 < fitted.crossing(0.9) < 10000
    with pytest.raises(ValueError, match="curve must be one of"):
        interpolated_table(power_law_grid(), metric="acc", curve="spline")


@pytest.mark.parametrize("curve", ["auto", "pow3", "power_law"])
def test_each_crossing_says_its_family_how_it_was_found_its_interval_and_p_reachable(curve):
    """Three seeds at 0.90 and 0.93: crossings inside the data, beyond the largest size (×k),
    past 4× (no number) and never, each with the family that found it."""
    rows = pd.concat([interpolated_table(power_law_grid(seeds=(0, 1, 2)), metric="acc", threshold=t, n_boot=50,
                                         curve=curve) for t in (0.90, 0.93)], ignore_index=True)
    # auto: a fitted family inside the data, the model learned on LCDB past it.
    assert set(rows["curve"]) <= ({"pow3", "pow3+pow2", "learned"} if curve == "auto" else {curve})
    assert (rows.loc[rows["curve"] == "learned", "extrapolation"] > 1).all()
    finite = rows[rows["num_obs"].notna()]
    assert ((finite["ci_low"] <= finite["num_obs"]) & (finite["num_obs"] <= finite["ci_high"])).all()
    for row in rows.itertuples():
        if np.isnan(row.num_obs) and np.isfinite(row.extrapolation):
            assert row.extrapolation > 4 and row.found in (
                f"beyond 4× the data swept; reachable within 4× with probability {row.p_reachable:.2f}",
                f"probably beyond 4× the data swept, P(within 4×) {row.p_reachable:.2f}")  # interval reaches within
        elif np.isnan(row.num_obs):
            assert row.found.startswith("never")
            assert row.found.endswith(f"reachable within 4× with probability {row.p_reachable:.2f}")
        elif row.extrapolation <= 1:
            assert row.found == "interpolated"
        else:
            assert row.found == f"extrapolated ×{row.extrapolation:.1f}"
        assert 0 <= row.p_reachable <= 1
    found = " | ".join(rows["found"])
    assert "interpolated" in found and "extrapolated ×" in found and "beyond 4×" in found
    # A fitted family says "never" where its asymptote stays below; auto's learned
    # extrapolation gives a size (past 4×, not a number) with its probability instead.
    assert ("never" in found) == (curve != "auto")
    beyond = rows[rows["found"].str.startswith("beyond")]
    assert (beyond["p_reachable"] < 0.5).all() and beyond["found"].str.contains("within 4×").all()
