"""datavsmath.analysis.pinpoint: the crossing of a target with its bootstrap interval, and the
delta-method rating of where one more point narrows it most."""

from __future__ import annotations

import numpy as np
import pytest

from datavsmath.analysis.pinpoint import estimate_crossing

N = np.geomspace(600, 60000, 10)


def curve(n: np.ndarray) -> np.ndarray:
    return 0.9 - 0.3 * (n / 600) ** -0.5  # crosses 0.8 at n = 5,400


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = np.repeat(N, 2)
    return n, curve(n) + rng.normal(0, 0.003, n.size)


def test_the_interval_holds_the_true_crossing(noisy):
    found = estimate_crossing(*noisy, target=0.8)
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
    found = estimate_crossing(*noisy, target=0.95)
    assert not np.isfinite(found.estimate)
    assert (found.narrowing(N, target=0.95) == 0).all()
