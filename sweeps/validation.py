"""Validation of a whole spec, in one place, before anything runs: `parse_spec` turns a YAML
mapping into a `Spec` or raises SpecError naming the field, the allowed values and the value;
`load_spec` does it for a file or a shipped spec name; the spec is checked against the
dataset's facts when they are known (datavsmath.sweeps.dataset_fit). No ray import here."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from datavsmath.sweeps.dataset_fit import check_fits_dataset
from datavsmath.sweeps.report_keys import check_report
from datavsmath.sweeps.resources import check_resolution, parse_resources
from datavsmath.sweeps.safe_yaml import read_yaml
from datavsmath.sweeps.search_keys import check_search
from datavsmath.sweeps.spec import (
    AXES,
    AXIS_DEFAULTS,
    DATASET_FACTS_KEY,
    DEFAULT_CHECKPOINT_PERIOD_S,
    DEFAULT_CONFUSION,
    DEFAULT_DATASET,
    DEFAULT_REPAIR,
    DEFAULT_SEEDS,
    FRAC_DECIMALS,
    GRID_AXES,
    Grid,
    Spec,
    SpecError,
    checked,
    frac_key,
    listed_trials,
    with_source,
)
from datavsmath.trainables.audit_vote import AUDIT_FRACS, DEFAULT_AUDIT_FRAC, DEFAULT_VOTE_K, VOTE_KS
from datavsmath.trainables.checks import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    UNIT,
    UNIT_OPEN_LEFT,
    Interval,
    check_choice,
    check_int,
    check_keys,
    check_number,
    echo,
    is_number,
)
from datavsmath.trainables.damage import ALL_DAMAGE_MODES, NO_DAMAGE, TRANSITION_MODES
from datavsmath.trainables.datasets import DatasetConfigError, check_dataset_config
from datavsmath.trainables.models import MODEL_NAMES, validate_params
from datavsmath.trainables.models.registry import SEED_MODELS, ModelEntry
from datavsmath.trainables.models.user import UserModel, UserModelError, check_user_model
from datavsmath.trainables.repair import AUDIT, REPAIR_MODELS, REPAIRS, VOTE

# A `transition:` file: a K x K matrix as CSV (comma-separated numbers) or NumPy .npy.
TRANSITION_SUFFIXES = (".csv", ".npy")
# An experiment name is one safe path component: it names a folder inside the storage path.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,200}")
# A user model's name: a value of the model axis, a folder-name part and a Ray resource key.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,49}")
SEED_RANGE = Interval(0, 2**32 - 1)  # numpy's SeedSequence and every library's seed accept these
TOP_LEVEL_KEYS = (*GRID_AXES, "name", "description", "seeds", "grids", "include", "overrides",
                  "resources", "gpu_share", "max_failures", "checkpoint_period_s", "report", "dataset",
                  "models", "py_modules", "transition", "confusion", "repair_model", "search", "audit_frac",
                  "vote_k", "damage_test", DATASET_FACTS_KEY)
# Keys of a table / images config that are paths, resolved against the spec file's folder.
DATASET_PATH_KEYS = ("path", "test")
SPEC_PACKAGE = "datavsmath.sweeps.specs"
# Trials one sweep may hold unless --max-trials says more: the runner builds every trial in
# memory, and Tune holds one Trial object each.
DEFAULT_MAX_TRIALS = 100_000


def _check_bool(name: str, value: Any, _limits: None = None) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {echo(value)}")
    return value


@dataclass(frozen=True)
class Scalar:
    """One scalar spec key's constraint: `check` (a datavsmath.trainables.checks function, or
    _check_bool) of the value in `limits`, and the value when the key is not given (None:
    unset, nothing checked)."""

    check: Callable[..., Any]
    limits: Interval | None
    default: Any


# The scalar spec keys, declared once. A spec file's YAML and datavsmath.sweep's keywords (which
# become the same mapping) are both checked against this table (`scalar`).
SCALAR_KEYS: dict[str, Scalar] = {
    "gpu_share": Scalar(check_number, UNIT_OPEN_LEFT, None),  # also at Ray's resolution
    "max_failures": Scalar(check_int, NON_NEGATIVE, None),
    "checkpoint_period_s": Scalar(check_number, NON_NEGATIVE, DEFAULT_CHECKPOINT_PERIOD_S),
    "audit_frac": Scalar(check_number, AUDIT_FRACS, DEFAULT_AUDIT_FRAC),
    "vote_k": Scalar(check_int, VOTE_KS, DEFAULT_VOTE_K),
    "damage_test": Scalar(_check_bool, None, False),
}


def scalar(data: Mapping[str, Any], key: str) -> Any:
    """The value of scalar spec key `key` in `data`, checked by SCALAR_KEYS (its default when
    not given); SpecError naming the key, its limits and the value."""
    rule = SCALAR_KEYS[key]
    value = data.get(key, rule.default)
    return None if value is None and rule.default is None else checked(rule.check, key, value, rule.limits)


def check_experiment_name(name: Any, *, field: str = "name") -> str:
    """`name` if it is one safe path component: letters, digits, '.', '_' and '-', 1 to 200
    characters, not '.' or '..'. Else SpecError naming `field` ("name" in a spec, "--name")."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise SpecError(f"{field} must be 1-200 letters, digits, '.', '_' or '-' (one folder name, not '.' "
                        f"or '..'), got {echo(name)}")
    return name


