"""datavsmath.analysis.quality_exchange: the surface acc(n, q) = curve(n · g(q)) recovers a known g(q)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.curves import PARAMETRIC
from datavsmath.analysis.quality_exchange import departure_text, exchange_table, theory_g
from datavsmath.analysis.schema import normalize

FRACS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
N_TOTAL = 60000
THETA = np.array([0.93, 0.02, 0.6])  # pow3 in x = n / N_TOTAL


def surface_results(g_of_damage: dict[float, float], *, seeds=(0, 1, 2), noise: float = 0.002) -> pd.DataFrame:
    """cnn trials whose acc is pow3(THETA) at n · g(q), plus each trial's own noise."""
    rng = np.random.default_rng(3)
    rows = [dict(status="TERMINATED", model="cnn", sample_frac=s, damage_frac=d,
                 damage_mode="constant" if d else "none", seed=seed, n_train=int(s * N_TOTAL), auc=0.99,
                 acc=float(PARAMETRIC["pow3"].value(np.array([s * g]), THETA)[0]) + rng.normal(0, noise))
            for d, g in g_of_damage.items() for s in FRACS for seed in seeds]
    return normalize(pd.DataFrame(rows))


def test_the_surface_recovers_a_known_exchange_rate():
    truth = {0.0: 1.0, 0.1: 0.7, 0.2: 0.45, 0.3: 0.25}
    table = exchange_table(surface_results(truth), model="cnn", damage_mode="constant", n_classes=10,
                           threshold=0.85, n_boot=20, n_total=N_TOTAL)
    assert table["quality"].tolist() == [1.0, 0.9, 0.8, 0.7]
    assert table["g"].to_numpy() == pytest.approx(list(truth.values()), rel=0.05)
    assert (table["g_lo"] <= table["g"] + 1e-9).all() and (table["g"] <= table["g_hi"] + 1e-9).all()
    # n(q) = n_clean / g(q); the per-level fits agree with the surface.
    assert table["num_obs"].to_numpy() == pytest.approx(table["num_obs"].iloc[0] / table["g"].to_numpy())
    assert table["num_obs_level"].to_numpy() == pytest.approx(table["num_obs"].to_numpy(), rel=0.15)
    assert (table["rmse"] < 0.004).all()
    assert (table["d_num_obs_d_quality"].iloc[1:] < 0).all()
    assert table["d_num_obs_d_quality_lo"].iloc[1:].notna().all()


def test_reference_lines_and_where_the_measurement_departs():
    assert theory_g(0.9, damage_mode="constant", n_classes=10) == pytest.approx(0.64)
    assert theory_g(0.9, damage_mode="random", n_classes=10) == pytest.approx((1 - 0.1 * 10 / 9) ** 2)
    assert theory_g(0.4, damage_mode="constant", n_classes=10) == 0.0  # past η = 0.5: no signal
    assert np.isnan(theory_g(0.9, damage_mode="confusion", n_classes=10))
    # The generating g (0.7, 0.45, 0.25) lies above the constant reference (0.64, 0.36, 0.16).
    table = exchange_table(surface_results({0.0: 1.0, 0.1: 0.7, 0.2: 0.45, 0.3: 0.25}), model="cnn",
                           damage_mode="constant", n_classes=10, threshold=0.85, n_boot=20, n_total=N_TOTAL)
    assert table["departs"].iloc[1:].all()
    assert "departs from the reference at q 0.9" in departure_text(table)


def test_two_seeds_give_no_interval_and_clean_trials_are_required():
    two = exchange_table(surface_results({0.0: 1.0, 0.2: 0.5}, seeds=(0, 1)), model="cnn", damage_mode="constant",
                         n_classes=10, threshold=0.85, n_total=N_TOTAL)
    assert two[["g_lo", "g_hi"]].isna().all().all()
    damaged_only = surface_results({0.2: 0.5})
    with pytest.raises(ValueError, match="needs quality 1.0"):
        exchange_table(damaged_only, model="cnn", damage_mode="constant", n_classes=10, n_total=N_TOTAL)
