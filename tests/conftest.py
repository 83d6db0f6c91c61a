"""Shared test support: the real Fashion-MNIST, loaded once per session, and the CLI runner.

`fashion` is a fixture (pytest injects it). `CLI`, `cli_env` and `run_cli` are plain
functions and constants, imported with ``from tests.conftest import CLI, run_cli``: they are
called from helper functions and module-scoped fixtures (a sweep run once per module), where
a function-scoped fixture cannot be requested. Because tests/ is a package, pytest (default
"prepend" import mode) imports this file as the module ``tests.conftest``, so that import
returns the very module pytest loaded, not a second copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping

import pytest

from datavsmath.trainables.datasets.built_in import load_fashion_mnist

# The `datavsmath` command as the tests run it: this interpreter, the source tree's module.
CLI = [sys.executable, "-m", "datavsmath.cli"]
DEFAULT_CLI_TIMEOUT_S = 300.0


def cli_env(env: Mapping[str, str] | None = None, *, drop: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a CLI subprocess: this one without `drop`, with unbuffered output
    (progress lines arrive as they are printed), then `env` on top."""
    out = {k: v for k, v in os.environ.items() if k not in set(drop)}
    out["PYTHONUNBUFFERED"] = "1"
    out.update(env or {})
    return out


def run_cli(*args: str, timeout: float = DEFAULT_CLI_TIMEOUT_S,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `datavsmath ARGS...` in a subprocess; text stdout/stderr captured, never raises on
    a non-zero exit (check `.returncode`). `env` adds to (or overrides) this environment."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=cli_env(env))


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread_in_the_test_process():
    """BLAS at one thread in pytest's own process. With two (one per core) OpenBLAS spin-waits
    whenever Ray workers of the same tests hold the cores: a 1,437-row logistic regression
    then takes 8-16 s instead of 0.2-0.3 s. Ray's workers and CLI subprocesses keep their own."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def fashion():
    """The real dataset (found locally: Debian's package in CI); never downloaded in tests."""
    return load_fashion_mnist(download=False)


@pytest.fixture
def no_ray_before_or_after():
    """Ray is not running before the test, and the test did not start it (input refused first)."""
    import ray

    assert not ray.is_initialized()
    yield
    assert not ray.is_initialized(), "ray.init ran before the input was rejected"
