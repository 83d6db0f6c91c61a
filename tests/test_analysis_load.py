"""analysis.load: experiment directories (real and hand-made), result files, the talk's CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.load import load_results, read_seed_csv, results_from_experiment, summarize, to_seed_format
from analysis.schema import AXES, RESULT_COLUMNS
from analysis.tune_files import error_summary
from tests.test_analysis_fixtures import (
    DATA,
    config_of,
    final_line,
    full_results,
    spec_yaml,
    synthetic_results,
    write_experiment_state,
    write_results,
    write_trial,
)

RAY_EXPERIMENT = DATA / "ray_experiment"
TALK_SNIPPET = DATA / "talk_size_snippet.csv"


# --- a real Tune experiment directory ----------------------------------------------------

def test_real_ray_experiment_counts_finished_failed_and_missing():
    df = load_results(RAY_EXPERIMENT)
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert df["seed"].tolist() == [0, 1, 2, 3]
    assert df["status"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "MISSING"]
    assert df.loc[2, "error"] == "ValueError: boom seed 2"
    assert df.loc[0, "trial_id"] == "5c7a1_00000" and df.loc[0, "acc"] == 0.9 and df.loc[0, "n_train"] == 600
    assert df.loc[0, "confusion"] == [[1, 2], [3, 4]] and df.loc[0, "epochs_done"] == 1
    assert df.loc[0, "start_time"] < df.loc[0, "end_time"]
    summary = summarize(df)
    assert summary["status_counts"] == {"TERMINATED": 2, "ERROR": 1, "RUNNING": 0, "PENDING": 0, "MISSING": 1}
    assert (summary["n_failed"], summary["n_missing"], summary["n_finished"]) == (1, 1, 2)
    assert [f["seed"] for f in summary["failures"]] == [2, 3]
    assert summary["failures"][0]["error"] == "ValueError: boom seed 2"
    assert summary["duration_s"] > 0 and summary["start_time"].startswith("2026-11-29")


def test_experiment_directory_reads_the_same_through_a_uri():
    local = load_results(RAY_EXPERIMENT)
    remote = load_results(RAY_EXPERIMENT.resolve().as_uri())
    pd.testing.assert_frame_equal(local, remote)


def test_error_summary_is_the_exception_line():
    text = (RAY_EXPERIMENT / "f_5c7a1_00002_2_seed=2_2026-11-29_06-30-26" / "error.txt").read_text()
    assert text.splitlines()[0].startswith("Failure # 1")  # why the first line is not used
    assert error_summary(text) == "ValueError: boom seed 2"
    assert error_summary("Killed by the OOM killer\n") == "Killed by the OOM killer"
    assert error_summary("a\nray.exceptions.OutOfMemoryError: Task was killed\n") == \
        "ray.exceptions.OutOfMemoryError: Task was killed"
    assert error_summary(ACTOR_DIED) == "The actor died unexpectedly before finishing this task."


# A retried trial's error.txt as Ray 2.60 wrote it when the actor never started (abridged).
ACTOR_DIED = """Failure # 1 (occurred at 2026-11-29_06-52-44)
ValueError: an older failure
Failure # 2 (occurred at 2026-11-29_06-52-49)
The actor died unexpectedly before finishing this task.
	class_name: ImplicitFunc
