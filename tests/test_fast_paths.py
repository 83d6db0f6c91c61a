"""The trainer's speed-ups change nothing but speed: oneDNN dense layers and the malloc settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import trainables.models.nets as nets
from trainables.allocator import GLIBC_TUNABLES_ENV, keep_freed_memory, worker_glibc_tunables


@pytest.mark.parametrize("n_in, n_out, input_grad", [(784, 256, False), (256, 128, True),
                                                     (9216, 128, True), (128, 10, True)])
def test_dense_matches_linear_forward_and_backward(n_in, n_out, input_grad):
    torch.manual_seed(0)
    dense = nets.Dense(n_in, n_out)
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


def test_dense_takes_the_onednn_path_on_x86():
    if not nets.ONEDNN_DENSE:  # the flag is computed from the platform; assert that rule instead
        import platform
        assert platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available()
        return
    y = nets.Dense(784, 256)(torch.randn(4, 784))
    assert y.grad_fn is not None and "OneDNNLinear" in type(y.grad_fn).__name__


def test_dense_state_dict_is_a_linear_state_dict():
    """Checkpoints keep the nn.Linear layout, so states written before the change still load."""
    net = nets.dense_net({"dropout1": 0.4, "dropout2": 0.3})
    old = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Identity(),
                              torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Identity(),
                              torch.nn.Linear(128, 10))
    net.load_state_dict(old.state_dict())
    assert list(net.state_dict()) == list(old.state_dict())


@pytest.mark.parametrize("name, epochs", [("dnn", 3), ("cnn", 1)])
def test_onednn_and_blas_dense_train_to_the_same_accuracy(name, epochs, monkeypatch, fashion):
    """Same seed, same rows: the two dense back-ends differ by float noise only."""
    x, y = fashion.x_train[:3000], fashion.y_train[:3000]
    accs = []
    for flag in (True, False):
        monkeypatch.setattr(nets, "ONEDNN_DENSE", flag)
        model = nets.TorchNetModel(name, params={"epochs": epochs, "validation_split": 0.0}, seed=0)
        model.fit(x, y)
        accs.append(float((model.predict_proba(fashion.x_test[:2000]).argmax(1)
                           == fashion.y_test[:2000]).mean()))
    assert accs[0] > 0.6 and abs(accs[0] - accs[1]) <= 0.02, accs


# Four 20 MiB blocks freed together leave an 80 MiB free heap top: glibc's default trims it and
# faults the pages in again on the next round; the settings keep it. In a thread other than the
# main one (Tune trains in one) the blocks overflow a 64 MiB per-thread heap, which glibc unmaps
# once empty whatever the trim threshold: only capping the arenas (GLIBC_TUNABLES) helps there.
# argv: "tuned" or "default", then "main" or "thread".
_REALLOC_SCRIPT = """
import resource, sys, threading
import numpy as np
from trainables.allocator import keep_freed_memory
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
                         check=True, env=env, cwd=Path(__file__).resolve().parents[1]).stdout.split()
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
    from sweeps.runner import _runtime_env

    monkeypatch.setenv(GLIBC_TUNABLES_ENV, "glibc.malloc.hugetlb=1")
    monkeypatch.setenv("DATAVSMATH_FAULT", "model=rf,epoch=0")
    env = _runtime_env()["env_vars"]
    assert env[GLIBC_TUNABLES_ENV] == "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"
    assert env["DATAVSMATH_FAULT"] == "model=rf,epoch=0"
