"""The trainer's speed-ups change nothing but speed: the FastPaths value (oneDNN dense layers
and their self-check, channels_last, foreach) and the workers' malloc settings."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import datavsmath.trainables.models.nets as nets
from datavsmath.trainables.allocator import GLIBC_TUNABLES_ENV, keep_freed_memory, worker_glibc_tunables
from datavsmath.trainables.models import FastPaths, build_model

REPO = Path(__file__).resolve().parents[2]
ONEDNN_PLATFORM = platform.machine().lower() in ("x86_64", "amd64") and torch.backends.mkldnn.is_available()


def dataset_facts(data) -> dict:
    """The dataset's facts as build_model takes them."""
    return {"n_classes": data.n_classes, "input_shape": data.input_shape}


@pytest.fixture
def fresh_onednn_check():
    """The cached self-check forgotten before and after the test (the test may break the op)."""
    nets.onednn_dense_works.cache_clear()
    yield
    nets.onednn_dense_works.cache_clear()


def test_fast_paths_default_to_all_on_and_are_a_frozen_value():
    assert FastPaths() == FastPaths(onednn_dense=True, channels_last=True, foreach=True)
    assert FastPaths is nets.FastPaths
    with pytest.raises(AttributeError):
        FastPaths().foreach = False  # a value: changed by making another one


@pytest.mark.parametrize("n_in, n_out, input_grad", [(784, 256, False), (256, 128, True),
                                                     (9216, 128, True), (128, 10, True)])
def test_dense_matches_linear_forward_and_backward(n_in, n_out, input_grad):
    torch.manual_seed(0)
    dense = nets.Dense(n_in, n_out, onednn=True)
    x = torch.randn(128, n_in, requires_grad=input_grad)
    grad = torch.randn(128, n_out)
    dense(x).backward(grad)
    got = [dense.weight.grad.clone(), dense.bias.grad.clone()] + ([x.grad.clone()] if input_grad else [])
    dense.zero_grad(set_to_none=True)
    x.grad = None
    F.linear(x, dense.weight, dense.bias).backward(grad)
    want = [dense.weight.grad, dense.bias.grad] + ([x.grad] if input_grad else [])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4 * float(w.abs().max()))
    with torch.inference_mode():
        torch.testing.assert_close(dense(x.detach()), F.linear(x.detach(), dense.weight, dense.bias),
                                   rtol=1e-4, atol=1e-4)


def test_dense_takes_the_onednn_path_on_x86_only_when_asked():
    asked, plain = nets.Dense(784, 256, onednn=True), nets.Dense(784, 256)
    assert not plain.onednn and "AddmmBackward" in type(plain(torch.randn(4, 784)).grad_fn).__name__
    if not ONEDNN_PLATFORM:  # elsewhere the op is never used: the check says so, silently
        assert not nets.onednn_dense_works() and not asked.onednn
        return
    assert nets.onednn_dense_works() and asked.onednn
    assert "OneDNNLinear" in type(asked(torch.randn(4, 784)).grad_fn).__name__


def test_dense_state_dict_is_a_linear_state_dict():
    """Checkpoints keep the nn.Linear layout, so states written by nn.Linear layers load."""
    net = nets.dense_net({"dropout1": 0.4, "dropout2": 0.3}, input_shape=(28, 28), n_classes=10, onednn=True)
    old = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Identity(),
                              torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Identity(),
                              torch.nn.Linear(128, 10))
    net.load_state_dict(old.state_dict())
    assert list(net.state_dict()) == list(old.state_dict())


@pytest.mark.parametrize("name, epochs, slow", [
    ("dnn", 3, FastPaths(onednn_dense=False)),
    ("dnn", 3, FastPaths(foreach=False)),
    pytest.param("cnn", 1, FastPaths(onednn_dense=False), marks=pytest.mark.slow),  # cnn epochs: long
    pytest.param("cnn", 1, FastPaths(onednn_dense=False, channels_last=False, foreach=False), marks=pytest.mark.slow),
])
def test_fast_paths_off_train_to_the_same_accuracy(name, epochs, slow, fashion):
    """Same seed, same rows: with a speed-up off the net differs by float noise only."""
    x, y = fashion.x_train[:3000], fashion.y_train[:3000]
    accs = []
    for fast_paths in (FastPaths(), slow):
        model = build_model(name, **dataset_facts(fashion), params={"epochs": epochs, "validation_split": 0.0},
                            seed=0, fast_paths=fast_paths)
        model.fit(x, y)
        accs.append(float((model.predict_proba(fashion.x_test[:2000]).argmax(1)
                           == fashion.y_test[:2000]).mean()))
    assert accs[0] > 0.6 and abs(accs[0] - accs[1]) <= 0.02, accs


