"""Your own data and models through real Ray Tune, end to end, no mocks.

- scikit-learn's bundled digits (real, offline) written to CSV with named classes, as a
  `table` dataset: rf, dnn, logreg by import path and a torch factory of a test package
  (shipped by py_modules), over size and damage; the factory's trial fails once after a
  checkpoint and resumes from it; the report renders in Chromium with the class names.
- A Parquet export and an ImageFolder of PNGs of a real Fashion-MNIST subset: their rf trials
  have the n_train and the accuracy of the built-in rows trained the trial's way at the same
  seed (the image folder's rows in its class-folder order).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from datavsmath.trainables.damage import make_training_set
from datavsmath.trainables.datasets import load_dataset
from datavsmath.trainables.datasets.common import Dataset, DatasetInfo
from datavsmath.trainables.faults import FAULT_ENV
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.models import build_model
from datavsmath.trainables.models.user import deprecated_param
from tests.browser import render_report
from tests.conftest import run_cli

SWEEP_TIMEOUT_S = 240
USER_PKG = Path(__file__).parents[1] / "user_pkg"
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MLP_EPOCHS = 4
DIGITS_SPEC = f"""\
name: digits
description: "sklearn digits as a CSV table: seed models and the user's own"
dataset: {{kind: table, path: digits.csv, label: digit}}
py_modules: [{USER_PKG}]
models:
  logreg: {{estimator: "sklearn.linear_model:LogisticRegression", params: {{max_iter: 300}}}}
  mlp2: {{module: "user_pkg.nets:make_net", epochs: {MLP_EPOCHS}, batch_size: 64, optimizer: {{name: adam, lr: 0.003}}}}
grids:
  - model: [rf, dnn, logreg, mlp2]
    sample_frac: [0.3, 1.0]
    damage_frac: [0.0]
    damage_mode: [none]
  - model: [rf, logreg]
    sample_frac: [1.0]
    damage_frac: [0.2]
    damage_mode: [random, constant]
