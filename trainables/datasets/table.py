"""The `table` dataset kind: a CSV or Parquet file, ``{kind: table, path: FILE, label: COLUMN,
features: [COLUMN, ...], test: FILE | test_frac: 0.2, seed: 0, name: NAME}``.

Inputs are flat, (n, F) float32 (uint8 when every feature column is uint8, e.g. pixels,
which the models then scale by 1/255 like images). Labels of any type are mapped to 0..K-1
in sorted order (see datavsmath.trainables.datasets.common). Errors name the file and column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.datasets.common import (
    SHOWN_NAMES,
    TABLE_FORMATS,
    DataNotFoundError,
    Dataset,
    DatasetError,
    DatasetInfo,
    check_classes,
    check_two_classes,
    default_name,
    listed,
    missing_labels,
    missing_text,
    resolve_path,
    sorted_classes,
    stratified_split,
)


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


def load_table(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    path = resolve_path(config["path"], base_dir)
    label = config["label"]
    frame = _read_table(path, "path")
    values = _label_values(frame, path, label)
    features = config["features"] or _default_features(frame, label, path)
    x = _features(frame, path, features)
    del frame
    what = f"label column {label!r}"
    if config["test"] is not None:
        test_path = resolve_path(config["test"], base_dir)
        test_frame = _read_table(test_path, "test")
        test_values = _label_values(test_frame, test_path, label)
        x_test = _features(test_frame, test_path, features)
        del test_frame
        classes = sorted_classes(values, f"{path}: {what}")
        check_two_classes([str(v) for v in classes], str(path), f"{what} has 1 class")
        index = {value: k for k, value in enumerate(classes)}
        unseen = [v for v in sorted_classes(test_values, f"{test_path}: {what}") if v not in index]
        if unseen:
            raise DatasetError(f"{test_path}: {what} has class{'es' if len(unseen) > 1 else ''} {listed(unseen)} "
                               f"that the training file {path.name} lacks")
        names = [str(v) for v in classes]
        y_train = np.array([index[v] for v in values], dtype=np.int64)
        y_test = np.array([index[v] for v in test_values], dtype=np.int64)
        x_train, test_where = x, str(test_path)
        source = f"{path} (test set {test_path})"
    else:
        classes = sorted_classes(values, f"{path}: {what}")
        names = [str(v) for v in classes]
        check_two_classes(names, str(path), f"{what} has 1 class")
        index = {value: k for k, value in enumerate(classes)}
        y_all = np.array([index[v] for v in values], dtype=np.int64)
        train, test = stratified_split(y_all, config["test_frac"], config["seed"], names, str(path))
        x_train, y_train, x_test, y_test = x[train], y_all[train], x[test], y_all[test]
        test_where = f"{path} (test_frac {config['test_frac']:g}, seed {config['seed']})"
        source = f"{path} (test_frac {config['test_frac']:g}, seed {config['seed']})"
    hint = "" if config["test"] is not None else "; raise test_frac, or give the test set as its own file (test:)"
    check_classes(y_train, y_test, names, str(path), test_where, what, hint)
    info = DatasetInfo(name=config["name"] or default_name(path), class_names=tuple(names),
                       input_shape=(len(features),), n_train=len(y_train), n_test=len(y_test), kind="table")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info, source=source)

