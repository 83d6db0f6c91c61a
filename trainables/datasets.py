"""The dataset registry: a spec's `dataset:` names one kind, and `load_dataset` reads it.

Kinds (`KINDS`):

- the built-in datasets (``BUILT_IN``: ``fashion_mnist``, ``mnist``), one entry each in
  datavsmath.trainables.built_in_datasets: IDX files found by --data-dir, $DATAVSMATH_DATA, the
  user cache (and Debian's package for Fashion-MNIST), MD5-checked, else downloaded by
  torchvision. 60000 + 10000 grayscale images (28, 28) uint8, 10 classes.
- ``table``: a CSV or Parquet file, ``{kind: table, path: FILE, label: COLUMN,
  features: [COLUMN, ...], test: FILE | test_frac: 0.2, seed: 0, name: NAME}``. Inputs are
  flat, (n, F) float32 (uint8 when every feature column is uint8, e.g. pixels, which the
  models then scale by 1/255 like images).
- ``images``: a folder in torchvision's ImageFolder layout (one subfolder per class), or
  with ``train/`` and ``test/`` subfolders in that layout, ``{kind: images, path: DIR,
  size: [H, W], color: grayscale | rgb, test_frac: 0.2, seed: 0, name: NAME}``. Inputs are
  uint8 (n, H, W) for grayscale, (n, H, W, 3) for rgb, pixels 0..255 as Fashion-MNIST's
  (16-bit images scaled from 0..65535; see datavsmath.trainables.image_files).
- ``arrays``: a NumPy ``.npz`` file of ``x`` and ``y`` (datavsmath.trainables.arrays), ``{kind:
  arrays, path: FILE, test: FILE | test_frac: 0.2, seed: 0, name: NAME}``: flat features or images.

Labels of tables and image folders of any type are mapped to 0..K-1 in sorted order (numbers
numerically, strings lexically; image classes by folder name, as ImageFolder does) and
their names are kept as `class_names`. A `test_frac` split is stratified and seeded
(`seed`, default 0), so it is the same for every trial of a sweep; both parts keep the
file's row order.

`check_dataset_config` checks a config's keys and types without reading data (raises
DatasetConfigError); `load_dataset` also checks the content (raises DataNotFoundError for a
file or folder that is not there, DatasetError for content that cannot be used). Every
error is a ValueError or a FileNotFoundError, and names the file, column or folder.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.built_in_datasets import BUILT_IN_DATASETS, BuiltInDataset
from datavsmath.trainables.data import DataNotFoundError, Dataset, DatasetInfo
from datavsmath.trainables.dataset_config import (
    BUILT_IN,
    COLORS,
    DEFAULT_TEST_FRAC,
    KINDS,
    MAX_DEFAULT_SIDE,
    SHOWN_NAMES,
    TABLE_FORMATS,
    DatasetConfigError,
    check_dataset_config,
    listed,
    missing_labels,
    missing_text,
)
from datavsmath.trainables.image_files import ImageFileError, class_files, image_extensions, image_size, read_image


class DatasetError(ValueError):
    """A dataset's file or folder is there but its content cannot be used (a missing label
    column, one class, a class absent from the test set, non-numeric or non-finite features,
    an unreadable file)."""


# ---------------------------------------------------------------------------------------
# Checking a config without reading data


def _resolve(path: str, base_dir: str | Path | None) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    return resolved


def _default_name(path: Path) -> str:
    stem = path.name
    while Path(stem).suffix and Path(stem).suffix.lower() in {*TABLE_FORMATS, ".gz", ".bz2", ".xz", ".zip", ".zst"}:
        stem = Path(stem).stem
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "dataset"


def _sorted_classes(values: Sequence[Any], where: str) -> list[Any]:
    try:
        return sorted(set(values))
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in values})
        raise DatasetError(f"{where} mixes label types that cannot be sorted ({', '.join(kinds)})") from exc


def _stratified_split(y: np.ndarray, test_frac: float, seed: int, class_names: Sequence[str],
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


def _check_two_classes(class_names: Sequence[str], where: str, count: str) -> None:
    """At least 2 classes; `count` says what was counted, e.g. "label column 'y' has 1 class"."""
    if len(class_names) < 2:
        raise DatasetError(f"{where}: {count} ({listed(class_names)}); a classifier needs at least 2 classes")


def _check_classes(y_train: np.ndarray, y_test: np.ndarray, class_names: Sequence[str],
                   train_where: str, test_where: str, what: str, hint: str = "") -> None:
    """Every class in both the training and the test set; `hint` ends the message."""
    for where, y, part in ((train_where, y_train, "training"), (test_where, y_test, "test")):
        absent = [class_names[k] for k in range(len(class_names)) if not np.any(y == k)]
        if absent:
            raise DatasetError(f"{where}: the {part} set lacks class{'es' if len(absent) > 1 else ''} "
                               f"{listed(absent)} of {what}; every class must be in the {part} set{hint}")


# ---------------------------------------------------------------------------------------
# Tables


def _table_format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in TABLE_FORMATS:
            return TABLE_FORMATS[suffix]
    return None


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's header line as written (empty names left out)."""
    import pandas as pd

    first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0]
    return [name for name in first.tolist() if name != ""]


