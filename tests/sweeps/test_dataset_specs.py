"""The spec's `dataset:`: validated when the spec loads, relative paths against the
spec file's folder, facts recorded in spec.yaml; bad data and models that cannot take it
refused by the CLI with exit 2 before Ray starts; `mnist_size` dry-runs without MNIST."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from datavsmath.analysis.plots import dataset_subtitle
from datavsmath.cli import main
from datavsmath.sweeps.safe_yaml import parse_yaml_text
from datavsmath.sweeps.spec import SpecError, dump_spec, expand_trials, info_from_facts
from datavsmath.sweeps.validation import load_spec, parse_spec
from datavsmath.trainables.datasets import KINDS, LOADERS, check_dataset_config, load_dataset
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, FASHION_MNIST, MNIST
from tests.conftest import run_cli

AXES_TEXT = "model: [rf]\nsample_frac: [0.5]\ndamage_frac: [0.0]\ndamage_mode: [none]\n"


pytestmark = pytest.mark.usefixtures("no_ray_before_or_after")


@pytest.fixture(scope="module")
def digits_csv(tmp_path_factory) -> Path:
    """scikit-learn's bundled digits (1797 real 8x8 images, 64 features) as a CSV table."""
    digits = load_digits()
    frame = pd.DataFrame(digits.data, columns=[f"p{i}" for i in range(64)])
    frame["digit"] = digits.target
    path = tmp_path_factory.mktemp("digits") / "digits.csv"
    frame.to_csv(path, index=False)
    return path


