"""The dataset a sweep runs on: found and checked before Ray starts (find_data), read
beside ray.init (FoundData.read), and on --resume / --extend checked to be the one the
experiment started on (check_same_data)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from datavsmath.sweeps.dataset_fit import check_fits_dataset
from datavsmath.sweeps.experiment_layout import read_stored_spec
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.spec import Spec, SpecError, expand_trials
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.datasets import load_dataset
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, IdxSource, find_data_root, read_idx
from datavsmath.trainables.datasets.common import Dataset, DatasetInfo
from datavsmath.trainables.models.user import UserModelError
from datavsmath.trainables.repair import NO_REPAIR


@dataclass(frozen=True)
class FoundData:
    """A sweep's dataset after find_data: `info` its facts; `root` and `source` the verified
    IDX folder (the built-in datasets, read by `read`) or `dataset` already read (tables, images)."""

    info: DatasetInfo
    root: Path | None = None
    source: IdxSource | None = None
    dataset: Dataset | None = None

    def read(self) -> Dataset:
        """The whole dataset, its fingerprint computed (so that trials get it with the arrays)."""
        if self.dataset is not None:
            data = self.dataset
        else:
            assert self.root is not None and self.source is not None
            data = read_idx(self.root, self.source)
        data.fingerprint  # noqa: B018  (cached on the object, which travels to the trials pickled)
        return data


def find_data(spec: Spec, *, options: SweepOptions) -> FoundData:
    """Find the spec's dataset and check that every model can take it, before Ray starts.

    a built-in dataset (BUILT_IN_DATASETS): the IDX files located and their checksums verified
    (no torch; read later, beside ray.init); table, images: read and checked whole (datavsmath.trainables.datasets).
    Raises DataNotFoundError, ChecksumError, DatasetError, SpecError (a model that cannot
    take the data, too few rows), each naming the file, column, folder or model."""
    kind = spec.dataset["kind"]
    if kind in BUILT_IN_DATASETS:
        source = BUILT_IN_DATASETS[kind].source
        root = find_data_root(options.data_dir, download=options.download, source=source)
        found = FoundData(info=source.info, root=root, source=source)
        repairs = any(t.get("repair", NO_REPAIR) != NO_REPAIR for t in expand_trials(spec))
        if repairs or any(not user.net for user in spec.user_models.values()):
            found = FoundData(info=found.info, dataset=found.read())  # the preflights read real labels and rows
    else:
        dataset = load_dataset(spec.dataset, data_dir=options.data_dir, download=options.download)
        found = FoundData(info=dataset.info, dataset=dataset)
    check_fits_dataset(spec, found.info)
    check_user_models(spec, found.info, data=found.dataset)
    if found.dataset is not None:
        check_repair_folds(spec, found.dataset)
    return found


def check_repair_folds(spec: Spec, data: Dataset) -> None:
    """SpecError unless every repaired cell's training set (its subset, damaged as the trial
    damages it) has at least repair_model.folds labels of every class, which the repair's
    stratified folds need. `confusion` cells are checked on their subset's clean labels (their
    damage needs the reference model, fitted later)."""
    from datavsmath.trainables.damage import make_training_set
    from datavsmath.trainables.repair import check_class_counts

    folds = int(spec.repair_model["folds"])
    seen = set()
    for trial in expand_trials(spec):
        mode = NO_DAMAGE if trial["damage_mode"] == "confusion" else trial["damage_mode"]
        cell = (trial["sample_frac"], trial["damage_frac"] if mode != NO_DAMAGE else 0.0, mode, trial["seed"])
        if trial.get("repair", NO_REPAIR) == NO_REPAIR or cell in seen:
            continue
        seen.add(cell)
        subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=cell[0], damage_frac=cell[1],
                                   damage_mode=mode, seed=cell[3], transition=spec.transition if mode == "matrix"
                                   else None)
        try:
            check_class_counts(subset.labels, n_classes=data.n_classes, folds=folds)
        except ValueError as exc:
            raise SpecError(f"sample_frac {trial['sample_frac']:g}, damage_frac {trial['damage_frac']:g} "
                            f"({trial['damage_mode']}), seed {trial['seed']}: {exc}; lower repair_model.folds or "
                            "raise sample_frac") from exc


def check_user_models(spec: Spec, info: DatasetInfo, *, data: Dataset | None = None) -> None:
    """Import each of the spec's own models and build it once for the dataset (in the driver,
    before Ray), and fit each estimator once on a few rows of `data`: SpecError naming the
    model and its path for an import that fails, an object that is not a classifier or a
    torch module, or params and classes it cannot work with (see check_importable). The
    spec's local py_modules folders are importable here as they will be on the workers (Ray
    ships each folder as the package of its name)."""
    if not spec.user_models:
        return
    from datavsmath.trainables.models.user import check_importable, preflight_rows

    rows = None if data is None else preflight_rows(data.x_train, data.y_train)

    for folder in spec.py_modules:
        parent = str(Path(folder).parent)
        if "://" not in folder and parent not in sys.path:
            sys.path.insert(0, parent)
    for user in spec.user_models.values():
        try:
            check_importable(user, input_shape=info.input_shape, n_classes=info.n_classes, rows=rows)
        except UserModelError as exc:
            raise SpecError(str(exc)) from exc


def check_same_data(exp_dir: str, data: Dataset) -> None:
    """--resume, --extend: the data must be the one the experiment started on (its stored fingerprint)."""
    try:
        stored = read_stored_spec(exp_dir).dataset_facts
    except (OSError, SpecError):
        return  # check_experiment has read it already; nothing recorded to compare
    if stored is not None and stored["fingerprint"] != data.fingerprint:
        raise SweepError(f"the dataset {data.name!r} differs from the one the experiment started on "
                         f"(fingerprint {data.fingerprint[:12]}..., stored {str(stored['fingerprint'])[:12]}...); "
                         "continue it with the same data, or start a new --name")
