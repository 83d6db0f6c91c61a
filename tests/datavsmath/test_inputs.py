"""datavsmath.sweep's bad input: refused with the CLI's message (a ValueError), before Ray
starts, leaving no files and the process as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import datavsmath as dvm
from datavsmath.cli import main
from tests.datavsmath.conftest_helpers import ProcessState

RAY_EXPERIMENT = Path(__file__).parents[1] / "data" / "analysis" / "ray_experiment"
GRID = {"sample_frac": [0.5], "damage_frac": [0.0], "damage_mode": ["none"]}
CANCER = load_breast_cancer()


def _labels_missing_at(rows: list[int], value: object, *, text: bool = True) -> object:
    """breast-cancer's labels ("neg"/"pos" when `text`, else 0.0/1.0) with `value` at `rows`."""
    y = np.where(CANCER.target == 1, "pos", "neg").astype(object) if text else CANCER.target.astype(float)
    y[rows] = value
    return y


def _frame_missing_at(rows: list[int], value: object) -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.astype({"target": object})
    frame.loc[rows, "target"] = value
    return frame


@pytest.fixture(scope="module")
def frame():
    return load_breast_cancer(as_frame=True).frame


CASES = [
    ("damage_frac", {"models": ["rf"], "sample_frac": [0.5], "damage_frac": [1.3], "damage_mode": ["random"]},
     r"damage_frac must be in \[0, 1\], got 1.3"),
    ("unknown model", {"models": ["svm"], **GRID}, r"models.svm must be a seed model \(rf, xgb, dnn, cnn\)"),
    ("label column", {"models": ["rf"], "label": "churned", **GRID}, r"data: the DataFrame has no label column 'churned'"),
    ("no label", {"models": ["rf"], "label": None, **GRID}, r"data: a DataFrame needs label="),
    ("bad name", {"models": ["rf"], "name": "../up", **GRID}, r"^name must be 1-200 letters"),
    ("test without data", {"models": ["rf"], "test_frac": 0.3, "data": None, **GRID},
     r"label=, test= and test_frac= describe data=; give data too"),
    ("seeds", {"models": ["rf"], "seeds": 0, **GRID}, r"seeds must be a number of seeds >= 1"),
    ("bad estimator", {"models": {"gen": {"estimator": None}}, **GRID}, r"models.gen.estimator must be an import path"),
    ("sample_fracs of one size", {"models": ["rf"], "sample_frac": [0.5, 0.501]},
     r"sample_frac 0.5 and 0.501 both draw 227 of the 455 training rows: the same trial twice; keep one of them$"),
    # A missing label is refused, not made a class of its own
    ("None in y", {"models": ["rf"], "data": (CANCER.data, _labels_missing_at([3, 10], None)), "label": None, **GRID},
     r"data: y has 2 missing labels \(None, NaN, NA or an empty string\) of 569 rows, at rows 3, 10; every row "
     r"needs a label: drop those rows or label them$"),
    ("NaN in y", {"models": ["rf"], "data": (CANCER.data, _labels_missing_at(list(range(0, 569, 7)), np.nan,
                                                                            text=False)), "label": None, **GRID},
     r"data: y has 82 missing labels \(None, NaN, NA or an empty string\) of 569 rows, at rows 0, 7, 14, 21, 28 "
     r"and 77 more; every row needs a label"),
    ("pd.NA in a DataFrame", {"models": ["rf"], "data": _frame_missing_at([4, 9], pd.NA), **GRID},
     r"data: label column 'target' has 2 missing labels \(None, NaN, NA or an empty string\) of 569 rows, at "
     r"index 4, 9; every row needs a label"),
    ("empty string in a DataFrame", {"models": ["rf"], "data": _frame_missing_at([568], ""), **GRID},
     r"data: label column 'target' has 1 missing label \(None, NaN, NA or an empty string\) of 569 rows, at "
     r"index 568; every row needs a label"),
]