def table_file(path: Path, key: str) -> str:
    """The format ("csv" or "parquet") of the table file dataset.<key> names: DataNotFoundError
    when it does not exist, DatasetError when it is a folder or has another name."""
    if not path.exists():
        raise DataNotFoundError(f"dataset.{key} {path} does not exist")
    if path.is_dir():
        raise DatasetError(f"dataset.{key} {path} is a folder, not a CSV or Parquet file")
    fmt = _table_format(path)
    if fmt is None:
        raise DatasetError(f"dataset.{key} {path}: unknown table format; the name must end in "
                           ".csv (also .csv.gz) or .parquet (.pq)")
    return fmt


def _read_table(path: Path, key: str):
    """The file as a DataFrame with string column names; DataNotFoundError or DatasetError."""
    fmt = table_file(path, key)
    # Imported here: pandas costs about 0.3 s to import, and only tables need it.
    import pandas as pd

    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise ParserError, ArrowInvalid, UnicodeDecodeError, OSError...
        raise DatasetError(f"dataset.{key} {path}: cannot read as {fmt.upper() if fmt == 'csv' else 'Parquet'} "
                           f"({type(exc).__name__}: {str(exc).strip()[:200]})") from exc
    columns = [str(column) for column in frame.columns]
    frame.columns = columns
    # pandas renames a CSV's repeated column names (alcohol, alcohol.1): count the header's own.
    header = _csv_header(path) if fmt == "csv" else columns
    dupes = sorted(name for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise DatasetError(f"{path}: duplicate column names {listed(dupes)}")
    if len(frame) == 0:
        raise DatasetError(f"{path}: the table has no rows")
    return frame


def _label_values(frame, path: Path, label: str) -> list[Any]:
    if label not in frame.columns:
        raise DatasetError(f"{path}: label column {label!r} not found; columns: {listed(list(frame.columns))}")
    column = frame[label]
    missing = missing_labels(column.to_numpy())
    if missing.size:
        raise DatasetError(f"{path}: " + missing_text([int(i) + 1 for i in missing], len(column),
                                                      what=f"label column {label!r}", at="data rows"))
    return [v.item() if isinstance(v, np.generic) else v for v in column.tolist()]


def _default_features(frame, label: str, path: Path) -> list[str]:
    import pandas as pd

    dtypes = frame.dtypes
    names = [c for c in frame.columns if c != label and pd.api.types.is_numeric_dtype(dtypes[c])]
    if not names:
        others = [c for c in frame.columns if c != label]
        raise DatasetError(f"{path}: no numeric feature column besides the label column {label!r}"
                           + (f"; not numeric: {listed(others)}" if others else ""))
    return names


def _features(frame, path: Path, features: list[str]) -> np.ndarray:
    """frame[features] as (n, F) uint8 if every column is uint8, else float32; numeric, finite."""
    import pandas as pd

    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise DatasetError(f"{path}: feature column{'s' if len(absent) > 1 else ''} {listed(absent)} not found; "
                           f"columns: {listed(list(frame.columns))}")
    dtypes = frame.dtypes
    not_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(dtypes[c])]
    if not_numeric:
        raise DatasetError(f"{path}: feature columns must be numeric; not numeric: {listed(not_numeric)}")
    part = frame[features]
    if all(dtype == np.uint8 for dtype in part.dtypes):
        return part.to_numpy(dtype=np.uint8)
    x = part.to_numpy(dtype=np.float32, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=0))
    if bad.size:
        counts = (~np.isfinite(x[:, bad])).sum(axis=0)
        shown = [f"{features[j]!r} ({n} row{'s' if n > 1 else ''})" for j, n in zip(bad, counts)]
        more = f" and {len(shown) - SHOWN_NAMES} more" if len(shown) > SHOWN_NAMES else ""
        raise DatasetError(f"{path}: feature columns must be finite; empty, NaN, inf or beyond float32's range "
                           f"in {', '.join(shown[:SHOWN_NAMES])}{more}")
    return x


