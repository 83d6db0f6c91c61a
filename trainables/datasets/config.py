"""A dataset config (the spec's `dataset:` entry): its keys, kinds and limits, checked before
any data is read. `check_dataset_config` returns the normal form that `load_dataset` takes."""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from datavsmath.trainables.checks import (
    UNIT_OPEN,
    DatavsmathError,
    Interval,
    check_choice,
    check_int,
    check_keys,
    check_number,
    echo,
)
from datavsmath.trainables.datasets.built_in import BUILT_IN
from datavsmath.trainables.datasets.common import listed

KINDS = (*BUILT_IN, "table", "images", "arrays")  # BUILT_IN: the kinds a plain name selects
COLORS = ("grayscale", "rgb")
DEFAULT_TEST_FRAC = 0.2
DEFAULT_SEED = 0
DEFAULT_COLOR = "rgb"
MAX_DEFAULT_SIDE = 64  # the default image size is the most common one, scaled down to fit 64x64
SEEDS = Interval(0, 2**32 - 1)  # numpy's RandomState range
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    **{name: ("kind",) for name in BUILT_IN},
    "table": ("kind", "name", "path", "label", "features", "test", "test_frac", "seed"),
    "images": ("kind", "name", "path", "size", "color", "test_frac", "seed"),
    "arrays": ("kind", "name", "path", "test", "test_frac", "seed"),
}
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {"table": ("path", "label"), "images": ("path",), "arrays": ("path",)}


class DatasetConfigError(DatavsmathError, ValueError):
    """A dataset config is malformed: found by `check_dataset_config`, before any data is read."""


def _fail(message: str) -> DatasetConfigError:
    return DatasetConfigError(message)


def _check_path(key: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise _fail(f"dataset.{key} must be a file or folder path (a non-empty string), got {echo(value)}")
    return value


def _check_column(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(f"dataset.{key} must be a column name (a non-empty string), got {echo(value)}")
    return value


def _check_features(value: Any, label: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise _fail(f"dataset.features must be a non-empty list of column names, got {echo(value)}")
    names = [_check_column("features", item) for item in value]
    dupes = sorted(name for name, n in Counter(names).items() if n > 1)
    if dupes:
        raise _fail(f"dataset.features must have distinct names, got duplicates {listed(dupes)}")
    if label in names:
        raise _fail(f"dataset.features must not include the label column {label!r}")
    return names


def _check_size(value: Any) -> list[int] | None:
    if value is None:
        return None
    ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value))
    if not ok:
        raise _fail(f"dataset.size must be [H, W], two integers >= 1, got {echo(value)}")
    return [int(v) for v in value]


def _check_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise _fail(f"dataset.name must be 1-100 letters, digits, '.', '_' or '-' (starting with a letter "
                    f"or digit), got {echo(value)}")
    return value


def check_dataset_config(config: Mapping[str, Any] | str) -> dict[str, Any]:
    """The config in its normal form, checked without reading any data.

    `config` is a built-in name (BUILT_IN: "fashion_mnist", "mnist") or a mapping with `kind`.
    Returns a new dict with every key of its kind (`ALLOWED_KEYS`):
    built-in: {kind}; table: {kind, name (None: the file's stem), path, label, features
    (None: every other numeric column), test (None or a path), test_frac (0.2 when test is
    None, else None), seed (default 0)}; images: {kind, name (None: the folder's name),
    path, size ([H, W] or None: the most common size, fitted into 64x64), color ("rgb"
    default), test_frac (None: 0.2 when the folder has no train/ and test/), seed}.
    Paths stay as given (relative ones resolve at load time). Raises DatasetConfigError.
    """
    if isinstance(config, str):
        if config in BUILT_IN:
            return {"kind": config}
        if config in KINDS:
            raise _fail(f"dataset {config!r} needs a mapping with its path, e.g. "
                        + {"table": "{kind: table, path: data.csv, label: y}",
                           "arrays": "{kind: arrays, path: data.npz}"}.get(config, "{kind: images, path: folder}"))
        raise _fail(f"dataset must be one of {list(BUILT_IN)} or a mapping with kind, got {echo(config)}")
    if not isinstance(config, Mapping):
        raise _fail(f"dataset must be a name ({', '.join(BUILT_IN)}) or a mapping with kind, "
                    f"got {type(config).__name__} {echo(config)}")
    if "kind" not in config:
        raise _fail(f"dataset: missing key 'kind'; one of {', '.join(KINDS)}")
    try:
        kind = check_choice("dataset.kind", config["kind"], KINDS)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    allowed = ALLOWED_KEYS[kind]
    check_keys("dataset", config, allowed, of=f" for kind {kind}", error=DatasetConfigError)
    missing = [key for key in REQUIRED_KEYS.get(kind, ()) if config.get(key) is None]
    if missing:
        raise _fail(f"dataset: kind {kind} needs key {missing[0]!r}")
    if kind in BUILT_IN:
        return {"kind": kind}
    try:
        seed = check_int("dataset.seed", config.get("seed", DEFAULT_SEED), SEEDS)
        test_frac = config.get("test_frac")
        if test_frac is not None:
            test_frac = check_number("dataset.test_frac", test_frac, UNIT_OPEN)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    out: dict[str, Any] = {"kind": kind, "name": _check_name(config.get("name")),
                           "path": _check_path("path", config["path"])}
    if kind in ("table", "arrays"):
        test = config.get("test")
        if test is not None and test_frac is not None:
            raise _fail(f"dataset: give test or test_frac, not both (got test {echo(test)} and "
                        f"test_frac {test_frac:g})")
        if kind == "table":
            label = _check_column("label", config["label"])
            out.update(label=label, features=_check_features(config.get("features"), label))
        out.update(test=None if test is None else _check_path("test", test),
                   test_frac=DEFAULT_TEST_FRAC if test is None and test_frac is None else test_frac, seed=seed)
    else:
        try:
            color = check_choice("dataset.color", config.get("color", DEFAULT_COLOR), COLORS)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        out.update(size=_check_size(config.get("size")), color=color, test_frac=test_frac, seed=seed)
    return out
