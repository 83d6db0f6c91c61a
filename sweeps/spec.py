"""The sweep spec: what a sweep is (`Spec`, its axes and defaults) and its plain-data form.

No ray import here. Read and validated by datavsmath.sweeps.validation; parsed by datavsmath.sweeps.safe_yaml.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

import yaml

from datavsmath.trainables.audit_vote import DEFAULT_AUDIT_FRAC, DEFAULT_VOTE_K
from datavsmath.trainables.checks import DatavsmathError
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, DEFAULT_DATASET
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.models.registry import ModelEntry
from datavsmath.trainables.models.user import UserModel
from datavsmath.trainables.repair import DEFAULT_FOLDS, DEFAULT_REPAIR_MODEL, NO_REPAIR

# The axes of one grid, then the replicate axis: a trial is one value of each.
GRID_AXES = ("model", "sample_frac", "damage_frac", "damage_mode", "repair")
AXES = (*GRID_AXES, "seed")
# Axes a grid (and a recorded trial) may leave out, with the value they then take: specs,
# params.json and results of before the axis existed read as this value, and a trial's name
# and the dry-run show the axis only when it differs (datavsmath.sweeps.progress.trial_name).
AXIS_DEFAULTS: dict[str, Any] = {"repair": NO_REPAIR}
# `confusion: {model, n_samples}`: the reference model and how many clean training rows it
# is cross-validated on (datavsmath.trainables.damage.confusion_matrix_of's defaults).
CONFUSION_KEYS = ("model", "n_samples")
DEFAULT_CONFUSION = {"model": "rf", "n_samples": 5000}
# `repair_model: {model, folds}`: the cheap model whose out-of-fold probabilities cleanlab reads.
REPAIR_MODEL_KEYS = ("model", "folds")
DEFAULT_REPAIR = {"model": DEFAULT_REPAIR_MODEL, "folds": DEFAULT_FOLDS}
PACKAGE = "datavsmath"  # the distribution: pyproject.toml owns its version
# The facts of the dataset a sweep ran on (datavsmath.trainables.datasets.common.Dataset.facts: name, fingerprint,
# sizes, classes), written into the stored spec.yaml by the runner once the data is loaded.
DATASET_FACTS_KEY = "dataset_facts"
DEFAULT_SEEDS = (0,)
# A net trial checkpoints after an epoch once this many seconds passed since its last
# checkpoint (0 = after every epoch). Each checkpoint costs a state copy, a pickle and Tune
# persisting it: per epoch, the laptop sweep's dnn trials took 37.3 s in all instead of 22.4 s
# (benchmarks/HISTORY.md, "Checkpoint period"); a failure now costs at most this much repeated training.
DEFAULT_CHECKPOINT_PERIOD_S = 30.0
# Fractions are matched after rounding to this many decimals, so that 0.1 read from JSON
# equals 0.1 from YAML (results, joins); the spec refuses two values it would merge.
FRAC_DECIMALS = 10


class SpecError(DatavsmathError, ValueError):
    """Bad input: a sweep spec, an argument or a flag that cannot be used; the message names
    the field, allowed values and value. Found before any trial runs."""


def checked(check: Any, *args: Any) -> Any:
    """Run a datavsmath.trainables.checks function, turning its ValueError into SpecError."""
    try:
        return check(*args)
    except ValueError as exc:
        raise SpecError(str(exc)) from exc


def with_source(source: str, exc: SpecError) -> SpecError:
    """`exc` with its message prefixed by "spec SOURCE: " unless it already names a spec."""
    text = str(exc)
    return exc if text.startswith("spec ") else SpecError(f"spec {source}: {text}")


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
    # Every model of the sweep, in first-seen order, with its entry: a seed model's registry
    # entry (datavsmath.trainables.models.registry) or the spec's own model (`models:`, a UserModel).
    models: Mapping[str, ModelEntry | UserModel]
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    description: str = ""
    # The seed models' settings: model -> {param: value} over its defaults.
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
    # How the trials are picked among the cells (datavsmath.sweeps.search_keys): {kind: grid}
    # runs every cell; {kind: adaptive, target, tolerance, budget} lets the searcher choose.
    search: dict[str, Any] = field(default_factory=lambda: {"kind": "grid"})
    # The budgets of the repairs `audit` (the share of training labels audited) and `vote`
    # (labels per item), and `damage_test`: the test labels damaged as the training labels are.
    audit_frac: float = DEFAULT_AUDIT_FRAC
    vote_k: int = DEFAULT_VOTE_K
    damage_test: bool = False

    @property
    def repair_settings(self) -> dict[str, Any]:
        """What a trial's repair reads: repair_model's {model, folds} and audit_frac, vote_k."""
        return {**self.repair_model, "audit_frac": self.audit_frac, "vote_k": self.vote_k}

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
        built_in = BUILT_IN_DATASETS.get(self.dataset["kind"])
        return None if built_in is None else built_in.info

    @property
    def user_models(self) -> dict[str, UserModel]:
        """The spec's own models (`models:`), name -> UserModel, in first-seen order."""
        return {m: e for m, e in self.models.items() if isinstance(e, UserModel)}

    @property
    def settings(self) -> dict[str, dict[str, Any] | UserModel]:
        """Each model's settings, as the cost model reads them: a seed model's overrides
        ({} when none), a user model's UserModel."""
        return {m: e if isinstance(e, UserModel) else dict(self.overrides.get(m, {})) for m, e in self.models.items()}

    @property
    def trial_overrides(self) -> dict[str, dict[str, Any]]:
        """What each model's trials record as their `overrides` (params.json; --extend compares
        them): a seed model's overrides, a user model's UserModel.record()."""
        return {m: e.record() if isinstance(e, UserModel) else dict(e) for m, e in self.settings.items()}