def _raise(*args, **kwargs):
    raise RuntimeError("oneDNN primitive creation failed")


def _off_by_one(a, b_t, bias=None):
    return F.linear(a, b_t, bias) + 1.0


@pytest.mark.parametrize("name, broken, reason", [
    ("dnn", _raise, r"RuntimeError: oneDNN primitive creation failed"),
    ("cnn", _off_by_one, r"its output differs from F.linear's"),
])
def test_a_failing_onednn_op_falls_back_to_linear_with_one_warning(name, broken, reason, monkeypatch, fashion,
                                                                    fresh_onednn_check):
    """The op raising or computing wrong values: one RuntimeWarning naming it and the reason,
    training completes, and the net is the one trained with onednn_dense off."""
    monkeypatch.setattr(nets, "_onednn_matmul", broken)
    x, y = fashion.x_train[:600], fashion.y_train[:600]

    def train(fast_paths):
        model = build_model(name, **dataset_facts(fashion), params={"epochs": 2}, seed=4, fast_paths=fast_paths)
        info = model.fit(x, y)
        return info, model.predict_proba(fashion.x_test[:500])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info, proba = train(FastPaths())
        train(FastPaths())  # checked once per process: no second warning
    ours = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if not ONEDNN_PLATFORM:  # the op is never tried there: nothing to warn about
        assert ours == []
        return
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert str(ours[0].message).startswith("torch.ops.mkldnn._linear_pointwise failed its self-check (")
    assert re.search(reason, str(ours[0].message)) and str(ours[0].message).endswith("dense layers use F.linear")
    assert info["epochs_done"] == 2 and np.isfinite(info["train_loss"])
    off_info, off_proba = train(FastPaths(onednn_dense=False))
    np.testing.assert_array_equal(proba, off_proba)
    assert info["history"] == off_info["history"]


def test_the_self_check_passes_here_and_leaves_the_global_rng_alone(fresh_onednn_check):
    """The check draws from its own generator: a model seeded before its first use is unchanged."""
    state = torch.get_rng_state()
    assert nets.onednn_dense_works() is ONEDNN_PLATFORM
    assert torch.equal(torch.get_rng_state(), state)


def test_fit_leaves_the_allocator_alone(fashion):
    """The allocator policy is the worker's: a fit in a fresh process does not apply mallopt."""
    code = ("import numpy as np\nimport datavsmath.trainables.allocator as allocator\n"
            "from datavsmath.trainables.datasets.built_in import load_fashion_mnist\n"
            "from datavsmath.trainables.models import build_model\n"
            "d = load_fashion_mnist(download=False)\n"
            "build_model('cnn', n_classes=10, input_shape=(28, 28), params={'epochs': 1}).fit("
            "d.x_train[:200], d.y_train[:200])\nprint(allocator._applied)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split()[-1] == "None"


# Four 20 MiB blocks freed together leave an 80 MiB free heap top: glibc's default trims it and
# faults the pages in again on the next round; the settings keep it. In a thread other than the
# main one (Tune trains in one) the blocks overflow a 64 MiB per-thread heap, which glibc unmaps
# once empty whatever the trim threshold: only capping the arenas (GLIBC_TUNABLES) helps there.
# argv: "tuned" or "default", then "main" or "thread".
_REALLOC_SCRIPT = """
import resource, sys, threading
import numpy as np
from datavsmath.trainables.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
faults = []
def work():
    def round_():
        blocks = [np.ones(20 * 1024 * 1024 // 8) for _ in range(4)]
        del blocks
    round_()
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(5):
        round_()
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
if sys.argv[2] == "thread":
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
else:
    work()
print(applied, faults[0])
"""


def _realloc_faults(mode: str, *, where: str = "main", glibc_tunables: str = "") -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != GLIBC_TUNABLES_ENV}
    if glibc_tunables:
        env[GLIBC_TUNABLES_ENV] = glibc_tunables
    out = subprocess.run([sys.executable, "-c", _REALLOC_SCRIPT, mode, where], capture_output=True, text=True,
                         check=True, env=env, cwd=REPO).stdout.split()
    return out[0], int(out[1])


