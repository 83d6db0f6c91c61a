"""datavsmath.sweep end to end on real Ray: the quickstart on scikit-learn's breast-cancer
data, then a second call in the same process (image arrays, a pickled estimator and a
notebook-style lambda net) that reuses Ray and the workers the first call started for it. One
Ray for the module."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import datavsmath as dvm
from datavsmath.sweeps.experiment_layout import read_stored_spec
from datavsmath.sweeps.ray_session import idle_workers
from datavsmath.sweeps.spec import AXES
from tests.conftest import run_cli
from tests.datavsmath.conftest_helpers import ProcessState

GRID = {"sample_frac": [0.3, 1.0], "damage_frac": [0.0, 0.2], "damage_mode": ["constant"],
        "repair": ["none", "prune"]}
MODELS = ("rf", "logreg")
SEEDS = 2


@pytest.fixture(scope="module")
def first_state():
    """The process state before the module's first sweep."""
    return ProcessState.now()


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory, first_state):
    """The README's quickstart, as written, on breast-cancer data; the process state around it."""
    storage = tmp_path_factory.mktemp("api")
    df = load_breast_cancer(as_frame=True).frame
    before = first_state
    res = dvm.sweep(df, label="target", models={"rf": "rf", "logreg": LogisticRegression(max_iter=500)},
                    **GRID, seeds=SEEDS, storage=str(storage), name="quick", live=False, curve="power_law")
    problems = before.problems()
    yield res, problems, storage
    dvm.shutdown()


def test_one_finished_row_per_cell(quickstart):
    res, _, _ = quickstart
    cells = len(MODELS) * math.prod(len(v) for v in GRID.values()) * SEEDS
    assert len(res.frame) == cells
    assert (res.frame["status"] == "TERMINATED").all()
    assert not res.frame.duplicated(list(AXES)).any()
    assert set(res.frame["model"]) == set(MODELS)
    assert res.errors.empty
    assert res.frame["acc"].between(0.5, 1).all()


def test_process_is_as_before(quickstart):
    _, problems, _ = quickstart
    assert problems == []


def test_the_summary_table_says_each_quality_and_no_nan(quickstart):
    """Qualities 1.0 and 0.8 were both printed "1"; a crossing not given as a
    number showed num_obs NaN beside reached True."""
    res, _, _ = quickstart
    shown = res._repr_html_()
    table = shown[shown.index("<table"):] if "<table" in shown else ""
    assert re.findall(r"<tr>\s*<td>([^<]*)</td>", table) == ["1.00", "0.80"], shown
    assert "NaN" not in table and "nan" not in table and "95 % interval" in table


def test_results_methods(quickstart, tmp_path):
    res, _, _ = quickstart
    table = res.table("acc", 0.9, model="logreg", damage_mode="constant")
    assert list(table["quality"]) == [1.0, 0.8]
    assert {"num_obs", "ci_low", "ci_high"} <= set(table.columns)
    # curve= means report: {curve: ...}: stored with the spec, which the report's tables read.
    assert res.spec.report["curve"] == "power_law"
    assert yaml.safe_load((Path(res.path) / "spec.yaml").read_text())["report"]["curve"] == "power_law"
    decision = res.decision(price_label=1.0, price_audit=0.2)
    assert {"buy labels", "switch to rf", "repair: prune"} <= set(decision["route"])
    assert {"cost", "cheapest", "target"} <= set(decision.columns)
    figures = res.figures()
    assert {"size", "damage"} <= set(figures)
    assert all(hasattr(f, "to_html") for f in figures.values())
    out = res.report(tmp_path / "r.html")
    assert out.read_text().startswith("<!DOCTYPE html>") and "quick" in out.read_text()
    assert "32 trials, 32 finished, 0 errored" in repr(res)
    html = res._repr_html_()
    assert "32 trials" in html and "<table" in html


def test_stored_spec_names_the_inputs(quickstart):
    res, _, storage = quickstart
    spec = read_stored_spec(res.path)
    assert spec.dataset["kind"] == "table" and spec.dataset["path"].startswith(f"{res.path}/inputs/")
    assert spec.user_models["logreg"].path == "sklearn.linear_model:LogisticRegression"
    assert spec.user_models["logreg"].params == {"max_iter": 500}


def test_cli_reads_an_api_experiment(quickstart):
    res, _, _ = quickstart
    status = run_cli("status", res.path)
    assert status.returncode == 0, status.stderr
    assert "32 done" in status.stdout or "32 finished" in status.stdout
    report = run_cli("report", res.path)
    assert report.returncode == 0, report.stderr


def test_load_reads_the_same_frame(quickstart):
    res, _, _ = quickstart
    again = dvm.load(res.path)
    pd.testing.assert_frame_equal(again.frame.reset_index(drop=True), res.frame.reset_index(drop=True))


def _idle_workers(timeout: float = 60.0) -> set[int]:
    """Pids of this Ray's idle workers, once there is one (at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not (idle := idle_workers() or set()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return idle


def _trial_pids(experiment: str) -> set[int]:
    return {json.loads(line)["pid"] for f in Path(experiment).rglob("result.json") for line in f.read_text().splitlines()}


def _local_estimator():
    """A classifier class defined inside a function, as in a notebook: not importable by path."""

    class Centroid(LogisticRegression):
        pass

    return Centroid(max_iter=200)


def test_second_call_reuses_ray_with_image_arrays_and_pickled_models(quickstart, fashion):
    import ray
    import torch

    res, _, storage = quickstart
    assert ray.is_initialized()
    session = ray.get_runtime_context().get_node_id()
    waiting = _idle_workers()  # started by the first call for this one
    before = ProcessState.now()
    x, y = fashion.x_train[:400], fashion.y_train[:400]
    net = dvm.net(lambda shape, k: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape)), k)),
                  epochs=1, batch_size=64)
    second = dvm.sweep((x, y), test=(fashion.x_test[:200], fashion.y_test[:200]),
                       models={"rf": "rf", "centroid": _local_estimator(), "tiny": net},
                       sample_frac=1.0, storage=str(storage), name="images", live=False, report=False)
    assert before.problems() == []
    assert ray.get_runtime_context().get_node_id() == session
    assert (second.frame["status"] == "TERMINATED").all(), second.errors
    assert set(second.frame["model"]) == {"rf", "centroid", "tiny"}
    assert waiting and _trial_pids(second.path) & waiting, (waiting, _trial_pids(second.path))
    spec = read_stored_spec(second.path)
    assert spec.dataset["kind"] == "arrays" and spec.dataset_facts["input_shape"] == [28, 28]
    assert [(m, spec.user_models[m].kind) for m in ("centroid", "tiny")] == [("centroid", "estimator"), ("tiny", "module")]
    assert all(spec.user_models[m].path.endswith(".pkl") for m in ("centroid", "tiny"))


def test_shutdown_leaves_the_process_as_before_the_first_sweep(quickstart, first_state):
    """The process-state test around sweep and shutdown: warnings.filters,
    threads and open file descriptors as well; last in the module, after both sweeps."""
    dvm.shutdown()
    assert first_state.left_after_shutdown() == []