seeds: [0]
overrides: {{dnn: {{epochs: 2}}}}
checkpoint_period_s: 0
"""
N_TRIALS = 12
TIMES: dict[str, float] = {}  # sweep wall times, printed by the last test (pytest -s shows them)


@pytest.fixture(scope="module")
def digits_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    digits = load_digits()
    frame = pd.DataFrame(digits.data, columns=[f"p{i}" for i in range(64)])
    frame["digit"] = np.array(NAMES)[digits.target]
    frame.to_csv(folder / "digits.csv", index=False)
    (folder / "digits.yaml").write_text(DIGITS_SPEC)
    started = time.monotonic()
    proc = run_cli("sweep", str(folder / "digits.yaml"), "--storage", str(folder / "results"), "--no-dashboard",
                   timeout=SWEEP_TIMEOUT_S, env={FAULT_ENV: "model=mlp2,sample_frac=1.0,epoch=2"})
    TIMES["digits"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = load_dataset({"kind": "table", "path": str(folder / "digits.csv"), "label": "digit"})
    return folder / "results" / "digits", data


def _trial_dir(exp: Path, model: str, sample_frac: float, damage_frac: float = 0.0) -> Path:
    for folder in exp.iterdir():
        params = folder / "params.json"
        if params.is_file():
            config = json.loads(params.read_text())
            if (config["model"], config["sample_frac"], config["damage_frac"]) == (model, sample_frac, damage_frac):
                return folder
    raise AssertionError(f"no trial folder for {model} {sample_frac} {damage_frac}")


def test_every_trial_of_the_own_data_sweep_finished_with_the_datasets_facts(digits_sweep):
    exp, data = digits_sweep
    df = pd.read_parquet(exp / "results.parquet")
    assert len(df) == N_TRIALS and (df["status"] == "TERMINATED").all(), df[["model", "status", "error"]]
    assert set(df["model"]) == {"rf", "dnn", "logreg", "mlp2"}
    assert (df["dataset"] == "digits").all() and (df["dataset_fingerprint"] == data.fingerprint).all()
    assert all(np.stack(list(c)).shape == (10, 10) for c in df["confusion"])
    full = df[(df["sample_frac"] == 1.0) & (df["damage_frac"] == 0)].set_index("model")
    assert full.loc["rf", "n_train"] == full.loc["logreg", "n_train"] == data.n_train == 1437
    assert full.loc["mlp2", "n_train"] + full.loc["mlp2", "n_val"] == data.n_train
    assert (full["acc"] > 0.8).all(), full["acc"]
    stored = yaml.safe_load((exp / "spec.yaml").read_text())
    assert stored["dataset_facts"]["fingerprint"] == data.fingerprint
    assert stored["dataset_facts"]["class_names"] == sorted(NAMES)
    assert stored["dataset"]["path"] == str(exp.parent.parent / "digits.csv")  # resolved against the spec's folder


def test_status_of_its_results_file_prices_trials_at_its_own_size(digits_sweep):
    """`datavsmath status` of a results file (no spec beside it) priced the ETA's trials at
    Fashion-MNIST's 60,000 rows; it reads the dataset's size off the trials."""
    from datavsmath.cli import _status_cost, _training_rows
    from datavsmath.sweeps.cost import estimate_seconds

    exp, data = digits_sweep
    assert _training_rows(str(exp / "results.parquet")) == data.n_train == 1437
    trial = {"model": "rf", "sample_frac": 1.0, "damage_frac": 0.0, "damage_mode": "none", "repair": "none", "seed": 0}
    assert _status_cost(str(exp / "results.parquet"))(trial) == estimate_seconds(trial, n_train=1437, overrides=None)


def test_damage_counts_are_exact_per_class_in_the_sweep(digits_sweep):
    exp, data = digits_sweep
    df = pd.read_parquet(exp / "results.parquet")
    for row in df[df["damage_frac"] > 0].itertuples():
        subset = make_training_set(data.y_train, n_classes=10, sample_frac=1.0, damage_frac=0.2, damage_mode="random",
                                   seed=0)
        counts = np.bincount(data.y_train[subset.indices], minlength=10)
        assert row.n_damaged == sum(round(0.2 * n) for n in counts), row


def test_the_estimator_gets_its_threads_and_the_factory_resumed_from_its_checkpoint(digits_sweep):
    exp, _ = digits_sweep
    lines = [json.loads(line) for line in (_trial_dir(exp, "logreg", 1.0) / "result.json").read_text().splitlines()]
    assert lines[-1]["done"] and lines[-1]["threads"] == 1
    # the trial's threads go to n_jobs unless scikit-learn marks it deprecated (LogisticRegression since 1.8)
    deprecated = deprecated_param(LogisticRegression, "n_jobs")
    assert lines[-1].get("n_jobs") == (None if deprecated else 1)
    params = json.loads((_trial_dir(exp, "logreg", 1.0) / "params.json").read_text())
    assert params["overrides"]["estimator"] == "sklearn.linear_model:LogisticRegression"
    mlp = _trial_dir(exp, "mlp2", 1.0)
    assert "injected fault at epoch 2" in (mlp / "error.txt").read_text(), "the injected fault did not fire"
    rows = [json.loads(line) for line in (mlp / "result.json").read_text().splitlines()]
    epochs = [r["epoch"] for r in rows if "epoch" in r and not r.get("done")]
    # epochs 1 and 2 ran, the fault hit after epoch 2's checkpoint, the retry went on from epoch 3
    assert epochs == list(range(1, MLP_EPOCHS + 1)), epochs
    assert rows[-1]["epochs_done"] == MLP_EPOCHS and rows[-1]["acc"] > 0.8


def test_the_own_data_report_renders_with_the_class_names(digits_sweep):
    exp, _ = digits_sweep
    html = (exp / "report.html").read_text()
    assert 'data-dataset="digits"' in html and "digits Dataset" in html and "share of 1,437 obs" in html
    assert "Fashion MNIST" not in html
    seen = render_report(exp / "report.html", screenshot="own-data-report.png",
                         interact=lambda page: page.text_content("#fig-confusion"))
    assert {"size", "damage", "labels", "confusion"} <= set(seen["keys"]), seen["keys"]
    assert all(f["plots"] == 1 and f["drawn"] == f["expected"] > 0 for f in seen["figures"]), seen["figures"]
    assert seen["errors"] == [] and seen["requests"] == []
    assert "5 seven" in seen["extra"] and "9 zero" in seen["extra"], seen["extra"][:500]  # sorted names


# ---------------------------------------------------------------- Parquet vs the built-in loader

PER_CLASS_TRAIN, PER_CLASS_TEST = 200, 50


def _first_per_class(y: np.ndarray, n: int) -> np.ndarray:
    return np.sort(np.concatenate([np.flatnonzero(y == k)[:n] for k in range(10)]))


def _rf_as_a_trial(data: Dataset, *, sample_frac: float, seed: int) -> tuple[int, float]:
    """(n_train, acc) of an rf trial on `data`, computed the trainable's way with 1 thread."""
    subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=sample_frac, damage_frac=0.0,
                               damage_mode="none", seed=seed)
    model = build_model("rf", n_classes=data.n_classes, input_shape=data.input_shape, threads=1, seed=seed)
    info = model.fit(data.x_train[subset.indices], subset.labels)
    return info["n_fit"], evaluate(data.y_test, model.predict_proba(data.x_test), n_classes=data.n_classes)["acc"]


