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

import math
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata as importlib_metadata
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import yaml

from datavsmath.sweeps.report_keys import check_report
from datavsmath.trainables import storage
from datavsmath.trainables.checks import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    UNIT_OPEN_LEFT,
    Interval,
    check_choice,
    check_int,
    check_number,
    echo,
    is_number,
)
from datavsmath.trainables.damage import ALL_DAMAGE_MODES, TRANSITION_MODES, check_transition, subset_size
from datavsmath.trainables.data import FASHION_MNIST, DatasetInfo
from datavsmath.trainables.datasets import MNIST, DatasetConfigError, check_dataset_config
from datavsmath.trainables.models import MODEL_NAMES, input_problem, validate_params
from datavsmath.trainables.models.user import UserModelError, check_user_model, is_user_model
from datavsmath.trainables.repair import DEFAULT_FOLDS, DEFAULT_REPAIR_MODEL, REPAIR_MODELS, REPAIRS

# The axes of one grid, then the replicate axis: a trial is one value of each.
GRID_AXES = ("model", "sample_frac", "damage_frac", "damage_mode", "repair")
AXES = (*GRID_AXES, "seed")
# Axes a grid (and a recorded trial) may leave out, with the value they then take: specs,
# params.json and results of before the axis existed read as this value, and a trial's name
# and the dry-run show the axis only when it differs (datavsmath.sweeps.progress.trial_name).
AXIS_DEFAULTS: dict[str, Any] = {"repair": REPAIRS[0]}  # "none"
# The experiment directory's record of the `confusion` damage mode's reference model:
# datavsmath.trainables.damage.ReferenceConfusion.to_record(), written by the driver once per sweep.
CONFUSION_REFERENCE_FILE = "confusion_reference.json"
# `confusion: {model, n_samples}`: the reference model and how many clean training rows it
# is cross-validated on (datavsmath.trainables.damage.confusion_matrix_of's defaults).
CONFUSION_KEYS = ("model", "n_samples")
DEFAULT_CONFUSION = {"model": "rf", "n_samples": 5000}
# `repair_model: {model, folds}`: the cheap model whose out-of-fold probabilities cleanlab reads.
REPAIR_MODEL_KEYS = ("model", "folds")
DEFAULT_REPAIR = {"model": DEFAULT_REPAIR_MODEL, "folds": DEFAULT_FOLDS}
# A `transition:` file: a K x K matrix as CSV (comma-separated numbers) or NumPy .npy.
TRANSITION_SUFFIXES = (".csv", ".npy")
# The validated spec, stored in the experiment directory beside Tune's files.
SPEC_FILE = "spec.yaml"
# A sweep started from Python keeps its in-memory inputs there (data as Parquet or .npz, models
# as cloudpickle files; datavsmath.sweep): the stored spec names them, so the experiment stands alone.
INPUTS_DIR = "inputs"
# Tune's own files there: Tuner.restore needs tuner.pkl; the state is saved as experiment_state-<time>.json.
TUNER_FILE = "tuner.pkl"
STATE_PREFIX = "experiment_state-"
# `--extend` runs each extension as a Tune experiment of its own in a subfolder extend-1,
# extend-2, ... of the experiment directory, with the spec it ran; the results are the union.
EXTENSION_PREFIX = "extend-"
PACKAGE = "datavsmath"  # the distribution: pyproject.toml owns its version
# An experiment name is one safe path component: it names a folder inside the storage path.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,200}")
# A user model's name: a value of the model axis, a folder-name part and a Ray resource key.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,49}")
SEED_RANGE = Interval(0, 2**32 - 1)  # numpy's SeedSequence and every library's seed accept these
DEFAULT_DATASET = "fashion_mnist"
# The facts of the dataset a sweep ran on (datavsmath.trainables.data.Dataset.facts: name, fingerprint,
# sizes, classes), written into the stored spec.yaml by the runner once the data is loaded.
DATASET_FACTS_KEY = "dataset_facts"
TOP_LEVEL_KEYS = (*GRID_AXES, "name", "description", "seeds", "grids", "include", "overrides",
                  "resources", "gpu_share", "max_failures", "checkpoint_period_s", "report", "dataset",
                  "models", "py_modules", "transition", "confusion", "repair_model", DATASET_FACTS_KEY)
