"""One curve engine: the interpolated table, the answer's buy route and the adaptive searcher's
estimator give the same crossing and interval for the same curve and target
(datavsmath.analysis.curves.estimate_crossing behind all three).

The curve is real: rf on Fashion-MNIST, clean labels, 2 seeds at the 10 sizes 600 ... 6,000
of bench_adaptive's grid (benchmarks/results/2026-12-06_bench_adaptive_grid.csv). acc 0.80 is
reached inside those sizes (interpolated, a fitted family with a wild-bootstrap interval);
acc 0.85 only past them (about 2.6x the largest: auto's learned extrapolation and its
quantile interval).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.answer import answer
from datavsmath.analysis.crossing_estimate import estimate_crossing
from datavsmath.analysis.schema import normalize
from datavsmath.analysis.tables import interpolated_table

GRID = Path(__file__).parents[2] / "benchmarks" / "results" / "2026-12-06_bench_adaptive_grid.csv"
N_TOTAL, LARGEST, N_BOOT = 60000, 6000, 60


@pytest.fixture(scope="module")
def rf_curve() -> pd.DataFrame:
    raw = pd.read_csv(GRID)
    raw = raw[(raw["damage_frac"] == 0.0) & (raw["n_train"] <= LARGEST)]
    return normalize(raw.assign(status="TERMINATED", damage_mode="none", repair="none", auc=0.95))


@pytest.mark.parametrize("target, how, family", [(0.80, "interpolated", None), (0.85, "extrapolated ×", "learned")])
def test_the_table_the_answer_and_the_searcher_give_one_crossing(rf_curve, target, how, family):
    table = interpolated_table(rf_curve, metric="acc", threshold=target, model="rf", damage_mode="none",
                               n_total=N_TOTAL, n_boot=N_BOOT).iloc[0]
    assert table["found"].startswith(how) and (family is None or table["curve"] == family), table["found"]
    assert table["ci_low"] < table["num_obs"] < table["ci_high"]  # a real interval, from 2 seeds
    assert str(table["interval"])

    # The answer for a user with 600 labels, labels at price 1: the buy route buys up to the crossing.
    n0 = 600
    result = answer(rf_curve, current={"model": "rf", "n": n0, "quality": 1.0}, target={"acc": target},
                    prices={"label": 1.0, "audit": 1.0}, n_total=N_TOTAL, n_boot=N_BOOT)
    buy = result.routes.set_index("route").loc["buy labels"]
    assert buy["status"] == "priced"
    assert buy["n_final"] == pytest.approx(table["num_obs"], rel=1e-12)
    assert n0 + buy["ci_low"] == pytest.approx(table["ci_low"], rel=1e-12)
    if table["ci_high"] <= 4 * LARGEST:
        assert n0 + buy["ci_high"] == pytest.approx(table["ci_high"], rel=1e-12)
    else:  # the route is not read past 4x the data: that end of its cost interval is "beyond the data"
        assert buy["ci_high"] == np.inf

    # The adaptive searcher's estimator on the same trials as points (n, acc), seed by seed.
    points = rf_curve.sort_values(["seed", "n_train"])
    found = estimate_crossing(points["n_train"].to_numpy(float), points["acc"].to_numpy(float), target=target,
                              n_boot=N_BOOT)
    assert found.estimate == pytest.approx(table["num_obs"], rel=1e-12)
    assert (found.low, found.high) == pytest.approx((table["ci_low"], table["ci_high"]), rel=1e-12)
    assert found.crossing.p_reachable == pytest.approx(table["p_reachable"])
    assert found.relative_width == pytest.approx((table["ci_high"] - table["ci_low"]) / 2 / table["num_obs"])
    assert np.isfinite(found.relative_width) and not found.beyond


@pytest.mark.parametrize("target", [0.80, 0.85])
def test_past_the_sizes_swept_the_buy_route_buys_in_rounds(rf_curve, target):
    """Past the sizes swept the crossing is uncertain: the buy route says what to buy first (the
    crossing's 30 % quantile) and to measure and refit there; inside them, one purchase."""
    result = answer(rf_curve, current={"model": "rf", "n": 600, "quality": 1.0}, target={"acc": target},
                    prices={"label": 1.0, "audit": 1.0}, n_total=N_TOTAL, n_boot=N_BOOT)
    buy = result.routes.set_index("route").loc["buy labels"]
    if target == 0.80:
        assert np.isnan(buy["n_first"]) and "in rounds" not in str(result)
        return
    assert 600 < buy["n_first"] < buy["n_final"]
    assert LARGEST < buy["n_first"]  # past the swept sizes: the first round is a purchase the curve cannot read yet
    assert f"first to {buy['n_first']:,.0f} labels, then measure and refit" in str(result)
