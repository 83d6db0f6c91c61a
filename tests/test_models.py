"""The four models on real Fashion-MNIST (small subsets so the file runs in well under a minute),
their parameter validation, checkpoint/resume, determinism, and trainables.device."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from trainables.device import gpu_memory_fraction, pick_device
from trainables.models import MODEL_NAMES, build_model, default_params, validate_params

N_SMALL = 1200  # 2% of the training set, as a sweep's sample_frac = 0.02 would give
N_TEST = 2000  # first test images: enough for a stable accuracy, cheap to predict
MIN_ACC = 0.6
NETS = ("dnn", "cnn")
TREES = ("rf", "xgb")
RESUME_ROWS = {"dnn": 1200, "cnn": 400}  # cnn kept small: the check is exactness, not accuracy
# One thread: on a shared 2-core box, 2 OpenMP threads per process slow xgboost and torch down
# 4-10x as soon as anything else runs; 1 thread costs only ~1.3x when the box is idle.
THREADS = 1


@pytest.fixture(scope="session")
def fmnist():
    from trainables.data import load_fashion_mnist

    return load_fashion_mnist(download=False)


@pytest.fixture(scope="session")
def small(fmnist):
    """(x, y) of the first N_SMALL rows of a seeded permutation of the training set."""
    idx = np.random.default_rng(0).permutation(len(fmnist.y_train))[:N_SMALL]
    return fmnist.x_train[idx], fmnist.y_train[idx]


@pytest.fixture(scope="session")
def test_images(fmnist):
    return fmnist.x_test[:N_TEST], fmnist.y_test[:N_TEST]


def _assert_proba(proba: np.ndarray, m: int) -> None:
    assert proba.shape == (m, 10)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


# ----- accuracy with the talk's defaults ------------------------------------------------------
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_default_model_learns_from_2_percent(name, small, test_images):
    """Full default settings (cnn keeps its 12 epochs: 960 rows x 12 is only ~12k samples)."""
    x, y = small
    model = build_model(name, threads=THREADS, seed=0)
    info = model.fit(x, y)
    proba = model.predict_proba(test_images[0])
    _assert_proba(proba, N_TEST)
    acc = float(np.mean(proba.argmax(axis=1) == test_images[1]))
    assert acc > MIN_ACC, f"{name}: test accuracy {acc:.3f}"
    if name in NETS:
        assert (info["n_fit"], info["n_val"]) == (960, 240)  # Keras: last 20% held out
        assert info["epochs_done"] == default_params(name)["epochs"]
        assert 0.0 <= info["val_acc"] <= 1.0 and math.isfinite(info["train_loss"])
    else:
        assert (info["n_fit"], info["n_val"]) == (N_SMALL, 0)
        assert math.isnan(info["val_acc"])


@pytest.mark.parametrize("name, params", [("rf", {}), ("xgb", {"num_boost_round": 30}),
                                          ("dnn", {"epochs": 2}), ("cnn", {"epochs": 1})])
def test_missing_classes_still_give_ten_columns(name, params, small, test_images):
    """Classes 3 and 7 never seen in training (xgb/nets with fewer rounds/epochs, for time)."""
    x, y = small
    keep = ~np.isin(y, [3, 7])
    model = build_model(name, params=params, threads=THREADS)
    model.fit(x[keep], y[keep])
    proba = model.predict_proba(test_images[0])
    _assert_proba(proba, N_TEST)
    if name in TREES:
        assert proba[:, [3, 7]].max() < 1e-3


# ----- parameters -------------------------------------------------------------------------
def test_default_params_are_the_talks():
    assert default_params("rf")["n_estimators"] == 25
    assert {k: default_params("xgb")[k] for k in ("eta", "max_depth", "subsample", "colsample_bytree",
                                                  "num_boost_round")} == {
        "eta": 0.2, "max_depth": 5, "subsample": 1.0, "colsample_bytree": 0.5, "num_boost_round": 150}
    assert (default_params("dnn")["epochs"], default_params("dnn")["batch_size"]) == (30, 128)
    assert (default_params("cnn")["epochs"], default_params("cnn")["lr"]) == (12, 1.0)
    default_params("cnn")["epochs"] = 1  # a copy: the defaults are not changed
    assert default_params("cnn")["epochs"] == 12


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_param_key_names_model_key_and_allowed(name):
    allowed = ", ".join(sorted(default_params(name)))
    with pytest.raises(ValueError, match=rf"params for {name}: unknown key 'epoch'; allowed: {allowed}"):
        build_model(name, params={"epoch": 3})


@pytest.mark.parametrize("name, params, match", [
    ("cnn", {"epochs": 0}, r"params for cnn: epochs: expected a value in \[1"),
    ("dnn", {"batch_size": 12.5}, r"params for dnn: batch_size: expected an integer"),
    ("dnn", {"validation_split": 1.0}, r"validation_split: expected a value in \[0.0, 1.0\)"),
    ("xgb", {"tree_method": "gpu_hist"}, r"tree_method: expected one of hist, approx, exact"),
    ("rf", {"n_estimators": True}, r"n_estimators: expected an integer"),
])
def test_bad_param_values_raise(name, params, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, params=params)


def test_validate_params_merges_and_normalises():
    merged = validate_params("cnn", {"epochs": 3.0, "lr": 1})
    assert merged["epochs"] == 3 and isinstance(merged["epochs"], int)
    assert merged["lr"] == 1.0 and merged["batch_size"] == 128


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "svm"}, r"model: expected one of rf, xgb, dnn, cnn; got 'svm'"),
    ({"model": "rf", "threads": 0}, r"threads: expected an integer >= 1; got 0"),
    ({"model": "rf", "device": "tpu"}, r"device: expected 'cpu', 'cuda', 'cuda:N' or 'mps'; got 'tpu'"),
])
def test_build_model_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(kwargs.pop("model"), **kwargs)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bad_inputs_raise(name, small):
    x, y = small
    model = build_model(name)
    with pytest.raises(RuntimeError, match="before fit"):
        model.predict_proba(x[:5])
    with pytest.raises(ValueError, match=r"x: expected dtype uint8"):
        model.fit(x[:50].astype(np.float32), y[:50])
    with pytest.raises(ValueError, match=r"x: expected shape \(n >= 1, 28, 28\)"):
        model.fit(x[:50].reshape(50, 784), y[:50])
    with pytest.raises(ValueError, match=r"y: expected shape \(50,\)"):
        model.fit(x[:50], y[:49])
    with pytest.raises(ValueError, match=r"y: expected class ids in 0..9"):
        model.fit(x[:50], y[:50] + 1)


# ----- checkpoint / resume ----------------------------------------------------------------
@pytest.mark.parametrize("name", NETS)
def test_resume_continues_exactly(name, fmnist, test_images):
    """3 epochs straight == 1 epoch, then resume_state (pickled) for 2 more."""
    n = RESUME_ROWS[name]
    x, y = fmnist.x_train[:n], fmnist.y_train[:n]
    params = {"epochs": 3}
    reports = []
    straight = build_model(name, params=params, threads=THREADS, seed=3)
    straight.fit(x, y, on_epoch=lambda metrics, state: reports.append((metrics, state)))
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3]
    assert set(reports[0][0]) == {"epoch", "train_loss", "val_loss", "val_acc"}
    assert [s["epoch"] for _, s in reports] == [1, 2, 3]

    states = []
    build_model(name, params={"epochs": 1}, threads=THREADS, seed=3).fit(
        x, y, on_epoch=lambda metrics, state: states.append(pickle.dumps(state)))
    resumed = build_model(name, params=params, threads=THREADS, seed=3)
    epochs_seen = []
    info = resumed.fit(x, y, resume_state=pickle.loads(states[-1]),
                       on_epoch=lambda metrics, state: epochs_seen.append(metrics["epoch"]))
    assert epochs_seen == [2, 3] and info["epochs_done"] == 3
    assert [h["epoch"] for h in info["history"]] == [1, 2, 3]
    assert info["val_loss"] == pytest.approx(reports[-1][0]["val_loss"], abs=1e-6)
    np.testing.assert_allclose(resumed.predict_proba(test_images[0]),
                               straight.predict_proba(test_images[0]), atol=1e-5)


def test_resume_state_of_another_model_is_rejected(fmnist):
    x, y = fmnist.x_train[:100], fmnist.y_train[:100]
    states = []
    build_model("dnn", params={"epochs": 1}).fit(x, y, on_epoch=lambda m, s: states.append(s))
    with pytest.raises(ValueError, match=r"resume_state: expected a cnn state"):
        build_model("cnn", params={"epochs": 2}).fit(x, y, resume_state=states[0])


def test_no_validation_split_trains_on_all_rows(fmnist):
    x, y = fmnist.x_train[:200], fmnist.y_train[:200]
    info = build_model("dnn", params={"epochs": 1, "validation_split": 0.0}).fit(x, y)
    assert (info["n_fit"], info["n_val"]) == (200, 0)
    assert math.isnan(info["val_acc"]) and math.isnan(info["val_loss"])


# ----- determinism ------------------------------------------------------------------------
@pytest.mark.parametrize("name, params, rows, threads", [
    ("rf", {}, 1200, 2),
    ("xgb", {"num_boost_round": 10}, 1200, 2),  # fewer rounds: only reproducibility is checked
    ("dnn", {"epochs": 2}, 1200, 1),
    ("dnn", {"epochs": 2}, 1200, 2),
    ("cnn", {"epochs": 1}, 400, 1),
])
def test_same_seed_same_probabilities(name, params, rows, threads, fmnist, test_images):
    x, y = fmnist.x_train[:rows], fmnist.y_train[:rows]

    def run(seed):
        model = build_model(name, params=params, threads=threads, seed=seed)
        model.fit(x, y)
        return model.predict_proba(test_images[0][:500])

    first = run(7)
    np.testing.assert_array_equal(first, run(7))
    if name != "xgb":  # with subsample 1 xgb's only randomness is colsample; rf/nets surely differ
        assert not np.array_equal(first, run(8))


# ----- trainables.device ------------------------------------------------------------------
@pytest.mark.parametrize("gpu_ids, kwargs, device, warns", [
    ([0], {"cuda_available": True}, "cuda", None),
    ([], {"cuda_available": True}, "cpu", None),
    ([], {"cuda_available": False}, "cpu", None),
    ([0], {"cuda_available": False}, "cpu", "given GPU ids [0] but found no CUDA"),
    ([], {"cuda_available": False, "mps_requested": True, "mps_available": True}, "mps", None),
    ([], {"cuda_available": False, "mps_requested": False, "mps_available": True}, "cpu", None),
    ([], {"cuda_available": False, "mps_requested": True, "mps_available": False}, "cpu",
     "mps was requested"),
    ([1], {"cuda_available": True, "mps_requested": True, "mps_available": True}, "cuda", None),
])
def test_pick_device(gpu_ids, kwargs, device, warns):
    got, warning = pick_device(gpu_ids, **kwargs)
    assert got == device
    if warns is None:
        assert warning is None
    else:
        assert warns in warning


@pytest.mark.parametrize("share, fraction", [(0.25, 0.25), (1, 1.0), (2.0, 1.0), (1e-3, 1e-3)])
def test_gpu_memory_fraction_is_clamped(share, fraction):
    assert gpu_memory_fraction(share) == fraction


@pytest.mark.parametrize("share", [0, -0.5, float("nan"), "half"])
def test_gpu_memory_fraction_rejects_non_positive(share):
    with pytest.raises(ValueError, match="gpu_share: expected a finite number > 0"):
        gpu_memory_fraction(share)