@pytest.mark.parametrize("case, kwargs, match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_spec_error(case, kwargs, match, frame, tmp_path, no_ray_before_or_after):
    before = ProcessState.now()
    kwargs = {"data": frame, "label": "target", "storage": str(tmp_path), **kwargs}
    with pytest.raises(dvm.SpecError, match=match) as info:
        dvm.sweep(kwargs.pop("data"), **kwargs)
    assert isinstance(info.value, ValueError)
    assert before.problems() == []
    assert list(tmp_path.iterdir()) == []


def test_bad_content_cleans_up_its_inputs(tmp_path, no_ray_before_or_after):
    """Labels that do not match the rows fail when the data is read, after the inputs were
    written: they are removed again, and the experiment folder with them."""
    x, y = np.zeros((20, 4), dtype=np.float32), np.arange(19) % 2
    with pytest.raises(dvm.DatasetError, match=r"y must be one label per row of x, shape \(20,\), got \(19,\)"):
        dvm.sweep((x, y), models=["rf"], storage=str(tmp_path), name="bad")
    assert list(tmp_path.iterdir()) == []


# Data given in memory that cannot be used: the message names the argument (data, test), not
# the file it was written to for the run, which the refused run removes again.
CANCER_FRAME = load_breast_cancer(as_frame=True).frame
DATA_CASES = [
    ("one class", {"data": CANCER_FRAME.assign(target=1)},
     r"^data: label column 'target' has 1 class \('1'\); a classifier needs at least 2 classes$"),
    ("test classes", {"data": CANCER_FRAME[CANCER_FRAME.target == 0].iloc[:150].assign(target=lambda f: f.index % 2),
                      "test": CANCER_FRAME.assign(target=CANCER_FRAME.index % 3)},
     r"^test: label column 'target' has class '2' that the training data lacks$"),
    ("pair of one class", {"data": (CANCER.data, np.ones(len(CANCER.target))), "label": None},
     r"^data: labels y have 1 class \('1.0'\); a classifier needs at least 2 classes$"),
    ("repeated columns", {"data": pd.concat([CANCER_FRAME, CANCER_FRAME[["mean radius", "mean area"]]], axis=1)},
     r"^data: duplicate column names 'mean area', 'mean radius'$"),
]


@pytest.mark.parametrize("case, kwargs, match", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_unusable_data_in_memory_is_named_by_its_argument(case, kwargs, match, tmp_path, no_ray_before_or_after):
    kwargs = {"label": "target", **kwargs}
    with pytest.raises(dvm.DatasetError, match=match) as info:
        dvm.sweep(kwargs.pop("data"), models=["rf"], storage=str(tmp_path), name="unusable", live=False, **kwargs)
    assert "inputs" not in str(info.value) and "parquet" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_message_is_the_clis(tmp_path, capsys, no_ray_before_or_after):
    """A spec file with a bad value: sweep(spec=...) raises what `datavsmath sweep` prints."""
    path = tmp_path / "bad.yaml"
    path.write_text("model: [rf]\nsample_frac: [0.5]\ndamage_frac: [1.3]\ndamage_mode: [random]\n")
    assert main(["sweep", str(path), "--storage", str(tmp_path / "r")]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(dvm.SpecError) as info:
        dvm.sweep(spec=str(path), storage=str(tmp_path / "r"))
    assert printed == f"datavsmath: error: {info.value}"


def test_existing_experiment_is_refused_before_writing(frame, tmp_path, no_ray_before_or_after):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(dvm.SpecError, match=r"already exists and is not an experiment of datavsmath"):
        dvm.sweep(frame, label="target", models=["rf"], **GRID, storage=str(tmp_path), name="taken")
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("flags, match", [
    ({}, r"experiment \S+ already exists; use resume=True to continue it or overwrite=True to delete it"),
    ({"extend": True, "overwrite": True}, r"^extend=True adds cells to an experiment: it cannot be combined with "
                                          r"overwrite=True$"),
    ({"retry_errored": True}, r"^retry_errored=True needs resume=True$"),
], ids=["rerun", "extend_and_overwrite", "retry_without_resume"])
def test_a_refusal_speaks_python(flags, match, frame, tmp_path, no_ray_before_or_after):
    """The API's refusals name its keywords, not the CLI's --resume / --overwrite."""
    (tmp_path / "taken").mkdir()
    for name in ("spec.yaml", "tuner.pkl"):  # what an experiment holds
        (tmp_path / "taken" / name).write_text("")
    with pytest.raises(dvm.SpecError, match=match) as info:
        dvm.sweep(frame, label="target", models=["rf"], **GRID, storage=str(tmp_path), name="taken", **flags)
    assert "--" not in str(info.value)


def test_plan_gives_the_dry_runs_text(frame, tmp_path, no_ray_before_or_after):
    text = dvm.plan(frame, label="target", models=["rf", "xgb"], sample_frac=[0.5, 1.0], storage=str(tmp_path),
                    name="dry").text
    assert text.startswith("spec 'dry' (") and ": 4 trials" in text.splitlines()[0]
    n_test = -(-len(frame) // 5)  # the default test_frac 0.2, rounded up as scikit-learn's split
    assert f": {len(frame) - n_test:,} training and {n_test:,} test rows (from its Parquet metadata" in text
    assert list(tmp_path.iterdir()) == []  # the in-memory table was read from a temporary copy


def test_spec_name_gives_the_clis_dry_run(capsys, no_ray_before_or_after):
    assert main(["sweep", "smoke", "--dry-run"]) == 0
    assert dvm.plan(spec="smoke").text == capsys.readouterr().out.rstrip("\n")


def test_load_reads_a_cli_made_experiment():
    """A real Tune experiment (tests/data/analysis/ray_experiment): finished, errored and missing trials."""
    res = dvm.load("tests/data/analysis/ray_experiment")
    assert res.frame["status"].value_counts().to_dict() == {"TERMINATED": 2, "ERROR": 1, "MISSING": 1}
    assert list(res.errors["seed"]) == [2] and res.errors["error"].iloc[0].startswith("ValueError: boom seed 2")
    assert "4 trials, 2 finished, 1 errored" in repr(res)
    assert "boom seed 2" in res._repr_html_()


def test_load_of_nothing_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="results path does not exist"):
        dvm.load(tmp_path / "none")


# Numpy scalars as axis values are the Python numbers they are.
NUMPY_SCALARS = [
    ("seeds_int64", {"seeds": np.int64(2)}, "seeds: [0, 1]"),
    ("damage_frac_float32", {"damage_frac": np.float32(0.1), "damage_mode": "constant"}, "damage_frac=0.1 "),
    ("sample_frac_int64", {"sample_frac": np.int64(1)}, "sample_frac=1 "),
    ("array_of_seeds", {"seeds": np.arange(3)}, "seeds: [0, 1, 2]"),
]


@pytest.mark.parametrize("case, kwargs, shown", NUMPY_SCALARS, ids=[c[0] for c in NUMPY_SCALARS])
def test_numpy_scalars_are_python_numbers(case, kwargs, shown, frame, tmp_path, no_ray_before_or_after):
    text = dvm.plan(frame, label="target", models=["rf"], storage=str(tmp_path), name="np", **kwargs).text
    assert shown in text, text


# A situation the results cannot answer is refused by answer() and
# report(), which then writes nothing (the recorded experiment: cnn at 600 of 60,000 rows).
BAD_SITUATIONS = [
    ("model not swept", {"model": "xgb"}, r"current.model must be one of \['cnn'\], got 'xgb'$"),
    ("n above the dataset's rows", {"n": 100000}, r"current.n must be at most the dataset's 60,000 training rows, "
     r"got 100,000$"),
    ("n beyond the data", {"n": 5000}, r"current.n 5,000 is beyond the data \(more than 4× the largest size swept: "
     r"2,400 labels\): the largest size swept for cnn is 600; sweep larger sizes to read it$"),
    ("damage mode not swept", {"damage_mode": "random"}, r"current.damage_mode 'random' was not swept for cnn; "
     r"swept: 'none'$"),
]


@pytest.mark.parametrize("case, current, match", BAD_SITUATIONS, ids=[c[0] for c in BAD_SITUATIONS])
def test_bad_situation_is_refused_by_answer_and_report(case, current, match, tmp_path):
    res = dvm.load(RAY_EXPERIMENT)
    with pytest.raises(ValueError, match=match):
        res.answer(current=current)
    with pytest.raises(ValueError, match=match):
        res.report(tmp_path / "r.html", current=current)
    assert list(tmp_path.iterdir()) == []