def test_keep_freed_memory_stops_page_faults_on_reallocation():
    if not sys.platform.startswith("linux"):  # glibc's mallopt only: elsewhere a documented no-op
        assert keep_freed_memory() is False
        return
    assert keep_freed_memory() is True and keep_freed_memory() is True  # idempotent
    default_applied, default_faults = _realloc_faults("default")
    tuned_applied, tuned_faults = _realloc_faults("tuned")
    assert (default_applied, tuned_applied) == ("None", "True")
    assert default_faults > 5000, default_faults  # the problem being fixed: ~10k faults
    assert tuned_faults < default_faults / 10, (tuned_faults, default_faults)


def test_worker_glibc_tunables_stop_page_faults_in_a_training_thread():
    if not sys.platform.startswith("linux"):  # GLIBC_TUNABLES is glibc's: elsewhere ignored
        assert keep_freed_memory() is False
        return
    _, thread_faults = _realloc_faults("tuned", where="thread")
    _, worker_faults = _realloc_faults("tuned", where="thread", glibc_tunables=worker_glibc_tunables())
    assert thread_faults > 1000, thread_faults  # mallopt alone does not reach the thread's arena
    assert worker_faults < thread_faults / 10, (worker_faults, thread_faults)


@pytest.mark.parametrize("existing, expected", [
    (None, "glibc.malloc.arena_max=1"),
    ("", "glibc.malloc.arena_max=1"),
    ("glibc.malloc.hugetlb=1", "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"),
    ("glibc.malloc.arena_max=4", "glibc.malloc.arena_max=4"),  # the user's own setting wins
    ("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=2", "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=2"),
])
def test_worker_glibc_tunables_keeps_what_is_set(existing, expected):
    assert worker_glibc_tunables(existing) == expected


def test_sweep_workers_get_the_glibc_tunables(monkeypatch):
    from datavsmath.sweeps.ray_session import _runtime_env, _worker_env

    monkeypatch.setenv(GLIBC_TUNABLES_ENV, "glibc.malloc.hugetlb=1")
    monkeypatch.setenv("DATAVSMATH_FAULT", "model=rf,epoch=0")
    env = _worker_env()
    assert env[GLIBC_TUNABLES_ENV] == "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"
    assert env["DATAVSMATH_FAULT"] == "model=rf,epoch=0"
    assert _runtime_env(env, ("models",)) == {"env_vars": env, "py_modules": ["models"]}  # a cluster's nodes


def test_worker_env_is_set_only_while_the_embedded_ray_starts(monkeypatch):
    from datavsmath.sweeps.ray_session import _environ

    monkeypatch.delenv("DATAVSMATH_PROBE", raising=False)
    monkeypatch.setenv(GLIBC_TUNABLES_ENV, "glibc.malloc.hugetlb=1")
    with _environ({"DATAVSMATH_PROBE": "1", GLIBC_TUNABLES_ENV: "glibc.malloc.arena_max=1"}):
        assert os.environ["DATAVSMATH_PROBE"] == "1"
        assert os.environ[GLIBC_TUNABLES_ENV] == "glibc.malloc.arena_max=1"
    assert "DATAVSMATH_PROBE" not in os.environ
    assert os.environ[GLIBC_TUNABLES_ENV] == "glibc.malloc.hugetlb=1"


def test_tensorboardx_loads_in_the_driver_without_torch():
    """Tune's TensorBoard logger imports tensorboardX in the driver; torch stays out, and can
    still be imported afterwards (a user's module checked later)."""
    probe = ("import sys\n"
             "from datavsmath.sweeps.tuner import import_tensorboardx_without_torch\n"
             "import_tensorboardx_without_torch()\n"
             "assert 'tensorboardX' in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
             "from tensorboardX import SummaryWriter\n"
             "import torch\n"
             "print('ok', torch.__version__)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ok "), proc.stdout + proc.stderr
