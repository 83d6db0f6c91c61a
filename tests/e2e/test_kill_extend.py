"""kill -9 during `datavsmath sweep --extend`: the driver is killed at
several points of an extension (before its first trial, right after its first "[1/n]" line,
right after its third), then `--extend` runs to the end. A trial whose line was printed is
stored and never runs again; the empty folders the kills leave are ignored with a note."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.spec import AXES
from tests.conftest import CLI, cli_env, run_cli

FRACS = [0.01, 0.012, 0.014, 0.016, 0.018, 0.02, 0.022, 0.024, 0.026, 0.028, 0.03]
SPEC = {"name": "killed", "model": ["rf"], "damage_frac": [0.0], "damage_mode": ["none"], "seeds": [0],
        "overrides": {"rf": {"n_estimators": 150}}}
# Where each killed --extend is stopped: the line after which the driver gets SIGKILL.
KILL_AFTER = [r"datavsmath: \d+ trials of 'killed' ->", r"\[\s*1/\d+\] ", r"\[\s*3/\d+\] "]


def _cells(fracs: list[float]) -> set[str]:
    return {trial_name({"model": "rf", "sample_frac": f, "damage_frac": 0.0, "damage_mode": "none", "seed": 0})
            for f in fracs}


def _extend_killed(spec: str, storage: Path, pattern: str, ray_tmp: str) -> tuple[str, set[str]]:
    """Run --extend, SIGKILL its process group right after the first line matching
    `pattern`: (its output, the cells it printed as finished)."""
    proc = subprocess.Popen([*CLI, "sweep", spec, "--storage", str(storage), "--no-dashboard", "--no-report",
                             "--extend"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=cli_env({"RAY_TMPDIR": ray_tmp}), start_new_session=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if re.match(pattern, line):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    out = "".join(lines)
    assert proc.returncode == -signal.SIGKILL, out
    printed = set(re.findall(r"^\[\s*\d+/\d+\] rf\s+sample_frac=(\S+)", out, re.MULTILINE))
    return out, _cells([float(f) for f in printed])


def _finished_runs(exp: Path) -> dict[str, list[str]]:
    """cell -> the parts whose trial folder holds its final result."""
    runs: dict[str, list[str]] = {}
    for result in exp.glob("**/result.json"):
        lines = result.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("done") and "acc" in json.loads(lines[-1]):
            runs.setdefault(result.parent.name, []).append(result.parent.parent.name)
    return runs


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("killed")
    ray_tmp = tempfile.mkdtemp(prefix="dvm-ray-", dir="/tmp")  # short: Ray's socket paths
    storage = tmp / "storage"
    base, grown = tmp / "base.yaml", tmp / "grown.yaml"
    base.write_text(yaml.safe_dump({**SPEC, "sample_frac": FRACS[:1]}))
    grown.write_text(yaml.safe_dump({**SPEC, "sample_frac": FRACS}))
    first = run_cli("sweep", str(base), "--storage", str(storage), "--no-dashboard", "--no-report")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    kills = []
    for pattern in KILL_AFTER:
        out, printed = _extend_killed(str(grown), storage, pattern, ray_tmp)
        kills.append((out, printed, _finished_runs(storage / "killed")))
    last = run_cli("sweep", str(grown), "--storage", str(storage), "--no-dashboard", "--no-report", "--extend",
                   env={"RAY_TMPDIR": ray_tmp})
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert last.returncode == 0, last.stdout[-2000:] + last.stderr[-2000:]
    return storage / "killed", kills, last


def test_a_trial_printed_before_the_kill_is_stored(killed):
    _, kills, _ = killed
    assert [len(printed) for _, printed, _ in kills] == [0, 1, 3]
    for out, printed, stored in kills:
        assert printed <= set(stored), out  # its "[k/n]" line came after its result was stored


def test_no_finished_trial_runs_twice(killed):
    exp, kills, last = killed
    runs = _finished_runs(exp)
    assert set(runs) == _cells(FRACS) and all(len(parts) == 1 for parts in runs.values()), runs
    ran_last = set(re.findall(r"^\[\s*\d+/\d+\] rf\s+sample_frac=(\S+)", last.stdout, re.MULTILINE))
    assert not _cells([float(f) for f in ran_last]) & {c for _, printed, _ in kills for c in printed}
    df = pd.read_parquet(exp / "results.parquet")
    assert sorted(trial_name(dict(zip(AXES, row))) for row in df[list(AXES)].itertuples(index=False)) == \
        sorted(_cells(FRACS))
    assert (df["status"] == "TERMINATED").all()


def test_the_empty_leftovers_of_a_kill_are_ignored_with_a_note(killed):
    """The run after a kill notes the folders it left (which run printed the note depends on
    where the kills landed: a leftover whose cell a later run finished is not noted again)."""
    exp, kills, last = killed
    empty = [p for p in exp.glob("extend-*/*/result.json") if p.stat().st_size == 0]
    assert empty  # the kills left trials that had started and not finished
    note = re.compile(r"note: \d+ trial folder\(s\) of an interrupted run hold no result \(e\.g\. extend-\d+/rf_\S+\): "
                      r"ignored, their cells run again")
    outputs = [out for out, _, _ in kills[1:]] + [last.stdout]
    assert any(note.search(out) for out in outputs), outputs
