"""What every dataset kind shares: a `Dataset` (numpy arrays with their facts), the errors
of reading one, and the checks of its labels and test split that table, images and arrays
all make.

A `Dataset` owns every fact about the data that the rest of the project needs: the class
count and names, the input shape, the training- and test-set sizes and where it came from.
Loaded once per sweep in the driver and shared with trials through Ray's object store;
nothing in here imports ray.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.checks import DatavsmathError

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}  # also .csv.gz, .csv.bz2, ...
SHOWN_NAMES = 5  # messages list at most this many columns or classes, then "and N more"
MISSING_KINDS = "None, NaN, NA or an empty string"


class DataNotFoundError(DatavsmathError, FileNotFoundError):
    """No copy of a dataset (Fashion-MNIST, MNIST, a user's file or folder) was found and
    none could be downloaded."""


class ChecksumError(DatavsmathError, ValueError):
    """A dataset file exists but its content is not the published one (Fashion-MNIST, MNIST)."""


class DatasetError(DatavsmathError, ValueError):
    """A dataset's file or folder is there but its content cannot be used (a missing label
    column, one class, a class absent from the test set, non-numeric or non-finite features,
    an unreadable file)."""


@dataclass(frozen=True)
class DatasetInfo:
    """The facts of a dataset, known before its arrays are read.

    name: the dataset's name in specs and results; class_names: one per class, in label
    order (labels are 0..K-1); input_shape: one input row, e.g. (28, 28) for a grayscale
    image, (H, W, 3) for a colour one, (F,) for F flat features; n_train, n_test: the sizes
    of the full training and test sets; kind: the registry kind it was loaded by
    ("fashion_mnist", "mnist", "table", "images", "arrays"; "" for an info made by hand).
    """

    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    n_train: int
    n_test: int
    kind: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_kind(self) -> str:
        """"flat" for features (F,), "image" for (H, W) or (H, W, C)."""
        return "flat" if len(self.input_shape) == 1 else "image"

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of an image input, C = 1 for grayscale (H, W); None for flat features."""
        if self.input_kind == "flat":
            return None
        h, w = self.input_shape[:2]
        return (h, w, self.input_shape[2] if len(self.input_shape) == 3 else 1)


ARRAY_FIELDS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Dataset:
    """A whole dataset: x_* (n, *info.input_shape), uint8 pixels for images; y_* int64 (n,)
    in [0, info.n_classes). Its facts are `info`'s; `source` says where it was read from;
    `fingerprint` is the sha256 of its arrays (computed on first use, then cached)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DatasetInfo
    source: str = ""

    def __post_init__(self) -> None:
        expected = {"x_train": (self.info.n_train, *self.info.input_shape), "y_train": (self.info.n_train,),
                    "x_test": (self.info.n_test, *self.info.input_shape), "y_test": (self.info.n_test,)}
        for field_name, shape in expected.items():
            got = getattr(self, field_name).shape
            if got != shape:
                raise ValueError(f"{self.info.name} {field_name} must have shape {shape}, got {got} "
                                 f"(from {self.source or 'arrays'})")

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def n_classes(self) -> int:
        return self.info.n_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.info.input_shape

    @property
    def n_train(self) -> int:
        return self.info.n_train

    @property
    def n_test(self) -> int:
        return self.info.n_test

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def input_kind(self) -> str:
        return self.info.input_kind

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return self.info.image_shape

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (64 hex digits) over x_train, y_train, x_test, y_test in that order, each
        as its name, dtype, shape and C-order bytes: equal arrays give equal fingerprints
        whatever the file they came from; one changed label or pixel changes it. About
        0.06 s for Fashion-MNIST's 55 MB (measured)."""
        digest = hashlib.sha256()
        for name in ARRAY_FIELDS:
            array = np.ascontiguousarray(getattr(self, name))
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.data)
        return digest.hexdigest()

    def facts(self) -> dict:
        """The facts to record with a sweep and its results (plain JSON/YAML types)."""
        return {"name": self.name, "kind": self.kind, "n_classes": self.n_classes,
                "class_names": list(self.class_names), "input_kind": self.input_kind,
                "input_shape": list(self.input_shape), "n_train": self.n_train, "n_test": self.n_test,
                "source": self.source, "fingerprint": self.fingerprint}


# ---------------------------------------------------------------------------------------
# Messages


