"""An adaptive sweep (search: kind: adaptive) end to end on Fashion-MNIST with rf: the
dry-run shows its first design and budget; a real run, interrupted after its first trials and
resumed from the command line, carries its searcher on from where it stopped (no cell run
twice, no more trials than the budget) and says why it stopped and each crossing's interval;
--extend with a grown spec carries the search on from the cells already run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

import datavsmath as dvm
from datavsmath._plan import dry_run
from datavsmath.analysis.load import load_results
from datavsmath.sweeps.adaptive_design import FIRST_SEEDS, FIRST_SIZES
from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.resources import Node
from datavsmath.sweeps.spec import AXES, expand_trials
from datavsmath.sweeps.validation import load_spec, parse_spec
from tests.conftest import run_cli

BUDGET = 20
TALK_FRACS = sorted({*(i / 100 for i in range(1, 10)), *(i / 10 for i in range(1, 10)),
                     *(i / 100 for i in range(91, 101))})
TARGET = 0.76
# 7 sizes x 3 seeds = 21 cells of a few hundred to 3,000 rows; a 10-tree forest: ~0.5 s a trial.
SPEC = {
    "name": "searched",
    "model": ["rf"],
    "sample_frac": [0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05],
    "damage_frac": [0.0],
    "damage_mode": ["none"],
    "seeds": [0, 1, 2],
    "overrides": {"rf": {"n_estimators": 10}},
    "search": {"kind": "adaptive", "target": {"acc": TARGET}, "tolerance": 0.05, "budget": BUDGET},
}
WAIT_S = 120.0
CROSSING_LINE = re.compile(rf"^  model rf, damage_mode none, damage_frac 0\.0, repair none: acc > {TARGET:g} "
                           r"at n = [\d,]+ \[[\d,]+, [\d,]+\] \((met|open|unreachable|beyond)\)$", re.M)


def _finished(exp: Path) -> dict[str, str]:
    """trial folder -> its result.json, for trials whose last line is the final report."""
    out = {}
    for path in exp.glob("*/result.json"):
        lines = path.read_text().splitlines()
        if lines and "acc" in json.loads(lines[-1]):
            out[path.parent.name] = path.read_text()
    return out


def _interrupt_after_two_trials(exp: Path, stop: threading.Event) -> None:
    """SIGINT to this process once two trials of `exp` have finished (Tune runs by then)."""
    deadline = time.monotonic() + WAIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        if len(_finished(exp)) >= 2:
            os.kill(os.getpid(), signal.SIGINT)
            return
        time.sleep(0.02)


def _tune_trials(exp: Path) -> int:
    """The trials Tune's newest saved experiment state holds (named by its session's start time;
    a resumed run copies the older ones back too, so their mtimes tell nothing)."""
    newest = max(exp.glob("experiment_state-*.json"), key=lambda p: p.name)
    return len(json.loads(newest.read_text())["trial_data"])


def test_the_dry_run_shows_the_first_design_and_the_budget(tmp_path):
    spec_path = tmp_path / "searched.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    proc = run_cli("sweep", str(spec_path), "--dry-run", "--storage", str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "searched" in out and ": 21 cells" in out
    assert f"adaptive search: acc > {TARGET:g} per curve, to within ±5%; budget {BUDGET} trials of the 21 cells" in out
    design = FIRST_SIZES * FIRST_SEEDS  # one curve
    assert f"first design: {design} trials ({FIRST_SIZES} log-spaced sample_frac per curve" in out
    previewed = re.findall(r"^  model=rf sample_frac=([\d.]+) .* seed=(\d)$", out, re.M)
    assert previewed and {s for _, s in previewed} <= {"0", "1"}  # the first two seeds only
    assert re.search(r"estimated compute: [\d.]+ CPU-minutes for the first design, at most [\d.]+ within the budget",
                     out)
    assert not (tmp_path / "searched").exists()


def test_the_shipped_adaptive_spec_searches_the_talks_fractions_within_its_budget():
    spec = load_spec("adaptive")
    assert list(spec.grids[0].sample_frac) == pytest.approx(TALK_FRACS) and spec.search["kind"] == "adaptive"
    text = dry_run(spec, options=SweepOptions(), nodes=[Node(node_id="local", address="local", cpu=2, gpu=0)])
    curves = len(spec.grids[0].damage_frac)
    assert f"budget {spec.search['budget']} trials of the {len(expand_trials(spec))} cells" in text
    assert f"first design: {curves * FIRST_SIZES * FIRST_SEEDS} trials" in text
    at_most = float(text.split(" within the budget")[0].rsplit("at most ", 1)[1])
    assert at_most <= 2 * 10 * 0.7, text  # two 1-CPU trials at a time fit in 10 minutes, with room for Tune


def test_the_progress_lines_count_up_to_the_budget():
    from datavsmath.sweeps.tuner import _callbacks

    spec = parse_spec(SPEC)
    _, reporter, hook = _callbacks(spec, trials=expand_trials(spec), options=SweepOptions(), n_train=60000,
                                   on_finished=lambda done, total: None)
    assert reporter.total == hook.total == BUDGET  # "[done/total]": at most the budget, not the 21 cells


def test_specs_lists_the_adaptive_spec_by_its_cells():
    proc = run_cli("specs", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^adaptive +336 cells +Adaptive search", proc.stdout, re.M), proc.stdout
    assert re.search(r"^size +112 trials  ", proc.stdout, re.M), proc.stdout


def test_an_extended_adaptive_sweep_carries_its_search_on(tmp_path, capsys):
    """A search of 8 trials, then --extend with two more sizes and a budget of 14: the
    extension runs in its own Tune experiment, proposes only cells not run before, counts the
    earlier 8 toward its budget, and its summary stands on every point."""
    strict = {**SPEC["search"], "tolerance": 0.01}  # never met here: both runs go to their budget
    small = {**SPEC, "search": {**strict, "budget": 8}}
    grown = {**SPEC, "sample_frac": [*SPEC["sample_frac"], 0.06, 0.07], "search": {**strict, "budget": 14}}
    exp = tmp_path / "searched"
    try:
        dvm.sweep(spec=small, storage=str(tmp_path), live=False, report=False, verbose=0, dashboard=False)
        before = _finished(exp)
        assert len(before) == 8
        text = dry_run(parse_spec(grown), options=SweepOptions(storage=str(tmp_path), extend=True))
        assert "kept: 8 cells finished earlier; to run: 19" in text, text
        assert "budget 6 trials (14 in all, 8 run earlier) of the 19 cells" in text and "first design: none (every curve ran earlier)" in text
        capsys.readouterr()
        results = dvm.sweep(spec=grown, storage=str(tmp_path), extend=True, live=False, report=False, verbose=1,
                            dashboard=False)
    finally:
        dvm.shutdown()
    out = capsys.readouterr().out
    assert "at most 14 trials in all, 8 of them run earlier and carried on" in out, out[-2000:]
    df = load_results(exp)
    cells = list(df[list(AXES)].itertuples(index=False, name=None))
    assert len(cells) == len(set(cells)) and len(df) == 14, df[list(AXES)]
    assert (df["status"] == "TERMINATED").all()
    assert _finished(exp) == before  # the first run's trials stay as they were
    extension = list(exp.glob("extend-*"))
    assert len(extension) == 1 and _tune_trials(extension[0]) == len(df) - 8  # only new cells proposed
    search = results.search
    assert search is not None and search.finished == search.proposed == len(df)
    assert search.stop_reason == "budget spent: 14 trials proposed"
    assert dvm.load(exp).search.lines() == search.lines()


def test_an_interrupted_adaptive_sweep_resumes_its_search(tmp_path):
    exp = tmp_path / "searched"
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_after_two_trials, args=(exp, stop), daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt, match=r"continue it with resume=True, or: ") as info:
            dvm.sweep(spec=SPEC, storage=str(tmp_path), live=False, report=False, verbose=0, dashboard=False)
    finally:
        stop.set()
        watcher.join()
        dvm.shutdown()
    before = _finished(exp)
    partial = load_results(exp)
    assert 2 <= len(before) < len(partial) <= BUDGET  # rows: the cells proposed so far, not all 21
    stopped = dvm.load(exp).search  # it said "stopped: running" with nothing running it
    assert stopped is not None and stopped.stop_reason.startswith("interrupted before it ended"), stopped
    assert stopped.lines()[0].startswith("adaptive search stopped: interrupted before it ended")
    status = run_cli("status", str(exp))  # the budget left, not only the trials Tune had made
    assert f"the search may propose {BUDGET - len(partial)} more (its budget left)" in status.stdout, status.stdout

    command = shlex.split(str(info.value).split("or: ", 1)[1])
    assert command[0] == "datavsmath" and "--resume" in command
    resumed = run_cli(*command[1:], "--no-dashboard", "--no-report", timeout=240)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert re.search(r"^adaptive search stopped: (tolerance met|budget spent|unreachable|beyond the data|no cell left)",
                     resumed.stdout, re.M), resumed.stdout[-2000:]
    assert CROSSING_LINE.search(resumed.stdout), resumed.stdout[-2000:]

    df = load_results(exp)
    assert (df["status"] == "TERMINATED").all(), df[["sample_frac", "seed", "status", "error"]]
    cells = list(df[list(AXES)].itertuples(index=False, name=None))
    assert len(cells) == len(set(cells)) <= BUDGET
    assert _tune_trials(exp) == len(df)  # the restored searcher proposed no cell again
    after = _finished(exp)
    assert all(after[name] == text for name, text in before.items())  # finished trials were not rerun
    search = dvm.load(exp).search
    assert search is not None and search.finished == search.proposed == len(df)
    assert search.lines()[0] in resumed.stdout
    assert search.stop_reason != "" and len(search.crossings) == 1
