"""datavsmath.sweeps.adaptive on a synthetic trial whose accuracy follows a known curve plus
noise at the seeds' spread: it pins the crossing down with a fraction of the grid's trials,
stops at its budget, and carries on after a save and restore; then the same under Ray Tune."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from datavsmath.analysis.crossing_estimate import estimators
from datavsmath.sweeps.adaptive import AdaptiveSearcher, cell_of, first_design
from datavsmath.sweeps.adaptive_design import FIRST_SEEDS

TALK_FRACS = sorted({*(i / 100 for i in range(1, 10)), *(i / 10 for i in range(1, 10)),
                     *(i / 100 for i in range(91, 101))})
N_TOTAL = 60000
TARGET = 0.88
NOISE = 0.003  # the seeds' spread of a real rf curve (bench_learning_curve: 0.0035)


# The synthetic curve is pow3: the searcher estimates with that family, as for an experiment
# whose report asks for curve pow3 (datavsmath/_execute.py passes crossing_estimate.estimators(spec.report)).
# (With auto, a crossing past the swept sizes gets the learned extrapolation's interval, some
# ×3 wide: no tolerance of ±15 % is met there.)
estimate_crossing, summary_crossing = estimators({"curve": "pow3"})


def true_acc(n: float) -> float:
    return 0.93 - 0.05 * (n / N_TOTAL) ** -0.5


TRUE_CROSSING = N_TOTAL * (0.05 / (0.93 - TARGET)) ** 2  # 60,000


def cells(seeds=range(4)) -> list[dict]:
    return [dict(model="rf", damage_mode="none", damage_frac=0.0, repair="none", sample_frac=f, seed=s)
            for f in TALK_FRACS for s in seeds]


def trial(config: dict) -> dict:
    """The synthetic trial: its own fixed noise per (sample_frac, seed)."""
    n = round(config["sample_frac"] * N_TOTAL)
    rng = np.random.default_rng([int(config["sample_frac"] * 1000), int(config["seed"])])
    return {"acc": true_acc(n) + rng.normal(0, NOISE), "n_train": n}


def drive(searcher: AdaptiveSearcher, *, start: int = 0, stop_after: int | None = None) -> int:
    """Suggest and complete trials one at a time; returns the next trial number."""
    i = start
    while stop_after is None or i < stop_after:
        config = searcher.suggest(f"t{i}")
        if config is None or config == Searcher.FINISHED:
            break
        searcher.on_trial_complete(f"t{i}", trial(config))
        i += 1
    return i


def searcher(**kwargs) -> AdaptiveSearcher:
    return AdaptiveSearcher(cells(), targets={"acc": TARGET}, estimate=estimate_crossing,
                            **{"tolerance": 0.15, "budget": 60, **kwargs})


def test_it_finds_the_crossing_within_tolerance_with_fewer_trials_than_the_grid():
    grid = [c for c in cells(seeds=(0, 1))]
    grid_points = [trial(c) for c in grid]
    on_grid = estimate_crossing(np.array([p["n_train"] for p in grid_points]),
                                np.array([p["acc"] for p in grid_points]), target=TARGET)
    search = searcher()
    used = drive(search)
    (crossing,) = search.crossings
    assert crossing.status == "met" and search.state.stop_reason.startswith("tolerance met: ")
    assert abs(crossing.estimate - TRUE_CROSSING) <= 0.15 * TRUE_CROSSING
    assert crossing.low <= TRUE_CROSSING <= crossing.high
    assert used <= 0.25 * len(grid), (used, len(grid))
    assert crossing.low <= on_grid.estimate <= crossing.high  # its interval holds the whole grid's estimate
    assert search.summary()[0].startswith("stopped: tolerance met")


@pytest.mark.parametrize("seeds, expected", [(FIRST_SEEDS, list(range(FIRST_SEEDS))), (2, [0, 1])])
def test_the_first_design_is_log_spaced_sizes_with_the_first_seeds(seeds, expected):
    design = [dict(c) for c in first_design([cell_of(c) for c in cells()], seeds=seeds)]
    assert sorted({c["sample_frac"] for c in design}) == [0.01, 0.05, 0.2, 1.0]  # nearest to 0.01, 0.046, 0.22, 1
    assert sorted({c["seed"] for c in design}) == expected and len(design) == 4 * len(expected)


def test_it_stops_at_the_budget():
    search = searcher(tolerance=0.001, budget=11)
    assert drive(search) == 11
    assert search.suggest("t11") == Searcher.FINISHED
    assert search.state.stop_reason == "budget spent: 11 trials proposed"


def test_an_unreachable_target_is_said_so_and_ends_the_search():
    search = AdaptiveSearcher(cells(), targets={"acc": 0.97}, estimate=estimate_crossing, budget=40)
    used = drive(search)
    assert search.crossings[0].status == "unreachable" and used < 40
    assert search.state.stop_reason.startswith("unreachable: ")


def test_a_crossing_whose_interval_lies_beyond_the_report_s_limit_ends_the_search():
    """acc 0.915 is reached at 11x the largest size: the report says "beyond the data" there
    whatever more trials show, so the search stops instead of spending its budget."""
    search = AdaptiveSearcher(cells(), targets={"acc": 0.915}, estimate=estimate_crossing, budget=40)
    used = drive(search)
    (crossing,) = search.crossings
    assert crossing.status == "beyond" and crossing.low > 4 * N_TOTAL and used < 40, (crossing, used)
    assert search.state.stop_reason.startswith("beyond the data: ")


def test_an_errored_trial_is_not_awaited_nor_proposed_again():
    search = searcher(budget=12)
    first = search.suggest("t0")
    search.on_trial_complete("t0", error=True)
    assert cell_of(first) in search.state.failed
    used = drive(search, start=1)
    assert search.suggest(f"t{used}") == Searcher.FINISHED  # it ends: nothing is awaited for ever
    assert search.state.proposed.count(cell_of(first)) == 1


def test_its_state_survives_a_save_and_restore(tmp_path):
    whole = searcher(tolerance=0.05, budget=16)
    drive(whole)
    first = searcher(tolerance=0.05, budget=16)
    resumed_at = drive(first, stop_after=10)
    first.save(str(tmp_path / "searcher.pkl"))
    second = searcher(tolerance=0.05, budget=16)
    second.restore(str(tmp_path / "searcher.pkl"))
    drive(second, start=resumed_at)
    assert second.state.proposed == whole.state.proposed
    assert second.crossings[0].estimate == pytest.approx(whole.crossings[0].estimate)


def _trainable(config: dict) -> dict:
    return trial(config)


@pytest.mark.slow  # in make test: tests/e2e/test_adaptive.py runs a real adaptive sweep, interrupted and resumed
def test_it_runs_under_tune_with_a_concurrency_limit(tmp_path):
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        search = searcher(budget=20)
        tuner = tune.Tuner(_trainable, tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(search, max_concurrent=2), num_samples=-1, metric="acc", mode="max"),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="adaptive", verbose=0))
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    assert results.num_errors == 0 and 8 <= len(results) <= 20
    assert abs(search.crossings[0].estimate - TRUE_CROSSING) <= 0.15 * TRUE_CROSSING


def test_after_the_first_design_it_runs_the_size_rated_to_narrow_the_interval_most():
    search = searcher(tolerance=0.001)
    design = len(search._design)
    drive(search, stop_after=design)
    crossing = search.crossings[0]
    found = search._found[0]
    done = set(search.state.proposed)
    unrun = sorted({dict(c)["sample_frac"] for c in search.cells if c not in done})
    rating = found.narrowing(np.array([search._size(cell_of({**dict(search.cells[0]), "sample_frac": f}))
                                       for f in unrun]), target=crossing.target)
    config = search.suggest("next")
    assert config["sample_frac"] == unrun[int(np.argmax(rating))]
    assert rating.max() > 0


def test_after_the_first_design_the_crossing_furthest_from_what_its_cells_can_pin_down_goes_first():
    """Two curves, one crossing in the steep part and one in the flat part: the next trial goes
    to the one whose interval is the most times wider than with all its unrun cells run (its
    estimate's `excess`), not simply to the widest relative interval."""
    both = [{**c, "damage_frac": d} for c in cells() for d in (0.0, 0.3)]
    search = AdaptiveSearcher(both, targets={"acc": 0.84}, estimate=estimate_crossing, tolerance=0.001, budget=60)

    def shifted(config: dict) -> dict:  # the damaged curve: 0.04 lower, so it crosses later, where it is flatter
        point = trial(config)
        return {**point, "acc": point["acc"] - 0.04 * (config["damage_frac"] > 0)}

    for i in range(len(search._design)):
        search.on_trial_complete(f"t{i}", shifted(search.suggest(f"t{i}")))
    done = set(search.state.proposed)
    excess = {dict(c.curve)["damage_frac"]: search._found[k].excess(
        np.array([search._size(cell) for cell in search.cells if cell not in done and dict(cell)["damage_frac"]
                  == dict(c.curve)["damage_frac"]]), target=0.84) for k, c in enumerate(search.crossings)}
    assert all(np.isfinite(v) and v > 1 for v in excess.values()), excess
    assert search.suggest("next")["damage_frac"] == max(excess, key=excess.get)


def two_curves_with_bounded_intervals() -> AdaptiveSearcher:
    """The steep curve and the flat one of the test above, after 30 trials more than the first
    design (tolerance 0.001 keeps both open): every interval bounded."""
    both = [{**c, "damage_frac": d} for c in cells() for d in (0.0, 0.3)]
    search = AdaptiveSearcher(both, targets={"acc": 0.84}, estimate=estimate_crossing, tolerance=0.001, budget=200)
    for i in range(len(search._design) + 30):
        config = search.suggest(f"t{i}")
        point = trial(config)
        search.on_trial_complete(f"t{i}", {**point, "acc": point["acc"] - 0.04 * (config["damage_frac"] > 0)})
    return search


@pytest.fixture(scope="module")
def bounded() -> tuple[AdaptiveSearcher, dict[float, float], dict[float, float]]:
    """The searcher, and per damage_frac its crossing's relative width and the width it would have
    with every unrun cell run (width / excess)."""
    search = two_curves_with_bounded_intervals()
    done = set(search.state.proposed)
    width, floor = {}, {}
    for k, c in enumerate(search.crossings):
        d = dict(c.curve)["damage_frac"]
        unrun = np.array([search._size(cell) for cell in search.cells
                          if cell not in done and dict(cell)["damage_frac"] == d])
        width[d] = (c.high - c.low) / 2 / c.estimate
        floor[d] = width[d] / search._found[k].excess(unrun, target=0.84)
    return search, width, floor


def test_the_widest_interval_goes_first_among_those_its_cells_can_still_pin_down(bounded):
    search, width, floor = bounded
    assert width[0.3] > width[0.0] and floor[0.3] > floor[0.0], (width, floor)  # the flat curve: wider, harder
    assert np.isfinite(list(width.values())).all()
    both_attainable = (max(floor.values()) + min(width.values())) / 2
    assert max(floor.values()) < both_attainable < min(width.values())  # both open, both within reach
    search.tolerance = both_attainable
    search.refit()
    assert search.suggest("next-a")["damage_frac"] == 0.3  # the wider one
    search.state.proposed.pop()  # not run: the same choice again below, at another tolerance
    only_steep = (floor[0.0] + floor[0.3]) / 2
    search.tolerance = only_steep
    search.refit()
    assert all(c.status == "open" for c in search.crossings)
    assert search.suggest("next-b")["damage_frac"] == 0.0  # the flat one cannot reach it: the steep one first


def test_a_crossing_is_met_only_when_the_confirming_estimate_says_so():
    """`confirm` (e.g. more bootstrap draws) decides: with the same quick estimate, a confirm
    that finds the interval unbounded keeps the search going to its budget, and one that
    agrees gives the met crossing its own interval."""
    def doubtful(n, values, *, target):
        return replace(estimate_crossing(n, values, target=target), low=0.0, high=np.inf)

    never = searcher(confirm=doubtful, budget=30)
    assert drive(never) == 30 and never.crossings[0].status == "open"
    assert never.state.stop_reason == "budget spent: 30 trials proposed"
    sure = searcher(confirm=summary_crossing)
    drive(sure)
    (crossing,) = sure.crossings
    points = list(sure.state.points.values())  # in the order they finished, as the searcher passes them
    again = summary_crossing(np.array([p["n_train"] for p in points]), np.array([p["acc"] for p in points]),
                             target=TARGET)
    assert crossing.status == "met" and (crossing.low, crossing.high) == (again.low, again.high)


def test_a_searcher_carries_on_from_earlier_trials():
    """--extend: 10 trials that finished before count toward the budget and are never proposed
    again; their curve has no first design, so the next trial is already a rated one."""
    first = searcher(tolerance=0.001, budget=10)
    drive(first)
    earlier = [{**dict(cell), **point} for cell, point in first.state.points.items()]
    unrun = [c for c in cells() if cell_of(c) not in first.state.points]
    carried = AdaptiveSearcher(unrun[::-1], targets={"acc": TARGET}, estimate=estimate_crossing, tolerance=0.001,
                               budget=16, earlier=earlier)
    assert carried._design == [] and len(first._design) == 4
    assert carried.crossings[0].estimate == first.crossings[0].estimate  # the same points, the same fit
    proposed = [cell_of(carried.suggest(f"n{i}")) for i in range(6)]
    assert carried.suggest("n6") == Searcher.FINISHED and carried.state.stop_reason == "budget spent: 16 trials proposed"
    assert not set(proposed) & set(first.state.points) and len(set(proposed)) == 6


def test_with_auto_a_target_past_the_largest_size_settles_once_that_size_has_run():
    """auto extrapolates past the points with the learned model, whose interval more points at
    the sizes run cannot narrow: the search runs the largest size, then settles the crossing as
    past the sizes swept instead of spending its budget on it."""
    auto, _ = estimators({"curve": "auto"})
    target = 0.925  # true crossing ~ 2.4 M: far past the 60,000 swept
    search = AdaptiveSearcher(cells(), targets={"acc": target}, estimate=auto, tolerance=0.15, budget=60)
    used = drive(search)
    (crossing,) = search.crossings
    assert crossing.status == "past", crossing
    assert search.state.stop_reason.startswith("past the sizes swept: ")
    assert used < 20
    assert any(dict(c)["sample_frac"] == 1.0 for c in search.state.points)


@pytest.mark.parametrize("fields, shown, hidden", [
    (dict(estimate=12345.0, low=10000.0, high=15000.0, how="interpolated", status="met"),
     "at n = 12,345 [10,000, 15,000]", "inf"),
    (dict(estimate=12345.0, low=0.0, high=np.inf, how="extrapolated ×1.2", status="open"),
     "at n = 12,345, no interval (extrapolated ×1.2)", "[0"),
    (dict(estimate=3_950_105.0, low=0.0, high=np.inf, how="beyond 4× the data swept", status="beyond"),
     "beyond 4× the data swept", "3,950,105"),
    (dict(estimate=np.inf, how="never (asymptote 0.8200)", status="unreachable"), "never (asymptote 0.8200)", "inf"),
])
def test_a_crossing_is_said_as_the_report_says_it(fields, shown, hidden):
    from datavsmath.sweeps.adaptive_design import Crossing

    text = Crossing(curve=(("model", "rf"),), metric="acc", target=0.9, **fields).text()
    assert shown in text and hidden not in text


def test_a_curve_that_never_reaches_the_target_settles_as_unreachable():
    """A fitted family whose asymptote stays below the target says never: the search does not
    keep it open until its budget is spent."""
    search = AdaptiveSearcher(cells(), targets={"acc": 0.95}, estimate=estimate_crossing, tolerance=0.15, budget=60)
    drive(search)
    (crossing,) = search.crossings
    assert crossing.status == "unreachable" and np.isinf(crossing.estimate)
    assert search.state.stop_reason.startswith("unreachable: ")
