"""The scheduling functions that sweeps otherwise reach only through minute-long runs, tested
directly: the ETA of `datavsmath status`, the makespan bound, the Tune parameter space, the
test-only fault spec and the --dry-run text. No Ray is started here.

Expected values are worked out by hand (or from the inputs' definitions), not by calling the
function under test.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from datavsmath.analysis.schema import normalize
from datavsmath.analysis.status import eta_seconds
from datavsmath.cli import dry_run
from datavsmath.sweeps import cost
from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.resources import Node
from datavsmath.sweeps.runner import _makespan_bound
from datavsmath.sweeps.spec import AXES, expand_trials, project_version
from datavsmath.sweeps.tuner import build_param_space
from datavsmath.sweeps.validation import load_spec, parse_spec
from datavsmath.trainables.faults import fault_spec

T0 = pd.Timestamp("2026-01-01 00:00:00", tz="UTC")


# ---------------------------------------------------------------- datavsmath.analysis.status.eta_seconds

# a cost model simple enough to add up by hand: seconds by model
COST = {"rf": 10.0, "xgb": 1000.0, "dnn": 20.0, "cnn": 30.0}


def simple_cost(trial: dict) -> float:
    assert set(trial) == set(AXES), trial  # the ETA hands the cost model a trial's axes
    return COST[trial["model"]]


def tidy(rows: list[tuple[str, str, float | None, float | None]]) -> pd.DataFrame:
    """The tidy frame of (model, status, start, end) rows, times in seconds after T0."""
    def at(seconds: float | None) -> pd.Timestamp | None:
        return None if seconds is None else T0 + pd.Timedelta(seconds=seconds)

    return normalize(pd.DataFrame([
        {"trial_id": f"t{i}", "status": status, "model": model, "sample_frac": 0.1, "damage_frac": 0.0,
         "damage_mode": "none", "seed": i, "start_time": at(start), "end_time": at(end)}
        for i, (model, status, start, end) in enumerate(rows)]))


# done: rf (10) + cnn (30) = 40 cost-seconds, the first one started at T0;
# left: a running cnn (30), a pending rf (10), a missing cnn (30) = 70; the errored xgb is not left.
SWEEP = [
    ("rf", "TERMINATED", 0, 12),
    ("cnn", "TERMINATED", 5, 38),
    ("xgb", "ERROR", 6, 7),
    ("cnn", "RUNNING", 12, None),
    ("rf", "PENDING", None, None),
    ("cnn", "MISSING", None, None),
]


@pytest.mark.parametrize("now_s, expected", [
    (40, 70.0),    # 40 cost-s done in 40 wall s: 1 per second, 70 left -> 70 s
    (80, 140.0),   # 40 in 80 s: 0.5 per second -> 140 s
    (20, 35.0),    # 40 in 20 s: 2 per second -> 35 s
])
def test_eta_is_the_cost_left_at_the_pace_so_far(now_s, expected):
    eta = eta_seconds(tidy(SWEEP), cost=simple_cost, now=T0 + pd.Timedelta(seconds=now_s))
    assert eta == pytest.approx(expected)


def test_eta_elapsed_time_starts_at_the_first_start_of_any_status():
    # the earliest start is the running trial's: elapsed counts from there
    rows = [("rf", "TERMINATED", 10, 20), ("rf", "RUNNING", 0, None)]
    # 10 cost-s done in 40 s: 0.25 per second; 10 left -> 40 s
    assert eta_seconds(tidy(rows), cost=simple_cost, now=T0 + pd.Timedelta(seconds=40)) == pytest.approx(40.0)


def test_eta_without_now_uses_the_current_time():
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=100)
    df = tidy([("rf", "TERMINATED", 0, 50), ("cnn", "PENDING", None, None)])
    df["start_time"] = [start, pd.NaT]
    df["end_time"] = [start + pd.Timedelta(seconds=50), pd.NaT]
    before = eta_seconds(df, cost=simple_cost, now=pd.Timestamp.now(tz="UTC"))
    eta = eta_seconds(df, cost=simple_cost)
    after = eta_seconds(df, cost=simple_cost, now=pd.Timestamp.now(tz="UTC"))
    # elapsed ~100 s, pace 10 / 100 per second, 30 left: ~300 s, and growing while we wait
    assert before <= eta <= after
    assert eta == pytest.approx(300.0, rel=0.05)


def test_eta_is_none_before_any_trial_finished():
    assert eta_seconds(tidy([("rf", "RUNNING", 0, None), ("cnn", "PENDING", None, None)]),
                       cost=simple_cost, now=T0 + pd.Timedelta(seconds=60)) is None
    assert eta_seconds(tidy([("rf", "ERROR", 0, 1), ("cnn", "PENDING", None, None)]),
                       cost=simple_cost, now=T0 + pd.Timedelta(seconds=60)) is None


def test_eta_is_none_when_finished_trials_have_no_times():
    # e.g. loaded from a talk-format CSV: finished, but when is unknown
    rows = [("rf", "TERMINATED", None, None), ("cnn", "PENDING", None, None)]
    assert eta_seconds(tidy(rows), cost=simple_cost, now=T0) is None


@pytest.mark.parametrize("statuses", [["TERMINATED"], ["TERMINATED", "ERROR"], ["ERROR"]])
def test_eta_is_zero_when_nothing_is_left(statuses):
    rows = [("rf", s, 0, 1) for s in statuses]
    assert eta_seconds(tidy(rows), cost=simple_cost, now=T0 + pd.Timedelta(seconds=5)) == 0


# ---------------------------------------------------------------- datavsmath.sweeps.runner._makespan_bound

@dataclass
class Result:
    """What _makespan_bound reads of a Tune Result: its last metrics and its config."""

    metrics: dict[str, Any] | None
    config: dict[str, Any] = field(default_factory=dict)


def finished(model: str, *, start: float, seconds: float) -> Result:
    return Result({"timestamp": start + seconds, "time_total_s": seconds, "acc": 0.5}, {"model": model})


PLAN = {"rf": {"cpu": 1.0, "gpu": 0.0}, "cnn": {"cpu": 2.0, "gpu": 0.0}}
RESULTS = [
    finished("rf", start=100, seconds=10),    # 10 CPU-s
    finished("cnn", start=110, seconds=20),   # 40 CPU-s, ends last at 130
    finished("cnn", start=100, seconds=25),   # 50 CPU-s, the longest trial
    Result(None, {"model": "cnn"}),                           # never reported
    Result({"acc": 0.9}, {"model": "rf"}),                    # no time fields
    Result({"timestamp": 10_000.0}, {"model": "rf"}),         # one of the two only
]


def cpus(*per_node: float) -> list[Node]:
    return [Node(node_id=f"n{i}", address=f"10.0.0.{i}", cpu=c, gpu=0) for i, c in enumerate(per_node)]


@pytest.mark.parametrize("nodes, bound", [
    (cpus(2), 50.0),         # 100 CPU-s / 2 CPUs = 50 > the longest trial (25)
    (cpus(2, 2), 25.0),      # 100 / 4 = 25 = the longest
    (cpus(4, 4), 25.0),      # 100 / 8 = 12.5 < 25: the longest trial bounds it
    (cpus(1, 1, 1, 1, 1), 25.0),
    (cpus(1.5), 100 / 1.5),  # fractional CPUs count as they are
])
def test_makespan_is_first_start_to_last_end_and_the_bound_is_the_larger_of_work_and_longest(nodes, bound):
    makespan, lower = _makespan_bound(RESULTS, plan=PLAN, nodes=nodes)
    assert makespan == pytest.approx(30.0)   # 130 - 100; the timeless results are ignored
    assert lower == pytest.approx(bound)


def test_models_without_a_plan_entry_count_one_cpu():
    results = [finished("xgb", start=0, seconds=12), finished("xgb", start=0, seconds=12)]
    assert _makespan_bound(results, plan={}, nodes=cpus(1)) == pytest.approx((12.0, 24.0))  # 2 x 12 CPU-s / 1


def test_any_iterable_of_results_is_accepted():
    makespan, lower = _makespan_bound(iter(RESULTS), plan=PLAN, nodes=cpus(2))
    assert (makespan, lower) == pytest.approx((30.0, 50.0))


@pytest.mark.parametrize("results", [[], [Result(None)], [Result({"acc": 1.0}, {"model": "rf"})]],
                         ids=["none", "no-metrics", "no-times"])
def test_no_timed_result_gives_zero_and_zero(results):
    assert _makespan_bound(results, plan=PLAN, nodes=cpus(2)) == (0.0, 0.0)


# ---------------------------------------------------------------- datavsmath.sweeps.tuner.build_param_space

def resolve_like_tune(param_space: dict[str, Any]) -> list[dict[str, Any]]:
    """The configs Ray Tune 2.60 makes of a param space, in its order, without starting Ray.

    tune.run replaces sample_from functions by placeholders (ray.tune.impl.placeholder), the
    BasicVariantGenerator expands the grid (generate_variants on {"config": ...}), and each
    Trial resolves its placeholders against its own config (Trial.resolve_config_placeholders).
    """
    from ray.tune.impl.placeholder import create_resolvers_map, inject_placeholders, resolve_placeholders
    from ray.tune.search.variant_generator import generate_variants

    resolvers = create_resolvers_map()
    spec = {"config": inject_placeholders(copy.deepcopy(param_space), resolvers)}
    configs = []
    for _, variant in generate_variants(spec):
        config = copy.deepcopy(variant["config"])
        resolve_placeholders(config, resolvers)
        configs.append(config)
    return configs


def expected_configs(trials: list[dict], overrides: dict[str, dict]) -> list[dict]:
    return [{"name": trial_name(t), "trial": i, **t, "overrides": overrides.get(t["model"], {}),
             "version": project_version()} for i, t in enumerate(trials)]


def test_param_space_resolves_to_each_trial_and_its_overrides_in_submission_order():
    import ray

    spec = load_spec("smoke")
    trials = cost.longest_first(expand_trials(spec), n_train=60_000, overrides=spec.overrides)
    configs = resolve_like_tune(build_param_space(trials, overrides=spec.overrides))
    assert configs == expected_configs(trials, spec.overrides)
    # smoke's overrides by hand: every model but rf has one
    assert [c["overrides"] for c in configs if c["model"] == "xgb"] == [{"num_boost_round": 10}] * 2
    assert all(c["overrides"] == {} for c in configs if c["model"] == "rf")
    assert not ray.is_initialized()


def test_param_space_keeps_any_given_order_and_repeated_models():
    trials = [
        {"model": "cnn", "sample_frac": 0.3, "damage_frac": 0.5, "damage_mode": "constant", "seed": 9},
        {"model": "rf", "sample_frac": 1.0, "damage_frac": 0.0, "damage_mode": "none", "seed": 0},
        {"model": "cnn", "sample_frac": 0.01, "damage_frac": 0.1, "damage_mode": "random", "seed": 2},
    ]
    overrides = {"cnn": {"epochs": 3, "batch_size": 64}, "xgb": {"num_boost_round": 5}}
    configs = resolve_like_tune(build_param_space(trials, overrides=overrides))
    assert {c.pop("version") for c in configs} == {project_version()}
    assert [c.pop("name") for c in configs] == [trial_name(t) for t in trials]
    # a trial given without a repair (as before the axis) has repair none in its config
    assert configs == [
        {"trial": 0, "model": "cnn", "sample_frac": 0.3, "damage_frac": 0.5, "damage_mode": "constant", "seed": 9,
         "repair": "none",
         "overrides": {"epochs": 3, "batch_size": 64}},
        {"trial": 1, "model": "rf", "sample_frac": 1.0, "damage_frac": 0.0, "damage_mode": "none", "seed": 0,
         "repair": "none", "overrides": {}},
        {"trial": 2, "model": "cnn", "sample_frac": 0.01, "damage_frac": 0.1, "damage_mode": "random", "seed": 2,
         "repair": "none",
         "overrides": {"epochs": 3, "batch_size": 64}},
    ]


def test_param_space_does_not_share_the_callers_override_dicts():
    trials = [{"model": "dnn", "sample_frac": 0.1, "damage_frac": 0.0, "damage_mode": "none", "seed": 0}]
    overrides = {"dnn": {"epochs": 2}}
    space = build_param_space(trials, overrides=overrides)
    overrides["dnn"]["epochs"] = 99
    assert resolve_like_tune(space)[0]["overrides"] == {"epochs": 2}


# ---------------------------------------------------------------- datavsmath.trainables.faults.fault_spec

CNN = {"model": "cnn", "sample_frac": 0.5, "damage_frac": 0.0, "damage_mode": "none", "seed": 0, "trial": 3}


@pytest.mark.parametrize("raw, expected", [
    ("model=cnn,sample_frac=0.5,epoch=2", (2, False)),
    ("model=cnn", (1, False)),                 # default epoch 1, once
    ("epoch=3", (3, False)),                    # no keys: every trial
    ("model=cnn,always", (1, True)),
    ("always,epoch=0,model=cnn", (0, True)),    # any order; epoch 0 = before training
    ("sample_frac=0.5", (1, False)),            # numbers by value
    ("sample_frac=.5", (1, False)),
    ("sample_frac=0.50", (1, False)),
    ("sample_frac=5e-1", (1, False)),
    ("seed=0,damage_frac=0", (1, False)),       # int 0 and float 0.0
    ("seed=0.0", (1, False)),
    ("damage_mode=none,trial=3", (1, False)),
])
def test_fault_spec_targets_matching_trials(raw, expected):
    assert fault_spec(CNN, raw) == expected


@pytest.mark.parametrize("raw", [
    "",                                         # unset: targets nothing
    "model=rf",
    "model=cnn,sample_frac=0.02",               # one key off is enough
    "sample_frac=0.51",
    "seed=1,always",
    "model=CNN",                                # names match exactly
    "no_such_key=1",                            # a key the config lacks matches no value
    "model=cnn,no_such_key=x,epoch=2",
])
def test_fault_spec_ignores_other_trials(raw):
    assert fault_spec(CNN, raw) is None


# ---------------------------------------------------------------- datavsmath.cli.dry_run

CPU_NODE = Node(node_id="cpu", address="10.0.0.1", cpu=2, gpu=0)
GPU_NODE = Node(node_id="gpu", address="10.0.0.2", cpu=8, gpu=1)

# smoke's trials, longest first, by hand (smoke overrides: xgb 10 rounds, nets 2 epochs):
#   cnn 0.02: 1200 rows, 960 after the 20 % validation split, x 2 epochs  (3 trials: none, random, constant)
#   cnn 0.01: 480 x 2;  xgb 0.02: 1200 x 10 rounds;  xgb 0.01: 600 x 10
#   rf 0.02: 1200 x 25 trees (3 trials);  rf 0.01: 600 x 25;  dnn 0.02: 960 x 2;  dnn 0.01: 480 x 2
# The six previewed ranks hold while a cnn sample-epoch costs more than 12.5 xgb sample-rounds
# (960 x 2 vs 12000 x 10 above the same 1.5 s fixed cost; measured: 6.8e-4 s vs 2.4e-5 s).
SMOKE_HEAD = [
    "first trials (longest first):",
    "  model=cnn sample_frac=0.02 damage_frac=0 damage_mode=none seed=0",
    "  model=cnn sample_frac=0.02 damage_frac=0.2 damage_mode=random seed=0",
    "  model=cnn sample_frac=0.02 damage_frac=0.2 damage_mode=constant seed=0",
    "  model=cnn sample_frac=0.01 damage_frac=0 damage_mode=none seed=0",
    "  model=xgb sample_frac=0.02 damage_frac=0 damage_mode=none seed=0",
    "  model=xgb sample_frac=0.01 damage_frac=0 damage_mode=none seed=0",
    "  ... and 6 more",
    "resource request per model:",
]
# (model, rows, passes) of all 12 smoke trials, counted as above
SMOKE_WORK = [("cnn", 960, 2)] * 3 + [("cnn", 480, 2), ("xgb", 1200, 10), ("xgb", 600, 10)] + \
    [("rf", 1200, 25)] * 3 + [("rf", 600, 25), ("dnn", 960, 2), ("dnn", 480, 2)]


def smoke_minutes() -> float:
    return sum(cost.SECONDS_FIXED[m] + cost.SECONDS_PER_SAMPLE_PASS[m] * rows * passes
               for m, rows, passes in SMOKE_WORK) / 60


def test_dry_run_of_smoke_on_a_two_cpu_node():
    spec = load_spec("smoke")
    lines = dry_run(spec, options=SweepOptions(), nodes=[CPU_NODE]).splitlines()
    assert lines[0] == f"spec 'smoke' ({spec.source}): 12 trials"
    assert lines[1] == "models: rf, xgb, dnn, cnn; seeds: [0]"
    assert lines[2:11] == SMOKE_HEAD
    # no GPU: one CPU per trial, two at once on a 2-CPU node
    assert lines[11:15] == [
        "  rf   cpu=1 gpu=0  at once per node: 10.0.0.1: 2",
        "  xgb  cpu=1 gpu=0  at once per node: 10.0.0.1: 2",
        "  dnn  cpu=1 gpu=0  at once per node: 10.0.0.1: 2",
        "  cnn  cpu=1 gpu=0  at once per node: 10.0.0.1: 2",
    ]
    assert lines[15:] == [f"estimated compute: {smoke_minutes():.1f} CPU-minutes on 1-thread trials"]


def test_dry_run_of_smoke_on_a_one_gpu_node():
    spec = load_spec("smoke")
    lines = dry_run(spec, options=SweepOptions(), nodes=[GPU_NODE]).splitlines()
    assert lines[0] == f"spec 'smoke' ({spec.source}): 12 trials"
    assert lines[2:11] == SMOKE_HEAD
    # rf stays on CPUs (8 at once); the others share the GPU in quarters: 4 at once
    assert lines[11:15] == [
        "  rf   cpu=1 gpu=0  at once per node: 10.0.0.2: 8",
        "  xgb  cpu=1 gpu=0.25  at once per node: 10.0.0.2: 4",
        "  dnn  cpu=1 gpu=0.25  at once per node: 10.0.0.2: 4",
        "  cnn  cpu=1 gpu=0.25  at once per node: 10.0.0.2: 4",
    ]
    # the estimate is in CPU time: the same whatever the cluster
    assert lines[15:] == [f"estimated compute: {smoke_minutes():.1f} CPU-minutes on 1-thread trials"]


def test_dry_run_applies_gpu_share_and_resource_overrides_and_lists_every_node():
    options = SweepOptions(gpu_share=0.5, resource_overrides={"rf": {"cpu": 4.0}})
    lines = dry_run(load_spec("smoke"), options=options, nodes=[CPU_NODE, GPU_NODE]).splitlines()
    assert lines[11:15] == [
        "  rf   cpu=4 gpu=0  at once per node: 10.0.0.1: 0, 10.0.0.2: 2",
        "  xgb  cpu=1 gpu=0.5  at once per node: 10.0.0.1: 0, 10.0.0.2: 2",
        "  dnn  cpu=1 gpu=0.5  at once per node: 10.0.0.1: 0, 10.0.0.2: 2",
        "  cnn  cpu=1 gpu=0.5  at once per node: 10.0.0.1: 0, 10.0.0.2: 2",
    ]


def test_dry_run_counts_merged_duplicates_and_previews_all_of_a_short_sweep():
    spec = parse_spec({
        "name": "dup", "seeds": [0, 1],
        "grids": [{"model": ["rf"], "sample_frac": [0.1, 0.2], "damage_frac": [0.0], "damage_mode": ["none"]},
                  {"model": ["rf"], "sample_frac": [0.2], "damage_frac": [0.0], "damage_mode": ["none"]}],
    }, source="dup.yaml")
    lines = dry_run(spec, options=SweepOptions(), nodes=[CPU_NODE]).splitlines()
    # 2 x 2 + 1 x 2 = 6 grid points; rf 0.2 (both seeds) listed twice: 4 trials
    assert lines[0] == "spec 'dup' (dup.yaml): 4 trials (6 grid points, 2 duplicates merged)"
    assert lines[1] == "models: rf; seeds: [0, 1]"
    assert lines[2:8] == [
        "first trials (longest first):",
        "  model=rf sample_frac=0.2 damage_frac=0 damage_mode=none seed=0",
        "  model=rf sample_frac=0.2 damage_frac=0 damage_mode=none seed=1",
        "  model=rf sample_frac=0.1 damage_frac=0 damage_mode=none seed=0",
        "  model=rf sample_frac=0.1 damage_frac=0 damage_mode=none seed=1",
        "resource request per model:",
    ]
    # rf, 25 trees: (12000 + 12000 + 6000 + 6000) rows x 25 trees
    minutes = (4 * cost.SECONDS_FIXED["rf"] + cost.SECONDS_PER_SAMPLE_PASS["rf"] * 36_000 * 25) / 60
    assert lines[-1] == f"estimated compute: {minutes:.1f} CPU-minutes on 1-thread trials"


def test_dry_run_of_the_shipped_union_reports_its_duplicates():
    # README: seed_all is the union of the four effect specs, 504 grid points, 6 shared ones run once
    first = dry_run(load_spec("seed_all"), options=SweepOptions(), nodes=[CPU_NODE]).splitlines()[0]
    assert first.endswith(": 498 trials (504 grid points, 6 duplicates merged)"), first


@pytest.mark.parametrize("n_trials, period", [(1, "2"), (130, "2"), (500, "2"), (501, "auto"), (5000, "auto")])
def test_tune_saves_its_state_every_2_s_up_to_500_trials_then_on_its_own_auto_period(n_trials, period):
    from datavsmath.sweeps.tuner import state_period

    assert state_period(n_trials) == period