def _load_table(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    path = _resolve(config["path"], base_dir)
    label = config["label"]
    frame = _read_table(path, "path")
    values = _label_values(frame, path, label)
    features = config["features"] or _default_features(frame, label, path)
    x = _features(frame, path, features)
    del frame
    what = f"label column {label!r}"
    if config["test"] is not None:
        test_path = _resolve(config["test"], base_dir)
        test_frame = _read_table(test_path, "test")
        test_values = _label_values(test_frame, test_path, label)
        x_test = _features(test_frame, test_path, features)
        del test_frame
        classes = _sorted_classes(values, f"{path}: {what}")
        _check_two_classes([str(v) for v in classes], str(path), f"{what} has 1 class")
        index = {value: k for k, value in enumerate(classes)}
        unseen = [v for v in _sorted_classes(test_values, f"{test_path}: {what}") if v not in index]
        if unseen:
            raise DatasetError(f"{test_path}: {what} has class{'es' if len(unseen) > 1 else ''} {listed(unseen)} "
                               f"that the training file {path.name} lacks")
        names = [str(v) for v in classes]
        y_train = np.array([index[v] for v in values], dtype=np.int64)
        y_test = np.array([index[v] for v in test_values], dtype=np.int64)
        x_train, test_where = x, str(test_path)
        source = f"{path} (test set {test_path})"
    else:
        classes = _sorted_classes(values, f"{path}: {what}")
        names = [str(v) for v in classes]
        _check_two_classes(names, str(path), f"{what} has 1 class")
        index = {value: k for k, value in enumerate(classes)}
        y_all = np.array([index[v] for v in values], dtype=np.int64)
        train, test = _stratified_split(y_all, config["test_frac"], config["seed"], names, str(path))
        x_train, y_train, x_test, y_test = x[train], y_all[train], x[test], y_all[test]
        test_where = f"{path} (test_frac {config['test_frac']:g}, seed {config['seed']})"
        source = f"{path} (test_frac {config['test_frac']:g}, seed {config['seed']})"
    hint = "" if config["test"] is not None else "; raise test_frac, or give the test set as its own file (test:)"
    _check_classes(y_train, y_test, names, str(path), test_where, what, hint)
    info = DatasetInfo(name=config["name"] or _default_name(path), class_names=tuple(names),
                       input_shape=(len(features),), n_train=len(y_train), n_test=len(y_test), kind="table")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info, source=source)


# ---------------------------------------------------------------------------------------
# Image folders


