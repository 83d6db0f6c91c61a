"""A dataset's size and columns without loading it: what a dry run checks and prices.

`peek_dataset(config)` reads a table's metadata (Parquet) or its header, first rows and line
count (CSV), an image folder's file listing, or an arrays file's array headers, and runs the
checks that need no more than that: the file or folder is there and readable, the label and
feature columns exist, features are numeric, every class has a row. What it cannot see (a
value further down a CSV that is not a number, an undecodable image) the sweep's full load
still checks when it starts.
"""

from __future__ import annotations

import gzip
import math
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.datasets.arrays import X_KEY, Y_KEY
from datavsmath.trainables.datasets.common import DataNotFoundError, DatasetError, listed
from datavsmath.trainables.datasets.config import DEFAULT_TEST_FRAC, check_dataset_config
from datavsmath.trainables.datasets.images import image_folder
from datavsmath.trainables.datasets.table import table_file

SAMPLE_ROWS = 1000  # a CSV's first rows, from which its column types are read
CHUNK_BYTES = 1 << 22


@dataclass(frozen=True)
class Peek:
    """n_train, n_test: rows (or images) of each split as the full load will make them;
    how: where the counts come from, e.g. "its Parquet metadata"."""

    n_train: int
    n_test: int
    how: str


def _split(n: int, test_frac: float) -> tuple[int, int]:
    """(train, test) sizes of scikit-learn's train_test_split with test_size=test_frac."""
    n_test = math.ceil(test_frac * n)
    return n - n_test, n_test


def _count_lines(stream: Any) -> int:
    """Lines of a binary stream, the last one counted whether or not it ends in a line break."""
    lines, last = 0, b"\n"
    while chunk := stream.read(CHUNK_BYTES):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    return lines + (last != b"\n")


def _table_path(config: Mapping[str, Any], key: str) -> tuple[Path, str]:
    path = Path(config[key]).expanduser()
    return path, table_file(path, key)


def _peek_table_file(path: Path, fmt: str) -> tuple[int, Any]:
    """(data rows, a DataFrame with the file's columns and their types: no rows for Parquet,
    the first SAMPLE_ROWS rows for CSV)."""
    import pandas as pd

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            return meta.metadata.num_rows, meta.schema_arrow.empty_table().to_pandas()
        head = pd.read_csv(path, nrows=SAMPLE_ROWS)
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
        with (gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")) as stream:
            rows = _count_lines(stream) - 1
    except Exception as exc:  # pandas/pyarrow raise ParserError, ArrowInvalid, UnicodeDecodeError, OSError...
        raise DatasetError(f"{path}: cannot read as {'CSV' if fmt == 'csv' else 'Parquet'} "
                           f"({type(exc).__name__}: {str(exc).strip()[:200]})") from exc
    dupes = sorted(name for name, n in Counter(h for h in header if h != "").items() if n > 1)
    if dupes:
        raise DatasetError(f"{path}: duplicate column names {listed(dupes)}")
    return rows, head


def _check_columns(frame: Any, path: Path, *, label: str, features: list[str] | None) -> None:
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if label not in columns:
        raise DatasetError(f"{path}: label column {label!r} not found; columns: {listed(columns)}")
    dtypes = dict(zip(columns, frame.dtypes))
    wanted = features or [c for c in columns if c != label and pd.api.types.is_numeric_dtype(dtypes[c])]
    if not wanted:
        others = [c for c in columns if c != label]
        raise DatasetError(f"{path}: no numeric feature column besides the label column {label!r}"
                           + (f"; not numeric: {listed(others)}" if others else ""))
    absent = [c for c in wanted if c not in dtypes]
    if absent:
        raise DatasetError(f"{path}: feature column{'s' if len(absent) > 1 else ''} {listed(absent)} not found; "
                           f"columns: {listed(columns)}")
    not_numeric = [c for c in wanted if not pd.api.types.is_numeric_dtype(dtypes[c])]
    if not_numeric:
        raise DatasetError(f"{path}: feature columns must be numeric; not numeric: {listed(not_numeric)}")


def _peek_table(config: Mapping[str, Any]) -> Peek:
    path, fmt = _table_path(config, "path")
    rows, frame = _peek_table_file(path, fmt)
    if rows < 1:
        raise DatasetError(f"{path}: the table has no rows")
    _check_columns(frame, path, label=config["label"], features=config["features"])
    how = "its Parquet metadata" if fmt == "parquet" else "its header, first rows and line count"
    if config["test"] is None:
        return Peek(*_split(rows, config["test_frac"]), how=how)
    test_path, test_fmt = _table_path(config, "test")
    test_rows, test_frame = _peek_table_file(test_path, test_fmt)
    if test_rows < 1:
        raise DatasetError(f"{test_path}: the table has no rows")
    _check_columns(test_frame, test_path, label=config["label"], features=config["features"])
    return Peek(n_train=rows, n_test=test_rows, how=how)


def _peek_images(config: Mapping[str, Any]) -> Peek:
    root = Path(config["path"]).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"dataset.path {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset.path {root} is a file, not a folder of class subfolders")
    how = "its image files, counted"
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        return Peek(n_train=len(image_folder(train_dir).samples), n_test=len(image_folder(test_dir).samples),
                    how=how)
    test_frac = DEFAULT_TEST_FRAC if config["test_frac"] is None else config["test_frac"]
    return Peek(*_split(len(image_folder(root).samples), test_frac), how=how)


def _array_rows(path: Path) -> int:
    """The length of `y` in an arrays .npz file, from its header alone."""
    if not path.is_file():
        raise DataNotFoundError(f"dataset.path {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = {Path(n).stem for n in archive.namelist()}
            missing = [k for k in (X_KEY, Y_KEY) if k not in names]
            if missing:
                raise DatasetError(f"{path}: an arrays file must hold '{X_KEY}' and '{Y_KEY}'; it lacks "
                                   f"{', '.join(repr(m) for m in missing)}")
            with archive.open(f"{Y_KEY}.npy") as stream:
                version = np.lib.format.read_magic(stream)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, _ = read(stream)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from exc
    return int(shape[0]) if shape else 0


def _peek_arrays(config: Mapping[str, Any]) -> Peek:
    rows = _array_rows(Path(config["path"]).expanduser())
    how = "its array headers"
    if config["test"] is not None:
        return Peek(n_train=rows, n_test=_array_rows(Path(config["test"]).expanduser()), how=how)
    return Peek(*_split(rows, config["test_frac"]), how=how)


PEEKERS = {"table": _peek_table, "images": _peek_images, "arrays": _peek_arrays}


def peek_dataset(config: Mapping[str, Any]) -> Peek | None:
    """The split sizes of the table, image folder or arrays file that `config` names, from
    its metadata, header or listing (see the module doc); None for a built-in dataset, whose
    sizes its entry states. Raises DatasetConfigError, DataNotFoundError or DatasetError with
    the messages of the full load."""
    normal = check_dataset_config(config)
    peeker = PEEKERS.get(normal["kind"])
    return None if peeker is None else peeker(normal)