# Facts known before any data is read, for the built-in datasets (the rows check, dry-run).
BUILT_IN_INFO: dict[str, DatasetInfo] = {"fashion_mnist": FASHION_MNIST, "mnist": MNIST}
# Keys of a table / images config that are paths, resolved against the spec file's folder.
DATASET_PATH_KEYS = ("path", "test")
RESOURCE_KEYS = ("cpu", "gpu")
DEFAULT_SEEDS = (0,)
# A net trial checkpoints after an epoch once this many seconds passed since its last
# checkpoint (0 = after every epoch). Each checkpoint costs a state copy, a pickle and Tune
# persisting it: per epoch, the laptop sweep's dnn trials took 37.3 s in all instead of 22.4 s
# (benchmarks/README.md); a failure now costs at most this much repeated training.
DEFAULT_CHECKPOINT_PERIOD_S = 30.0
SPEC_PACKAGE = "datavsmath.sweeps.specs"
# Bounds on what one spec file may stand for. YAML aliases let a few hundred bytes mean
# billions of values (a 439-byte alias bomb took 5.5 GB), and each level of nesting is a
# Python stack frame; real specs have a few hundred nodes, 5 levels deep and some KB.
MAX_SPEC_BYTES = 10 * 2**20
MAX_YAML_NODES = 100_000  # after expanding every alias
MAX_YAML_DEPTH = 50
# Trials one sweep may hold unless --max-trials says more: the runner builds every trial in
# memory, and Tune holds one Trial object each.
DEFAULT_MAX_TRIALS = 100_000
# Ray counts resources in units of 1e-4 (ray_constants.MIN_RESOURCE_GRANULARITY); a finer
# request fails inside Ray after the experiment is written.
RESOURCE_RESOLUTION = 0.0001


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
    """Run a datavsmath.trainables.checks function, turning its ValueError into SpecError."""
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
    repair: tuple[str, ...] = (AXIS_DEFAULTS["repair"],)


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
    # The user's situation and what the report's tables describe (datavsmath.sweeps.report_keys):
    # {current, target, prices, model, thresholds}; each key optional.
    report: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    # The dataset, in the normal form of datavsmath.trainables.datasets.check_dataset_config; the paths
    # of a table or image folder are absolute (resolved against the spec file's folder).
    dataset: dict[str, Any] = field(default_factory=lambda: {"kind": DEFAULT_DATASET})
    # Folders or files of Python modules Ray ships to every worker (runtime_env py_modules).
    py_modules: tuple[str, ...] = ()
    # The loaded dataset's facts (Dataset.facts()), once the runner has read it; None before.
    dataset_facts: dict[str, Any] | None = None
    # `matrix` damage's K x K transition matrix (rows of floats; from the spec or its file),
    # checked against the dataset's class count by check_fits_dataset; None without one.
    transition: tuple[tuple[float, ...], ...] | None = None
    # `confusion` damage's reference model and rows (DEFAULT_CONFUSION, with the spec's keys).
    confusion: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CONFUSION))
    # The repair axis's cheap model and folds (DEFAULT_REPAIR, with the spec's keys).
    repair_model: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_REPAIR))

    @property
    def damage_modes(self) -> tuple[str, ...]:
        """Damage modes in the sweep, in first-seen order."""
        return tuple(dict.fromkeys(m for g in self.grids for m in g.damage_mode))

    @property
    def repairs(self) -> tuple[str, ...]:
        """Repairs in the sweep, in first-seen order."""
        return tuple(dict.fromkeys(r for g in self.grids for r in g.repair))

    @property
    def dataset_info(self) -> DatasetInfo | None:
        """The dataset's facts known without reading it: the built-in datasets' published
        ones, or those recorded in `dataset_facts`; None for a table or image folder not yet read."""
        if self.dataset_facts is not None:
            return info_from_facts(self.dataset_facts)
        return BUILT_IN_INFO.get(self.dataset["kind"])

    @property
    def user_models(self) -> dict[str, dict[str, Any]]:
        """The spec's own models (`models:`), name -> definition (datavsmath.trainables.models.user);
        they are in `overrides` too, as the settings their trials get."""
        return {m: p for m, p in self.overrides.items() if is_user_model(p)}

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