def shipped_specs() -> list[str]:
    """Names of the specs shipped in the package (`datavsmath sweep NAME`)."""
    folder = importlib_resources.files(SPEC_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_spec_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a shipped spec."""
    if "\0" in str(name_or_path):  # the OS refuses such paths; say so instead of a ValueError
        raise SpecError(f"spec must be a YAML file or a shipped spec name without NUL bytes, "
                        f"got {echo(str(name_or_path))}")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if path.is_dir():
            raise SpecError(f"spec {path} is a directory, not a YAML file")
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        return path
    shipped = shipped_specs()
    if str(name_or_path) not in shipped:
        raise SpecError(f"spec must be a YAML file or one of {shipped}, got {echo(str(name_or_path))}")
    return Path(str(importlib_resources.files(SPEC_PACKAGE) / f"{name_or_path}.yaml"))


def load_spec(name_or_path: str | Path, *, max_trials: int | None = DEFAULT_MAX_TRIALS) -> Spec:
    """Read and validate a spec file or shipped spec name. Raises SpecError naming the file.

    max_trials: the most trials the spec may list (see parse_spec); None for no cap."""
    path = resolve_spec_path(name_or_path)
    data = read_yaml(path)
    try:
        return parse_spec(data, source=str(path), default_name=path.stem, max_trials=max_trials,
                          base_dir=path.resolve().parent)
    except SpecError as exc:
        raise with_source(str(path), exc) from exc


def check_trial(config: Mapping[str, Any]) -> dict[str, Any]:
    """One trial's axes ({model, sample_frac, damage_frac, damage_mode, repair, seed}) checked
    with the spec's rules, e.g. for a trial's recorded config; an axis of AXIS_DEFAULTS that is
    missing (a trial recorded before it existed) takes its default. Raises SpecError naming the axis."""
    config = {**AXIS_DEFAULTS, **config}
    missing = [a for a in AXES if a not in config]
    if missing:
        raise SpecError(f"missing axis {missing[0]!r}; a trial has {', '.join(AXES)}")
    model = config["model"]
    user = isinstance(model, str) and model not in MODEL_NAMES and MODEL_NAME_PATTERN.fullmatch(model)
    out = {a: _check_value("", a, config[a], models=(model,) if user else MODEL_NAMES) for a in GRID_AXES}
    out["seed"] = checked(check_int, "seed", config["seed"], SEED_RANGE)
    return out


def _check_list(where: str, key: str, values: Any) -> list:
    if not isinstance(values, list):
        raise SpecError(f"{where}{key} must be a list, got {type(values).__name__} {echo(values)}")
    if not values:
        raise SpecError(f"{where}{key} must not be empty, got []")
    counts = Counter(v if isinstance(v, Hashable) else repr(v) for v in values)  # linear, not values.count
    dupes = [echo(v) for v, n in counts.items() if n > 1]  # in the order they first appear
    if dupes:
        more = f" and {len(dupes) - 5} more" if len(dupes) > 5 else ""
        raise SpecError(f"{where}{key} must have distinct values, got duplicates {', '.join(dupes[:5])}{more}")
    return values


_FRACTION_RANGES = {"sample_frac": UNIT_OPEN_LEFT, "damage_frac": UNIT}
_CHOICES = {"model": MODEL_NAMES, "damage_mode": ALL_DAMAGE_MODES, "repair": REPAIRS}


def _check_value(where: str, key: str, value: Any, *, models: tuple[str, ...] = MODEL_NAMES) -> Any:
    """One axis value; `models`: the values of the model axis (the seed models and the spec's own)."""
    if key in _FRACTION_RANGES:
        return checked(check_number, f"{where}{key}", value, _FRACTION_RANGES[key])
    return checked(check_choice, f"{where}{key}", value, models if key == "model" else _CHOICES[key])


def _check_distinct_after_rounding(grids: Sequence[Grid]) -> None:
    """SpecError naming both values when two values of a fraction axis (over all grids) are
    different numbers but one after rounding to FRAC_DECIMALS, which the results would
    merge into one trial."""
    for axis in _FRACTION_RANGES:
        first: dict[float, float] = {}
        for grid in grids:
            for value in getattr(grid, axis):
                other = first.setdefault(frac_key(value), value)
                if other != value:
                    raise SpecError(f"{axis} values {other!r} and {value!r} are equal after rounding to "
                                    f"{FRAC_DECIMALS} decimals, which the results use: keep one of them")


def _check_axis(where: str, key: str, values: Any, *, models: tuple[str, ...] = MODEL_NAMES) -> tuple:
    return tuple(_check_value(where, key, v, models=models) for v in _check_list(where, key, values))


def _parse_grid(block: Any, *, where: str, models: tuple[str, ...] = MODEL_NAMES) -> Grid:
    if not isinstance(block, dict):
        raise SpecError(f"{where}must be a mapping of axes, got {type(block).__name__}")
    check_keys(where.removesuffix(": "), sorted(block, key=str), GRID_AXES, error=SpecError)
    needed = [a for a in GRID_AXES if a not in AXIS_DEFAULTS]
    missing = [a for a in needed if a not in block]
    if missing:
        raise SpecError(f"{where}missing axis {missing[0]!r}; every grid needs {', '.join(needed)}")
    grid = Grid(**{a: _check_axis(where, a, block[a], models=models) for a in GRID_AXES if a in block})
    if NO_DAMAGE in grid.damage_mode and any(d > 0 for d in grid.damage_frac):
        bad = max(grid.damage_frac)
        raise SpecError(f"{where}damage_mode {NO_DAMAGE!r} needs damage_frac 0, got damage_frac {bad}; "
                        "put undamaged runs in their own grid")
    return grid


def _parse_seeds(values: Any) -> tuple[int, ...]:
    values = _check_list("", "seeds", values)
    return tuple(checked(check_int, "seeds", s, SEED_RANGE) for s in values)


def _parse_overrides(raw: Any, models: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise SpecError(f"overrides must be a mapping model -> {{param: value}}, got {echo(raw)}")
    for model, params in raw.items():
        if model not in models:
            raise SpecError(f"overrides for model {echo(model)}: model must be one in the sweep "
                            f"{list(models)}, got {echo(model)}")
        if model not in MODEL_NAMES:
            raise SpecError(f"overrides.{model}: {model} is a model of the spec's own; set its settings in "
                            f"models.{model}")
        if not isinstance(params, dict):
            raise SpecError(f"overrides.{model} must be a mapping, got {echo(params)}")
        try:
            validate_params(model, params)
        except ValueError as exc:
            raise SpecError(f"overrides.{model}: {exc}") from exc
    return {m: dict(p) for m, p in raw.items()}


def _read_transition_file(path: Path) -> Any:
    """The matrix in a `transition:` file (TRANSITION_SUFFIXES), as nested lists."""
    import numpy as np

    if path.suffix.lower() not in TRANSITION_SUFFIXES:
        raise SpecError(f"transition file must be {' or '.join(TRANSITION_SUFFIXES)}, got {path}")
    try:
        matrix = np.load(path, allow_pickle=False) if path.suffix.lower() == ".npy" else \
            np.loadtxt(path, delimiter=",", ndmin=2)
    except FileNotFoundError as exc:
        raise SpecError(f"transition file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        # Never the file's text: the path may lead anywhere (a link to /etc/passwd).
        where = re.search(r"at row (\d+), column (\d+)", str(exc))
        at = f" (row {int(where[1]) + 1}, column {where[2]} is not a number)" if where else f" ({type(exc).__name__})"
        raise SpecError(f"transition file {path} cannot be read as a comma-separated matrix of numbers{at}") from exc
    return matrix.tolist()


def _parse_transition(raw: Any, *, base_dir: Path | None) -> tuple[tuple[float, ...], ...]:
    """`transition:` as rows of floats: a list of K lists of K numbers, or the path of a CSV or
    .npy file (relative ones against `base_dir`). Shape, signs and rows are checked against
    the dataset's classes by check_fits_dataset."""
    if isinstance(raw, str):
        path = Path(raw).expanduser()
        raw = _read_transition_file(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
    rows = raw if isinstance(raw, list) else None
    if not rows or not all(isinstance(r, list) and r and all(is_number(x) for x in r) for r in rows):
        raise SpecError(f"transition must be a K x K list of numbers (row c: where damaged labels of class c "
                        f"go) or the path of a .csv or .npy file, got {echo(raw)}")
    return tuple(tuple(float(x) for x in row) for row in rows)


def _parse_settings(raw: Any, *, key: str, defaults: Mapping[str, Any], models: Mapping[str, Any],
                    count: str, count_range: Interval) -> dict[str, Any]:
    """`confusion:` / `repair_model:`: {model: one of `models`, <count>: int in count_range}, defaults filled in."""
    if not isinstance(raw, dict):
        raise SpecError(f"{key} must be a mapping with keys model, {count}, got {echo(raw)}")
    check_keys(key, sorted(raw, key=str), tuple(defaults), error=SpecError)
    out = {**defaults, **raw}
    out["model"] = checked(check_choice, f"{key}.model", out["model"], tuple(models))
    out[count] = checked(check_int, f"{key}.{count}", out[count], count_range)
    return out


def _check_damage_settings(data: Mapping[str, Any], grids: tuple[Grid, ...]) -> None:
    """`matrix` needs a top-level `transition`, and `transition` / `confusion` need their mode."""
    modes = {m for g in grids for m in g.damage_mode}
    if "matrix" in modes and "transition" not in data:
        raise SpecError(f"damage_mode matrix needs a top-level transition: a K x K list or a .csv / .npy file "
                        f"({TRANSITION_MODES['matrix']})")
    for key, mode in (("transition", "matrix"), ("confusion", "confusion")):
        if key in data and mode not in modes:
            raise SpecError(f"{key} is given but no grid has damage_mode {mode}; add it to a damage_mode axis "
                            "or remove it")
    if "repair_model" in data and not any(r != AXIS_DEFAULTS["repair"] for g in grids for r in g.repair):
        raise SpecError("repair_model is given but no grid has a repair other than none; add prune or relabel "
                        "to a repair axis or remove it")
    for key, repair in (("audit_frac", AUDIT), ("vote_k", VOTE)):
        if key in data and not any(repair in g.repair for g in grids):
            raise SpecError(f"{key} is given but no grid has repair {repair}; add {repair} to a repair axis "
                            "or remove it")


def _parse_label_budgets(data: Mapping[str, Any]) -> dict[str, Any]:
    """audit_frac in AUDIT_FRACS, vote_k in VOTE_KS and damage_test (true or false), defaults
    filled in (SCALAR_KEYS); damage_test is checked first."""
    damage_test = scalar(data, "damage_test")
    return {"audit_frac": scalar(data, "audit_frac"), "vote_k": scalar(data, "vote_k"), "damage_test": damage_test}


def _parse_dataset(raw: Any, *, base_dir: Path | None) -> dict[str, Any]:
    """`dataset:` in the normal form of check_dataset_config, its paths made absolute against
    `base_dir` (the spec file's folder; None: the working directory)."""
    try:
        normal = check_dataset_config(raw)
    except DatasetConfigError as exc:
        raise SpecError(str(exc)) from exc
    for key in DATASET_PATH_KEYS:
        if normal.get(key) is not None:
            path = Path(normal[key]).expanduser()
            normal[key] = str(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
    return normal


def _parse_py_modules(raw: Any, *, base_dir: Path | None, recorded: bool = False) -> tuple[str, ...]:
    """`py_modules: [DIR, ...]`, each an existing local package folder or .whl (relative ones
    against `base_dir`), or a URI Ray can fetch (s3://, gs://, https://); Ray ships each to
    every node (runtime_env py_modules), a folder as the package of its name. recorded: the
    paths of a stored spec, taken as they are (reading results never needs them)."""
    values = _check_list("", "py_modules", raw)
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"py_modules entries must be paths of module folders or files, got {echo(value)}")
        if "://" in value:
            out.append(value)
            continue
        path = Path(value).expanduser()
        path = path if path.is_absolute() else (base_dir or Path.cwd()) / path
        if recorded:
            out.append(str(path))
            continue
        if not path.exists():
            raise SpecError(f"py_modules: {path} does not exist")
        if not path.is_dir() and path.suffix != ".whl":
            raise SpecError(f"py_modules: {path} must be a folder of Python modules (a package) or a .whl")
        out.append(str(path))
    return tuple(out)


def _parse_facts(raw: Any) -> dict[str, Any] | None:
    """The stored dataset_facts (written by the runner), checked for the keys info_from_facts reads."""
    if raw is None:
        return None
    needed = ("name", "class_names", "input_shape", "n_train", "n_test", "fingerprint")
    if not isinstance(raw, dict) or any(key not in raw for key in needed):
        raise SpecError(f"{DATASET_FACTS_KEY} is written by the runner and must be a mapping with "
                        f"{', '.join(needed)}, got {echo(raw)}")
    return dict(raw)


def _parse_models(raw: Any) -> dict[str, UserModel]:
    """`models: {NAME: {estimator: ...} | {module: ...}}`, each checked into a UserModel
    (datavsmath.trainables.models.user) without importing; a name is a new value of the model axis."""
    if not isinstance(raw, dict) or not raw:
        raise SpecError(f"models must be a mapping NAME -> {{estimator: PATH}} or {{module: PATH}}, got {echo(raw)}")
    out = {}
    for name, definition in raw.items():
        if not isinstance(name, str) or not MODEL_NAME_PATTERN.fullmatch(name):
            raise SpecError(f"models: a model name must be 1-50 letters, digits or '_' starting with a letter, "
                            f"got {echo(name)}")
        if name in MODEL_NAMES:
            raise SpecError(f"models.{name}: {name} is a seed model; give your model another name "
                            f"(built in: {', '.join(MODEL_NAMES)})")
        try:
            out[name] = check_user_model(name, definition)
        except UserModelError as exc:
            raise SpecError(str(exc)) from exc
    return out


def _collect_grids(data: dict, *, source: str, seen: tuple[str, ...],
                   models: tuple[str, ...] = MODEL_NAMES) -> list[Grid]:
    grids: list[Grid] = []
    for name in _check_list("", "include", data["include"]) if "include" in data else []:
        if not isinstance(name, str):
            raise SpecError(f"include entries must be shipped spec names {shipped_specs()}, got {echo(name)}")
        if name in seen:
            raise SpecError(f"include must not be circular, got {echo(name)} via {' -> '.join(seen)}")
        inner = read_yaml(resolve_spec_path(name))
        grids += _collect_grids(inner, source=name, seen=(*seen, name), models=models)
    # A defaulted axis (repair) at the top level with no other top-level axis, beside `grids`
    # or `include`, applies to every one of their grids that does not set it.
    shared = {a: data[a] for a in AXIS_DEFAULTS if a in data}
    own_grid = any(a in data for a in GRID_AXES if a not in AXIS_DEFAULTS)
    if shared and not own_grid:
        values = {a: _check_axis("", a, v, models=models) for a, v in shared.items()}
        grids = [replace(g, **{a: v for a, v in values.items() if getattr(g, a) == (AXIS_DEFAULTS[a],)})
                 for g in grids]
    if "grids" in data:
        for i, block in enumerate(_check_list("", "grids", data["grids"])):
            if shared and not own_grid and isinstance(block, dict):
                block = {**shared, **block}
            grids.append(_parse_grid(block, where=f"grids[{i}]: ", models=models))
    if own_grid:
        grids.append(_parse_grid({a: data[a] for a in GRID_AXES if a in data}, where="", models=models))
    if not grids:
        raise SpecError(f"spec {source} has no trials: give the axes {', '.join(GRID_AXES)}, "
                        "a `grids` list, or `include`")
    return grids


def check_trial_count(listed: int, *, max_trials: int, source: str) -> None:
    """SpecError when `listed` trials (counted, never built) exceed `max_trials` (>= 1)."""
    max_trials = checked(check_int, "--max-trials", max_trials, AT_LEAST_ONE)
    if listed > max_trials:
        raise SpecError(f"spec {source}: {listed} trials (counted before merging duplicates), more than "
                        f"--max-trials {max_trials}; shrink the grids or seeds, or pass --max-trials {listed}")


def _parse_report(raw: Any, models: tuple[str, ...]) -> dict[str, Any]:
    """`report:` in its normal form (datavsmath.sweeps.report_keys: the situation and the tables)."""
    return checked(lambda: check_report(raw, models=models))


def _description(data: dict[str, Any]) -> str:
    value = data.get("description", "")
    if not isinstance(value, str):
        raise SpecError(f"description must be a string, got {type(value).__name__} {echo(value)}")
    return value


def parse_spec(data: dict[str, Any], *, source: str = "<spec>", default_name: str = "sweep",
               max_trials: int | None = DEFAULT_MAX_TRIALS, base_dir: Path | None = None,
               recorded: bool = False) -> Spec:
    """Validate a spec mapping (from parse_yaml_text) into a Spec. Raises SpecError.

    max_trials: the most trials the spec may list, counted before merging duplicates
    (default DEFAULT_MAX_TRIALS; None: no cap). base_dir: the folder that the relative paths
    of `dataset` and `py_modules` resolve against (the spec file's; default the working
    directory). Every model's smallest sample_frac must give it the rows it needs
    (rows_problem) when the dataset's facts are known without reading it (the built-in
    datasets, a stored spec); for a table or image folder the runner checks once it is read
    (check_fits_dataset). Resource amounts are at Ray's resolution. recorded: a spec stored
    with an experiment, for reading its results: its py_modules need not exist any more.
    """
    check_keys(f"spec {source}", sorted(data, key=str), TOP_LEVEL_KEYS, error=SpecError)
    name = check_experiment_name(data.get("name", default_name))
    description = _description(data)
    user_models = _parse_models(data["models"]) if "models" in data else {}
    grids = tuple(_collect_grids(data, source=source, seen=(name,), models=(*MODEL_NAMES, *user_models)))
    _check_distinct_after_rounding(grids)
    seeds = _parse_seeds(data["seeds"]) if "seeds" in data else DEFAULT_SEEDS
    if max_trials is not None:
        check_trial_count(listed_trials(grids, len(seeds)), max_trials=max_trials, source=source)
    models = tuple(dict.fromkeys(m for g in grids for m in g.model))
    gpu_share = scalar(data, "gpu_share")
    if gpu_share is not None:
        gpu_share = check_resolution("gpu_share", gpu_share)
    max_failures = scalar(data, "max_failures")
    period = scalar(data, "checkpoint_period_s")
    overrides = _parse_overrides(data.get("overrides", {}), models)
    _check_damage_settings(data, grids)
    unused = [m for m in user_models if m not in models]
    if unused:
        raise SpecError(f"models.{unused[0]} is defined but no grid sweeps it; add it to a model axis or remove it")
    entries: dict[str, ModelEntry | UserModel] = {m: user_models[m] if m in user_models else SEED_MODELS[m]
                                                  for m in models}
    spec = Spec(
        name=name, grids=grids, models=entries, seeds=seeds, description=description, overrides=overrides,
        resources=parse_resources(data.get("resources", {}), models),
        gpu_share=gpu_share, max_failures=max_failures, checkpoint_period_s=period,
        report=_parse_report(data.get("report", {}), models), source=source,
        dataset=_parse_dataset(data.get("dataset", DEFAULT_DATASET), base_dir=base_dir),
        py_modules=_parse_py_modules(data["py_modules"], base_dir=base_dir, recorded=recorded)
        if "py_modules" in data else (),
        dataset_facts=_parse_facts(data.get(DATASET_FACTS_KEY)),
        transition=_parse_transition(data["transition"], base_dir=base_dir) if "transition" in data else None,
        confusion=_parse_settings(data.get("confusion", {}), key="confusion", defaults=DEFAULT_CONFUSION,
                                  models=REPAIR_MODELS, count="n_samples", count_range=Interval(2, None)),
        repair_model=_parse_settings(data.get("repair_model", {}), key="repair_model", defaults=DEFAULT_REPAIR,
                                     models=REPAIR_MODELS, count="folds", count_range=Interval(2, None)),
        search=checked(check_search, data.get("search")),
        **_parse_label_budgets(data),
    )
    info = spec.dataset_info
    if info is not None:
        check_fits_dataset(spec, info)
    return spec