The actor is dead because all references to the actor were removed including lineage ref count.
"""


def test_trial_that_died_before_starting_is_an_error_with_its_reason(tmp_path):
    # Its folder holds only error.txt: the axes come from Tune's state.
    root = tmp_path / "exp"
    root.mkdir()
    config = config_of("cnn", 0.1, 0.2, "constant", 0)
    name = "train_trial_c_00000_0_trial=0_2026-01-01_00-00-00"
    (root / name).mkdir()
    (root / name / "error.txt").write_text(ACTOR_DIED)
    write_experiment_state(root, [dict(trial_id="c_00000", status="ERROR", config=config, logdir=name)])
    df = results_from_experiment(root, expected=[{k: config[k] for k in AXES}])
    assert df.loc[0, "status"] == "ERROR" and df.loc[0, "trial_id"] == "c_00000"
    assert df.loc[0, "error"] == "The actor died unexpectedly before finishing this task."


# --- hand-made experiment directories ----------------------------------------------------

def handmade_experiment(root: Path) -> Path:
    """spec: cnn x sample_frac {0.1, 0.5} x seeds {0, 1, 2} = 6 trials.

    seed 0: finished at both sizes (one of them known only from its folder, not Tune's state);
    seed 1 @ 0.1: errored; seed 1 @ 0.5: running (epoch lines only, a torn last line);
    seed 2 @ 0.1: Tune says TERMINATED but no final line; seed 2 @ 0.5: missing.
    """
    root.mkdir()
    (root / "spec.yaml").write_text(spec_yaml(models=["cnn"], sample_fracs=[0.1, 0.5], damage_fracs=[0.0],
                                              damage_modes=["none"], seeds=[0, 1, 2]))

    def epoch(e: int) -> dict:
        return {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_acc": 0.8, "done": False,
                "timestamp": 1_767_225_600 + e, "time_total_s": float(e), "trial_id": "x"}

    states = []
    c = config_of("cnn", 0.1, 0.0, "none", 0, trial=0)
    name = write_trial(root, trial_id="a_00000", config=c, lines=[epoch(1), epoch(2), final_line(
        c, acc=0.88, auc=0.985, trial_id="a_00000", timestamp=1_767_225_610)])
    states.append(dict(trial_id="a_00000", status="TERMINATED", config=c, logdir=name,
                       start_time=1_767_225_600.5, last_result_time=1_767_225_610.5))
    c = config_of("cnn", 0.5, 0.0, "none", 0, trial=1)
    write_trial(root, trial_id="a_00001", config=c, lines=[final_line(c, acc=0.91, auc=0.99, trial_id="a_00001",
                                                                        timestamp=1_767_225_700)])
    c = config_of("cnn", 0.1, 0.0, "none", 1, trial=2)
    name = write_trial(root, trial_id="a_00002", config=c, lines=[epoch(1)],
                       error="Failure # 1 (occurred at 2026-01-01_00-00-05)\nTraceback (most recent call last):\n"
                             "  File \"x.py\", line 1, in f\nRuntimeError: CUDA out of memory\n")
    states.append(dict(trial_id="a_00002", status="ERROR", config=c, logdir=name))
    c = config_of("cnn", 0.5, 0.0, "none", 1, trial=3)
    name = write_trial(root, trial_id="a_00003", config=c, lines=[epoch(1), epoch(2)])
    with open(root / name / "result.json", "a") as f:
        f.write('{"epoch": 3, "train_lo')  # a report being written while we read
    states.append(dict(trial_id="a_00003", status="RUNNING", config=c, logdir=name, last_result_time=1_767_225_602.0))
    c = config_of("cnn", 0.1, 0.0, "none", 2, trial=4)
    name = write_trial(root, trial_id="a_00004", config=c, lines=[epoch(1)])
    states.append(dict(trial_id="a_00004", status="TERMINATED", config=c, logdir=name))
    write_experiment_state(root, states, stamp="2026-01-01_00-00-00")
    # An older state file must be ignored in favour of the newest one.
    write_experiment_state(root, [dict(trial_id="a_00003", status="PENDING", config=c, logdir=name)],
                           stamp="2025-12-31_00-00-00")
    return root


def test_handmade_experiment_statuses(tmp_path):
    df = load_results(handmade_experiment(tmp_path / "exp"))
    by = {(r.sample_frac, r.seed): r for r in df.itertuples()}
    assert len(df) == 6
    assert by[0.1, 0].status == "TERMINATED" and by[0.1, 0].acc == 0.88 and by[0.1, 0].epochs_done == 2
    assert by[0.1, 0].n_train == 6000 and by[0.1, 0].device == "cpu" and len(by[0.1, 0].confusion) == 10
    assert by[0.5, 0].status == "TERMINATED" and by[0.5, 0].acc == 0.91  # folder only, no Tune state
    assert by[0.1, 1].status == "ERROR" and by[0.1, 1].error == "RuntimeError: CUDA out of memory"
    assert by[0.5, 1].status == "RUNNING" and by[0.5, 1].epochs_done == 2 and np.isnan(by[0.5, 1].acc)
    assert by[0.1, 2].status == "ERROR" and "no final line" in by[0.1, 2].error
    assert by[0.5, 2].status == "MISSING" and pd.isna(by[0.5, 2].trial_id)
    assert summarize(df)["status_counts"] == {"TERMINATED": 2, "ERROR": 2, "RUNNING": 1, "PENDING": 0, "MISSING": 1}
    assert by[0.1, 0].start_time == pd.Timestamp(1_767_225_600.5, unit="s", tz="UTC")


def test_expected_trials_can_be_given_and_unexpected_folders_are_reported(tmp_path):
    root = handmade_experiment(tmp_path / "exp")
    expected = [dict(model="cnn", sample_frac=0.1, damage_frac=0.0, damage_mode="none", seed=0),
                dict(model="cnn", sample_frac=0.9, damage_frac=0.0, damage_mode="none", seed=0)]
    with pytest.warns(UserWarning, match="not in its spec"):
        df = results_from_experiment(root, expected=expected)
    assert df["status"].tolist() == ["TERMINATED", "MISSING"]


def test_rerun_trial_prefers_the_finished_run(tmp_path):
    root = tmp_path / "exp"
    root.mkdir()
    c = config_of("cnn", 0.1, 0.0, "none", 0)
    write_trial(root, trial_id="b_00000", config=c, lines=[], error="Failure\nValueError: first try\n")
    write_trial(root, trial_id="b_00001", config=c, lines=[final_line(c, acc=0.9, auc=0.99, trial_id="b_00001",
                                                                        timestamp=1_767_225_600)])
    df = results_from_experiment(root, expected=[dict(c)])
    assert df.loc[0, "status"] == "TERMINATED" and df.loc[0, "trial_id"] == "b_00001"


def test_experiment_without_spec_or_results_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="spec.yaml"):
        load_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_results(tmp_path / "nope")
    (tmp_path / "r.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.parquet or a \.csv"):
        load_results(tmp_path / "r.txt")


# --- result files ----------------------------------------------------------------------

def test_results_files_read_back(tmp_path):
    df = full_results()
    write_results(df, tmp_path)
    from_parquet = load_results(tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(from_parquet, df)
    pd.testing.assert_frame_equal(load_results((tmp_path / "results.parquet").as_uri()), df)
    from_csv = load_results(tmp_path / "results.csv")
    pd.testing.assert_frame_equal(from_csv, df, check_dtype=False)
    assert from_csv["confusion"].iloc[0] == df["confusion"].iloc[0]
    assert from_csv["status"].value_counts().to_dict() == df["status"].value_counts().to_dict()
    # The directory itself reads through results.parquet when there is no spec.yaml.
    pd.testing.assert_frame_equal(load_results(tmp_path), df)


def test_seed_format_round_trip(tmp_path):
    df = full_results()
    exported = to_seed_format(df)
    assert list(exported.columns) == ["frac", "exp_name", "acc", "auc", "frac_sample", "frac_damage",
                                      "damage_mode", "seed"]
    assert len(exported) == (df["status"] == "TERMINATED").sum()  # only finished trials
    exported.to_csv(tmp_path / "seed.csv", index=False)
    imported = read_seed_csv(tmp_path / "seed.csv")
    pd.testing.assert_frame_equal(to_seed_format(imported), exported, check_exact=True)
    done = df[df["status"] == "TERMINATED"].reset_index(drop=True)
    columns = ["model", "sample_frac", "damage_frac", "damage_mode", "seed", "acc", "auc"]
    pd.testing.assert_frame_equal(imported[columns], done[columns], check_exact=True)


def test_seed_format_frac_is_the_varied_axis():
    size = to_seed_format(synthetic_results(models=("cnn",), sample_fracs=(0.1, 0.5)))
    assert size["frac"].tolist() == [0.1, 0.5]
    damage = to_seed_format(synthetic_results(models=("cnn",), sample_fracs=(1.0,), damage_fracs=(0.2,)))
    assert damage["frac"].tolist() == [0.2]


def test_talk_csv_reads_as_a_reference_series(tmp_path):
    talk = load_results(TALK_SNIPPET)
    assert talk["model"].tolist() == ["rf", "xgb", "dnn", "cnn"]
    assert talk["sample_frac"].tolist() == [0.01] * 4 and talk["damage_frac"].tolist() == [0.0] * 4
    assert talk["damage_mode"].tolist() == ["none"] * 4 and talk["n_train"].tolist() == [600] * 4
    assert talk.loc[3, "acc"] == 0.9018 and (talk["status"] == "TERMINATED").all()
    damage = tmp_path / "damage.csv"
    damage.write_text("frac,exp_name,acc,auc\n0,cnn,0.9221,0.995\n0.3,cnn,0.9026,0.991\n")
    with pytest.raises(ValueError, match="damage_mode must be given"):
        read_seed_csv(damage, frac_axis="damage_frac")
    read = read_seed_csv(damage, frac_axis="damage_frac", damage_mode="random")
    assert read["damage_frac"].tolist() == [0.0, 0.3] and read["sample_frac"].tolist() == [1.0, 1.0]
    assert read["damage_mode"].tolist() == ["random", "random"]
    with pytest.raises(ValueError, match="frac_axis must be one of"):
        read_seed_csv(damage, frac_axis="frac")


def test_cross_product_csv_of_the_talk(tmp_path):
    path = tmp_path / "cross.csv"
    path.write_text("frac_damage,frac_sample,exp_name,acc,auc\n0.1,0.5,cnn,0.9,0.98\n0,0.4,cnn,0.902,0.981\n")
    df = read_seed_csv(path, damage_mode="constant")
    assert df["sample_frac"].tolist() == [0.5, 0.4] and df["damage_frac"].tolist() == [0.1, 0.0]


def test_summarize_counts_every_status():
    df = full_results()
    summary = summarize(df)
    assert summary["n_trials"] == len(df)
    assert summary["status_counts"]["ERROR"] == 1 and summary["status_counts"]["MISSING"] == 1
    assert {f["status"] for f in summary["failures"]} == {"ERROR", "MISSING"}
    json.dumps(summary)  # plain data, ready for `datavsmath status --json`


def test_analysis_never_imports_ray():
    code = ("import sys, analysis.load, analysis.tables, analysis.aggregate, analysis.plots, analysis.report;"
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1]).returncode == 0
