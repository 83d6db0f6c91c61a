"""The design seen at a glance: which package may import which, and modules of one job.

- trainables (the core) imports nothing of ours;
- sweeps never imports analysis;
- analysis never imports the runner (it may read the spec's contract and the core);
- nothing under the three folders imports the root package (datavsmath/: the API and the CLI);
- no import loop among our modules;
- no module is much over 500 lines;
- `dir(datavsmath)` is its public names.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainables", "sweeps", "analysis")
# folder -> the import name it installs as (pyproject.toml's package-dir)
INSTALLED = {"datavsmath": "datavsmath", **{p: f"datavsmath.{p}" for p in PACKAGES}}
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


@pytest.mark.parametrize("path", modules("sweeps"), ids=lambda p: str(p.relative_to(ROOT)))
def test_sweeps_never_imports_analysis(path):
    assert not ours(imported(path), "analysis")


@pytest.mark.parametrize("path", modules("analysis"), ids=lambda p: str(p.relative_to(ROOT)))
def test_analysis_never_imports_the_runner(path):
    names = imported(path)
    assert not {n for n in names for r in RUNNER_MODULES if n == r or n.startswith(r + ".")}
    assert "datavsmath._execute" not in names and "datavsmath._sweeping" not in names


# The experiment's contract, what analysis may read of sweeps: the spec and its checks, the
# report's and the search's keys, safe YAML, the folder's layout (every file name) and the
# driver's lock file.
CONTRACT = tuple(f"datavsmath.sweeps.{m}" for m in ("spec", "validation", "report_keys", "search_keys", "safe_yaml",
                                                    "experiment_layout", "lock", "adaptive_design"))


@pytest.mark.parametrize("path", modules("analysis"), ids=lambda p: str(p.relative_to(ROOT)))
def test_analysis_reads_only_the_experiments_contract(path):
    known = module_names()
    read = {n for n in ours(imported(path), "sweeps") if n in known} - {"datavsmath.sweeps"}
    assert read <= set(CONTRACT)


def module_names() -> dict[str, Path]:
    """Every module of ours by its installed name (a package by its own name, not `__init__`)."""
    found = {}
    for folder, name in INSTALLED.items():
        for path in modules(folder):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([name, *parts])] = path
    return found


def root_modules(names: set[str]) -> set[str]:
    """The names that reach the root package: `datavsmath` itself or a module in datavsmath/."""
    below = tuple(f"datavsmath.{p}" for p in PACKAGES)
    return {n for n in names if n.startswith("datavsmath") and not n.startswith(below)}


@pytest.mark.parametrize("path", [p for pkg in PACKAGES for p in modules(pkg)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_below_imports_the_root_package(path):
    assert not root_modules(imported(path))


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (an imported name is resolved to its module)."""
    names = module_names()

    def module_of(name: str) -> str:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name

    return {m: {module_of(n) for n in imported(p) if n.startswith("datavsmath")} - {"", m}
            for m, p in names.items()}


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import loops of `graph`: its strongly connected parts of two modules or more."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            part = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return found


def test_no_import_loop():
    assert loops(import_graph()) == []


def test_the_rules_see_a_loop_and_a_climb():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert root_modules({"datavsmath", "datavsmath._results.Results", "datavsmath.sweeps.spec"}) == {
        "datavsmath", "datavsmath._results.Results"}


# A list's one owner: each name is defined there and imported from there (file names of the
# trial's own, named by the core, also through experiment_layout, which names every file).
LAYOUT = "datavsmath.sweeps.experiment_layout"
OWNERS = {
    "NO_REPAIR": ("datavsmath.trainables.repair",), "NO_DAMAGE": ("datavsmath.trainables.damage",),
    "CURVE_FAMILIES": ("datavsmath.sweeps.report_keys",),
    **{name: (LAYOUT,) for name in ("SPEC_FILE", "LOCK_FILE", "INPUTS_DIR", "TUNER_FILE", "STATE_PREFIX",
                                    "EXTENSION_PREFIX", "CONFUSION_REFERENCE_FILE", "RESULTS_PARQUET", "RESULTS_CSV",
                                    "SEED_RESULTS_CSV", "REPORT_FILE", "SEARCHER_STATE_GLOB", "PARAMS_FILE",
                                    "RESULT_FILE", "ERROR_FILE", "TRIAL_MARKERS")},
    **{name: ("datavsmath.trainables.trial_files", LAYOUT) for name in ("STATE_FILE", "FAULT_MARKER")},
}


def test_each_list_has_one_owner():
    wrong = []
    for module, path in module_names().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                wrong += [f"{module} imports {a.name} from {node.module}" for a in node.names
                          if a.name in OWNERS and node.module not in OWNERS[a.name]]
            elif isinstance(node, ast.Assign) and module != OWNERS.get(getattr(node.targets[0], "id", ""), (module,))[0]:
                wrong.append(f"{module} defines {node.targets[0].id}")  # type: ignore[attr-defined]
    assert wrong == []


def test_file_names_are_written_where_they_are_owned():
    import datavsmath.sweeps.experiment_layout as layout

    names = {getattr(layout, n) for n in OWNERS if LAYOUT in OWNERS[n] and isinstance(getattr(layout, n), str)}
    owners = {"datavsmath.sweeps.experiment_layout", "datavsmath.trainables.trial_files"}
    found = [f"{module}: {node.value!r}" for module, path in module_names().items() if module not in owners
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value in names]
    assert found == []


def test_every_curve_family_is_implemented():
    from datavsmath.analysis.families import OTHER_FAMILIES, PARAMETRIC
    from datavsmath.sweeps.report_keys import CURVE_FAMILIES

    assert set(CURVE_FAMILIES) == {*PARAMETRIC, *OTHER_FAMILIES} - {"pow2"}


def test_dir_lists_the_public_names_only():
    import datavsmath

    assert dir(datavsmath) == sorted({*datavsmath.__all__, *(n for n in vars(datavsmath) if n.startswith("__"))})
    assert {"sweep", "load", "Results", "shutdown"} <= set(datavsmath.__all__)


def test_the_rules_see_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from datavsmath.sweeps.runner import run_sweep\n    return run_sweep\n")
    assert "datavsmath.sweeps.runner" in imported(bad)
    assert ours(imported(bad), "sweeps")


@pytest.mark.parametrize("path", [p for pkg in INSTALLED for p in modules(pkg)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_much_over_500_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it along its jobs"


def test_every_public_name_resolves():
    import datavsmath

    assert all(getattr(datavsmath, name) is not None for name in datavsmath.__all__)