def _spec_file(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_the_default_dataset_is_fashion_mnist_and_shipped_specs_name_it():
    spec = load_spec("smoke")
    assert spec.dataset == {"kind": "fashion_mnist"} and spec.dataset_info is FASHION_MNIST
    assert "dataset:\n  kind: fashion_mnist\n" in dump_spec(spec)


@pytest.mark.parametrize("name", list(BUILT_IN_DATASETS))
def test_a_built_in_dataset_is_its_entry_everywhere(name):
    """A spec's name, its loader, the facts a dry run prices with and the figures' title all
    come from the dataset's one entry."""
    entry = BUILT_IN_DATASETS[name]
    assert name in KINDS and name in LOADERS and check_dataset_config(name) == {"kind": name}
    spec = parse_spec(parse_yaml_text(f"dataset: {name}\n{AXES_TEXT}", source="s.yaml"))
    assert spec.dataset_info is entry.info and (entry.info.name, entry.info.kind) == (name, name)
    assert dataset_subtitle(entry.info) == f"{entry.title} Dataset"
    with pytest.raises(ValueError, match=r"^md5 must have the keys train-images-idx3-ubyte, .*got \['x'\]$"):
        entry.with_md5({"x": "0"})


def test_mnist_size_is_the_talks_size_sweep_on_mnist():
    spec, size = load_spec("mnist_size"), load_spec("size")
    assert spec.dataset == {"kind": "mnist"} and spec.dataset_info is MNIST
    assert len(expand_trials(spec)) == 112
    assert spec.grids[0].sample_frac == size.grids[0].sample_frac
    assert tuple(spec.models) == ("rf", "xgb", "dnn", "cnn")


def test_mnist_size_dry_runs_without_the_data_and_data_says_how_to_provide_it(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "empty-cache"), "DATAVSMATH_DATA": ""}
    dry = run_cli("sweep", "mnist_size", "--dry-run", timeout=60, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "spec 'mnist_size'" in dry.stdout and "112 trials" in dry.stdout
    data = run_cli("data", "--dataset", "mnist", "--no-download", timeout=60, env=env)
    assert data.returncode == 2
    assert data.stderr.startswith("datavsmath: error: MNIST was not found")
    for way in ("--data-dir DIR", "DATAVSMATH_DATA=DIR", "torchvision"):
        assert way in data.stderr, data.stderr


def test_table_paths_resolve_against_the_spec_files_folder(tmp_path):
    path = _spec_file(tmp_path / "specs", AXES_TEXT + "dataset: {kind: table, path: data/t.csv, label: y}\n")
    spec = load_spec(path)
    assert spec.dataset["path"] == str(tmp_path / "specs" / "data" / "t.csv")
    assert spec.dataset["test_frac"] == 0.2 and spec.dataset_info is None  # known once read


def test_stored_facts_round_trip_through_spec_yaml(digits_csv):
    spec = parse_spec(parse_yaml_text(AXES_TEXT + f"dataset: {{kind: table, path: {digits_csv}, label: digit}}\n",
                                      source="s.yaml"))
    data = load_dataset(spec.dataset)
    text = dump_spec(replace(spec, dataset_facts=data.facts()))
    stored = parse_spec(parse_yaml_text(text, source="spec.yaml"), source="spec.yaml")
    assert stored.dataset_facts == data.facts() and stored.dataset == spec.dataset
    assert f"fingerprint: {data.fingerprint}" in text and "name: digits" in text
    info = info_from_facts(stored.dataset_facts)
    assert (info.name, info.n_classes, info.input_shape, info.n_train, info.n_test) == (
        "digits", 10, (64,), data.n_train, data.n_test)


BAD_DATASETS = [
    ("unknown_name", "dataset: cifar\n", r"dataset must be one of \['fashion_mnist', 'mnist'\] or a mapping"),
    ("table_without_path", "dataset: {kind: table, label: y}\n", r"dataset: kind table needs key 'path'"),
    ("unknown_key", "dataset: {kind: table, path: t.csv, label: y, lable: z}\n",
     r"dataset: unknown key 'lable' for kind table"),
    ("test_frac_big", "dataset: {kind: table, path: t.csv, label: y, test_frac: 1.5}\n",
     r"dataset.test_frac must be in \(0, 1\), got 1.5"),
    ("bad_color", "dataset: {kind: images, path: imgs, color: sepia}\n", r"dataset.color must be one of"),
    ("py_modules_missing", "py_modules: [nowhere]\n", r"py_modules: .*nowhere does not exist"),
]


@pytest.mark.parametrize("case,text,match", BAD_DATASETS, ids=[c[0] for c in BAD_DATASETS])
def test_bad_dataset_configs_fail_when_the_spec_loads(case, text, match, tmp_path, capsys):
    path = _spec_file(tmp_path, AXES_TEXT + text, f"{case}.yaml")
    with pytest.raises(SpecError, match=match):
        load_spec(path)
    assert main(["sweep", str(path), "--storage", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("datavsmath: error: spec ") and re.search(match, err), err


def _bad_tables(folder: Path, digits_csv: Path) -> list[tuple[str, str, str]]:
    """(case, spec text, message pattern) over real digits tables made unusable one way each."""
    frame = pd.read_csv(digits_csv)
    frame.assign(digit=0).to_csv(folder / "one_class.csv", index=False)
    frame.assign(p3=np.where(np.arange(len(frame)) == 7, np.nan, frame["p3"])).to_csv(folder / "nan.csv",
                                                                                     index=False)
    frame.assign(p5="x").to_csv(folder / "text.csv", index=False)
    table = f"{{kind: table, path: {digits_csv}, label: digit}}"
    return [
        ("missing_file", "dataset: {kind: table, path: nowhere.csv, label: digit}\n", r"nowhere\.csv"),
        ("missing_label", f"dataset: {{kind: table, path: {digits_csv}, label: target}}\n",
         r"label column 'target' not found"),
        ("one_class", "dataset: {kind: table, path: one_class.csv, label: digit}\n", r"has 1 class"),
        ("not_finite", "dataset: {kind: table, path: nan.csv, label: digit}\n",
         r"nan\.csv: feature columns must be finite; .*'p3' \(1 row\)"),
        ("not_numeric", "dataset: {kind: table, path: text.csv, label: digit, features: [p4, p5]}\n",
         r"text\.csv: feature columns must be numeric; not numeric: 'p5'"),
        ("cnn_on_flat", f"dataset: {table}\n" + AXES_TEXT.replace("[rf]", "[rf, cnn]"),
         r"model cnn cannot take dataset 'digits': cnn needs image inputs .* 64 flat features"),
        ("too_few_rows", f"dataset: {table}\n" + AXES_TEXT.replace("[0.5]", "[0.001]"),
         r"sample_frac 0.001 gives rf 1 of the 1437 training rows; rf needs at least 10"),
    ]


def test_unusable_data_exits_2_before_ray_naming_file_column_or_model(digits_csv, tmp_path, capsys):
    for case, dataset_text, match in _bad_tables(tmp_path, digits_csv):
        text = dataset_text if "model:" in dataset_text else AXES_TEXT + dataset_text
        path = _spec_file(tmp_path, text, f"{case}.yaml")
        code = main(["sweep", str(path), "--storage", str(tmp_path / "results"), "--no-dashboard"])
        err = capsys.readouterr().err
        assert code == 2, (case, err)
        assert err.startswith("datavsmath: error: ") and "Traceback" not in err, (case, err)
        assert re.search(match, err), (case, err)
        assert not (tmp_path / "results" / case).exists(), f"{case}: nothing may be written"


def test_resume_and_extend_refuse_other_data_than_the_experiment_started_on(digits_csv, tmp_path):
    from datavsmath.sweeps.experiment_layout import SPEC_FILE
    from datavsmath.sweeps.options import SweepError
    from datavsmath.sweeps.sweep_data import check_same_data

    spec = parse_spec(parse_yaml_text(AXES_TEXT + f"dataset: {{kind: table, path: {digits_csv}, label: digit}}\n",
                                      source="s.yaml"))
    data = load_dataset(spec.dataset)
    (tmp_path / SPEC_FILE).write_text(dump_spec(replace(spec, dataset_facts=data.facts())))
    check_same_data(str(tmp_path), data)  # the same arrays: fine
    frame = pd.read_csv(digits_csv)
    frame.loc[0, "digit"] = (frame.loc[0, "digit"] + 1) % 10  # one label changed
    changed_csv = tmp_path / "digits.csv"
    frame.to_csv(changed_csv, index=False)
    changed = load_dataset({"kind": "table", "path": str(changed_csv), "label": "digit"})
    with pytest.raises(SweepError, match=r"the dataset 'digits' differs from the one the experiment started on "
                                         r"\(fingerprint [0-9a-f]{12}\.\.\., stored [0-9a-f]{12}\.\.\.\)"):
        check_same_data(str(tmp_path), changed)


def test_a_tables_dry_run_prices_its_own_rows_and_checks_its_columns(digits_csv, tmp_path, capsys):
    from datavsmath.sweeps import cost

    spec_path = _spec_file(tmp_path, AXES_TEXT.replace("[rf]", "[rf, xgb]").replace("[0.5]", "[0.1, 1.0]")
                           + f"dataset: {{kind: table, path: {digits_csv}, label: digit}}\n")
    assert main(["sweep", str(spec_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dataset: table " + str(digits_csv) + ": 1,437 training and 360 test rows (from its header" in out
    spec = load_spec(spec_path)
    minutes = sum(cost.estimate_seconds(t, n_train=1437, overrides=None, repair_folds=cost.DEFAULT_FOLDS)
                  for t in expand_trials(spec)) / 60
    assert f"estimated compute: {minutes:.1f} CPU-minutes" in out and "60000" not in out and "60,000" not in out
    bad = _spec_file(tmp_path, AXES_TEXT + f"dataset: {{kind: table, path: {digits_csv}, label: label}}\n", "bad.yaml")
    assert main(["sweep", str(bad), "--dry-run"]) == 2
    assert re.search(r"^datavsmath: error: .*digits.csv: label column 'label' not found", capsys.readouterr().err)