def listed(names: Sequence[Any], limit: int = SHOWN_NAMES) -> str:
    """'a', 'b', 'c' -- at most `limit` names, then "and N more"."""
    shown = ", ".join(repr(str(name)) if not isinstance(name, str) else repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def missing_labels(values: Any) -> np.ndarray:
    """Positions of the missing labels of `values` (a sequence or array): None, NaN, pandas'
    NA and NaT, and empty or blank strings, which would otherwise become a class of their own."""
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.dtype.kind in "biu":
        return np.zeros(0, dtype=int)
    if array.dtype.kind in "fc":
        return np.flatnonzero(np.isnan(array))
    if array.dtype.kind in "US":
        return np.flatnonzero(np.char.strip(array.astype(str)) == "")
    import pandas as pd

    flags = [v is None or (isinstance(v, str) and not v.strip()) or bool(pd.api.types.is_scalar(v) and pd.isna(v))
             for v in array.ravel().tolist()]
    return np.flatnonzero(flags)


def missing_text(rows: Sequence[Any], n: int, *, what: str, at: str) -> str:
    """"label column 'target' has 2 missing labels (None, NaN, NA or an empty string) of 569
    rows, at data rows 4, 9; every row needs a label": `rows` the places named (`at`)."""
    shown = ", ".join(str(r) for r in rows[:SHOWN_NAMES]) + (f" and {len(rows) - SHOWN_NAMES} more"
                                                            if len(rows) > SHOWN_NAMES else "")
    return (f"{what} has {len(rows)} missing label{'s' if len(rows) > 1 else ''} ({MISSING_KINDS}) of {n} rows, "
            f"at {at} {shown}; every row needs a label: drop those rows or label them")


# ---------------------------------------------------------------------------------------
# Labels and the test split, as every file kind checks them


def resolve_path(path: str, base_dir: str | Path | None) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    return resolved


def default_name(path: Path) -> str:
    stem = path.name
    while Path(stem).suffix and Path(stem).suffix.lower() in {*TABLE_FORMATS, ".gz", ".bz2", ".xz", ".zip", ".zst"}:
        stem = Path(stem).stem
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "dataset"


def sorted_classes(values: Sequence[Any], where: str) -> list[Any]:
    try:
        return sorted(set(values))
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in values})
        raise DatasetError(f"{where} mixes label types that cannot be sorted ({', '.join(kinds)})") from exc


def stratified_split(y: np.ndarray, test_frac: float, seed: int, class_names: Sequence[str],
                      where: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test), each sorted, of a stratified split of labels y (n,)."""
    counts = np.bincount(y, minlength=len(class_names))
    few = [class_names[int(k)] for k in np.flatnonzero(counts < 2)]
    if few:
        raise DatasetError(f"{where}: class{'es' if len(few) > 1 else ''} {listed(few)} "
                           f"{'have' if len(few) > 1 else 'has'} fewer than 2 rows; test_frac's stratified split "
                           "needs at least one for training and one for the test set")
    # Imported here: sklearn.model_selection costs about 1.2 s to import, which the CLI's
    # early checks and the built-in datasets do not need.
    from sklearn.model_selection import train_test_split

    try:
        train, test = train_test_split(np.arange(len(y)), test_size=test_frac, random_state=seed, stratify=y)
    except ValueError as exc:
        raise DatasetError(f"{where}: test_frac {test_frac:g} cannot be split stratified over "
                           f"{len(class_names)} classes and {len(y)} rows: {exc}") from exc
    return np.sort(train), np.sort(test)


def check_two_classes(class_names: Sequence[str], where: str, count: str) -> None:
    """At least 2 classes; `count` says what was counted, e.g. "label column 'y' has 1 class"."""
    if len(class_names) < 2:
        raise DatasetError(f"{where}: {count} ({listed(class_names)}); a classifier needs at least 2 classes")


def check_classes(y_train: np.ndarray, y_test: np.ndarray, class_names: Sequence[str],
                   train_where: str, test_where: str, what: str, hint: str = "") -> None:
    """Every class in both the training and the test set; `hint` ends the message."""
    for where, y, part in ((train_where, y_train, "training"), (test_where, y_test, "test")):
        absent = [class_names[k] for k in range(len(class_names)) if not np.any(y == k)]
        if absent:
            raise DatasetError(f"{where}: the {part} set lacks class{'es' if len(absent) > 1 else ''} "
                               f"{listed(absent)} of {what}; every class must be in the {part} set{hint}")
