"""Interruption, resume and trial faults through the real CLI and real Ray Tune.

The sweeps here are small but not instant, so that a kill lands while some trials have
finished and others have not.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps.spec import expand_trials, load_spec

CLI = [sys.executable, "-m", "sweeps.cli"]
AXES = ["model", "sample_frac", "damage_frac", "damage_mode", "seed"]
# 10 trials of a few seconds each: rf on growing subsets, and dnn with 3 epochs.
RESUME_SPEC = """\
name: resumable
grids:
  - model: [rf]
    sample_frac: [0.02, 0.03, 0.04, 0.05, 0.06]
    damage_frac: [0.0]
    damage_mode: [none]
  - model: [dnn]
    sample_frac: [0.05, 0.1, 0.15, 0.2, 0.25]
    damage_frac: [0.0]
    damage_mode: [none]
overrides:
  dnn: {epochs: 3}
"""
FAULT_SPEC = """\
name: faulty
checkpoint_period_s: 0
grids:
  - model: [cnn]
    sample_frac: [0.02]
    damage_frac: [0.0]
    damage_mode: [none]
  - model: [rf, xgb]
    sample_frac: [0.01, 0.02]
    damage_frac: [0.3]
    damage_mode: [random]
overrides:
  cnn: {epochs: 4}
  xgb: {num_boost_round: 20}
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env or _env())


def _terminated_in_state(exp: Path) -> set[str]:
    """Trial ids that Tune's saved experiment state records as TERMINATED."""
    done = set()
    for path in glob.glob(str(exp / "experiment_state-*.json")):
        try:
            state = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, OSError):
            continue  # being rewritten right now
        for trial_json, _ in state.get("trial_data", []):
            trial = json.loads(trial_json)
            if trial.get("status") == "TERMINATED":
                done.add(trial["trial_id"])
    return done


def _finished_trials(exp: Path) -> dict[str, tuple[str, int]]:
    """trial_id -> (last result line, number of result lines) for trials with a final result."""
    out = {}
    for result in exp.glob("*/result.json"):
        lines = result.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("done") and "acc" in json.loads(lines[-1]):
            last = json.loads(lines[-1])
            out[last["trial_id"]] = (lines[-1], len(lines))
    return out


