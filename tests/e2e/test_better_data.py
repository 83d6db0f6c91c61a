"""Better data wired into the sweep: the `matrix` and `confusion` damage modes in a spec, the
`repair` axis (expansion, names, old names kept), the report's prices, and a tiny
better_data-like sweep through the real CLI, its results and its report in Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from datavsmath.cli import dry_run
from datavsmath.sweeps.confusion_reference import confusion_reference
from datavsmath.sweeps.experiment_layout import CONFUSION_REFERENCE_FILE
from datavsmath.sweeps.extend import Finished, plan_extension
from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.resources import Node
from datavsmath.sweeps.safe_yaml import parse_yaml_text
from datavsmath.sweeps.spec import SpecError, dump_spec, expand_trials, spec_to_dict
from datavsmath.sweeps.validation import check_trial, load_spec, parse_spec, shipped_specs
from datavsmath.trainables.datasets.common import Dataset, DatasetInfo
from tests.browser import render_report
from tests.conftest import run_cli

K = 10
BASE = {"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.2], "damage_mode": ["matrix"]}
TINY_TIMEOUT_S = 240


def _matrix(**changes: float) -> list[list[float]]:
    """A valid 10 x 10 transition matrix (row c sends damage to c + 1), with entries changed: r3c4=-1."""
    t = np.zeros((K, K))
    for c in range(K):
        t[c, (c + 1) % K] = 1.0
    for key, value in changes.items():
        row, col = (int(x) for x in key[1:].split("c"))
        t[row, col] = value
    return t.tolist()


# ---------------------------------------------------------------- matrix and confusion in a spec

def test_matrix_takes_a_transition_list_checked_against_the_dataset():
    spec = parse_spec({**BASE, "transition": _matrix()})
    assert np.array_equal(np.array(spec.transition), np.array(_matrix()))
    assert parse_spec(parse_yaml_text(dump_spec(spec), source="dump")).transition == spec.transition  # stored whole


@pytest.mark.parametrize("matrix, match", [
    (_matrix(r3c4=-1.0), r"transition row 3 \(class 3, Dress\) has a negative entry -1 in column 4"),
    (_matrix(r7c8=0.0), r"transition row 7 \(class 7, Sneaker\) has no off-diagonal mass"),
    ([[0.0, 1.0], [1.0, 0.0]], r"transition must have shape \(10, 10\), got \(2, 2\)"),
])
def test_bad_matrices_are_refused_naming_the_row(matrix, match):
    with pytest.raises(SpecError, match=match):
        parse_spec({**BASE, "transition": matrix})


@pytest.mark.parametrize("data, match", [
    (BASE, r"damage_mode matrix needs a top-level transition"),
    ({**BASE, "damage_mode": ["constant"], "transition": _matrix()}, r"transition is given but no grid has damage_mode "
                                                                      r"matrix"),
    ({**BASE, "damage_mode": ["constant"], "confusion": {"model": "rf"}}, r"confusion is given but no grid has"),
    ({**BASE, "damage_mode": ["confusion"], "confusion": {"model": "svm"}},
     r"confusion.model must be one of \['rf', 'logreg'\], got 'svm'"),
    ({**BASE, "damage_mode": ["confusion"], "confusion": {"n_samples": 1}}, r"confusion.n_samples must be"),
    ({**BASE, "damage_mode": ["confusion"], "confusion": {"rows": 5}}, r"confusion: unknown key 'rows'"),
    ({**BASE, "transition": "nowhere.csv"}, r"transition file .*nowhere.csv does not exist"),
    ({**BASE, "transition": [[1, "x"]]}, r"transition must be a K x K list of numbers"),
    ({**BASE, "damage_mode": ["constant"], "repair_model": {"folds": 3}}, r"repair_model is given but no grid has a "
                                                                         r"repair other than none"),
    ({**BASE, "damage_mode": ["constant"], "repair": ["prune"], "repair_model": {"folds": 1}},
     r"repair_model.folds must be"),
    ({**BASE, "damage_mode": ["constant"], "repair": ["fix"]},
     r"repair must be one of \['none', 'prune', 'relabel', 'audit', 'vote'\], got 'fix'"),
    ({**BASE, "damage_mode": ["constant"], "report": {"price_audit": -1}}, r"report.price_audit must be"),
])
def test_damage_and_repair_settings_are_refused_with_field_and_value(data, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(data, base_dir=Path("/nonexistent"))


def test_confusion_needs_no_other_key_and_a_transition_file_is_read_relative_to_the_spec(tmp_path):
    spec = parse_spec({**BASE, "damage_mode": ["confusion"]})
    assert spec.confusion == {"model": "rf", "n_samples": 5000} and "confusion" not in spec_to_dict(spec)
    np.savetxt(tmp_path / "t.csv", np.array(_matrix()), delimiter=",")
    np.save(tmp_path / "t.npy", np.array(_matrix()))
    for name in ("t.csv", "t.npy"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**BASE, "transition": name}))
        assert np.array_equal(np.array(load_spec(tmp_path / f"{name}.yaml").transition), np.array(_matrix()))
    spec = parse_spec({**BASE, "report": {"price_label": 2.0, "price_audit": 0.5}, "transition": _matrix()})
    assert spec.report == {"price_label": 2.0, "price_audit": 0.5}


def test_the_cli_refuses_a_bad_matrix_before_ray_with_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**BASE, "transition": _matrix(r5c6=0.0)}))
    proc = run_cli("sweep", str(path), "--storage", str(tmp_path / "st"), "--no-dashboard", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "transition row 5 (class 5, Sandal) has no off-diagonal mass" in proc.stderr
    assert "Ray" not in proc.stdout + proc.stderr and not (tmp_path / "st" / "bad").exists()


# ---------------------------------------------------------------- the repair axis

def test_repair_is_an_axis_of_the_cross_product_with_its_name_suffix():
    spec = parse_spec({"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.2], "damage_mode": ["constant"],
                       "repair": ["none", "prune", "relabel"], "seeds": [0, 1]})
    names = [trial_name(t) for t in expand_trials(spec)]
    assert names == ["rf_s0.1_d0.2_constant_seed0", "rf_s0.1_d0.2_constant_seed0_prune",
                     "rf_s0.1_d0.2_constant_seed0_relabel", "rf_s0.1_d0.2_constant_seed1",
                     "rf_s0.1_d0.2_constant_seed1_prune", "rf_s0.1_d0.2_constant_seed1_relabel"]
    assert spec_to_dict(spec)["grids"][0]["repair"] == ["none", "prune", "relabel"]
    assert expand_trials(parse_spec(parse_yaml_text(dump_spec(spec), source="dump"))) == expand_trials(spec)


def test_repair_inside_grids_or_at_the_top_level_for_every_grid():
    grid = {"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.2], "damage_mode": ["constant"]}
    inside = parse_spec({"grids": [{**grid, "repair": ["prune"]}, {**grid, "model": ["dnn"]}]})
    assert [(t["model"], t["repair"]) for t in expand_trials(inside)] == [("rf", "prune"), ("dnn", "none")]
    top = parse_spec({"repair": ["none", "relabel"], "grids": [grid, {**grid, "model": ["dnn"], "repair": ["prune"]}]})
    assert [(t["model"], t["repair"]) for t in expand_trials(top)] == [("rf", "none"), ("rf", "relabel"),
                                                                         ("dnn", "prune")]
    with pytest.raises(SpecError, match=r"has no trials"):
        parse_spec({"repair": ["prune"]})


def test_a_trial_recorded_before_the_axis_reads_as_repair_none_and_keeps_its_name():
    old = {"model": "rf", "sample_frac": 0.1, "damage_frac": 0.2, "damage_mode": "constant", "seed": 0}
    assert check_trial(old)["repair"] == "none"
    assert trial_name(old) == trial_name({**old, "repair": "none"}) == "rf_s0.1_d0.2_constant_seed0"


def test_extend_keeps_a_cell_of_before_the_axis_and_runs_the_repaired_ones():
    spec = parse_spec({"model": ["rf"], "sample_frac": [0.1], "damage_frac": [0.2], "damage_mode": ["constant"],
                       "repair": ["none", "prune"]})
    old = {"model": "rf", "sample_frac": 0.1, "damage_frac": 0.2, "damage_mode": "constant", "seed": 0,
           "overrides": {}, "version": "1"}  # params.json of a run before the repair axis
    plan = plan_extension(expand_trials(spec), overrides={}, version="1", finished=[Finished(old)])
    assert [trial_name(c) for c in plan.kept] == ["rf_s0.1_d0.2_constant_seed0"]
    assert [trial_name(c) for c in plan.new] == ["rf_s0.1_d0.2_constant_seed0_prune"]


@pytest.mark.parametrize("name", [s for s in shipped_specs() if s not in ("better_data", "better_labels")])
def test_every_shipped_spec_keeps_its_names_stored_spec_and_dry_run(name):
    """repair none everywhere: the names of before the axis, no repair in spec.yaml or the dry-run."""
    spec = load_spec(name)
    for t in expand_trials(spec):
        assert t["repair"] == "none"
        assert trial_name(t) == (f"{t['model']}_s{t['sample_frac']:g}_d{t['damage_frac']:g}_{t['damage_mode']}_"
                                 f"seed{t['seed']}")
    assert "repair" not in dump_spec(spec) and "transition" not in dump_spec(spec)
    text = dry_run(spec, options=SweepOptions(), nodes=[Node(node_id="local", address="local", cpu=2, gpu=0)])
    assert "repair" not in text and text.startswith(f"spec {name!r}")


def test_the_better_data_spec_fits_its_budget():
    spec = load_spec("better_data")
    trials = expand_trials(spec)
    assert {t["repair"] for t in trials} == {"none", "prune", "relabel"}
    assert {t["damage_mode"] for t in trials} == {"none", "constant", "confusion"} and len(spec.seeds) == 2
    text = dry_run(spec, options=SweepOptions(), nodes=[Node(node_id="local", address="local", cpu=2, gpu=0)])
    minutes = float(text.rsplit("estimated compute: ", 1)[1].split()[0])
    assert minutes <= 2 * 15 * 0.7, text  # two 1-CPU trials at a time, room for Tune's overhead
    assert "repair=prune" in text


# ---------------------------------------------------------------- a tiny better_data sweep end to end

TINY = {
    "name": "tiny_better",
    "grids": [
        {"model": ["rf"], "sample_frac": [0.01, 0.02], "damage_frac": [0.0], "damage_mode": ["none"]},
        {"model": ["rf"], "sample_frac": [0.01, 0.02], "damage_frac": [0.3], "damage_mode": ["constant"],
         "repair": ["none", "prune", "relabel"]},
        {"model": ["rf"], "sample_frac": [0.02], "damage_frac": [0.3], "damage_mode": ["confusion"],
         "repair": ["none", "prune"]},
    ],
    "overrides": {"rf": {"n_estimators": 10}},
    "confusion": {"n_samples": 600},
    "repair_model": {"folds": 2},
    "report": {"price_label": 1.0, "price_audit": 0.2},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    proc = run_cli("sweep", str(folder / "tiny.yaml"), "--storage", str(folder / "st"), "--no-dashboard",
                   timeout=TINY_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "st" / "tiny_better", proc


def test_tiny_sweep_results_have_the_repair_and_noise_columns(tiny):
    exp, proc = tiny
    df = pd.read_parquet(exp / "results.parquet")
    assert len(df) == 10 and (df["status"] == "TERMINATED").all()
    assert "rf_s0.02_d0.3_constant_seed0_prune" in {p.name for p in exp.iterdir()}
    assert "repair=prune" in proc.stdout
    damaged = df[df["damage_frac"] > 0]
    assert (damaged["noise_rate"] - 0.3).abs().max() < 0.01  # exactly round(0.3 n_c) per class
    for _, row in damaged.iterrows():
        counts = np.array([list(r) for r in row["realized_transition"]])
        assert counts.sum() == round(row["sample_frac"] * 60000)  # the subset, before any repair
        assert np.trace(counts) == counts.sum() - row["n_damaged"]
    constant = damaged[damaged["damage_mode"] == "constant"].set_index(["sample_frac", "repair"])
    for frac in (0.01, 0.02):
        none, prune, relabel = (constant.loc[(frac, r)] for r in ("none", "prune", "relabel"))
        assert prune["n_train"] < none["n_train"] == relabel["n_train"] == round(frac * 60000)
        assert prune["n_flagged"] == none["n_train"] - prune["n_train"] > 0
        assert none["n_flagged"] == 0 and none["repair_seconds"] == 0 and pd.isna(none["detection_recall"])
        for row in (prune, relabel):
            assert 0 <= row["detection_precision"] <= 1 and 0 <= row["detection_recall"] <= 1
            assert row["repair_model"] == "rf" and row["repair_folds"] == 2 and row["repair_seconds"] > 0
        assert 0 <= relabel["relabel_acc"] <= 1 and pd.isna(prune["relabel_acc"])
        assert prune["label_acc"] > none["label_acc"]  # pruning leaves cleaner labels than it found
    seed_csv = pd.read_csv(exp / "seed_results.csv")
    assert list(seed_csv.columns)[-1] == "repair" and set(seed_csv["repair"]) == {"none", "prune", "relabel"}


def test_tiny_sweep_stores_the_confusion_reference_its_trials_drew_from(tiny):
    exp, _ = tiny
    reference = json.loads((exp / CONFUSION_REFERENCE_FILE).read_text())
    assert reference["model"] == "rf" and reference["n_samples"] == 600 and 0 < reference["accuracy"] < 1
    counts = np.array(reference["counts"])
    assert counts.shape == (K, K) and counts.sum() == 600
    df = pd.read_parquet(exp / "results.parquet")
    row = df[(df["damage_mode"] == "confusion") & (df["repair"] == "none")].iloc[0]
    realized = np.array([list(r) for r in row["realized_transition"]])
    off = counts - np.diag(np.diag(counts))
    moved = realized - np.diag(np.diag(realized))
    # a damaged label only goes where the reference model confused its class (or anywhere, for a
    # class it never confused)
    never = off.sum(axis=1) == 0
    assert ((moved[~never] > 0) <= (off[~never] > 0)).all()


def test_tiny_sweep_report_renders_the_repair_and_decision_figures(tiny):
    exp, _ = tiny
    seen = render_report(exp / "report.html", screenshot="better-data-report.png")
    keys = [f["key"] for f in seen["figures"]]
    assert "repair" in keys and "detection" in keys and "iso_accuracy_rf_constant" in keys, keys
    for figure in seen["figures"]:
        assert figure["plots"] == 1 and figure["drawn"] == figure["expected"] > 0, figure
    by_key = {f["key"]: f for f in seen["figures"]}
    assert by_key["repair"]["expected"] >= 3  # one line per repair
    assert by_key["transitions"]["drawn"] == 2  # the realized T of constant and confusion damage, as heatmaps
    assert seen["errors"] == [] and seen["requests"] == []


# ---------------------------------------------------------------- the confusion reference, once per experiment

def _blobs(n: int = 300, k: int = 3) -> Dataset:
    """K separable-ish classes of 8 flat features (a real Dataset, small enough to cross-validate at once)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % k
    x = (rng.normal(size=(n, 8)) + 2.0 * y[:, None]).astype(np.float32)
    info = DatasetInfo(name="blobs", class_names=tuple(f"c{i}" for i in range(k)), input_shape=(8,), n_train=n,
                       n_test=n)
    return Dataset(x_train=x, y_train=y, x_test=x, y_test=y, info=info)


def test_the_confusion_reference_is_computed_once_and_kept_on_resume(tmp_path):
    data = _blobs()
    spec = parse_spec({**BASE, "damage_mode": ["confusion"], "confusion": {"n_samples": 200}})
    record, fresh = confusion_reference(spec, data, exp_dir=str(tmp_path), reuse=False)
    assert fresh and record["n_samples"] == 200 and np.array(record["counts"]).sum() == 200
    assert confusion_reference(spec, data, exp_dir=str(tmp_path), reuse=False)[0] == record  # deterministic
    (tmp_path / "spec.yaml").write_text(dump_spec(spec))
    (tmp_path / CONFUSION_REFERENCE_FILE).write_text(json.dumps({**record, "accuracy": -1.0}))
    kept, fresh = confusion_reference(spec, data, exp_dir=str(tmp_path), reuse=True)
    assert not fresh and kept["accuracy"] == -1.0  # the stored one, as the experiment's trials drew from it
    other = parse_spec({**BASE, "damage_mode": ["confusion"], "confusion": {"n_samples": 150}})
    assert confusion_reference(other, data, exp_dir=str(tmp_path), reuse=True)[1]  # other settings: made anew
