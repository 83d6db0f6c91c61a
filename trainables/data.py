"""Datasets as numpy arrays with their facts; IDX datasets (the built-in ones,
datavsmath.trainables.built_in_datasets) found locally or downloaded by torchvision.

A `Dataset` owns every fact about the data that the rest of the project needs: the class
count and names, the input shape, the training- and test-set sizes and where it came from.
Loaded once per sweep in the driver and shared with trials through Ray's object store;
nothing in here imports ray.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "DATAVSMATH_DATA"


class DataNotFoundError(FileNotFoundError):
    """No copy of a dataset (Fashion-MNIST, MNIST, a user's file or folder) was found and
    none could be downloaded."""


class ChecksumError(ValueError):
    """A dataset file exists but its content is not the published one (Fashion-MNIST, MNIST)."""


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


@dataclass(frozen=True)
class IdxSource:
    """Where and how to find one IDX dataset of four files (Fashion-MNIST, MNIST).

    display: its name in messages; md5: file name -> MD5 of the uncompressed content;
    subdirs: the folders under a candidate directory to look in, in order ("" is the
    directory itself); torchvision_class: the torchvision.datasets class that reads and
    downloads it (its raw folder is ROOT/<class name>/raw); debian_dir, debian_package: a
    Debian package holding it, if any; info: its facts.
    """

    display: str
    md5: Mapping[str, str]
    subdirs: tuple[str, ...]
    torchvision_class: str
    info: DatasetInfo
    debian_dir: Path | None = None
    debian_package: str | None = None
    extra_ways: tuple[str, ...] = ()

    @property
    def raw_subdir(self) -> str:
        return f"{self.torchvision_class}/raw"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/datavsmath`, default `~/.cache/datavsmath`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "datavsmath"


def candidate_dirs(data_dir: str | Path | None = None, *,
                   source: IdxSource) -> list[tuple[str, Path]]:
    """Where to look, in order: --data-dir, $DATAVSMATH_DATA, the user cache, Debian's package
    (when `source` has one)."""
    found = []
    if data_dir is not None:
        found.append(("--data-dir", Path(data_dir)))
    if os.environ.get(DATA_ENV_VAR):
        found.append((f"${DATA_ENV_VAR}", Path(os.environ[DATA_ENV_VAR])))
    found.append(("user cache", user_cache_dir()))
    if source.debian_dir is not None:
        found.append((f"Debian package {source.debian_package}", source.debian_dir))
    return found


def _locate(directory: Path, name: str, source: IdxSource) -> Path | None:
    """The file for IDX `name` in `directory`: raw or .gz, in `source.subdirs` (flat or in
    torchvision's layout)."""
    for sub in source.subdirs:
        folder = directory / sub if sub else directory
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _verified_bytes(path: Path, name: str, source: IdxSource) -> bytes:
    """The uncompressed IDX bytes of `path`, after checking them against `source.md5`."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ChecksumError(f"{path}: checksum failed, not a complete gzip file ({exc}); "
                                "delete it and provide the data again") from exc
    if _md5(raw) != source.md5[name]:
        raise ChecksumError(f"{path}: checksum failed (md5 of content {_md5(raw)}, "
                            f"expected {source.md5[name]}); the file is truncated or not {source.display}")
    return raw


def _missing_files(directory: Path, source: IdxSource) -> list[str]:
    """The IDX files `_locate` does not find in `directory`, in `source.md5` order."""
    return [name for name in source.md5 if _locate(directory, name, source) is None]


def _has_all_files(directory: Path, source: IdxSource) -> bool:
    return not _missing_files(directory, source)


def _install_into_cache(directory: Path, source: IdxSource) -> Path:
    """Verify the four files in `directory` and place raw copies in torchvision's layout.

    Returns the torchvision root (the user cache, or `directory` itself if it already
    holds verified raw files in that layout).
    """
    raw_dir = directory / source.raw_subdir
    if all((raw_dir / name).is_file() for name in source.md5):
        for name in source.md5:
            _verified_bytes(raw_dir / name, name, source)
        return directory
    root = user_cache_dir()
    target = root / source.raw_subdir
    target.mkdir(parents=True, exist_ok=True)
    for name in source.md5:
        found = _locate(directory, name, source)
        if found is None:
            raise DataNotFoundError(f"{directory} lacks the {source.display} file {name} (raw or .gz)")
        data = _verified_bytes(found, name, source)
        tmp = target / f".{name}.tmp{os.getpid()}"
        tmp.write_bytes(data)
        tmp.replace(target / name)  # atomic, so a concurrent reader never sees half a file
    return root


def _torchvision_dataset(source: IdxSource):
    # Imported here: torch + torchvision cost seconds, and the CLI's early checks need neither.
    import torchvision.datasets

    return getattr(torchvision.datasets, source.torchvision_class)


def parse_idx(path: str | Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format: a zero word, type 0x08, the rank, the
    dimensions as big-endian uint32, then the data) as a writable uint8 array of those
    dimensions. numpy only: torchvision's reader would bring torch (~470 MB, ~1.6 s) into
    the sweep's driver. ValueError naming the file for another header or a wrong size."""
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:3] != b"\0\0\x08":
            raise ValueError(f"{path}: not an IDX file of unsigned bytes (header {header.hex() or 'empty'})")
        rank = header[3]
        dims = struct.unpack(f">{rank}I", f.read(4 * rank).ljust(4 * rank, b"\0"))
        data = np.empty(dims, dtype=np.uint8)
        got = f.readinto(memoryview(data.reshape(-1))) if data.size else 0  # type: ignore[arg-type]
        if got != data.size or f.read(1):
            raise ValueError(f"{path}: the header says {'x'.join(map(str, dims))} = {data.size} bytes of data, "
                             f"the file holds {'more' if got == data.size else got}")
    return data


def _read_split(root: Path, *, train: bool,
                source: IdxSource) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of one split from ROOT/<torchvision class>/raw, where find_data_root puts
    the verified files, under torchvision's names (train-*, t10k-*)."""
    folder = root / source.raw_subdir
    prefix = "train" if train else "t10k"
    images = parse_idx(folder / f"{prefix}-images-idx3-ubyte")
    return images, parse_idx(folder / f"{prefix}-labels-idx1-ubyte").astype(np.int64)  # counts: Dataset checks


def _not_found_message(tried: list[tuple[str, Path]], download_error: str | None,
                       source: IdxSource) -> str:
    lines = [f"{source.display} was not found. Looked in:"]
    lines += [f"  - {label}: {path}" for label, path in tried]
    if download_error:
        lines.append(f"Download by torchvision failed: {download_error}")
    lines += [
        "Provide it in one of these ways:",
        "  - pass --data-dir DIR, a folder holding the four IDX files (.gz or raw);",
        f"  - set {DATA_ENV_VAR}=DIR;",
        f"  - let torchvision download it into {user_cache_dir()} (needs internet; on by default);",
        *source.extra_ways,
    ]
    return "\n".join(lines)


# Folders the user named: one that lacks files is an error, never skipped for another copy.
USER_NAMED = {"--data-dir": "data_dir", f"${DATA_ENV_VAR}": f"${DATA_ENV_VAR}"}


def _user_folder_error(label: str, directory: Path, tried: list[tuple[str, Path]],
                       source: IdxSource) -> DataNotFoundError:
    """The error for a folder named by --data-dir or $DATAVSMATH_DATA that lacks files: one
    line naming the missing files when some are there, else the ways to provide the data."""
    missing = _missing_files(directory, source)
    field = USER_NAMED[label]
    if len(missing) < len(source.md5):
        plural = "s" if len(missing) > 1 else ""
        return DataNotFoundError(f"{field} {directory} lacks the {source.display} file{plural} "
                                 f"{', '.join(missing)} (raw or .gz); it has the other "
                                 f"{len(source.md5) - len(missing)}")
    what = "does not exist" if not directory.exists() else f"holds none of the four {source.display} IDX files"
    return DataNotFoundError(f"{field} {directory} {what} ({', '.join(source.md5)}, raw or .gz)\n"
                             + _not_found_message(tried, None, source))


def find_data_root(data_dir: str | Path | None = None, *, download: bool = True,
                   source: IdxSource) -> Path:
    """The torchvision root holding verified raw IDX files of `source` (a built-in dataset's,
    datavsmath.trainables.built_in_datasets); downloads if nothing local exists.

    Raises DataNotFoundError listing every way to provide the data, or ChecksumError naming
    the file whose content is wrong. A folder named by `data_dir` or $DATAVSMATH_DATA that
    lacks any of the four files is an error naming the missing ones.
    """
    tried = candidate_dirs(data_dir, source=source)
    for label, directory in tried:
        if _has_all_files(directory, source):
            return _install_into_cache(directory, source)
        if label in USER_NAMED:
            raise _user_folder_error(label, directory, tried, source)
    if not download:
        raise DataNotFoundError(_not_found_message(tried, None, source))
    try:
        _torchvision_dataset(source)(root=str(user_cache_dir()), train=True, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError on no network
        raise DataNotFoundError(_not_found_message(tried, f"{type(exc).__name__}: {exc}", source)) from exc
    return _install_into_cache(user_cache_dir(), source)


def read_idx(root: str | Path, source: IdxSource) -> Dataset:
    """Parse the verified raw IDX files of `source` under torchvision root `root` (see
    find_data_root). Its info is `source.info`, with n_train/n_test from the files when they
    differ (a table of MD5s for other files than the published ones)."""
    x_train, y_train = _read_split(Path(root), train=True, source=source)
    x_test, y_test = _read_split(Path(root), train=False, source=source)
    info = source.info
    if (info.n_train, info.n_test, info.input_shape) != (len(x_train), len(x_test), x_train.shape[1:]):
        info = DatasetInfo(name=info.name, class_names=info.class_names, input_shape=tuple(x_train.shape[1:]),
                           n_train=len(x_train), n_test=len(x_test), kind=info.kind)
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info, source=str(root))
