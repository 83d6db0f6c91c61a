"""`datavsmath sweep --extend`: a sweep that grows. The cell planning as pure data, then a real
laptop-shaped experiment (a dnn size x damage cross product) grown by a seed and a fraction
through the CLI and Ray Tune, with its report in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from datavsmath.cli import main
from datavsmath.sweeps.extend import Finished, changed_message, plan_extension
from datavsmath.sweeps.progress import trial_name
from datavsmath.sweeps.spec import AXES
from tests.browser import render_report
from tests.conftest import run_cli

SWEEP_TIMEOUT_S = 300

CELL = {"model": "dnn", "sample_frac": 0.01, "damage_frac": 0.0, "damage_mode": "none", "seed": 0}
OTHER = {**CELL, "seed": 1}


def _done(cell, **recorded):
    return Finished(config={**cell, "overrides": {"epochs": 2}, "version": "1.0", **recorded})


# ---------------------------------------------------------------- datavsmath.sweeps.extend.plan_extension

def test_finished_cells_with_the_same_settings_are_kept_the_others_run():
    plan = plan_extension([CELL, OTHER], overrides={"dnn": {"epochs": 2}}, version="1.0", finished=[_done(CELL)])
    assert plan.kept == [CELL] and plan.new == [OTHER] and plan.changed == []


@pytest.mark.parametrize("recorded, spec_overrides, fingerprint, why", [
    ({"overrides": {"epochs": 3}}, {"epochs": 2}, None, r"overrides \{'epochs': 3\} -> \{'epochs': 2\}"),
    ({"version": "0.9"}, {"epochs": 2}, None, r"datavsmath version 0.9 -> 1.0"),
    ({"version": None}, {"epochs": 2}, None, r"datavsmath version unrecorded -> 1.0"),
    ({"dataset_fingerprint": "abc"}, {"epochs": 2}, "def", r"dataset fingerprint"),
])
def test_a_cell_that_finished_with_other_settings_is_changed(recorded, spec_overrides, fingerprint, why):
    plan = plan_extension([CELL], overrides={"dnn": spec_overrides}, version="1.0", finished=[_done(CELL, **recorded)],
                          dataset_fingerprint=fingerprint)
    assert plan.kept == [] and plan.new == [] and [c for c, _ in plan.changed] == [CELL]
    assert re.search(why, plan.changed[0][1]), plan.changed
    assert re.search(r"1 cell\(s\) already finished with other settings: dnn_s0.01_d0_none_seed0 \(.*"
                     r"pass --rerun-changed", changed_message(plan))
    again = plan_extension([CELL], overrides={"dnn": spec_overrides}, version="1.0",
                           finished=[_done(CELL, **recorded)], dataset_fingerprint=fingerprint, rerun_changed=True)
    assert again.new == [CELL] and len(again.changed) == 1


def test_an_unrecorded_fingerprint_does_not_make_a_cell_changed():
    plan = plan_extension([CELL], overrides={"dnn": {"epochs": 2}}, version="1.0", finished=[_done(CELL)],
                          dataset_fingerprint="abc")
    assert plan.kept == [CELL]


def test_the_last_finished_run_of_a_cell_counts():
    runs = [_done(CELL, overrides={"epochs": 3}), _done(CELL)]  # rerun with the spec's settings later
    assert plan_extension([CELL], overrides={"dnn": {"epochs": 2}}, version="1.0", finished=runs).kept == [CELL]


SETTINGS = {"repair_model": {"model": "rf", "folds": 5}, "transition": None, "confusion": {"model": "rf", "n_samples": 5000}}


@pytest.mark.parametrize("setting, value, cell, why", [
    ("repair_model", {"model": "logreg", "folds": 5}, {**CELL, "repair": "prune"},
     r"repair_model \{'model': 'rf', 'folds': 5\} -> \{'model': 'logreg', 'folds': 5\}"),
    ("transition", [[0.0, 1.0], [1.0, 0.0]], {**CELL, "damage_frac": 0.2, "damage_mode": "matrix"}, r"transition changed"),
    ("confusion", {"model": "logreg", "n_samples": 5000}, {**CELL, "damage_frac": 0.2, "damage_mode": "confusion"},
     r"confusion \{'model': 'rf', 'n_samples': 5000\} -> \{'model': 'logreg', 'n_samples': 5000\}"),
])
def test_a_changed_spec_setting_changes_the_cells_that_use_it_only(setting, value, cell, why):
    now = {**SETTINGS, setting: value}
    done = Finished(config=_done(cell).config, settings=SETTINGS)
    plan = plan_extension([cell, CELL], overrides={"dnn": {"epochs": 2}}, version="1.0", settings=now,
                          finished=[done, Finished(config=_done(CELL).config, settings=SETTINGS)])
    assert [c for c, _ in plan.changed] == [cell] and plan.kept == [CELL], plan
    assert re.fullmatch(why, plan.changed[0][1]), plan.changed
    unknown = plan_extension([cell], overrides={"dnn": {"epochs": 2}}, version="1.0", settings=now,
                             finished=[Finished(config=_done(cell).config)])  # a run whose spec is unreadable
    assert unknown.kept == [cell]


# ---------------------------------------------------------------- the CLI refuses, before Ray starts

@pytest.mark.parametrize("flags, message", [
    (["--rerun-changed"], r"--rerun-changed needs --extend"),
    (["--extend", "--resume"], r"--extend adds cells to an experiment: it cannot be combined with --resume"),
    (["--extend", "--overwrite"], r"it cannot be combined with --overwrite"),
    (["--extend"], r"--extend: .*/smoke is not an experiment of datavsmath \(nothing is there\); run without --extend"),
    (["--extend", "--dry-run"], r"--extend: .*/smoke is not an experiment of datavsmath \(nothing is there\); run without --extend"),
])
def test_extend_flags_and_a_missing_experiment_are_refused(tmp_path, flags, message, capsys):
    import ray

    assert main(["sweep", "smoke", "--storage", str(tmp_path), "--no-dashboard", *flags]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not ray.is_initialized() and not (tmp_path / "smoke").exists()


# An experiment whose Tune state files are there but whose tuner.pkl is not is one the run
# extends; its dry run must not refuse it.
@pytest.mark.parametrize("files, accepted", [
    ([], False),
    (["spec.yaml"], False),
    (["notes.txt"], False),
    (["spec.yaml", "tuner.pkl"], True),
    (["spec.yaml", "experiment_state-2026-12-06_02-00-00.json"], True),
])
def test_the_dry_run_of_extend_accepts_what_the_run_accepts(tmp_path, files, accepted, capsys):
    from datavsmath.sweeps.options import SweepError
    from datavsmath.sweeps.ownership import check_extendable
    from datavsmath.sweeps.spec import spec_to_dict
    from datavsmath.sweeps.validation import load_spec

    exp = tmp_path / "smoke"
    exp.mkdir()
    for name in files:
        text = yaml.safe_dump(spec_to_dict(load_spec("smoke"))) if name == "spec.yaml" else "{}"
        (exp / name).write_text(text)
    try:
        check_extendable(str(exp))
        run_accepts = True
    except SweepError:
        run_accepts = False
    code = main(["sweep", "smoke", "--storage", str(tmp_path), "--extend", "--dry-run"])
    out, err = capsys.readouterr()
    assert run_accepts == accepted and (code == 0) == accepted, err
    if accepted:
        assert "kept: 0 cells finished earlier; to run: " in out
    else:
        assert re.fullmatch(r"datavsmath: error: --extend: .* is not an experiment of datavsmath.*\n", err), err


# ---------------------------------------------------------------- a real experiment that grows

# The laptop spec's shape, cut: the four-model size grid as rf alone, and the dnn size x damage
# cross product at 3 qualities (clean, 90 %, 80 %), 2 epochs. Thresholds the 2-epoch dnn
# reaches at every quality within the grid (acc 0.60 near 2-5 % of the data).
BASE = {
    "name": "grow",
    "grids": [
        {"model": ["rf", "dnn"], "sample_frac": [0.01, 0.02, 0.05], "damage_frac": [0.0], "damage_mode": ["none"]},
        {"model": ["dnn"], "sample_frac": [0.01, 0.02, 0.05], "damage_frac": [0.1, 0.2], "damage_mode": ["constant"]},
    ],
    "seeds": [0],
    "overrides": {"dnn": {"epochs": 2}},
    "report": {"model": "dnn", "thresholds": {"acc": 0.6, "auc": 0.93}},
}


def _grown(base: dict, *, epochs: int = 2) -> dict:
    """One more seed and one more fraction."""
    grids = [{**g, "sample_frac": [*g["sample_frac"], 0.1]} for g in base["grids"]]
    return {**base, "grids": grids, "seeds": [0, 1], "overrides": {"dnn": {"epochs": epochs}}}


def _write(tmp_path: Path, name: str, spec: dict) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def _cells(spec: dict) -> set[str]:
    return {trial_name({"model": m, "sample_frac": s, "damage_frac": d, "damage_mode": mode, "seed": seed})
            for g in spec["grids"] for m in g["model"] for s in g["sample_frac"] for d in g["damage_frac"]
            for mode in g["damage_mode"] for seed in spec["seeds"]}


def _trial_folders(part: Path) -> list[str]:
    return sorted(d.name for d in part.iterdir() if (d / "params.json").is_file())


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """The base sweep, then --extend with the grown spec: (experiment dir, specs, outputs)."""
    tmp = tmp_path_factory.mktemp("grow")
    storage = tmp / "storage"
    base, bigger = _write(tmp, "base", BASE), _write(tmp, "bigger", _grown(BASE))
    first = run_cli("sweep", base, "--storage", str(storage), "--no-dashboard", "--no-live", timeout=SWEEP_TIMEOUT_S)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    dry = run_cli("sweep", bigger, "--storage", str(storage), "--extend", "--dry-run", timeout=60)
    extend = run_cli("sweep", bigger, "--storage", str(storage), "--no-dashboard", "--extend",
                     timeout=SWEEP_TIMEOUT_S)
    assert extend.returncode == 0, extend.stdout[-2000:] + extend.stderr[-2000:]
    return storage / "grow", {"base": base, "bigger": bigger, "tmp": tmp}, {"dry": dry, "extend": extend}


def test_only_the_new_cells_run_in_one_more_tune_experiment(grown):
    exp, _, out = grown
    before, after = _cells(BASE), _cells(_grown(BASE))
    assert len(before) == 12 and len(after) == 32
    assert _trial_folders(exp) == sorted(before)
    assert _trial_folders(exp / "extend-1") == sorted(after - before)  # 20 new cells, nothing rerun
    assert (exp / "extend-1" / "spec.yaml").is_file() and (exp / "extend-1" / "tuner.pkl").is_file()
    assert "--extend " in out["extend"].stdout and "12 cells kept (finished earlier), 20 to run" in out["extend"].stdout
    # one line per trial, each with the run's fixed total (Tune creates its trials as it goes)
    assert re.findall(r"^\[\s*\d+/(\d+)\] ", out["extend"].stdout, re.MULTILINE) == ["20"] * 20
    assert out["dry"].returncode == 0 and "kept: 12 cells finished earlier; to run: 20" in out["dry"].stdout


def test_the_results_hold_every_cell_once(grown):
    exp, *_ = grown
    df = pd.read_parquet(exp / "results.parquet")
    names = [trial_name(dict(zip(AXES, row))) for row in df[list(AXES)].itertuples(index=False)]
    assert sorted(names) == sorted(_cells(_grown(BASE)))
    assert (df["status"] == "TERMINATED").all() and len(pd.read_csv(exp / "results.csv")) == 32
    versions = {json.loads((d / "params.json").read_text())["version"]
                for part in (exp, exp / "extend-1") for d in part.iterdir() if (d / "params.json").is_file()}
    assert len(versions) == 1 and versions != {"unknown"}


def test_a_second_extend_runs_nothing(grown):
    exp, specs, _ = grown
    again = run_cli("sweep", specs["bigger"], "--storage", str(exp.parent), "--no-dashboard", "--extend", timeout=60)
    assert again.returncode == 0, again.stderr
    assert "32 cells kept (finished earlier), 0 to run" in again.stdout and "nothing to run" in again.stdout
    assert not (exp / "extend-2").exists() and "Started a local Ray instance" not in again.stdout + again.stderr


def test_a_changed_override_is_refused_naming_the_cell(grown):
    exp, specs, _ = grown
    changed = _write(specs["tmp"], "changed", _grown(BASE, epochs=3))
    proc = run_cli("sweep", changed, "--storage", str(exp.parent), "--no-dashboard", "--extend", timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(r"--extend: 24 cell\(s\) already finished with other settings: dnn_s\S+ \(overrides "
                     r"\{'epochs': 2\} -> \{'epochs': 3\}\).* and 19 more; pass --rerun-changed", proc.stderr)
    assert not (exp / "extend-2").exists()
    dry = run_cli("sweep", changed, "--storage", str(exp.parent), "--extend", "--rerun-changed", "--dry-run",
                  timeout=60)
    assert dry.returncode == 0 and "kept: 8 cells finished earlier; to run: 24 (24 changed, run again)" in dry.stdout


def test_a_setting_no_cell_uses_keeps_every_cell(grown):
    exp, specs, _ = grown
    grown_spec = _grown(BASE)
    repairing = {"model": ["rf"], "sample_frac": [0.01], "damage_frac": [0.2], "damage_mode": ["constant"],
                 "repair": ["prune"]}  # the one cell that uses repair_model is new
    other = _write(specs["tmp"], "other_repair", {**grown_spec, "grids": [*grown_spec["grids"], repairing],
                                                  "repair_model": {"model": "logreg", "folds": 3}})
    dry = run_cli("sweep", other, "--storage", str(exp.parent), "--extend", "--dry-run", timeout=60)
    assert dry.returncode == 0 and "kept: 32 cells finished earlier; to run: 2" in dry.stdout, dry.stdout + dry.stderr


def test_the_grown_laptop_style_report_shows_the_cross_product_and_the_economics(grown):
    exp, *_ = grown
    seen = render_report(exp / "report.html", screenshot="grown-report.png")
    keys = [f["key"] for f in seen["figures"]]
    assert any(k.startswith("cross") for k in keys) and any(k.startswith("economics") for k in keys), keys
    for figure in seen["figures"]:
        assert figure["plots"] == 1 and figure["drawn"] == figure["expected"] > 0, figure
    assert seen["errors"] == [] and seen["requests"] == []


def test_an_interrupted_or_errored_extend_is_continued_by_the_same_extend():
    from datavsmath.sweeps.experiment_layout import resume_command
    from datavsmath.sweeps.options import SweepOptions
    from datavsmath.sweeps.validation import load_spec

    command = resume_command(load_spec("smoke"), name="grow", options=SweepOptions(extend=True))
    assert command.split()[-5:] == ["--name", "grow", "--storage", "results", "--extend"], command
    assert "--resume" not in command
