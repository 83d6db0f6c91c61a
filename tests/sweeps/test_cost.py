"""sweeps/cost.py: the per-trial cost estimate and the longest-first submission order.

The expected values are worked out by hand below: rows = floor(sample_frac * n_train), less
the nets' validation_split, and passes = epochs / boosting rounds / trees after overrides.
Only the calibrated rates are read from the module (they are measured data, recalibrated
when the trainers change); the arithmetic is not.
"""

from __future__ import annotations

import random

import pytest

from datavsmath.sweeps import cost
from datavsmath.sweeps.cost import SECONDS_FIXED, SECONDS_PER_SAMPLE_PASS, estimate_seconds, longest_first

MODELS = ("rf", "xgb", "dnn", "cnn")
N_TRAIN = 60_000


def trial(model: str, sample_frac: float, *, damage_frac: float = 0.0, damage_mode: str = "none",
          seed: int = 0) -> dict:
    return {"model": model, "sample_frac": sample_frac, "damage_frac": damage_frac,
            "damage_mode": damage_mode, "seed": seed}


def by_hand(model: str, *, rows: int, passes: int) -> float:
    """fixed + rate * rows * passes: the formula of the module docstring, for hand-counted rows."""
    return SECONDS_FIXED[model] + SECONDS_PER_SAMPLE_PASS[model] * rows * passes


# (model, sample_frac, n_train, overrides, rows trained on, passes), counted by hand
CASES = [
    # the talk's defaults: rf 25 trees, xgb 150 rounds, dnn 30 epochs, cnn 12 epochs; nets hold out 20 %
    ("rf", 0.5, N_TRAIN, None, 30_000, 25),
    ("xgb", 0.5, N_TRAIN, None, 30_000, 150),
    ("dnn", 0.5, N_TRAIN, None, 24_000, 30),           # 30000 * 0.8
    ("cnn", 0.5, N_TRAIN, None, 24_000, 12),
    ("rf", 1.0, N_TRAIN, None, 60_000, 25),
    ("cnn", 1.0, N_TRAIN, None, 48_000, 12),
    # overrides of the pass count
    ("rf", 0.1, N_TRAIN, {"n_estimators": 10}, 6_000, 10),
    ("xgb", 0.02, N_TRAIN, {"num_boost_round": 10}, 1_200, 10),
    ("dnn", 0.01, N_TRAIN, {"epochs": 2}, 480, 2),       # 600 * 0.8
    ("cnn", 0.02, N_TRAIN, {"epochs": 2}, 960, 2),       # 1200 * 0.8
    # overrides of validation_split (nets only), and of keys that do not change the cost
    ("cnn", 0.02, N_TRAIN, {"epochs": 2, "validation_split": 0.5}, 600, 2),
    ("dnn", 1.0, 1_000, {"validation_split": 0.0}, 1_000, 30),
    ("dnn", 0.25, 1_000, {"validation_split": 0.1, "batch_size": 32}, 225, 30),  # 250 * 0.9
    ("xgb", 0.25, 1_000, {"eta": 0.5, "max_depth": 3}, 250, 150),
    # rows are floored: 0.5 * 1001 = 500.5 -> 500 (trees), then 500 * 0.8 = 400 (nets); 333 * 0.8 = 266.4 -> 266
    ("rf", 0.5, 1_001, None, 500, 25),
    ("rf", 0.7, 1_001, None, 700, 25),                   # 700.7 -> 700, not rounded to 701
    ("dnn", 0.5, 1_001, None, 400, 30),
    ("cnn", 1 / 3, 1_000, {"epochs": 1}, 266, 1),
]


