"""One family of errors: every exception class of ours derives from DatavsmathError, bad input
(SpecError) and a run that cannot go on (SweepError) are apart, and "unknown key" has one
author (trainables.checks.check_keys)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import datavsmath as dvm
from datavsmath.trainables.checks import check_keys

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"datavsmath": "datavsmath", "trainables": "datavsmath.trainables", "sweeps": "datavsmath.sweeps",
           "analysis": "datavsmath.analysis"}


def exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every class of ours whose bases name an Error, Exception or Fault."""
    found = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and any(
                        ast.unparse(b).endswith(("Error", "Exception", "Fault")) for b in node.bases):
                    found.append((".".join([package, *parts]), node.name))
    return found


@pytest.mark.parametrize("module, name", exception_classes(), ids=lambda x: x)
def test_every_error_of_ours_is_a_datavsmath_error(module, name):
    assert issubclass(getattr(importlib.import_module(module), name), dvm.DatavsmathError)


def test_the_rules_see_the_errors():
    names = {name for _, name in exception_classes()}
    assert {"SpecError", "SweepError", "DatasetError", "DataNotFoundError", "LockError", "TrialsError",
            "UsageError", "InfeasibleRequestError", "UserModelError"} <= names


def test_bad_input_and_run_failures_are_apart():
    from datavsmath.sweeps.lock import LockError
    from datavsmath.sweeps.resources import InfeasibleRequestError

    assert issubclass(dvm.SpecError, ValueError) and issubclass(dvm.SweepError, RuntimeError)
    assert not issubclass(dvm.SweepError, dvm.SpecError) and not issubclass(dvm.SpecError, dvm.SweepError)
    assert issubclass(LockError, dvm.SweepError) and issubclass(InfeasibleRequestError, dvm.SweepError)


def test_a_request_no_node_fits_is_a_sweep_error_in_python(no_ray_before_or_after):
    with pytest.raises(dvm.SweepError, match=r"resources for rf: request \{cpu: 4096, gpu: 0\} fits no single node"
                       ) as info:
        dvm.plan(spec="smoke", resources={"rf": {"cpu": 4096}})
    assert not isinstance(info.value, dvm.SpecError)


def test_check_keys_words_every_unknown_key_alike():
    with pytest.raises(ValueError, match=r"^report: unknown key 'colour'; allowed: current, target$"):
        check_keys("report", ["current", "colour"], ("current", "target"))
    with pytest.raises(KeyError, match=r"unknown key 'path' for kind mnist; allowed: kind"):
        check_keys("dataset", ["kind", "path"], ("kind",), of=" for kind mnist", error=KeyError)
    with pytest.raises(ValueError, match=r"^unknown key 'x'$"):
        check_keys("", ["x"], ("a",), list_allowed=False)
    check_keys("report", ["current"], ("current", "target"))


def test_unknown_key_is_written_once():
    writers = [str(p.relative_to(ROOT)) for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))
               if "unknown key {" in p.read_text()]
    assert writers == ["trainables/checks.py"]
