"""Resume from another process: a sweep of a user's estimator instance and a
user's net, defined in a driver script, stopped with Ctrl-C after some trials finished, then
`datavsmath.sweep(..., resume=True)` from another script (a new notebook kernel is another
process and another file), to the end: every cell once, no finished trial run again.

Two defects it catches: the trials Tune had not yet created when the sweep stopped came back
with Tune's placeholders for their fields (KeyError ('__fn_ph', ...) in the resources per
model), and the net pickled again named another file, which was refused as a changed spec.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import cli_env

# The driver, written twice to other folders. Its net is a class of __main__ (cloudpickle
# gives such a class a random id in every process) built by a factory of __main__ (pickled
# with its file name): both make this call's pickle differ from the stored one.
DRIVER = """\
import sys

import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import datavsmath as dvm


class Net(nn.Module):
    def __init__(self, n_in, n_classes):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_classes))

    def forward(self, x):
        return self.layers(x.flatten(1) / 16)  # digits' pixels are 0..16


def make_net(input_shape, n_classes):
    return Net(input_shape[0], n_classes)


try:
    dvm.sweep(load_digits(as_frame=True).frame, label="target",
              models={"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
                      "net": dvm.net(make_net, epochs=2)},
              sample_frac=[0.2, 0.4, 0.6, 0.8, 1.0], damage_frac=[0, 0.2], damage_mode="constant", seeds=1,
              storage=sys.argv[1], name="digits", live=False, report=False, verbose=1,
              resume=sys.argv[2] == "resume")
except KeyboardInterrupt as exc:
    print(exc, file=sys.stderr)
    sys.exit(130)
"""
N_TRIALS = 20
# Tune creates a grid's trials at most this many ahead of those running (200 by default):
# a sweep of 360 trials stopped early left 128 never created. At 2, this one leaves most.
PENDING_ENV = {"TUNE_MAX_PENDING_TRIALS_PG": "2"}
MIN_DONE = 3
WAIT_S = 180.0


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """A Ray temp folder of the drivers' own, short: Ray's socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="dvm-ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _driver(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "driver.py"
    path.write_text(DRIVER)
    return path


def _finished(exp: Path) -> dict[str, str]:
    """trial folder -> its final result line, for trials that finished."""
    out = {}
    for result in exp.glob("*/result.json"):
        lines = result.read_text().splitlines()
        last = json.loads(lines[-1]) if lines else {}
        if last.get("done") and "acc" in last:  # the trainable's final report, not an epoch's
            out[result.parent.name] = lines[-1]
    return out


def _run_until_stopped(driver: Path, storage: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The first driver, sent SIGINT once MIN_DONE trials finished."""
    proc = subprocess.Popen([sys.executable, str(driver), str(storage), "first"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + WAIT_S
    while len(_finished(storage / "digits")) < MIN_DONE:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_sweep_of_user_models_stopped_in_one_process_resumes_in_another(tmp_path, ray_tmp):
    env = cli_env({**PENDING_ENV, "RAY_TMPDIR": str(ray_tmp)})
    storage = tmp_path / "results"
    first = _run_until_stopped(_driver(tmp_path / "kernel-1"), storage, env)
    assert first.returncode == 130 and "continue it with resume=True" in first.stderr, first.stderr[-3000:]
    exp = storage / "digits"
    before = _finished(exp)
    assert MIN_DONE <= len(before) < N_TRIALS
    pickles = sorted(p.name for p in (exp / "inputs").glob("*.pkl"))
    second = subprocess.run([sys.executable, str(_driver(tmp_path / "kernel-2")), str(storage), "resume"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    frame = pd.read_parquet(exp / "results.parquet")
    assert len(frame) == N_TRIALS and (frame["status"] == "TERMINATED").all(), frame[["model", "status", "error"]]
    assert frame.groupby(["model", "sample_frac", "damage_frac"]).size().eq(1).all()
    assert set(frame["model"]) == {"logreg", "net"}
    after = _finished(exp)
    assert {trial: after[trial] for trial in before} == before  # no finished trial ran again
    assert sorted(p.name for p in (exp / "inputs").glob("*.pkl")) == pickles  # the stored models ran
