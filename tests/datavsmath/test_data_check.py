"""Without Fashion-MNIST (no local copy, no download), `make test` and `make demo` stop at
their first step with the one message that says how to provide it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[2]


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(ROOT), f"PY={sys.executable}", *args], capture_output=True,
                          text=True, timeout=120, env=cli_env(env))


def test_no_data_stops_with_one_message(tmp_path):
    (tmp_path / "empty").mkdir()
    done = _make("data-check", "DATA_FLAGS=--no-download",
                 env={"DATAVSMATH_DATA": str(tmp_path / "empty"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode != 0
    assert done.stderr.count("datavsmath: error:") == 1
    assert "holds none of the four Fashion-MNIST IDX files" in done.stderr
    assert "Provide it in one of these ways:" in done.stderr and "apt-get install dataset-fashion-mnist" in done.stderr


def test_with_data_it_says_where_it_is():
    done = _make("data-check", "DATA_FLAGS=--no-download")
    assert done.returncode == 0, done.stderr
    assert "checksums verified" in done.stdout


@pytest.mark.parametrize("target, then", [("test", "pytest"), ("demo", "sweep laptop")])
def test_the_check_comes_first(target, then):
    """`make -n` lists the recipe lines in order: the data check before the tests or the demo."""
    lines = _make("-n", target, "PY=.venv/bin/python").stdout.splitlines()
    check = next(i for i, line in enumerate(lines) if "datavsmath.cli data" in line)
    assert check < next(i for i, line in enumerate(lines) if then in line)