@pytest.fixture(scope="module")
def fashion_rows(fashion):
    """The first rows of each class of the real Fashion-MNIST, and the built-in rf trial's
    (n_train, acc) on them at sample_frac 0.5, seed 0."""
    train, test = _first_per_class(fashion.y_train, PER_CLASS_TRAIN), _first_per_class(fashion.y_test, PER_CLASS_TEST)
    info = DatasetInfo(name="fashion_subset", class_names=fashion.class_names, input_shape=(28, 28),
                       n_train=len(train), n_test=len(test))
    builtin = Dataset(x_train=fashion.x_train[train], y_train=fashion.y_train[train], x_test=fashion.x_test[test],
                      y_test=fashion.y_test[test], info=info)
    return builtin, _rf_as_a_trial(builtin, sample_frac=0.5, seed=0)


def _rf_sweep(folder: Path, name: str, dataset: str) -> pd.Series:
    """The one result row of an rf sweep at sample_frac 0.5, seed 0, on `dataset` (spec YAML)."""
    (folder / f"{name}.yaml").write_text(f"name: {name}\ndataset: {dataset}\nmodel: [rf]\nsample_frac: [0.5]\n"
                                         "damage_frac: [0.0]\ndamage_mode: [none]\nseeds: [0]\n")
    started = time.monotonic()
    proc = run_cli("sweep", str(folder / f"{name}.yaml"), "--storage", str(folder / "results"), "--no-dashboard",
                   "--no-report", timeout=SWEEP_TIMEOUT_S)
    TIMES[name] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return pd.read_parquet(folder / "results" / name / "results.parquet").iloc[0]


@pytest.mark.slow  # in make test: tests/trainables/test_datasets.py reads the same Parquet export back as the built-in rows
def test_a_parquet_export_sweeps_as_the_builtin_rows(fashion_rows, tmp_path):
    builtin, (n_train, acc) = fashion_rows
    pixels = [f"px{i}" for i in range(784)]
    for part, x, y in (("train", builtin.x_train, builtin.y_train), ("test", builtin.x_test, builtin.y_test)):
        frame = pd.DataFrame(x.reshape(len(x), -1), columns=pixels)
        frame["label"] = y
        frame.to_parquet(tmp_path / f"{part}.parquet")
    row = _rf_sweep(tmp_path, "fm_parquet", "{kind: table, path: train.parquet, test: test.parquet, label: label}")
    assert (row["n_train"], row["acc"]) == (n_train, acc) and n_train == 1000


@pytest.mark.slow  # the Parquet export's sweep stays in make test; image folders load in tests/trainables
def test_an_image_folder_export_sweeps_as_the_builtin_rows(fashion_rows, tmp_path):
    builtin, (n_train, acc) = fashion_rows
    for part, x, y in (("train", builtin.x_train, builtin.y_train), ("test", builtin.x_test, builtin.y_test)):
        for i, (image, label) in enumerate(zip(x, y)):
            folder = tmp_path / "images" / part / f"{label}_{builtin.class_names[label].replace('/', '-')}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(folder / f"{i:05d}.png")  # rows in class order, as ImageFolder
    row = _rf_sweep(tmp_path, "fm_images", "{kind: images, path: images, color: grayscale}")
    # ImageFolder lists the rows by class folder: the same rows in another order, so the same
    # subset size; rf on a reordered subset differs, so compare with the built-in rows in that order
    order = {part: np.lexsort((np.arange(len(y)), y)) for part, y in (("train", builtin.y_train),
                                                                      ("test", builtin.y_test))}
    reordered = Dataset(x_train=builtin.x_train[order["train"]], y_train=builtin.y_train[order["train"]],
                        x_test=builtin.x_test[order["test"]], y_test=builtin.y_test[order["test"]], info=builtin.info)
    assert (row["n_train"], row["acc"]) == _rf_as_a_trial(reordered, sample_frac=0.5, seed=0)
    assert row["n_train"] == n_train
    print(f"\nown-data sweep wall times: {', '.join(f'{k} {v:.1f} s' for k, v in TIMES.items())}")
