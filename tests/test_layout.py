"""The design seen at a glance: which package may import which, and modules of one job.

- trainables (the core) imports nothing of ours;
- sweeps never imports analysis, except its CLI;
- analysis never imports the runner (it may read the spec's contract and the core);
- no module of the three packages is much over 500 lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainables", "sweeps", "analysis")
MAX_LINES = 530  # "about 500": a module past this has more than one job
RUNNER_MODULES = ("datavsmath.sweeps.runner", "datavsmath.sweeps.tuner", "datavsmath.sweeps.ray_session",
                  "datavsmath.sweeps.ownership", "datavsmath.sweeps.sweep_data")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every absolute module name that `path` imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def ours(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == f"datavsmath.{package}" or n.startswith(f"datavsmath.{package}.")}


@pytest.mark.parametrize("path", modules("trainables"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_nothing_of_ours(path):
    names = imported(path)
    assert not {n for n in names if n.startswith("datavsmath") and not n.startswith("datavsmath.trainables")}
    assert not {n.split(".")[0] for n in names} & {"sweeps", "analysis", "api"}


@pytest.mark.parametrize("path", [p for p in modules("sweeps") if p.name != "cli.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_sweeps_never_imports_analysis_except_the_cli(path):
    assert not ours(imported(path), "analysis")


@pytest.mark.parametrize("path", modules("analysis"), ids=lambda p: str(p.relative_to(ROOT)))
def test_analysis_never_imports_the_runner(path):
    names = imported(path)
    assert not {n for n in names for r in RUNNER_MODULES if n == r or n.startswith(r + ".")}
    assert "datavsmath.execute" not in names and "datavsmath.sweeping" not in names


def test_the_rules_see_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from datavsmath.sweeps.runner import run_sweep\n    return run_sweep\n")
    assert "datavsmath.sweeps.runner" in imported(bad)
    assert ours(imported(bad), "sweeps")


@pytest.mark.parametrize("path", [p for pkg in PACKAGES + ("api",) for p in modules(pkg)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_much_over_500_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it along its jobs"