def _start_and_interrupt(spec_path: Path, storage: Path, *, sig: int, min_done: int) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([*CLI, "sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    exp = storage / "resumable"
    deadline = time.time() + 240
    while len(_terminated_in_state(exp)) < min_done:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "sweep made no progress"
        time.sleep(0.5)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    return proc, out, err


def _assert_complete(exp: Path, spec_path: Path) -> pd.DataFrame:
    df = pd.read_parquet(exp / "results.parquet")
    expected = {tuple(t.values()) for t in expand_trials(load_spec(spec_path))}
    got = list(df[AXES].itertuples(index=False, name=None))
    assert len(got) == len(expected) and set(got) == expected  # exactly one row each
    assert (df["status"] == "TERMINATED").all(), df[["model", "sample_frac", "status", "error"]]
    return df


def test_sigkill_then_resume_keeps_finished_trials(tmp_path):
    spec_path = tmp_path / "resumable.yaml"
    spec_path.write_text(RESUME_SPEC)
    proc, _, _ = _start_and_interrupt(spec_path, tmp_path, sig=signal.SIGKILL, min_done=3)
    # The driver is gone; end whatever Ray processes it left in its session.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    exp = tmp_path / "resumable"
    before = {tid: v for tid, v in _finished_trials(exp).items() if tid in _terminated_in_state(exp)}
    assert len(before) >= 3
    resumed = _cli("sweep", str(spec_path), "--storage", str(tmp_path), "--resume", "--no-dashboard", "--no-report")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    df = _assert_complete(exp, spec_path)
    after = _finished_trials(exp)
    for tid, (last_line, n_lines) in before.items():
        assert after[tid] == (last_line, n_lines), f"finished trial {tid} was rerun"
    assert set(before) <= set(df["trial_id"])


def test_sigint_stops_cleanly_and_prints_the_resume_command(tmp_path):
    spec_path = tmp_path / "resumable.yaml"
    spec_path.write_text(RESUME_SPEC)
    proc, out, err = _start_and_interrupt(spec_path, tmp_path, sig=signal.SIGINT, min_done=2)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    command = f"sweep {spec_path} --name resumable --storage {tmp_path} --resume"
    assert command in err, err[-3000:]
    exp = tmp_path / "resumable"
    status = _cli("status", str(exp), timeout=60)  # a partly finished experiment
    assert status.returncode == 0, status.stderr
    assert re.search(r"trials: 10 \| ([2-9]) done, \d+ running, (\d+) pending, 0 errored", status.stdout), status.stdout
    assert "ETA: " in status.stdout and "finished" not in status.stdout.split("ETA: ")[1]
    before = _finished_trials(exp)
    resumed = _cli("sweep", str(spec_path), "--storage", str(tmp_path), "--resume", "--no-dashboard", "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_complete(exp, spec_path)
    after = _finished_trials(exp)
    assert all(after[tid] == v for tid, v in before.items() if tid in _terminated_in_state(exp))


def _epochs_reported(exp: Path, model: str) -> list[int]:
    for params in exp.glob("*/params.json"):
        if json.loads(params.read_text())["model"] == model:
            rows = [json.loads(line) for line in (params.parent / "result.json").read_text().splitlines()]
            return [r["epoch"] for r in rows if "epoch" in r]
    raise AssertionError(f"no {model} trial in {exp}")


@pytest.fixture(scope="module")
def fault_once(tmp_path_factory):
    """The faulty spec with the cnn failing once, after its epoch-2 checkpoint."""
    storage = tmp_path_factory.mktemp("fault_once")
    spec_path = storage / "faulty.yaml"
    spec_path.write_text(FAULT_SPEC)
    proc = _cli("sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--no-report",
                env=_env(DATAVSMATH_FAULT="model=cnn,epoch=2"))
    return storage / "faulty", spec_path, proc


@pytest.fixture(scope="module")
def fault_always(tmp_path_factory):
    """The same spec with one rf trial failing on every attempt."""
    storage = tmp_path_factory.mktemp("fault_always")
    spec_path = storage / "faulty.yaml"
    spec_path.write_text(FAULT_SPEC)
    proc = _cli("sweep", str(spec_path), "--storage", str(storage), "--no-dashboard", "--max-failures", "1",
                env=_env(DATAVSMATH_FAULT="model=rf,sample_frac=0.02,epoch=0,always"))
    return storage / "faulty", spec_path, proc


def test_injected_fault_resumes_from_the_last_epoch_checkpoint(fault_once):
    exp, spec_path, proc = fault_once
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (next(exp.glob("*/fault_injected"))).is_file(), "the fault never fired"
    # epochs 1, 2 before the fault, then 3, 4 after the retry: never epoch 1 again
    assert _epochs_reported(exp, "cnn") == [1, 2, 3, 4]
    _assert_complete(exp, spec_path)


def test_a_trial_that_always_fails_ends_errored_and_the_rest_finish(fault_always):
    exp, _, proc = fault_always
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 trial(s) errored" in proc.stderr and "--retry-errored" in proc.stderr
    df = pd.read_parquet(exp / "results.parquet")
    bad = df[(df["model"] == "rf") & (df["sample_frac"] == 0.02)]
    assert bad["status"].tolist() == ["ERROR"]
    assert "injected fault" in bad["error"].iloc[0]
    assert (df.drop(bad.index)["status"] == "TERMINATED").all()
    assert len(df) == 5
    assert "ERROR" in pd.read_csv(exp / "results.csv")["status"].tolist()
    report = (exp / "report.html").read_text()
    assert "injected fault" in report


def test_determinism_same_spec_twice_gives_identical_tree_metrics(fault_once, fault_always):
    """Two runs of one spec: identical subsets and damaged labels, identical rf/xgb metrics."""
    frames = []
    for exp, _, _ in (fault_once, fault_always):
        df = pd.read_parquet(exp / "results.parquet")
        trees = df[df["model"].isin(["rf", "xgb"]) & (df["status"] == "TERMINATED")]
        frames.append(trees.set_index(["model", "sample_frac"]).sort_index())
    common = frames[0].index.intersection(frames[1].index)
    assert len(common) == 3  # rf 0.01, xgb 0.01, xgb 0.02 (rf 0.02 failed on purpose in one run)
    for col in ("acc", "auc", "n_train", "n_damaged"):
        assert frames[0].loc[common, col].tolist() == frames[1].loc[common, col].tolist(), col