@dataclass(frozen=True)
class _ImageFolder:
    """What torchvision's ImageFolder lists of a folder: class names, and every image's path
    with its class index (`samples`, `targets`)."""

    classes: list[str]
    samples: list[tuple[str, int]]

    @property
    def targets(self) -> list[int]:
        return [k for _, k in self.samples]


def image_folder(folder: Path) -> _ImageFolder:
    """The images of `folder` in ImageFolder's layout (paths only; the pixels are read later)."""
    try:
        files = class_files(folder)
    except ImageFileError as exc:
        raise DatasetError(str(exc)) from exc
    if not files:
        raise DatasetError(f"{folder}: no class subfolders; the layout is one subfolder of images per "
                           "class, or train/ and test/ folders in that layout")
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        raise DatasetError(f"{folder}: class folder{'s' if len(empty) > 1 else ''} {listed(empty)} "
                           f"hold{'' if len(empty) > 1 else 's'} no image file "
                           f"({', '.join(image_extensions())})")
    return _ImageFolder(classes=list(files), samples=[(path, k) for k, paths in enumerate(files.values())
                                                      for path in paths])


def _image_size(path: str) -> tuple[int, int]:
    try:
        return image_size(path)
    except ImageFileError as exc:
        raise DatasetError(str(exc)) from exc


