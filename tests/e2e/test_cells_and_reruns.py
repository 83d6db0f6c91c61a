"""Cells are never confused and reruns are never hidden, through real Ray Tune sweeps of
scikit-learn's wine table (rf, two or three trials):

- two sample fractions that `:g` prints alike (0.5000001 and 0.5000002) have two trial names,
  and a sweep of both is refused before Ray starts: they draw the same rows (one trial twice);
- two fractions run as two trials, and `--extend` matches them by their exact values;
- a cell rerun by `--extend --rerun-changed` that errors is an error: the results hold the
  rerun (ERROR), not the older finished run, and the exit code is 1;
- an extension whose spec.yaml is lost keeps its trials, with a problem line.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_wine

from datavsmath.analysis.load import ExperimentFileWarning, results_from_experiment
from datavsmath.sweeps.progress import trial_name
from datavsmath.trainables.faults import FAULT_ENV
from tests.conftest import run_cli

SWEEP_TIMEOUT_S = 240
ALIKE = [0.5000001, 0.5000002]  # `:g` prints both as 0.5
FRACS = [0.5, 0.6]


NEW_FRAC = 0.9  # the cell only the extension asks for


def _spec(*, n_estimators: int, fracs: list[float]) -> dict:
    return {"name": "close", "dataset": {"kind": "table", "path": "wine.csv", "label": "target"},
            "grids": [{"model": ["rf"], "sample_frac": fracs, "damage_frac": [0.0], "damage_mode": ["none"]}],
            "seeds": [0], "overrides": {"rf": {"n_estimators": n_estimators}}, "max_failures": 0}


def _results(exp: Path) -> pd.DataFrame:
    return pd.read_csv(exp / "results.csv").set_index("sample_frac")


@pytest.fixture(scope="module")
def close_cells(tmp_path_factory):
    """The two close fractions run, then `--extend --rerun-changed` with changed overrides and
    one more fraction, where one rerun errors: (experiment dir, first run, rerun)."""
    folder = tmp_path_factory.mktemp("close")
    load_wine(as_frame=True).frame.to_csv(folder / "wine.csv", index=False)
    for name, trees, fracs in (("close", 5, FRACS), ("changed", 6, [*FRACS, NEW_FRAC])):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(_spec(n_estimators=trees, fracs=fracs)))
    storage = str(folder / "results")
    first = run_cli("sweep", str(folder / "close.yaml"), "--storage", storage, "--no-dashboard", "--no-report",
                    timeout=SWEEP_TIMEOUT_S)
    rerun = run_cli("sweep", str(folder / "changed.yaml"), "--storage", storage, "--no-dashboard", "--no-report",
                    "--extend", "--rerun-changed", timeout=SWEEP_TIMEOUT_S,
                    env={FAULT_ENV: f"sample_frac={FRACS[1]!r},epoch=0,always"})
    return folder / "results" / "close", first, rerun


def test_trial_names_of_values_that_print_alike_differ():
    names = {trial_name({"model": "rf", "sample_frac": f, "damage_frac": 0.0, "damage_mode": "none", "seed": 0})
             for f in ALIKE}
    assert names == {"rf_s0.5000001_d0_none_seed0", "rf_s0.5000002_d0_none_seed0"}


def test_two_fractions_that_draw_the_same_rows_are_refused(tmp_path):
    """They ran as two identical trials (the same 71 rows of wine's 142), a curve point twice."""
    load_wine(as_frame=True).frame.to_csv(tmp_path / "wine.csv", index=False)
    (tmp_path / "alike.yaml").write_text(yaml.safe_dump(_spec(n_estimators=5, fracs=ALIKE)))
    proc = run_cli("sweep", str(tmp_path / "alike.yaml"), "--storage", str(tmp_path / "results"), "--no-dashboard")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip() == ("datavsmath: error: sample_frac 0.5000001 and 0.5000002 both draw 71 of the 142 "
                                   "training rows: the same trial twice; keep one of them")
    assert "trials of" not in proc.stdout


def test_two_fractions_run_as_two_trials(close_cells):
    exp, first, _ = close_cells
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "trials: 2 finished, 0 errored, 2 in all" in first.stdout
    assert sorted(d.name for d in exp.iterdir() if (d / "params.json").is_file()) == [
        "rf_s0.5_d0_none_seed0", "rf_s0.6_d0_none_seed0"]


def test_an_errored_rerun_changed_is_an_error_in_the_results_and_the_exit_code(close_cells):
    exp, _, rerun = close_cells
    assert rerun.returncode == 1, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "0 cells kept (finished earlier), 3 to run, 2 of them changed and run again" in rerun.stdout
    assert "trials: 2 finished, 1 errored, 3 in all" in rerun.stdout
    df = _results(exp)
    assert df.loc[FRACS[1], "status"] == "ERROR" and df.loc[[FRACS[0], NEW_FRAC], "status"].eq("TERMINATED").all()
    # The older finished run of the errored cell stays on disk, not counted.
    assert (exp / "rf_s0.6_d0_none_seed0" / "result.json").stat().st_size > 0


def test_an_extension_that_lost_its_spec_keeps_its_trials_and_says_so(close_cells, tmp_path):
    """extend-1/spec.yaml deleted: its trials (the new cell among them) are read from their
    own params.json, with a problem line, where they used to vanish without a word."""
    exp, *_ = close_cells
    copy = Path(shutil.copytree(exp, tmp_path / "close"))
    (copy / "extend-1" / "spec.yaml").unlink()
    with pytest.warns(ExperimentFileWarning, match=r"extend-1: no spec.yaml; its trials are read from their own"):
        df = results_from_experiment(copy).set_index("sample_frac")
    assert sorted(df.index) == sorted([*FRACS, NEW_FRAC])
    assert df.loc[NEW_FRAC, "status"] == "TERMINATED" and df.loc[FRACS[1], "status"] == "ERROR"


def test_status_of_an_extended_experiment_gives_the_command_that_finishes_it(close_cells, tmp_path):
    """After an extension left a cell unrun, status's command is --extend with the
    extension's spec, and following it completes the experiment (a --resume resumed the
    first part only, exited 130 and printed itself again)."""
    exp, *_ = close_cells
    copy = Path(shutil.copytree(exp, tmp_path / "close"))
    shutil.rmtree(copy / "extend-1" / "rf_s0.6_d0_none_seed0")  # as if the driver was killed before it ran
    status = run_cli("status", str(copy), timeout=120)
    command = re.search(r"^\s+(datavsmath sweep .*)$", status.stdout, re.MULTILINE)
    assert command, status.stdout + status.stderr
    argv = shlex.split(command[1])
    assert "--extend" in argv and argv[2] == str(copy / "extend-1" / "spec.yaml"), argv
    follow = run_cli(*argv[1:], "--no-dashboard", "--no-report", timeout=SWEEP_TIMEOUT_S)
    assert follow.returncode == 0, follow.stdout[-2000:] + follow.stderr[-2000:]
    assert (_results(copy)["status"] == "TERMINATED").all() and len(_results(copy)) == 3
