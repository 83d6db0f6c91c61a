"""Sweep specs: plain YAML data, validated before anything starts. No ray import here.

A spec names the axes of one cross product, or several (`grids`, `include`), whose union
is the sweep; `seeds` replicate every combination. Example::

    name: size
    model: [rf, xgb, dnn, cnn]
    sample_frac: [0.01, 0.02, 1.0]
    damage_frac: [0.0]
    damage_mode: [none]
    seeds: [0]
    overrides: {cnn: {epochs: 3}}
    resources: {cnn: {cpu: 1, gpu: 0.25}}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import yaml

from trainables import storage
from trainables.checks import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    UNIT_OPEN_LEFT,
    Interval,
    check_choice,
    check_int,
    check_number,
    echo,
)
from trainables.damage import DAMAGE_MODES
from trainables.models import MODEL_NAMES, validate_params

# The axes of one grid, then the replicate axis: a trial is one value of each.
GRID_AXES = ("model", "sample_frac", "damage_frac", "damage_mode")
AXES = (*GRID_AXES, "seed")
# The validated spec, stored in the experiment directory beside Tune's files.
SPEC_FILE = "spec.yaml"
# An experiment name is one safe path component: it names a folder inside the storage path.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,200}")
SEED_RANGE = Interval(0, 2**32 - 1)  # numpy's SeedSequence and every library's seed accept these
TOP_LEVEL_KEYS = (*GRID_AXES, "name", "description", "seeds", "grids", "include", "overrides",
                  "resources", "gpu_share", "max_failures", "checkpoint_period_s")
RESOURCE_KEYS = ("cpu", "gpu")
DEFAULT_SEEDS = (0,)
# A net trial checkpoints after an epoch once this many seconds passed since its last
# checkpoint (0 = after every epoch). Each checkpoint costs a state copy, a pickle and Tune
# persisting it: per epoch, the laptop sweep's dnn trials took 37.3 s in all instead of 22.4 s
# (benchmarks/README.md); a failure now costs at most this much repeated training.
DEFAULT_CHECKPOINT_PERIOD_S = 30.0
SPEC_PACKAGE = "sweeps.specs"


class SpecError(ValueError):
    """A sweep spec is malformed; the message names the field, allowed values and value."""


def check_experiment_name(name: Any, *, field: str = "name") -> str:
    """`name` if it is one safe path component: letters, digits, '.', '_' and '-', 1 to 200
    characters, not '.' or '..'. Else SpecError naming `field` ("name" in a spec, "--name")."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise SpecError(f"{field} must be 1-200 letters, digits, '.', '_' or '-' (one folder name, not '.' "
                        f"or '..'), got {echo(name)}")
    return name


def _checked(check: Any, *args: Any) -> Any:
    """Run a trainables.checks function, turning its ValueError into SpecError."""
    try:
        return check(*args)
    except ValueError as exc:
        raise SpecError(str(exc)) from exc


@dataclass(frozen=True)
class Grid:
    """One cross product of the GRID_AXES; every value is a tuple of distinct entries."""

    model: tuple[str, ...]
    sample_frac: tuple[float, ...]
    damage_frac: tuple[float, ...]
    damage_mode: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    """A validated sweep: the union of `grids`, each combination once per seed."""

    name: str
    grids: tuple[Grid, ...]
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    description: str = ""
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, float]] = field(default_factory=dict)
    gpu_share: float | None = None
    max_failures: int | None = None
    checkpoint_period_s: float = DEFAULT_CHECKPOINT_PERIOD_S
    source: str = ""

    @property
    def models(self) -> tuple[str, ...]:
        """Models in the sweep, in first-seen order."""
        return tuple(dict.fromkeys(m for g in self.grids for m in g.model))


