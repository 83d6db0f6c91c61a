"""The `arrays` dataset kind: a NumPy `.npz` file holding `x` and `y`, as the Python API writes
a user's in-memory `(X, y)` (datavsmath.sweep) and as a spec may name one.

``{kind: arrays, path: FILE.npz, test: FILE.npz | test_frac: 0.2, seed: 0, name: NAME}``.
`x` is (n, F) numbers (flat features, float32 as a table's) or images (n, H, W) /
(n, H, W, C) with C in {1, 3}: uint8 pixels, integers in 0..255 or floats in [0, 1] (scaled
to 0..255 and rounded), a trailing channel of 1 dropped. `y` (n,) holds labels of any
sortable type, mapped to 0..K-1 in sorted order as a table's. A `test_frac` split is the
table's stratified, seeded one. Errors are DatasetError naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.datasets.common import (
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

X_KEY, Y_KEY = "x", "y"
IMAGE_CHANNELS = (1, 3)
PIXEL_MAX = 255


def _read(path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataNotFoundError(f"dataset.{key} {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in (X_KEY, Y_KEY) if k not in archive.files]
            if missing:
                raise DatasetError(f"{path}: an arrays file must hold '{X_KEY}' and '{Y_KEY}'; it lacks "
                                   f"{', '.join(repr(m) for m in missing)} "
                                   f"(it has {', '.join(archive.files) or 'none'})")
            return archive[X_KEY], archive[Y_KEY]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: not a readable .npz file without pickled objects ({exc})") from exc


def inputs(x: np.ndarray, *, where: str) -> np.ndarray:
    """`x` as the models take it: float32 (n, F) features, or uint8 (n, H, W) / (n, H, W, 3)
    pixels. DatasetError naming `where` for another shape or range."""
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise DatasetError(f"{where}: x must hold real numbers, got dtype {x.dtype}")
        out = x if x.dtype == np.uint8 else x.astype(np.float32)
        if not np.isfinite(out.astype(np.float32)).all():
            raise DatasetError(f"{where}: x holds NaN or infinite values; every feature must be finite")
        return out
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in IMAGE_CHANNELS):
        raise DatasetError(f"{where}: x must be (n, F) features or (n, H, W) / (n, H, W, C) images with C in "
                           f"{IMAGE_CHANNELS}, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer) and x.size and (x.min() < 0 or x.max() > PIXEL_MAX):
        raise DatasetError(f"{where}: integer pixels must be in 0..{PIXEL_MAX}, got {x.min()}..{x.max()}")
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DatasetError(f"{where}: float pixels must be in [0, 1]; give uint8 pixels for 0..{PIXEL_MAX}")
        return np.rint(x * PIXEL_MAX).astype(np.uint8)
    if not np.issubdtype(x.dtype, np.integer):
        raise DatasetError(f"{where}: image pixels must be numbers, got dtype {x.dtype}")
    return x.astype(np.uint8)


def _labels(y: np.ndarray, n: int, *, where: str) -> list[Any]:
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"{where}: y must be one label per row of x, shape ({n},), got {y.shape}")
    missing = missing_labels(y)
    if missing.size:
        raise DatasetError(f"{where}: " + missing_text(missing.tolist(), n, what="y", at="rows"))
    return y.tolist()


def load_arrays(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    """The dataset of an `arrays` config (normal form of check_dataset_config)."""
    path = resolve_path(config["path"], base_dir)
    x_raw, y_raw = _read(path, "path")
    x = inputs(x_raw, where=str(path))
    values = _labels(y_raw, len(x), where=str(path))
    what = "labels y"
    classes = sorted_classes(values, f"{path}: {what}")
    names = [str(v) for v in classes]
    check_two_classes(names, str(path), f"{what} have 1 class")
    index = {value: k for k, value in enumerate(classes)}
    y_all = np.array([index[v] for v in values], dtype=np.int64)
    if config["test"] is not None:
        test_path = resolve_path(config["test"], base_dir)
        xt_raw, yt_raw = _read(test_path, "test")
        x_test = inputs(xt_raw, where=str(test_path))
        test_values = _labels(yt_raw, len(x_test), where=str(test_path))
        unseen = [v for v in sorted_classes(test_values, f"{test_path}: {what}") if v not in index]
        if unseen:
            raise DatasetError(f"{test_path}: {what} have class{'es' if len(unseen) > 1 else ''} "
                                  f"{listed(unseen)} that the training file {path.name} lacks")
        if x_test.shape[1:] != x.shape[1:] or x_test.dtype != x.dtype:
            raise DatasetError(f"{test_path}: x must have the training file's row shape {x.shape[1:]} and "
                                  f"dtype {x.dtype}, got {x_test.shape[1:]} {x_test.dtype}")
        x_train, y_train = x, y_all
        y_test = np.array([index[v] for v in test_values], dtype=np.int64)
        test_where, source, hint = str(test_path), f"{path} (test set {test_path})", ""
    else:
        train, test = stratified_split(y_all, config["test_frac"], config["seed"], names, str(path))
        x_train, y_train, x_test, y_test = x[train], y_all[train], x[test], y_all[test]
        source = f"{path} (test_frac {config['test_frac']:g}, seed {config['seed']})"
        test_where, hint = source, "; raise test_frac, or give the test set as its own file (test:)"
    check_classes(y_train, y_test, names, str(path), test_where, what, hint)
    info = DatasetInfo(name=config["name"] or default_name(path.with_suffix("")), class_names=tuple(names),
                       input_shape=tuple(x.shape[1:]), n_train=len(y_train), n_test=len(y_test), kind="arrays")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info, source=source)