@pytest.mark.parametrize("model, sample_frac, n_train, overrides, rows, passes", CASES)
def test_estimate_is_fixed_plus_rate_times_rows_times_passes(model, sample_frac, n_train, overrides, rows, passes):
    got = estimate_seconds(trial(model, sample_frac), n_train=n_train, overrides=overrides)
    assert got == pytest.approx(by_hand(model, rows=rows, passes=passes), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_positive_rate_and_a_non_negative_fixed_cost(model):
    assert SECONDS_PER_SAMPLE_PASS[model] > 0
    assert SECONDS_FIXED[model] >= 0


@pytest.mark.parametrize("model, overrides, expected", [
    ("rf", None, 25), ("xgb", None, 150), ("dnn", None, 30), ("cnn", None, 12),
    ("rf", {"n_estimators": 7}, 7), ("xgb", {"num_boost_round": 3}, 3), ("dnn", {"epochs": 4}, 4),
    ("cnn", {"epochs": 1, "lr": 0.5}, 1),
])
def test_passes_are_the_pass_parameter_after_overrides(model, overrides, expected):
    assert cost.passes(model, overrides) == expected


@pytest.mark.parametrize("model", MODELS)
def test_estimate_ignores_damage_and_seed(model):
    base = estimate_seconds(trial(model, 0.1), n_train=N_TRAIN)
    for other in (trial(model, 0.1, damage_frac=0.5, damage_mode="random", seed=3),
                  trial(model, 0.1, damage_frac=1.0, damage_mode="constant", seed=7)):
        assert estimate_seconds(other, n_train=N_TRAIN) == base


@pytest.mark.parametrize("model", MODELS)
def test_estimate_grows_with_sample_frac(model):
    fracs = sorted({round(0.001 * k, 3) for k in range(1, 1001)})  # 0.001 .. 1.0
    seconds = [estimate_seconds(trial(model, f), n_train=N_TRAIN) for f in fracs]
    assert all(a <= b for a, b in zip(seconds, seconds[1:])), model
    # every step adds 60 rows (48 for the nets), so it strictly grows
    assert all(a < b for a, b in zip(seconds, seconds[1:])), model
    assert seconds[0] >= SECONDS_FIXED[model]


@pytest.mark.parametrize("model", MODELS)
def test_estimate_grows_with_passes(model):
    key = cost.PASS_PARAM[model]
    seconds = [estimate_seconds(trial(model, 0.1), n_train=N_TRAIN, overrides={key: p}) for p in (1, 2, 5, 50)]
    assert seconds == sorted(seconds) and len(set(seconds)) == 4


# ---------------------------------------------------------------- longest_first

def test_longest_first_on_hand_ranked_trials():
    # by hand, default params: xgb at full data 1.5 + 60000 * 150 * rate (~217 s), then the dnn
    # at half data (24000 rows x 30 epochs, ~11 s), the cnn at 1 % (480 x 12, ~5 s), the rf at
    # 1 % (600 x 25, ~0.1 s): each is several times the next, so recalibration keeps the order
    trials = [trial("rf", 0.01), trial("cnn", 0.01), trial("xgb", 1.0), trial("dnn", 0.5)]
    order = longest_first(trials, n_train=N_TRAIN, overrides={})
    assert [(t["model"], t["sample_frac"]) for t in order] == [("xgb", 1.0), ("dnn", 0.5), ("cnn", 0.01),
                                                               ("rf", 0.01)]
    # the input is left as it was
    assert [t["model"] for t in trials] == ["rf", "cnn", "xgb", "dnn"]


def test_longest_first_applies_each_models_own_overrides():
    trials = [trial("dnn", 0.5), trial("xgb", 1.0)]
    # one boosting round: xgb costs 1.5 + 60000 * rate (~3 s), now below the dnn (~11 s)
    order = longest_first(trials, n_train=N_TRAIN, overrides={"xgb": {"num_boost_round": 1}})
    assert [t["model"] for t in order] == ["dnn", "xgb"]
    # an override for another model changes nothing
    order = longest_first(trials, n_train=N_TRAIN, overrides={"rf": {"n_estimators": 1}})
    assert [t["model"] for t in order] == ["xgb", "dnn"]


def test_equal_costs_keep_their_input_order():
    # same model and fraction: the same cost, whatever the damage and seed
    trials = [trial("cnn", 0.1, damage_frac=d, damage_mode=m, seed=s)
              for s in (3, 1, 2) for d, m in ((0.0, "none"), (0.3, "constant"))]
    assert longest_first(trials, n_train=N_TRAIN, overrides={}) == trials


@pytest.mark.parametrize("shuffle_seed", range(25))
def test_longest_first_is_a_stable_sort_by_descending_cost(shuffle_seed):
    rng = random.Random(shuffle_seed)
    overrides = {"dnn": {"epochs": rng.choice([1, 5, 30])}, "xgb": {"num_boost_round": rng.choice([10, 150])}}
    # few fractions and several seeds per (model, fraction): plenty of ties
    trials = [trial(m, f, seed=s) for m in MODELS for f in (0.01, 0.1, 0.5) for s in range(3)]
    rng.shuffle(trials)
    order = longest_first(trials, n_train=N_TRAIN, overrides=overrides)

    def seconds(t: dict) -> float:
        return estimate_seconds(t, n_train=N_TRAIN, overrides=overrides.get(t["model"]))

    assert sorted(map(repr, order)) == sorted(map(repr, trials))  # a permutation of the input
    costs = [seconds(t) for t in order]
    assert all(a >= b for a, b in zip(costs, costs[1:]))
    position = {id(t): i for i, t in enumerate(trials)}
    for a, b in zip(order, order[1:]):
        if seconds(a) == seconds(b):
            assert position[id(a)] < position[id(b)], (a, b)