def shipped_specs() -> list[str]:
    """Names of the specs shipped in the package (`datavsmath sweep NAME`)."""
    folder = importlib_resources.files(SPEC_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_spec_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a shipped spec."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        return path
    shipped = shipped_specs()
    if str(name_or_path) not in shipped:
        raise SpecError(f"spec must be a YAML file or one of {shipped}, got {str(name_or_path)!r}")
    return Path(str(importlib_resources.files(SPEC_PACKAGE) / f"{name_or_path}.yaml"))


def parse_yaml_text(text: str, *, source: str) -> dict[str, Any]:
    """safe_load a YAML mapping, turning parse errors into SpecError naming `source` and the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"spec {source}: malformed YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"spec {source}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in the file `path` (see parse_yaml_text)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"spec {path}: cannot read: {exc}") from exc
    return parse_yaml_text(text, source=str(path))


def load_spec(name_or_path: str | Path) -> Spec:
    """Read and validate a spec file or shipped spec name. Raises SpecError."""
    path = resolve_spec_path(name_or_path)
    return parse_spec(read_yaml(path), source=str(path), default_name=path.stem)


def stored_spec_path(exp_dir: str) -> str:
    """Where an experiment directory (local path or URI) keeps its spec."""
    return storage.join(exp_dir, SPEC_FILE)


def stored_spec_text(exp_dir: str) -> str | None:
    """The text of the spec stored in an experiment directory, or None when it has none."""
    path = stored_spec_path(exp_dir)
    return storage.read_text(path) if storage.exists(path) else None


def read_stored_spec(exp_dir: str) -> Spec:
    """The validated spec stored in an experiment directory (local path or URI).

    Raises FileNotFoundError when there is none, SpecError when it does not parse."""
    path = stored_spec_path(exp_dir)
    text = stored_spec_text(exp_dir)
    if text is None:
        raise FileNotFoundError(f"experiment {exp_dir} has no {SPEC_FILE}")
    return parse_spec(parse_yaml_text(text, source=path), source=path)


def _check_list(where: str, key: str, values: Any) -> list:
    if not isinstance(values, list):
        raise SpecError(f"{where}{key} must be a list, got {type(values).__name__} {echo(values)}")
    if not values:
        raise SpecError(f"{where}{key} must not be empty, got []")
    counts = Counter(v if isinstance(v, Hashable) else repr(v) for v in values)  # linear, not values.count
    dupes = sorted({repr(v) for v, n in counts.items() if n > 1})
    if dupes:
        raise SpecError(f"{where}{key} must have distinct values, got duplicates {', '.join(dupes)}")
    return values


_FRACTION_RANGES = {"sample_frac": UNIT_OPEN_LEFT, "damage_frac": UNIT}
_CHOICES = {"model": MODEL_NAMES, "damage_mode": tuple(DAMAGE_MODES)}


def _check_axis(where: str, key: str, values: Any) -> tuple:
    values = _check_list(where, key, values)
    if key in _FRACTION_RANGES:
        return tuple(_checked(check_number, f"{where}{key}", v, _FRACTION_RANGES[key]) for v in values)
    return tuple(_checked(check_choice, f"{where}{key}", v, _CHOICES[key]) for v in values)


def _parse_grid(block: Any, *, where: str) -> Grid:
    if not isinstance(block, dict):
        raise SpecError(f"{where}must be a mapping of axes, got {type(block).__name__}")
    unknown = sorted(set(block) - set(GRID_AXES))
    if unknown:
        raise SpecError(f"{where}unknown key {echo(unknown[0])}; allowed: {', '.join(GRID_AXES)}")
    missing = [a for a in GRID_AXES if a not in block]
    if missing:
        raise SpecError(f"{where}missing axis {missing[0]!r}; every grid needs {', '.join(GRID_AXES)}")
    grid = Grid(**{a: _check_axis(where, a, block[a]) for a in GRID_AXES})
    if "none" in grid.damage_mode and any(d > 0 for d in grid.damage_frac):
        bad = max(grid.damage_frac)
        raise SpecError(f"{where}damage_mode 'none' needs damage_frac 0, got damage_frac {bad}; "
                        "put undamaged runs in their own grid")
    return grid


def _parse_seeds(values: Any) -> tuple[int, ...]:
    values = _check_list("", "seeds", values)
    return tuple(_checked(check_int, "seeds", s, SEED_RANGE) for s in values)


def _parse_overrides(raw: Any, models: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise SpecError(f"overrides must be a mapping model -> {{param: value}}, got {echo(raw)}")
    for model, params in raw.items():
        if model not in models:
            raise SpecError(f"overrides for model {echo(model)}: model must be one in the sweep "
                            f"{list(models)}, got {echo(model)}")
        if not isinstance(params, dict):
            raise SpecError(f"overrides.{model} must be a mapping, got {echo(params)}")
        try:
            validate_params(model, params)
        except ValueError as exc:
            raise SpecError(f"overrides.{model}: {exc}") from exc
    return {m: dict(p) for m, p in raw.items()}


def parse_resources(raw: Any, models: tuple[str, ...], *, where: str = "resources") -> dict[str, dict[str, float]]:
    """Per-model {cpu, gpu} requests: cpu > 0, gpu >= 0, for models in the sweep."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a mapping model -> {{cpu, gpu}}, got {echo(raw)}")
    out = {}
    for model, req in raw.items():
        if model not in models:
            raise SpecError(f"{where} for model {echo(model)}: model must be one in the sweep "
                            f"{list(models)}, got {echo(model)}")
        if not isinstance(req, dict) or not req:
            raise SpecError(f"{where}.{model} must be a mapping like {{cpu: 1, gpu: 0.25}}, got {echo(req)}")
        for key, value in req.items():
            if key not in RESOURCE_KEYS:
                raise SpecError(f"{where}.{model}: unknown key {echo(key)}; allowed: cpu, gpu")
            _checked(check_number, f"{where}.{model}.{key}", value, POSITIVE if key == "cpu" else NON_NEGATIVE)
        out[model] = {k: float(v) for k, v in req.items()}
    return out


