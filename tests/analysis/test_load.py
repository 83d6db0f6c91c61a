"""datavsmath.analysis.load: experiment directories (real and hand-made), result files, the talk's CSV."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datavsmath.analysis.load import (
    ExperimentFileWarning,
    load_results,
    results_from_experiment,
    summarize,
)
from datavsmath.analysis.schema import RESULT_COLUMNS, read_seed_csv, to_seed_format
from datavsmath.analysis.status import driver_state
from datavsmath.analysis.tune_files import error_summary
from datavsmath.cli import main as cli_main
from datavsmath.sweeps.spec import AXES
from tests.analysis.fixtures import (
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
    df = results_from_experiment(root, expected=[{k: config[k] for k in AXES if k in config}])  # no repair: none
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
                                      "damage_mode", "seed", "repair"]
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
    code = ("import sys, datavsmath.analysis.load, datavsmath.analysis.tables, datavsmath.analysis.aggregate, datavsmath.analysis.plots, datavsmath.analysis.report;"
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2]).returncode == 0


# --- corrupt experiment files: reported, never a crash ----------------------------------

SEED0 = "f_5c7a1_00000_0_seed=0_2026-11-29_06-30-26"
SEED1 = "f_5c7a1_00001_1_seed=1_2026-11-29_06-30-26"
SEED2 = "f_5c7a1_00002_2_seed=2_2026-11-29_06-30-26"


def recorded_copy(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    shutil.copytree(RAY_EXPERIMENT, exp)
    return exp


def state_file(exp: Path) -> Path:
    return next(exp.glob("experiment_state-*.json"))


def load_with_problems(exp: Path) -> tuple[pd.DataFrame, list[str]]:
    """The frame and its problems, after checking that one warning sums them up."""
    with pytest.warns(ExperimentFileWarning) as caught:
        df = load_results(exp)
    assert [w.message.problems for w in caught if isinstance(w.message, ExperimentFileWarning)] == [df.attrs["problems"]]
    return df, df.attrs["problems"]


def test_an_intact_experiment_has_no_problems():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExperimentFileWarning)
        assert load_results(RAY_EXPERIMENT).attrs["problems"] == []


def test_corrupt_params_json_takes_the_axes_from_tunes_state(tmp_path):
    exp = recorded_copy(tmp_path)
    (exp / SEED0 / "params.json").write_text('{"model": "cnn", "sampl')
    df, problems = load_with_problems(exp)
    assert df["status"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "MISSING"]
    assert problems == [f"{SEED0}/params.json: not valid JSON: Unterminated string starting at (line 1, column 18)"]


def test_a_huge_seed_in_params_json_is_a_problem_not_a_crash(tmp_path):
    exp = recorded_copy(tmp_path)
    params = exp / SEED0 / "params.json"
    params.write_text(params.read_text().replace('"seed": 0', f'"seed": {2**63}'))
    df, problems = load_with_problems(exp)
    assert df.loc[0, "status"] == "TERMINATED" and df.loc[0, "seed"] == 0  # Tune's state still knows it
    assert problems == [f"{SEED0}/params.json: seed must be in [0, 4294967295], got 9223372036854775808; "
                        "the trial's axes are taken from Tune's state"]
    # without Tune's state nothing else says which trial the folder holds: it is left out
    state_file(exp).unlink()
    df, problems = load_with_problems(exp)
    assert df["status"].tolist() == ["MISSING", "TERMINATED", "ERROR", "MISSING"]
    assert problems[0].endswith("nothing else records the trial's axes, so it is left out")


def test_params_json_of_the_wrong_shape(tmp_path):
    exp = recorded_copy(tmp_path)
    (exp / SEED1 / "params.json").write_text("[1, 2]")
    (exp / SEED2 / "params.json").write_text(json.dumps({"model": "cnn", "sample_frac": "all", "damage_frac": 0,
                                                         "damage_mode": "none", "seed": 2}))
    df, problems = load_with_problems(exp)
    assert df["status"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "MISSING"]
    assert f"{SEED1}/params.json: a JSON list, not an object" in problems
    assert any(p.startswith(f"{SEED2}/params.json: sample_frac must be a number in (0, 1], got 'all'") for p in problems)


def test_a_corrupt_result_line_is_skipped_and_reported(tmp_path):
    exp = recorded_copy(tmp_path)
    result = exp / SEED1 / "result.json"
    lines = result.read_text().splitlines()
    result.write_text("\n".join([lines[0], '{"epoch": 1, "val_', "[3]", *lines[1:]]) + "\n")
    df, problems = load_with_problems(exp)
    assert df.loc[1, "status"] == "TERMINATED" and df.loc[1, "acc"] == 0.9
    assert problems == [f"{SEED1}/result.json: line 2: not valid JSON: Unterminated string starting at "
                        "(line 1, column 14) (and 1 more such lines); skipped"]


def test_a_torn_last_result_line_is_no_problem(tmp_path):
    exp = recorded_copy(tmp_path)
    with open(exp / SEED1 / "result.json", "a") as f:
        f.write('{"epoch": 2, "tra')  # a report being written while we read
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExperimentFileWarning)
        assert load_results(exp).attrs["problems"] == []


def test_final_values_of_the_wrong_kind_are_left_empty(tmp_path):
    exp = recorded_copy(tmp_path)
    result = exp / SEED0 / "result.json"
    lines = result.read_text().splitlines()
    final = json.loads(lines[-1])
    final.update(acc="high", n_train=2**70, confusion="x", timestamp="noon")
    result.write_text("\n".join([*lines[:-1], json.dumps(final)]) + "\n")
    state_file(exp).unlink()  # times from result.json, not Tune's state
    df, problems = load_with_problems(exp)
    assert df.loc[0, "status"] == "TERMINATED" and pd.isna(df.loc[0, "acc"]) and pd.isna(df.loc[0, "n_train"])
    assert df.loc[0, "auc"] == 0.98 and df.loc[0, "confusion"] is None and pd.isna(df.loc[0, "end_time"])
    assert f"{SEED0}/result.json: final line's acc must be float64, got 'high'; left empty" in problems
    assert any(p.startswith(f"{SEED0}/result.json: final line's n_train must be Int64") for p in problems)


def test_a_truncated_experiment_state_is_reported_and_an_older_one_used(tmp_path):
    exp = recorded_copy(tmp_path)
    state = state_file(exp)
    text = state.read_text()
    state.write_text(text[: len(text) // 2])
    df, problems = load_with_problems(exp)
    # the folders alone still tell every trial's outcome
    assert df["status"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "MISSING"]
    assert len(problems) == 1 and problems[0].startswith(f"{state.name}: not valid JSON: ")
    assert problems[0].endswith("; Tune's trial states are unknown")
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text(text)
    df, problems = load_with_problems(exp)
    assert df.loc[0, "trial_id"] == "5c7a1_00000"  # from the older state file
    assert problems[0].endswith("read experiment_state-2026-01-01_00-00-00.json instead")


def test_experiment_states_of_the_wrong_shape(tmp_path):
    exp = recorded_copy(tmp_path)
    state = state_file(exp)
    data = json.loads(state.read_text())
    data["trial_data"][1] = ["{not json", None]
    data["trial_data"].append("nonsense")
    state.write_text(json.dumps(data))
    df, problems = load_with_problems(exp)
    assert df["status"].tolist() == ["TERMINATED", "TERMINATED", "ERROR", "MISSING"]
    assert problems == [f"{state.name}: trial_data[1]: trial JSON not valid JSON: Expecting property name enclosed "
                        "in double quotes (line 1, column 2)",
                        f"{state.name}: trial_data[3]: not a [trial, metadata] pair of JSON texts"]
    state.write_text('{"trial_data": 7}')
    assert load_with_problems(exp)[1] == [f"{state.name}: not a Tune experiment state (no trial_data list); "
                                          "Tune's trial states are unknown"]


def test_a_deleted_trial_folder_that_tune_knows_is_missing(tmp_path):
    exp = recorded_copy(tmp_path)
    shutil.rmtree(exp / SEED1)
    df = load_results(exp)
    assert df.loc[1, "status"] == "MISSING"
    assert df.loc[1, "error"] == f"trial folder {SEED1} is missing; Tune's state has the trial as TERMINATED"


def test_unreadable_result_files_name_the_file(tmp_path):
    (tmp_path / "results.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"results.parquet is not a readable parquet file"):
        load_results(tmp_path / "results.parquet")
    bad = {"empty.csv": ("", r"CSV .*empty.csv is empty: no header line"),
           "long.csv": ("frac,exp_name,acc,auc\n0.1,cnn,0.9,0.99,7\n", r"long.csv cannot be read as CSV: a line has more"),
           "text.csv": ("status,acc\nTERMINATED,high\n", r"text.csv: column acc must hold numbers, got 'high' on line 2"),
           "cols.csv": ("x,y\n1,2\n", r"cols.csv must be a results.csv .*got columns \['x', 'y'\]")}
    for name, (text, match) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=match):
            load_results(tmp_path / name)
    with pytest.raises(ValueError, match=r"it lacks exp_name, auc: got columns \['status', 'acc'\]"):
        read_seed_csv(tmp_path / "text.csv")
    with pytest.raises(ValueError, match=r"must not contain a NUL byte"):
        load_results("res\0ults.csv")


# --- `datavsmath status` and `report` on such experiments -----------------------------

def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_of_a_corrupt_experiment_exits_0_with_notes(tmp_path, capsys):
    exp = recorded_copy(tmp_path)
    (exp / SEED0 / "params.json").write_text("{")
    state = state_file(exp)
    state.write_text(state.read_text()[:100])
    code, out, err = run_main(["status", str(exp)], capsys)
    assert code == 0, err
    assert "Traceback" not in err and "Warning" not in err
    assert out.splitlines()[0] == "trials: 4 | 1 done, 0 running, 0 pending, 1 errored, 2 missing"
    assert f"note: {state.name}: not valid JSON" in out
    assert f"note: {SEED0}/params.json: not valid JSON: Expecting property name enclosed in double quotes" in out


def test_report_of_a_corrupt_experiment_exits_0_with_warnings(tmp_path, capsys):
    exp = recorded_copy(tmp_path)
    (exp / SEED1 / "params.json").write_text("[]")
    code, out, err = run_main(["report", str(exp), "--out", str(tmp_path / "r.html")], capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'r.html'}"
    assert err.splitlines() == [f"datavsmath: warning: {exp}: {SEED1}/params.json: a JSON list, not an object"]


# driver.lock as datavsmath.sweeps.lock writes it: {"host", "pid", "started" (ISO 8601, UTC)}
# Now: a lock taken before this test process started would make its pid a reused one.
STARTED = datetime.now(timezone.utc).isoformat(timespec="seconds")


def running_experiment(tmp_path: Path, lock: dict | None) -> Path:
    """The recorded experiment with seed 1 still RUNNING (Tune's state, one epoch line) and
    `lock` as driver.lock (None: no lock)."""
    exp = recorded_copy(tmp_path)
    state = state_file(exp)
    data = json.loads(state.read_text())
    for entry in data["trial_data"]:
        trial = json.loads(entry[0])
        if trial["trial_id"] == "5c7a1_00001":
            trial["status"] = "RUNNING"
            entry[0] = json.dumps(trial)
    state.write_text(json.dumps(data))
    result = exp / SEED1 / "result.json"
    result.write_text(result.read_text().splitlines()[0] + "\n")
    if lock is not None:
        (exp / "driver.lock").write_text(json.dumps(lock))
    return exp


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_status_says_running_only_while_the_driver_lives(tmp_path, capsys):
    host = socket.gethostname()
    alive = running_experiment(tmp_path / "alive", {"host": host, "pid": os.getpid(), "started": STARTED})
    code, out, _ = run_main(["status", str(alive)], capsys)
    assert code == 0
    assert out.splitlines()[0] == "trials: 4 | 1 done, 1 running, 0 pending, 1 errored, 1 missing"
    assert f"driver: running, pid {os.getpid()} on host {host} (started {STARTED})" in out
    assert "ETA: " in out and "no driver" not in out

    pid = dead_pid()
    killed = running_experiment(tmp_path / "killed", {"host": host, "pid": pid, "started": STARTED})
    code, out, _ = run_main(["status", str(killed)], capsys)
    assert out.splitlines()[0] == "trials: 4 | 1 done, 0 running, 0 pending, 1 errored, 1 interrupted, 1 missing"
    assert f"driver: gone: pid {pid} on host {host} (started {STARTED}) is not running" in out
    storage = tmp_path / "killed"
    assert out.splitlines()[-2:] == ["ETA: none, no driver is running this sweep; resume it with:",
                                     f"  datavsmath sweep {storage}/exp/spec.yaml --name exp --storage {storage} --resume"]


def test_status_without_a_lock_or_on_another_host(tmp_path, capsys):
    none = running_experiment(tmp_path / "none", None)
    out = run_main(["status", str(none)], capsys)[1]
    assert "1 interrupted" in out and "driver: none (no driver.lock" in out
    elsewhere = running_experiment(tmp_path / "far", {"host": "elsewhere", "pid": 1, "started": STARTED})
    out = run_main(["status", str(elsewhere)], capsys)[1]
    assert "1 running" in out and f"driver: pid 1 on host elsewhere (started {STARTED}) (cannot be checked from" in out
    broken = running_experiment(tmp_path / "broken", None)
    (broken / "driver.lock").write_text('{"host": ')
    out = run_main(["status", str(broken)], capsys)[1]
    assert "1 running" in out and "driver: unknown: lock file" in out and "is not a datavsmath lock" in out
    # on URI storage the lock is read where the experiment is, as on local disk
    out = run_main(["status", none.resolve().as_uri()], capsys)[1]
    assert "1 interrupted" in out and "driver: none (no driver.lock" in out


def test_driver_state_checks_only_real_pids(tmp_path):
    (tmp_path / "driver.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": 0}))
    assert driver_state(tmp_path).alive is None  # pid 0 would signal the whole process group
    (tmp_path / "driver.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": -1}))
    assert driver_state(tmp_path).alive is None
    assert driver_state(tmp_path, host="other").alive is None
    (tmp_path / "driver.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                                      "started": STARTED}))
    assert driver_state(tmp_path).alive is True