class _RefusedYAML(yaml.YAMLError):
    """Valid YAML that a spec may not be: a duplicate key, too many nodes, too deep, a cycle."""


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return int(mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a document that, with every alias expanded, has more than MAX_YAML_NODES nodes
    or is nested deeper than MAX_YAML_DEPTH, or whose aliases form a cycle. Counted without
    expanding: each distinct node once (memoized post-order walk, no recursion)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = [sizes[id(c)] for c in _children(node)]
            count, depth = 1 + sum(k[0] for k in kids), 1 + max((k[1] for k in kids), default=0)
            if count > MAX_YAML_NODES:
                raise _RefusedYAML(f"more than {MAX_YAML_NODES} YAML nodes after expanding aliases "
                                   f"(the one at line {_line(node)} alone has {count})")
            if depth > MAX_YAML_DEPTH:
                raise _RefusedYAML(f"nested deeper than {MAX_YAML_DEPTH} levels after expanding aliases "
                                   f"(at line {_line(node)})")
            sizes[key] = (count, depth)
            open_nodes.discard(key)
        elif key in open_nodes:  # every entry above an open node's marker was pushed by its subtree
            raise _RefusedYAML(f"an alias at or below line {_line(node)} refers to a node that contains it")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


class _SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader with the limits of a spec: no duplicate keys, at most MAX_YAML_NODES
    nodes (aliases expanded) and MAX_YAML_DEPTH levels. Tags stay refused, as in safe_load."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Checked while composing, before Python's stack or memory runs out.
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _RefusedYAML(f"nested deeper than {MAX_YAML_DEPTH} levels (line {_line(self.peek_event())})")
            if self._composed > MAX_YAML_NODES:
                raise _RefusedYAML(f"more than {MAX_YAML_NODES} YAML nodes (line {_line(self.peek_event())})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _check_expanded(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # merge keys may repeat; complex keys are refused by the base class
                key = self.construct_object(key_node)
                if key in first_line:
                    raise _RefusedYAML(f"duplicate key {echo(key)} at line {_line(key_node)} "
                                       f"(first at line {first_line[key]})")
                first_line[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


# PyYAML (YAML 1.1) reads 1e3 and 1.0e3 as text: its floats need a dot and a signed exponent.
# People and YAML 1.2 write them as numbers, and so the spec reads them.
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line saying what is wrong and where, from PyYAML's multi-line messages."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context}, line {_line(exc.context_mark)})" if exc.context and exc.context_mark else ""
        return _cut(f"{where}{exc.problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return f"position {exc.position}: unacceptable character {char}: {exc.reason}"
    return _cut(" ".join(str(exc).split()))


def _cut(text: str, *, limit: int = 200) -> str:
    """`text` cut to `limit` characters with "...": parser messages quote parts of the file."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_yaml_text(text: str, *, source: str) -> dict[str, Any]:
    """Load a YAML mapping with the spec's limits (_SpecLoader), turning every problem into a
    one-line SpecError naming `source` and the line."""
    try:
        data = yaml.load(text, Loader=_SpecLoader)
    except _RefusedYAML as exc:
        raise SpecError(f"spec {source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"spec {source}: malformed YAML at {_yaml_problem(exc)}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a 5000-digit integer, a bad date
        first = str(exc).split(":")[0]
        raise SpecError(f"spec {source}: malformed YAML: a value cannot be read ({_cut(first)})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"spec {source}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in the file `path` (UTF-8, at most MAX_SPEC_BYTES; see parse_yaml_text)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"spec {path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"spec {path}: larger than {MAX_SPEC_BYTES} bytes; a spec is a few KB of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    return parse_yaml_text(text, source=str(path))


def _naming(source: str, exc: SpecError) -> SpecError:
    """`exc` with its message prefixed by "spec SOURCE: " unless it already names a spec."""
    text = str(exc)
    return exc if text.startswith("spec ") else SpecError(f"spec {source}: {text}")


def load_spec(name_or_path: str | Path, *, max_trials: int | None = DEFAULT_MAX_TRIALS) -> Spec:
    """Read and validate a spec file or shipped spec name. Raises SpecError naming the file.

    max_trials: the most trials the spec may list (see parse_spec); None for no cap."""
    path = resolve_spec_path(name_or_path)
    data = read_yaml(path)
    try:
        return parse_spec(data, source=str(path), default_name=path.stem, max_trials=max_trials,
                          base_dir=path.resolve().parent)
    except SpecError as exc:
        raise _naming(str(path), exc) from exc


def stored_spec_path(exp_dir: str) -> str:
    """Where an experiment directory (local path or URI) keeps its spec."""
    return storage.join(exp_dir, SPEC_FILE)


def stored_spec_text(exp_dir: str) -> str | None:
    """The text of the spec stored in an experiment directory, or None when it has none."""
    path = stored_spec_path(exp_dir)
    return storage.read_text(path) if storage.exists(path) else None


def read_stored_spec(exp_dir: str) -> Spec:
    """The validated spec stored in an experiment directory (local path or URI).

    No trial cap: the sweep that stored it was checked against its own --max-trials.
    Raises FileNotFoundError when there is none, SpecError (naming the file) when it does
    not parse."""
    path = stored_spec_path(exp_dir)
    text = stored_spec_text(exp_dir)
    if text is None:
        raise FileNotFoundError(f"experiment {exp_dir} has no {SPEC_FILE}")
    try:
        return parse_spec(parse_yaml_text(text, source=path), source=path, max_trials=None, recorded=True)
    except SpecError as exc:
        raise _naming(path, exc) from exc


def project_version() -> str:
    """The installed datavsmath version (pyproject.toml's), recorded in each trial's params.json."""
    try:
        return importlib_metadata.version(PACKAGE)
    except importlib_metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def experiment_parts(exp_dir: str) -> list[str]:
    """The Tune experiments that make up an experiment directory: the directory itself, then
    its extensions extend-1, extend-2, ... (each holding its spec.yaml), in the order run."""
    fs, root = storage.open_location(exp_dir)
    numbers = sorted(int(info.base_name[len(EXTENSION_PREFIX):]) for info in storage.list_dir(fs, root)
                     if info.type == storage.FileType.Directory and info.base_name.startswith(EXTENSION_PREFIX)
                     and info.base_name[len(EXTENSION_PREFIX):].isdigit()
                     and storage.exists(storage.join(exp_dir, info.base_name, SPEC_FILE)))
    return [exp_dir, *(storage.join(exp_dir, f"{EXTENSION_PREFIX}{n}") for n in numbers)]


def next_extension(exp_dir: str) -> str:
    """The folder name of the experiment's next extension (extend-1 for the first)."""
    parts = experiment_parts(exp_dir)
    last = parts[-1].rsplit("/", 1)[-1] if len(parts) > 1 else f"{EXTENSION_PREFIX}0"
    return f"{EXTENSION_PREFIX}{int(last[len(EXTENSION_PREFIX):]) + 1}"


def expected_trials(exp_dir: str) -> list[dict[str, Any]]:
    """Every trial the experiment's stored specs ask for (the first run's and each
    extension's), once each, in the order first asked for."""
    trials: dict[tuple, dict[str, Any]] = {}
    for part in experiment_parts(exp_dir):
        for trial in expand_trials(read_stored_spec(part)):
            trials.setdefault(tuple(trial[a] for a in AXES), trial)
    return list(trials.values())


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
    out["seed"] = _checked(check_int, "seed", config["seed"], SEED_RANGE)
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
# Fractions are matched after rounding to this many decimals, so that 0.1 read from JSON
# equals 0.1 from YAML (results, joins); the spec refuses two values it would merge.
FRAC_DECIMALS = 10
_CHOICES = {"model": MODEL_NAMES, "damage_mode": ALL_DAMAGE_MODES, "repair": REPAIRS}


def _check_value(where: str, key: str, value: Any, *, models: tuple[str, ...] = MODEL_NAMES) -> Any:
    """One axis value; `models`: the values of the model axis (the seed models and the spec's own)."""
    if key in _FRACTION_RANGES:
        return _checked(check_number, f"{where}{key}", value, _FRACTION_RANGES[key])
    return _checked(check_choice, f"{where}{key}", value, models if key == "model" else _CHOICES[key])


def frac_key(value: float) -> float:
    """A fraction rounded to FRAC_DECIMALS: how results join and group trials."""
    return round(float(value), FRAC_DECIMALS)


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
    unknown = sorted(set(block) - set(GRID_AXES))
    if unknown:
        raise SpecError(f"{where}unknown key {echo(unknown[0])}; allowed: {', '.join(GRID_AXES)}")
    needed = [a for a in GRID_AXES if a not in AXIS_DEFAULTS]
    missing = [a for a in needed if a not in block]
    if missing:
        raise SpecError(f"{where}missing axis {missing[0]!r}; every grid needs {', '.join(needed)}")
    grid = Grid(**{a: _check_axis(where, a, block[a], models=models) for a in GRID_AXES if a in block})
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


def check_resolution(name: str, value: float) -> float:
    """`value` if it is a multiple of RESOURCE_RESOLUTION (Ray's unit); else SpecError."""
    units = value / RESOURCE_RESOLUTION
    if not math.isclose(units, round(units), rel_tol=1e-9, abs_tol=1e-6):
        raise SpecError(f"{name} must be a multiple of {RESOURCE_RESOLUTION:g} (Ray's resource unit), "
                        f"got {value:g}")
    return value


def check_request(name: str, key: str, value: Any) -> float:
    """One resource amount as a float: cpu > 0 or gpu >= 0 (`key`), a multiple of
    RESOURCE_RESOLUTION, and a gpu above 1 a whole number (Ray shares out fractions of a
    single GPU only). Raises SpecError naming `name`."""
    amount = _checked(check_number, name, value, POSITIVE if key == "cpu" else NON_NEGATIVE)
    check_resolution(name, amount)
    if key == "gpu" and amount > 1 and not amount.is_integer():
        raise SpecError(f"{name} must be a fraction <= 1 or a whole number, got {amount:g}")
    return amount


def parse_resources(raw: Any, models: tuple[str, ...], *, where: str = "resources") -> dict[str, dict[str, float]]:
    """Per-model {cpu, gpu} requests (see check_request), for models in the sweep."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a mapping model -> {{cpu, gpu}}, got {echo(raw)}")
    out = {}
    for model, req in raw.items():
        if model not in models:
            raise SpecError(f"{where} for model {echo(model)}: model must be one in the sweep "
                            f"{list(models)}, got {echo(model)}")
        if not isinstance(req, dict) or not req:
            raise SpecError(f"{where}.{model} must be a mapping like {{cpu: 1, gpu: 0.25}}, got {echo(req)}")
        for key in req:
            if key not in RESOURCE_KEYS:
                raise SpecError(f"{where}.{model}: unknown key {echo(key)}; allowed: cpu, gpu")
        out[model] = {k: check_request(f"{where}.{model}.{k}", k, v) for k, v in req.items()}
    return out


def rows_problem(model: str, sample_frac: float, *, params: Mapping[str, Any],
                 info: DatasetInfo = FASHION_MNIST) -> str | None:
    """Why `sample_frac` gives `model` too few rows to train, or None when enough.

    info: the dataset's facts (its n_train and n_classes; default Fashion-MNIST's).
    Models with a `validation_split` (the nets) train on floor(n * (1 - split)) rows, as
    datavsmath.trainables.models.nets.keras_n_fit, and need at least 1 of those and 1 held out (when
    the split is > 0); the others (the trees) need at least one row per class.
    """
    n_train, n_classes = info.n_train, info.n_classes
    n = subset_size(n_train, sample_frac=sample_frac)
    gives = f"sample_frac {sample_frac:g} gives {model} {n} of the {n_train} training rows"
    if "validation_split" not in params:
        return None if n >= n_classes else f"{gives}; {model} needs at least {n_classes} (one per class)"
    split = float(params["validation_split"])
    n_fit = int(math.floor(n * (1.0 - split)))
    if n_fit >= 1 and (split == 0 or n - n_fit >= 1):
        return None
    need = "at least 1 to fit" if split == 0 else "at least 1 of each"
    return f"{gives}: {n_fit} to fit and {n - n_fit} to validate (validation_split {split:g}); {model} needs {need}"


def _check_rows(grids: tuple[Grid, ...], overrides: Mapping[str, Mapping[str, Any]], info: DatasetInfo) -> None:
    """Every model's smallest sample_frac must give it the rows it needs (rows grow with it)."""
    smallest: dict[str, float] = {}
    for grid in grids:
        for model in grid.model:
            smallest[model] = min(smallest.get(model, 1.0), *grid.sample_frac)
    for model, frac in smallest.items():
        params = overrides.get(model) or {}
        problem = rows_problem(model, frac, info=info,
                               params=params if is_user_model(params) else validate_params(model, params))
        if problem:
            raise SpecError(problem)


def check_fits_dataset(spec: Spec, info: DatasetInfo) -> None:
    """Every model of `spec` can take the dataset `info` describes (its input kind and shape,
    datavsmath.trainables.models.input_problem) and gets the rows it needs at its smallest sample_frac
    (rows_problem); `matrix` damage's transition matrix is K x K for the dataset's K classes
    with somewhere to go in every row (datavsmath.trainables.damage.check_transition). Raises SpecError
    with the reason, naming the model, the row or the dataset."""
    for model in spec.models:
        problem = input_problem(model, info.input_shape)
        if problem:
            raise SpecError(f"model {model} cannot take dataset {info.name!r}: {problem}")
    _check_rows(spec.grids, spec.overrides, info)
    if spec.transition is not None:
        try:
            check_transition(spec.transition, n_classes=info.n_classes, class_names=info.class_names)
        except ValueError as exc:
            raise SpecError(f"{exc} (dataset {info.name!r} has {info.n_classes} classes)") from exc


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
    unknown = sorted(set(raw) - set(defaults), key=str)
    if unknown:
        raise SpecError(f"{key}: unknown key {echo(unknown[0])}; allowed: {', '.join(defaults)}")
    out = {**defaults, **raw}
    out["model"] = _checked(check_choice, f"{key}.model", out["model"], tuple(models))
    out[count] = _checked(check_int, f"{key}.{count}", out[count], count_range)
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


def info_from_facts(facts: Mapping[str, Any]) -> DatasetInfo:
    """The DatasetInfo of a Dataset.facts() mapping (as stored in spec.yaml's dataset_facts)."""
    return DatasetInfo(name=str(facts["name"]), class_names=tuple(str(c) for c in facts["class_names"]),
                       input_shape=tuple(int(d) for d in facts["input_shape"]), n_train=int(facts["n_train"]),
                       n_test=int(facts["n_test"]), kind=str(facts.get("kind", "")))


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


def _parse_models(raw: Any) -> dict[str, dict[str, Any]]:
    """`models: {NAME: {estimator: ...} | {module: ...}}` in normal form (datavsmath.trainables.models.user),
    checked without importing; a name is a new value of the model axis."""
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


def _listed(grids: tuple[Grid, ...], n_seeds: int) -> int:
    """Grid points times seeds, before merging duplicates: an upper bound on the trials."""
    return sum(len(g.model) * len(g.sample_frac) * len(g.damage_frac) * len(g.damage_mode) * len(g.repair)
               for g in grids) * n_seeds


def check_trial_count(listed: int, *, max_trials: int, source: str) -> None:
    """SpecError when `listed` trials (counted, never built) exceed `max_trials` (>= 1)."""
    max_trials = _checked(check_int, "--max-trials", max_trials, AT_LEAST_ONE)
    if listed > max_trials:
        raise SpecError(f"spec {source}: {listed} trials (counted before merging duplicates), more than "
                        f"--max-trials {max_trials}; shrink the grids or seeds, or pass --max-trials {listed}")


def _parse_report(raw: Any, models: tuple[str, ...]) -> dict[str, Any]:
    """`report:` in its normal form (datavsmath.sweeps.report_keys: the situation and the tables)."""
    return _checked(lambda: check_report(raw, models=models))


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
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS), key=str)
    if unknown:
        raise SpecError(f"spec {source}: unknown key {echo(unknown[0])}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    name = check_experiment_name(data.get("name", default_name))
    description = _description(data)
    user_models = _parse_models(data["models"]) if "models" in data else {}
    grids = tuple(_collect_grids(data, source=source, seen=(name,), models=(*MODEL_NAMES, *user_models)))
    _check_distinct_after_rounding(grids)
    seeds = _parse_seeds(data["seeds"]) if "seeds" in data else DEFAULT_SEEDS
    if max_trials is not None:
        check_trial_count(_listed(grids, len(seeds)), max_trials=max_trials, source=source)
    models = tuple(dict.fromkeys(m for g in grids for m in g.model))
    gpu_share = data.get("gpu_share")
    if gpu_share is not None:
        gpu_share = check_resolution("gpu_share", _checked(check_number, "gpu_share", gpu_share, UNIT_OPEN_LEFT))
    max_failures = data.get("max_failures")
    if max_failures is not None:
        max_failures = _checked(check_int, "max_failures", max_failures, NON_NEGATIVE)
    period = _checked(check_number, "checkpoint_period_s", data.get("checkpoint_period_s", DEFAULT_CHECKPOINT_PERIOD_S),
                      NON_NEGATIVE)
    overrides = _parse_overrides(data.get("overrides", {}), models)
    _check_damage_settings(data, grids)
    unused = [m for m in user_models if m not in models]
    if unused:
        raise SpecError(f"models.{unused[0]} is defined but no grid sweeps it; add it to a model axis or remove it")
    overrides.update(user_models)  # a user model's settings are its definition, passed to its trials
    spec = Spec(
        name=name, grids=grids, seeds=seeds, description=description, overrides=overrides,
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
    )
    info = spec.dataset_info
    if info is not None:
        check_fits_dataset(spec, info)
    return spec


def expand_trials(spec: Spec) -> list[dict[str, Any]]:
    """Every combination once, in spec order: dicts of model, sample_frac, damage_frac,
    damage_mode, repair, seed. Combinations listed by several grids are merged into one trial."""
    trials: dict[tuple, dict[str, Any]] = {}
    for grid in spec.grids:
        for model in grid.model:
            for sample_frac in grid.sample_frac:
                for damage_frac in grid.damage_frac:
                    for damage_mode in grid.damage_mode:
                        for seed in spec.seeds:
                            for repair in grid.repair:
                                key = (model, sample_frac, damage_frac, damage_mode, repair, seed)
                                trials.setdefault(key, dict(zip(AXES, key)))
    return list(trials.values())


def count_listed(spec: Spec) -> int:
    """Grid points times seeds before merging duplicates (for the dry-run's arithmetic)."""
    return _listed(spec.grids, len(spec.seeds))


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The resolved spec as plain data (grids expanded), for spec.yaml in the experiment dir."""
    out: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        # An axis at its default is left out, so that the specs of before it existed store as they did.
        "grids": [{a: list(getattr(g, a)) for a in GRID_AXES
                   if a not in AXIS_DEFAULTS or getattr(g, a) != (AXIS_DEFAULTS[a],)} for g in spec.grids],
        "seeds": list(spec.seeds),
        "overrides": {m: p for m, p in spec.overrides.items() if m not in spec.user_models},
        "resources": spec.resources,
    }
    if spec.user_models:
        out["models"] = {m: {k: v for k, v in d.items() if k != "kind"} for m, d in spec.user_models.items()}
    if spec.gpu_share is not None:
        out["gpu_share"] = spec.gpu_share
    if spec.max_failures is not None:
        out["max_failures"] = spec.max_failures
    out["checkpoint_period_s"] = spec.checkpoint_period_s
    if spec.report:
        out["report"] = spec.report
    out["dataset"] = dict(spec.dataset)
    if spec.py_modules:
        out["py_modules"] = list(spec.py_modules)
    if spec.transition is not None:
        out["transition"] = [list(row) for row in spec.transition]
    if spec.confusion != DEFAULT_CONFUSION:
        out["confusion"] = dict(spec.confusion)
    if spec.repair_model != DEFAULT_REPAIR:
        out["repair_model"] = dict(spec.repair_model)
    return out


def dump_spec(spec: Spec) -> str:
    """YAML text of spec_to_dict, with the loaded dataset's facts (`dataset_facts`: its name,
    fingerprint, sizes and classes) when the runner has them; round-trips through parse_spec."""
    out = spec_to_dict(spec)
    if spec.dataset_facts is not None:
        out[DATASET_FACTS_KEY] = dict(spec.dataset_facts)
    return yaml.safe_dump(out, sort_keys=False)
