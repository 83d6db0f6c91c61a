"""datavsmath.analysis.crossing_estimate: the searcher's crossing (curves.estimate_crossing of the points
as a grid) with its interval, and the delta-method rating of where one more point narrows it
most. The points follow a pow3 curve, so most tests ask for curve="pow3": the family of the
data, whose wild-bootstrap interval holds the true crossing."""

from __future__ import annotations

import numpy as np
import pytest

from datavsmath.analysis.crossing_estimate import (
    N_BOOT,
    SUMMARY_N_BOOT,
    estimate_crossing,
    estimators,
    summary_crossing,
)

N = np.geomspace(600, 60000, 10)


def curve(n: np.ndarray) -> np.ndarray:
    return 0.9 - 0.3 * (n / 600) ** -0.5  # crosses 0.8 at n = 5,400


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = np.repeat(N, 2)
    return n, curve(n) + rng.normal(0, 0.003, n.size)


def test_the_interval_holds_the_true_crossing(noisy):
    found = estimate_crossing(*noisy, target=0.8, curve="pow3")
    assert found.low <= 5400 <= found.high
    assert found.low < found.estimate < found.high
    assert found.p_reachable == 1.0


def test_one_more_point_helps_most_near_the_crossing_not_at_the_ends(noisy):
    found = estimate_crossing(*noisy, target=0.8)
    candidates = np.geomspace(600, 60000, 41)
    rating = found.narrowing(candidates, target=0.8)
    assert rating.shape == candidates.shape and (rating >= 0).all()
    best = candidates[np.argmax(rating)]
    assert 5400 / 4 < best < 5400 * 4, best
    assert rating.max() > 2 * max(rating[0], rating[-1])


def test_an_unreachable_target_rates_every_size_zero(noisy):
    found = estimate_crossing(*noisy, target=0.95, curve="pow3")  # above pow3's asymptote 0.9: never
    assert not np.isfinite(found.estimate) and found.p_reachable == 0.0
    assert (found.narrowing(N, target=0.95) == 0).all()
    learned = estimate_crossing(*noisy, target=0.95)  # auto: the learned extrapolation gives a size, far off
    assert learned.crossing.family == "learned" and learned.estimate > 4 * N.max()
    # Past 4× with P(within 4×) under 5 %: the interval reaches back just inside 4× (the model's
    # lowest quantiles stop near 4×), so the report says "probably beyond", with that P.
    assert learned.crossing.p_reachable < 0.05 and learned.how.startswith("probably beyond 4×")
    assert (learned.narrowing(N, target=0.95) == 0).all()  # the design aid's pow3 still never crosses


def test_the_excess_is_one_without_more_points_and_shrinks_most_for_points_near_the_crossing(noisy):
    found = estimate_crossing(*noisy, target=0.8)
    assert found.excess(np.array([]), target=0.8) == pytest.approx(1.0)
    near = found.excess(np.full(20, 5400.0), target=0.8)
    far = found.excess(np.full(20, 60000.0), target=0.8)
    assert near > far > 1, (near, far)
    assert found.excess(N, target=0.95) == np.inf  # never crosses: nothing to pin down


def test_too_few_points_for_a_fitted_interval_give_the_fit_and_an_unbounded_interval(noisy):
    n, values = noisy
    four = np.array([0, 6, 12, 18])  # one seed at four sizes: a pow3 fit, but its interval needs 3 + 5 points
    found = estimate_crossing(n[four], values[four], target=0.8, curve="pow3")
    assert 5400 / 2 < found.estimate < 5400 * 2
    assert (found.low, found.high) == (0.0, np.inf) and found.relative_width == np.inf and not found.beyond
    assert found.crossing.interval == "no interval: 4 points, a pow3 interval needs 8"
    assert found.excess(n, target=0.8) > 1  # the searcher can still rank it
    few = slice(0, 2 * 3, 2)  # three sizes short of the crossing: auto extrapolates with the learned model
    learned = estimate_crossing(n[few], values[few], target=0.8)
    assert learned.crossing.family == "learned" and learned.low < learned.estimate < learned.high
    assert learned.fitted is None and learned.excess(n, target=0.8) == np.inf  # no pow3 design from 3 sizes



def test_the_interval_keeps_each_size_s_own_noise():
    """The same residuals, once at the small sizes around the crossing (n = 5,400) and once at
    the large ones: the wild bootstrap widens the interval only where the crossing is; a
    bootstrap that pooled the residuals would give both the same width."""
    rng = np.random.default_rng(1)
    n = np.repeat(N, 2)
    small = n <= 20000
    noise = rng.normal(0, 0.006, small.sum())
    near, far = curve(n), curve(n)
    near[small] += noise
    far[~small] += noise[: (~small).sum()]
    width_near, width_far = (_width(estimate_crossing(n, v, target=0.8, n_boot=200, curve="pow3"))
                             for v in (near, far))
    assert width_near > 2 * width_far, (width_near, width_far)


def _width(found) -> float:
    return found.high - found.low


def test_an_interval_wholly_past_four_times_the_largest_size_is_beyond(noisy):
    n, values = noisy
    assert not estimate_crossing(n, values, target=0.8, curve="pow3").beyond  # 5,400: inside the data
    far = estimate_crossing(n, values, target=0.893, curve="pow3")  # 0.9 - 0.3 (n / 600)^-0.5: at n = 1.1 million
    assert far.low > 4 * n.max() and far.beyond, far


def test_the_summary_s_interval_varies_less_between_bootstrap_seeds(noisy):
    """The searcher's 40 draws are enough to steer it; the interval a finished search reports
    (summary_crossing, SUMMARY_N_BOOT draws) is the same fit with a steadier width."""
    summary = summary_crossing(*noisy, target=0.8, curve="pow3")
    assert summary.estimate == estimate_crossing(*noisy, target=0.8, curve="pow3").estimate
    assert summary.low <= 5400 <= summary.high
    spread = {draws: np.std([_width(estimate_crossing(*noisy, target=0.8, n_boot=draws, random_state=seed,
                                                      curve="pow3"))
                             for seed in range(5)]) for draws in (N_BOOT, SUMMARY_N_BOOT)}
    assert spread[SUMMARY_N_BOOT] < spread[N_BOOT] / 2, spread


def test_the_searcher_s_estimators_use_the_report_s_curve(noisy):
    """datavsmath/_execute.py and Results.search pass crossing_estimate.estimators(spec.report): the spec's
    `report: {curve: ...}`, default auto."""
    estimate, summary = estimators({"curve": "pow3"})
    assert estimate(*noisy, target=0.95).crossing.family == "pow3"
    assert summary(*noisy, target=0.95).crossing.draws.size == SUMMARY_N_BOOT
    assert estimators(None)[0](*noisy, target=0.95).crossing.family == "learned"
    with pytest.raises(ValueError, match="curve must be one of"):
        estimators({"curve": "spline"})