def _collect_grids(data: dict, *, source: str, seen: tuple[str, ...]) -> list[Grid]:
    grids: list[Grid] = []
    for name in _check_list("", "include", data["include"]) if "include" in data else []:
        if not isinstance(name, str):
            raise SpecError(f"include entries must be shipped spec names {shipped_specs()}, got {name!r}")
        if name in seen:
            raise SpecError(f"include must not be circular, got {name!r} via {' -> '.join(seen)}")
        inner = read_yaml(resolve_spec_path(name))
        grids += _collect_grids(inner, source=name, seen=(*seen, name))
    if "grids" in data:
        for i, block in enumerate(_check_list("", "grids", data["grids"])):
            grids.append(_parse_grid(block, where=f"grids[{i}]: "))
    if any(a in data for a in GRID_AXES):
        grids.append(_parse_grid({a: data[a] for a in GRID_AXES if a in data}, where=""))
    if not grids:
        raise SpecError(f"spec {source} has no trials: give the axes {', '.join(GRID_AXES)}, "
                        "a `grids` list, or `include`")
    return grids


def parse_spec(data: dict[str, Any], *, source: str = "<spec>", default_name: str = "sweep") -> Spec:
    """Validate a spec mapping (from yaml.safe_load) into a Spec. Raises SpecError."""
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS), key=str)
    if unknown:
        raise SpecError(f"spec {source}: unknown key {echo(unknown[0])}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    name = check_experiment_name(data.get("name", default_name))
    grids = tuple(_collect_grids(data, source=source, seen=(name,)))
    seeds = _parse_seeds(data["seeds"]) if "seeds" in data else DEFAULT_SEEDS
    models = tuple(dict.fromkeys(m for g in grids for m in g.model))
    gpu_share = data.get("gpu_share")
    if gpu_share is not None:
        gpu_share = _checked(check_number, "gpu_share", gpu_share, UNIT_OPEN_LEFT)
    max_failures = data.get("max_failures")
    if max_failures is not None:
        max_failures = _checked(check_int, "max_failures", max_failures, NON_NEGATIVE)
    period = _checked(check_number, "checkpoint_period_s", data.get("checkpoint_period_s", DEFAULT_CHECKPOINT_PERIOD_S),
                      NON_NEGATIVE)
    return Spec(
        name=name, grids=grids, seeds=seeds, description=str(data.get("description", "")),
        overrides=_parse_overrides(data.get("overrides", {}), models),
        resources=parse_resources(data.get("resources", {}), models),
        gpu_share=gpu_share, max_failures=max_failures, checkpoint_period_s=period, source=source,
    )


def expand_trials(spec: Spec) -> list[dict[str, Any]]:
    """Every combination once, in spec order: dicts of model, sample_frac, damage_frac,
    damage_mode, seed. Combinations listed by several grids are merged into one trial."""
    trials: dict[tuple, dict[str, Any]] = {}
    for grid in spec.grids:
        for model in grid.model:
            for sample_frac in grid.sample_frac:
                for damage_frac in grid.damage_frac:
                    for damage_mode in grid.damage_mode:
                        for seed in spec.seeds:
                            key = (model, sample_frac, damage_frac, damage_mode, seed)
                            trials.setdefault(key, dict(zip(AXES, key)))
    return list(trials.values())


def count_listed(spec: Spec) -> int:
    """Grid points before merging duplicates (for the dry-run's arithmetic)."""
    per_grid = (len(g.model) * len(g.sample_frac) * len(g.damage_frac) * len(g.damage_mode)
                for g in spec.grids)
    return sum(per_grid) * len(spec.seeds)


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The resolved spec as plain data (grids expanded), for spec.yaml in the experiment dir."""
    out: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "grids": [{a: list(getattr(g, a)) for a in GRID_AXES} for g in spec.grids],
        "seeds": list(spec.seeds),
        "overrides": spec.overrides,
        "resources": spec.resources,
    }
    if spec.gpu_share is not None:
        out["gpu_share"] = spec.gpu_share
    if spec.max_failures is not None:
        out["max_failures"] = spec.max_failures
    out["checkpoint_period_s"] = spec.checkpoint_period_s
    return out


def dump_spec(spec: Spec) -> str:
    """YAML text of spec_to_dict (round-trips through parse_spec)."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False)
