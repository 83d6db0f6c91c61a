"""A user's own models on real data, in process: a scikit-learn classifier by import
path and a torch module factory trained (and resumed) by the project's net trainer; every
refusal of a bad definition, import or param before Ray starts; K = 2 and K = 3 tables with
exact per-class damage counts and scikit-learn's AUC."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from datavsmath.cli import main
from datavsmath.sweeps.safe_yaml import parse_yaml_text
from datavsmath.sweeps.spec import SpecError, dump_spec
from datavsmath.sweeps.validation import load_spec, parse_spec
from datavsmath.trainables.damage import make_training_set
from datavsmath.trainables.datasets import load_dataset
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.models import build_model
from datavsmath.trainables.models.user import UserModelError, check_importable, check_user_model

USER_PKG = Path(__file__).parents[1] / "user_pkg"
LOGREG = {"estimator": "sklearn.linear_model:LogisticRegression", "params": {"max_iter": 300}}
MLP = {"module": "user_pkg.nets:make_net", "epochs": 3, "batch_size": 64, "optimizer": {"name": "adam", "lr": 3e-3}}


pytestmark = pytest.mark.usefixtures("no_ray_before_or_after")


@pytest.fixture(scope="module")
def digits_frame() -> pd.DataFrame:
    digits = load_digits()
    frame = pd.DataFrame(digits.data, columns=[f"p{i}" for i in range(64)])
    frame["digit"] = digits.target
    return frame


@pytest.fixture(scope="module")
def digits(digits_frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "digits.csv"
    digits_frame.to_csv(path, index=False)
    return path, load_dataset({"kind": "table", "path": str(path), "label": "digit"})


@pytest.fixture()
def user_pkg_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(USER_PKG.parent))  # as the runner does for py_modules folders


# ExtraTrees takes the trial's threads; LogisticRegression's n_jobs is deprecated (scikit-learn
# 1.8: no effect, a FutureWarning in every fit), so it is left unset.
@pytest.mark.parametrize("name, definition, reference, n_jobs", [
    ("trees", {"estimator": "sklearn.ensemble:ExtraTreesClassifier", "params": {"n_estimators": 20}},
     lambda: ExtraTreesClassifier(n_estimators=20, n_jobs=2, random_state=3), 2),
    ("logreg", LOGREG, lambda: LogisticRegression(max_iter=300, random_state=3), None),
])
def test_a_classifier_by_import_path_gets_the_trials_threads_and_seed(digits, name, definition, reference, n_jobs):
    _, data = digits
    model = build_model(check_user_model(name, definition), n_classes=10, input_shape=data.input_shape, threads=2,
                        seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # a deprecated setting is never passed
        info = model.fit(data.x_train, data.y_train)
    assert (info["n_fit"], info["n_val"], info["epochs_done"], info.get("n_jobs")) == (data.n_train, 0, 1, n_jobs)
    proba = model.predict_proba(data.x_test)
    assert proba.shape == (data.n_test, 10) and np.allclose(proba.sum(axis=1), 1)
    x_train, x_test = data.x_train.astype(np.float32), data.x_test.astype(np.float32)  # as the models get them
    expected = reference().fit(x_train, data.y_train).predict_proba(x_test)
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-12)  # float32 sums
    assert evaluate(data.y_test, proba, n_classes=10)["acc"] > 0.9


def test_a_torch_factory_trains_with_epoch_reports_and_resumes_where_it_left_off(digits, user_pkg_importable):
    _, data = digits
    user = check_user_model("mlp2", MLP)

    def fit(**kwargs):
        model = build_model(user, n_classes=10, input_shape=data.input_shape, seed=0)
        return model, model.fit(data.x_train, data.y_train, **kwargs)

    epochs: list[dict] = []
    states: list[dict] = []
    whole, info = fit(on_epoch=lambda metrics, state: (epochs.append(metrics), states.append(state)))
    assert [m["epoch"] for m in epochs] == [1, 2, 3] and info["epochs_done"] == 3
    assert info["n_fit"] == int(data.n_train * 0.8) and info["n_val"] == data.n_train - info["n_fit"]
    resumed, again = fit(resume_state=states[0])  # as a trial restored from its epoch-1 checkpoint
    assert again["epochs_done"] == 3 and [h["epoch"] for h in again["history"]] == [1, 2, 3]
    np.testing.assert_array_equal(resumed.predict_proba(data.x_test), whole.predict_proba(data.x_test))
    assert evaluate(data.y_test, whole.predict_proba(data.x_test), n_classes=10)["acc"] > 0.8


BAD_DEFINITIONS = [
    ("no_kind", {"params": {}}, r"models.m must have exactly one of estimator, module"),
    ("both_kinds", {**LOGREG, "module": "a.b:c"}, r"exactly one of estimator, module"),
    ("bad_path", {"estimator": "sklearn.linear_model.LogisticRegression"},
     r"models.m.estimator must be an import path 'package.module:name' or a .pkl file, got 'sklearn.linear_model.Log"),
    ("pickled_params", {"estimator": "/x/m.pkl", "params": {"C": 1}},
     r"models.m.params must be empty for a pickled estimator \(its params are the instance's\), got \{'C': 1\}"),
    ("unknown_key", {**MLP, "epoch": 3}, r"models.m: unknown key 'epoch' for a module; allowed: module, epochs"),
    ("bad_epochs", {**MLP, "epochs": 0}, r"models.m.epochs must be in \[1, inf\), got 0"),
    ("bad_split", {**MLP, "validation_split": 1.0}, r"models.m.validation_split must be in \[0, 1\), got 1"),
    ("bad_optimizer", {**MLP, "optimizer": {"name": "lbfgs"}}, r"models.m.optimizer.name must be one of \['adam'"),
]


@pytest.mark.parametrize("case,definition,match", BAD_DEFINITIONS, ids=[c[0] for c in BAD_DEFINITIONS])
def test_bad_definitions_are_refused_without_importing(case, definition, match):
    with pytest.raises(UserModelError, match=match):
        check_user_model("m", definition)


BAD_IMPORTS = [
    ("module_missing", {"estimator": "nope_pkg.models:Forest"},
     r"models.m.estimator nope_pkg.models:Forest: cannot import nope_pkg.models \(ModuleNotFoundError"),
    ("attribute_missing", {"estimator": "sklearn.linear_model:LogisticRegresion"},
     r"sklearn.linear_model has no attribute 'LogisticRegresion'"),
    ("not_a_classifier", {"estimator": "sklearn.preprocessing:StandardScaler"},
     r"sklearn.preprocessing:StandardScaler: not a classifier class with fit and predict_proba"),
    ("unknown_param", {**LOGREG, "params": {"max_iters": 3}},
     r"models.m.params: unknown param 'max_iters' for sklearn.linear_model:LogisticRegression; it takes C,"),
    ("not_a_module", {**MLP, "module": "user_pkg.nets:not_a_module"},
     r"models.m.module user_pkg.nets:not_a_module: returned str, not a torch.nn.Module"),
    ("wrong_width", {**MLP, "module": "user_pkg.nets:wrong_width"},
     r"the net must return \(n, 10\) logits, got shape \(2, 9\)"),
    ("optimizer_kwarg", {**MLP, "optimizer": {"name": "adam", "momentum": 0.9}},
     r"models.m.optimizer .*momentum"),
]


@pytest.mark.parametrize("case,definition,match", BAD_IMPORTS, ids=[c[0] for c in BAD_IMPORTS])
def test_imports_objects_and_params_are_checked_naming_model_and_path(case, definition, match, user_pkg_importable):
    with pytest.raises(UserModelError, match=match):
        check_importable(check_user_model("m", definition), input_shape=(64,), n_classes=10)


def _spec_text(csv: Path, models: str, axis: str = "[rf, m]", extra: str = "") -> str:
    return (f"dataset: {{kind: table, path: {csv}, label: digit}}\npy_modules: [{USER_PKG}]\nmodels: {models}\n"
            f"model: {axis}\nsample_frac: [0.5]\ndamage_frac: [0.0]\ndamage_mode: [none]\n{extra}")


def test_a_user_model_is_a_value_of_the_model_axis_and_round_trips(digits):
    csv, _ = digits
    spec = parse_spec(parse_yaml_text(_spec_text(csv, "{m: {estimator: 'sklearn.linear_model:LogisticRegression',"
                                                      " params: {max_iter: 300}}}"), source="s.yaml"))
    assert tuple(spec.models) == ("rf", "m") and spec.user_models == {"m": check_user_model("m", LOGREG)}
    assert spec.models["m"].path == LOGREG["estimator"] and "m" not in spec.overrides
    assert spec.trial_overrides["m"] == {"kind": "estimator", **LOGREG}  # what its trials record
    again = parse_spec(parse_yaml_text(dump_spec(spec), source="spec.yaml"))
    assert again.models == spec.models and again.overrides == spec.overrides


SPEC_REFUSALS = [
    ("seed_name", "{rf: {estimator: 'a.b:C'}}", "[rf]", "", r"models.rf: rf is a seed model; give your model"),
    ("unused", "{m: {estimator: 'a.b:C'}, n: {estimator: 'a.b:D'}}", "[rf, m]", "",
     r"models.n is defined but no grid sweeps it"),
    ("override_of_user_model", "{m: {estimator: 'a.b:C'}}", "[rf, m]", "overrides: {m: {max_iter: 3}}\n",
     r"overrides.m: m is a model of the spec's own; set its settings in models.m"),
    ("undefined_name", "{m: {estimator: 'a.b:C'}}", "[rf, k]", "", r"model must be one of \[.*'m'\], got 'k'"),
]


@pytest.mark.parametrize("case,models,axis,extra,match", SPEC_REFUSALS, ids=[c[0] for c in SPEC_REFUSALS])
def test_spec_refuses_bad_model_tables(case, models, axis, extra, match, digits, tmp_path):
    path = tmp_path / f"{case}.yaml"
    path.write_text(_spec_text(digits[0], models, axis, extra))
    with pytest.raises(SpecError, match=match):
        load_spec(path)


CLI_REFUSALS = [
    ("import_fails", "{m: {estimator: 'nope_pkg.models:Forest'}}",
     r"models.m.estimator nope_pkg.models:Forest: cannot import nope_pkg.models"),
    ("not_a_classifier", "{m: {estimator: 'sklearn.preprocessing:StandardScaler'}}",
     r"StandardScaler: not a classifier class with fit and predict_proba"),
    ("unknown_params", "{m: {estimator: 'sklearn.linear_model:LogisticRegression', params: {max_iters: 3}}}",
     r"models.m.params: unknown param 'max_iters'"),
    ("not_a_module", "{m: {module: 'user_pkg.nets:not_a_module'}}",
     r"models.m.module user_pkg.nets:not_a_module: returned str, not a torch.nn.Module"),
    # estimators that passed the import check and then failed in every trial
    ("estimator_without_get_params", "{m: {estimator: 'user_pkg.estimators:NoGetParams'}}",
     r"models.m.estimator user_pkg.estimators:NoGetParams: not scikit-learn compatible: it has no get_params"),
    ("estimator_without_classes", "{m: {estimator: 'user_pkg.estimators:NoClasses'}}",
     r"models.m.estimator user_pkg.estimators:NoClasses: has no classes_ after fit"),
    ("param_of_the_wrong_type", "{m: {estimator: 'sklearn.linear_model:LogisticRegression', params: {C: abc}}}",
     r"models.m.estimator sklearn.linear_model:LogisticRegression with params \{'C': 'abc'\}: fit and predict_proba "
     r"on 20 rows of the dataset fail: InvalidParameterError: The 'C' parameter"),
]


@pytest.mark.parametrize("case,models,match", CLI_REFUSALS, ids=[c[0] for c in CLI_REFUSALS])
def test_the_cli_refuses_unusable_models_with_exit_2_before_ray(case, models, match, digits, tmp_path, capsys):
    path = tmp_path / f"{case}.yaml"
    path.write_text(_spec_text(digits[0], models))
    code = main(["sweep", str(path), "--storage", str(tmp_path / "results"), "--no-dashboard"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("datavsmath: error: ") and "Traceback" not in err, err
    assert re.search(match, err), err
    assert not (tmp_path / "results" / case).exists()


def test_resources_of_a_user_model_are_taken_from_the_command_line(digits, tmp_path, capsys):
    path = tmp_path / "res.yaml"
    path.write_text(_spec_text(digits[0], "{m: {estimator: 'sklearn.linear_model:LogisticRegression'}}"))
    code = main(["sweep", str(path), "--storage", str(tmp_path / "results"), "--dry-run", "--resources", "m:cpu=2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"^\s+m\s+cpu=2 gpu=0\b", out, re.MULTILINE) and re.search(r"^\s+rf\s+cpu=1 gpu=0\b", out,
                                                                                re.MULTILINE), out


# ---------------------------------------------------------------- K = 2 and K = 3 tables

@pytest.mark.parametrize("classes", [(3, 8), (0, 1, 7)], ids=["K2", "K3"])
def test_small_k_tables_damage_exactly_per_class_and_score_as_sklearn(classes, digits_frame, tmp_path):
    names = {0: "zero", 1: "one", 3: "three", 7: "seven", 8: "eight"}
    frame = digits_frame[digits_frame["digit"].isin(classes)].assign(
        digit=lambda f: f["digit"].map(names))  # string labels, mapped to 0..K-1 in sorted order
    path = tmp_path / "k.csv"
    frame.to_csv(path, index=False)
    data = load_dataset({"kind": "table", "path": str(path), "label": "digit", "test_frac": 0.3})
    k = len(classes)
    assert data.n_classes == k and list(data.class_names) == sorted(names[c] for c in classes)
    for mode in ("random", "constant"):
        subset = make_training_set(data.y_train, n_classes=k, sample_frac=1.0, damage_frac=0.3, damage_mode=mode,
                                   seed=0)
        true = data.y_train[subset.indices]
        for c in range(k):
            of_c = true == c
            assert subset.damaged[of_c].sum() == round(0.3 * of_c.sum()), (mode, c)
            assert (subset.labels[of_c & subset.damaged] != c).all()
        if mode == "constant":
            assert (subset.labels[subset.damaged] == (true[subset.damaged] + 1) % k).all()
    model = build_model("rf", n_classes=k, input_shape=data.input_shape, seed=0)
    model.fit(data.x_train, data.y_train)
    proba = model.predict_proba(data.x_test)
    auc = evaluate(data.y_test, proba, n_classes=k)["auc"]
    expected = (roc_auc_score(data.y_test, proba[:, 1]) if k == 2
                else roc_auc_score(data.y_test, proba, multi_class="ovr", average="macro"))
    assert auc == pytest.approx(expected, abs=1e-12)
