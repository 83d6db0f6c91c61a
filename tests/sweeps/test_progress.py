"""datavsmath.sweeps.progress: the names and lines a person reads while a sweep runs."""

from __future__ import annotations

import pytest

from datavsmath.sweeps.progress import (
    Progress,
    combination,
    error_line,
    eta_seconds,
    finished_line,
    status_line,
    trial_name,
)
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS, expand_trials
from datavsmath.sweeps.validation import load_spec

CONFIG = {"model": "cnn", "sample_frac": 0.5, "damage_frac": 0.2, "damage_mode": "random", "seed": 1}


def test_trial_name_is_the_combination():
    assert trial_name(CONFIG) == "cnn_s0.5_d0.2_random_seed1"
    assert trial_name({**CONFIG, "sample_frac": 0.01, "damage_frac": 0.0, "damage_mode": "none", "seed": 0}) \
        == "cnn_s0.01_d0_none_seed0"


@pytest.mark.parametrize("spec", ["smoke", "laptop", "seed_all"])
def test_trial_names_are_unique_within_every_shipped_spec(spec):
    trials = expand_trials(load_spec(spec))
    assert len({trial_name(t) for t in trials}) == len(trials)


def test_finished_line_names_the_combination_and_metrics():
    line = finished_line(CONFIG, {"acc": 0.81234, "auc": 0.98765, "time_total_s": 41.23}, done=7, total=96)
    assert line.startswith("[ 7/96] cnn ")
    for text in ("sample_frac=0.5", "damage_frac=0.2", "random", "seed=1", "acc=0.8123", "auc=0.9877", "41.2 s"):
        assert text in line, (text, line)
    assert "acc=- auc=-" in finished_line(CONFIG, {}, done=1, total=1)


def test_error_line_and_combination_name_every_axis():
    assert all(f"{axis}=" in combination(CONFIG) for axis in AXES if axis not in AXIS_DEFAULTS)
    assert "repair=" not in combination(CONFIG) and combination({**CONFIG, "repair": "none"}) == combination(CONFIG)
    assert combination({**CONFIG, "repair": "prune"}).endswith(" seed=1 repair=prune")
    assert error_line(CONFIG, error="ValueError: boom") == (
        "ERROR model=cnn sample_frac=0.5 damage_frac=0.2 damage_mode=random seed=1: ValueError: boom")


def test_status_line():
    line = status_line(Progress(done=40, running=2, pending=54, errored=1, elapsed_s=186, eta_s=252,
                                best_acc={"rf": 0.81, "cnn": 0.8765}))
    assert line == ("status: 40 done, 2 running, 54 pending, 1 errored | 3.1 min elapsed, ETA 4.2 min | "
                    "best acc rf 0.8100 cnn 0.8765")
    assert "ETA unknown" in status_line(Progress(0, 2, 10, 0, 5.0, None, {}))


@pytest.mark.parametrize("done, left, elapsed, expected", [
    (100.0, 300.0, 60.0, 180.0),  # a third done in a minute: two more minutes
    (0.0, 300.0, 60.0, None),     # nothing finished: no pace yet
    (100.0, 0.0, 60.0, 0.0),      # nothing left
])
def test_eta_is_the_cost_left_at_the_pace_so_far(done, left, elapsed, expected):
    assert eta_seconds(done_cost=done, left_cost=left, elapsed_s=elapsed) == expected


def test_a_reporter_pickled_before_it_kept_a_total_still_reports():
    """--resume restores the reporter from an older experiment's tuner.pkl, without `total`."""
    import pickle
    from types import SimpleNamespace

    from datavsmath.sweeps.tune_callbacks import CompactReporter

    old = CompactReporter(costs={"a": 1.0, "b": 2.0}, write=print)
    del old.total  # as unpickled from an experiment written before the attribute existed
    restored = pickle.loads(pickle.dumps(old))
    config = expand_trials(load_spec("smoke"))[0]
    trials = [SimpleNamespace(status="TERMINATED", config=config, last_result={"acc": 0.5})]
    progress = restored.progress(trials, elapsed_s=1.0)
    assert (progress.done, progress.pending) == (1, 0)


def test_the_eta_after_a_resume_is_at_the_pace_of_this_run():
    """The trials finished before a resume do not speed up this run's ETA."""
    from types import SimpleNamespace

    from datavsmath.sweeps.tune_callbacks import CompactReporter

    configs = expand_trials(load_spec("smoke"))[:4]
    reporter = CompactReporter(costs={trial_name(c): 1.0 for c in configs}, write=print)
    reporter.setup()
    trials = [SimpleNamespace(status="TERMINATED" if i < 2 else "PENDING", config=c, last_result={"acc": 0.5})
              for i, c in enumerate(configs)]
    reporter.on_step_end(0, trials)  # the resumed run's first step: two trials finished before it
    trials[2].status = "TERMINATED"
    progress = reporter.progress(trials, elapsed_s=10.0)
    assert (progress.done, progress.pending) == (3, 1)
    assert progress.eta_s == 10.0  # one trial's cost in 10 s, one left (was 3.3: three in 10 s)


def test_an_adaptive_search_counts_its_budget_left_and_nothing_pending_once_it_ended():
    """A search runs at most its budget of the cells: its ETA is the budget left at the cells'
    mean cost (it was every cell's cost, or 0.0 where Tune had created none yet), and once the
    search has stopped, nothing is pending (it said "6 pending" after the end)."""
    from types import SimpleNamespace

    from datavsmath.sweeps.tune_callbacks import CompactReporter

    configs = expand_trials(load_spec("smoke"))[:10]
    reporter = CompactReporter(costs={trial_name(c): 2.0 for c in configs}, total=6, write=print)
    reporter.setup()
    reporter.on_step_end(0, [])
    trials = [SimpleNamespace(status="TERMINATED", config=c, last_result={"acc": 0.5}) for c in configs[:2]]
    progress = reporter.progress(trials, elapsed_s=4.0)  # 2 of the budget of 6 in 4 s: 4 left, 8 s
    assert (progress.done, progress.pending) == (2, 4)
    assert progress.eta_s == 8.0
    ended = reporter.progress(trials, elapsed_s=4.0, ended=True)  # the search stopped after 2
    assert (ended.done, ended.pending, ended.eta_s) == (2, 0, 0.0)


def test_tunes_slow_operation_warning_shows_once_per_sweep(caplog):
    """Tune's "may be a performance bottleneck" appeared 8 times in a notebook."""
    import logging

    from ray.tune.utils.util import warn_if_slow

    from datavsmath.sweeps.tuner import SLOW_LOGGER, slow_warnings_once

    logger = logging.getLogger(SLOW_LOGGER)
    said = [warn_if_slow.DEFAULT_MESSAGE.format(name="callbacks.on_trial_result", duration=0.6 + i) for i in range(8)]
    with caplog.at_level(logging.WARNING, logger=SLOW_LOGGER):
        with slow_warnings_once():
            for text in said:
                logger.warning(text)
            logger.warning("another warning")
        logger.warning(said[0])  # after the sweep: the filter is gone
    assert [r.getMessage() for r in caplog.records] == [said[0], "another warning", said[0]]