def info_from_facts(facts: Mapping[str, Any]) -> DatasetInfo:
    """The DatasetInfo of a Dataset.facts() mapping (as stored in spec.yaml's dataset_facts)."""
    return DatasetInfo(name=str(facts["name"]), class_names=tuple(str(c) for c in facts["class_names"]),
                       input_shape=tuple(int(d) for d in facts["input_shape"]), n_train=int(facts["n_train"]),
                       n_test=int(facts["n_test"]), kind=str(facts.get("kind", "")))


def project_version() -> str:
    """The installed datavsmath version (pyproject.toml's), recorded in each trial's params.json."""
    try:
        return importlib_metadata.version(PACKAGE)
    except importlib_metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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


def check_distinct_sizes(trials: list[dict[str, Any]], *, n_train: int) -> None:
    """Refuse two sample_frac values that draw the same number of training rows (floor of
    sample_frac x n_train) for otherwise equal trials: the two cells would be one trial run
    twice, and the curve would count its point twice.

    Raises SpecError naming the first such pair."""
    from datavsmath.trainables.damage import subset_size  # numpy: only when the data's size is known

    seen: dict[tuple, float] = {}
    for trial in trials:
        rows = subset_size(n_train, sample_frac=float(trial["sample_frac"]))
        key = (*(trial[a] for a in AXES if a != "sample_frac"), rows)
        first = seen.setdefault(key, trial["sample_frac"])
        if frac_key(first) != frac_key(trial["sample_frac"]):
            raise SpecError(f"sample_frac {first} and {trial['sample_frac']} both draw {rows:,} of the "
                            f"{n_train:,} training rows: the same trial twice; keep one of them")


def frac_key(value: float) -> float:
    """A fraction rounded to FRAC_DECIMALS: how results join and group trials."""
    return round(float(value), FRAC_DECIMALS)


def listed_trials(grids: tuple[Grid, ...], n_seeds: int) -> int:
    """Grid points times seeds, before merging duplicates: an upper bound on the trials."""
    return sum(len(g.model) * len(g.sample_frac) * len(g.damage_frac) * len(g.damage_mode) * len(g.repair)
               for g in grids) * n_seeds


def count_listed(spec: Spec) -> int:
    """Grid points times seeds before merging duplicates (for the dry-run's arithmetic)."""
    return listed_trials(spec.grids, len(spec.seeds))


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The resolved spec as plain data (grids expanded), for spec.yaml in the experiment dir."""
    out: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        # An axis at its default is left out, so that the specs of before it existed store as they did.
        "grids": [{a: list(getattr(g, a)) for a in GRID_AXES
                   if a not in AXIS_DEFAULTS or getattr(g, a) != (AXIS_DEFAULTS[a],)} for g in spec.grids],
        "seeds": list(spec.seeds),
        "overrides": dict(spec.overrides),
        "resources": spec.resources,
    }
    if spec.user_models:
        out["models"] = {m: u.to_dict() for m, u in spec.user_models.items()}
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
    if spec.search.get("kind", "grid") != "grid":  # a grid's stored spec stays as it was
        out["search"] = dict(spec.search)
    for key, default in (("audit_frac", DEFAULT_AUDIT_FRAC), ("vote_k", DEFAULT_VOTE_K), ("damage_test", False)):
        if getattr(spec, key) != default:
            out[key] = getattr(spec, key)
    return out


def dump_spec(spec: Spec) -> str:
    """YAML text of spec_to_dict, with the loaded dataset's facts (`dataset_facts`: its name,
    fingerprint, sizes and classes) when the runner has them; round-trips through parse_spec."""
    out = spec_to_dict(spec)
    if spec.dataset_facts is not None:
        out[DATASET_FACTS_KEY] = dict(spec.dataset_facts)
    return yaml.safe_dump(out, sort_keys=False)