def default_image_size(sizes: Sequence[tuple[int, int]], cap: int = MAX_DEFAULT_SIDE) -> tuple[int, int]:
    """The most common (H, W) of `sizes` (ties: the larger area, then the larger H), scaled
    down keeping its aspect ratio so that neither side exceeds `cap` (each side >= 1)."""
    counts = Counter(sizes)
    height, width = max(counts, key=lambda hw: (counts[hw], hw[0] * hw[1], hw))
    scale = min(1.0, cap / height, cap / width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _read_images(paths: Sequence[str], size: tuple[int, int], color: str) -> np.ndarray:
    """uint8 (n, H, W) for grayscale or (n, H, W, 3) for rgb; resized (bilinear, antialiased,
    by torchvision) only when an image's size differs."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    height, width = size
    shape = (len(paths), height, width) + ((3,) if color == "rgb" else ())
    out = np.empty(shape, dtype=np.uint8)
    mode = "L" if color == "grayscale" else "RGB"
    for i, path in enumerate(paths):
        try:
            converted = read_image(path, mode)
        except ImageFileError as exc:
            raise DatasetError(str(exc)) from exc
        if converted.size != (width, height):
            converted = resize(converted, [height, width], interpolation=InterpolationMode.BILINEAR, antialias=True)
        out[i] = np.asarray(converted, dtype=np.uint8)
    return out


def _load_images(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    root = _resolve(config["path"], base_dir)
    if not root.exists():
        raise DataNotFoundError(f"dataset.path {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset.path {root} is a file, not a folder of class subfolders")
    train_dir, test_dir = root / "train", root / "test"
    split = train_dir.is_dir() or test_dir.is_dir()
    if split and not (train_dir.is_dir() and test_dir.is_dir()):
        has, lacks = ("train", "test") if train_dir.is_dir() else ("test", "train")
        raise DatasetError(f"{root} has a {has}/ folder but no {lacks}/; give both, each with one subfolder per "
                           "class, or put the class subfolders directly in the folder")
    if split and config["test_frac"] is not None:
        raise DatasetError(f"{root} has train/ and test/ folders, so dataset.test_frac does not apply; remove it")
    what = "the class folders"
    if split:
        train_set = image_folder(train_dir)
        names = list(train_set.classes)
        _check_two_classes(names, str(train_dir), "1 class folder")
        test_set = image_folder(test_dir)
        extra = [c for c in test_set.classes if c not in names]
        if extra:
            raise DatasetError(f"{test_dir}: class folder{'s' if len(extra) > 1 else ''} {listed(extra)} "
                               f"not in {train_dir}")
        missing = [c for c in names if c not in test_set.classes]
        if missing:
            raise DatasetError(f"{test_dir}: the test set lacks class folder{'s' if len(missing) > 1 else ''} "
                               f"{listed(missing)} of {train_dir}; every class must be in the test set")
        train_paths = [path for path, _ in train_set.samples]
        test_paths = [path for path, _ in test_set.samples]
        y_train = np.array(train_set.targets, dtype=np.int64)
        y_test = np.array([names.index(test_set.classes[k]) for k in test_set.targets], dtype=np.int64)
        train_where, test_where = str(train_dir), str(test_dir)
        source = f"{root} (train/ and test/)"
    else:
        folder = image_folder(root)
        names = list(folder.classes)
        all_paths = [path for path, _ in folder.samples]
        y_all = np.array(folder.targets, dtype=np.int64)
        test_frac = DEFAULT_TEST_FRAC if config["test_frac"] is None else config["test_frac"]
        _check_two_classes(names, str(root), "1 class folder")
        train, test = _stratified_split(y_all, test_frac, config["seed"], names, str(root))
        train_paths, test_paths = [all_paths[i] for i in train], [all_paths[i] for i in test]
        y_train, y_test = y_all[train], y_all[test]
        train_where = test_where = source = f"{root} (test_frac {test_frac:g}, seed {config['seed']})"
    hint = "" if split else "; raise test_frac, or give train/ and test/ folders"
    _check_classes(y_train, y_test, names, train_where, test_where, what, hint)
    size = tuple(config["size"]) if config["size"] else default_image_size(
        [_image_size(path) for path in [*train_paths, *test_paths]])
    height, width = int(size[0]), int(size[1])
    color = config["color"]
    x_train = _read_images(train_paths, (height, width), color)
    x_test = _read_images(test_paths, (height, width), color)
    info = DatasetInfo(name=config["name"] or _default_name(root), class_names=tuple(names),
                       input_shape=tuple(x_train.shape[1:]), n_train=len(y_train), n_test=len(y_test), kind="images")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info,
                   source=f"{source}, {height}x{width} {color}")


# ---------------------------------------------------------------------------------------
# The registry

# kind -> loader(normal config, base_dir, data_dir, download)
Loader = Callable[[Mapping[str, Any], str | Path | None, str | Path | None, bool], Dataset]

def _built_in_loader(entry: BuiltInDataset) -> Loader:
    return lambda config, base_dir, data_dir, download: entry.load(data_dir, download=download)


LOADERS: dict[str, Loader] = {
    **{name: _built_in_loader(entry) for name, entry in BUILT_IN_DATASETS.items()},
    "table": lambda config, base_dir, data_dir, download: _load_table(config, base_dir),
    "images": lambda config, base_dir, data_dir, download: _load_images(config, base_dir),
    "arrays": lambda config, base_dir, data_dir, download: _load_arrays(config, base_dir),
}


def _load_arrays(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    from datavsmath.trainables.arrays import load_arrays  # it uses this module's helpers

    return load_arrays(config, base_dir)


def load_dataset(config: Mapping[str, Any] | str, *, data_dir: str | Path | None = None, download: bool = True,
                 base_dir: str | Path | None = None) -> Dataset:
    """The dataset that `config` names (see `check_dataset_config` and the module doc).

    data_dir, download: for the built-in datasets (see BuiltInDataset.load); base_dir: the
    folder that relative paths of table and images resolve against (the spec file's
    folder; default the working directory). Raises DatasetConfigError, DataNotFoundError
    (a file, folder or IDX copy not found; a FileNotFoundError), ChecksumError or
    DatasetError (both ValueError).
    """
    normal = check_dataset_config(config)
    return LOADERS[normal["kind"]](normal, base_dir, data_dir, download)


__all__ = [
    "BUILT_IN", "COLORS", "KINDS", "LOADERS", "DatasetConfigError", "DatasetError", "check_dataset_config",
    "default_image_size", "listed", "load_dataset",
]

