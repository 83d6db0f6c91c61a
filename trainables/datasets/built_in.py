"""The built-in datasets, one entry each: their facts, their IDX files and how they are found,
checked and read.

Adding a built-in dataset means adding one ``BuiltInDataset`` to ``BUILT_IN_DATASETS``: its
name (a spec's ``dataset:``), its title in figures, and its ``IdxSource`` (its facts, the MD5s
of its four IDX files, where to look for them and how torchvision downloads it). The spec's
dataset names, the loaders, the facts a dry run shows, the ``data`` command and the figures'
subtitle all read the entry. The IDX files are found locally (--data-dir, $DATAVSMATH_DATA,
the user cache, a Debian package) or downloaded by torchvision. Nothing here reads data at
import.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from datavsmath.trainables.checks import echo
from datavsmath.trainables.datasets.common import ChecksumError, DataNotFoundError, Dataset, DatasetInfo

DATA_ENV_VAR = "DATAVSMATH_DATA"


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
    BUILT_IN_DATASETS below); downloads if nothing local exists.

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


@dataclass(frozen=True)
class BuiltInDataset:
    """One built-in dataset.

    name: its `dataset:` kind and the plain name that selects it; title: its name in the
    figures' subtitle (the talk's spelling); source: where its IDX files are found, their
    checksums, and its facts (``source.info``).
    """

    name: str
    title: str
    source: IdxSource

    @property
    def info(self) -> DatasetInfo:
        """Its published facts (class names, input shape, n_train, n_test), known without reading it."""
        return self.source.info

    def with_md5(self, md5: Mapping[str, str] | None = None) -> IdxSource:
        """Its IdxSource, with `md5` (IDX file name -> MD5 of its uncompressed content) in
        place of the published checksums when given: for files other than the published ones."""
        if md5 is None:
            return self.source
        if set(md5) != set(self.source.md5):
            raise ValueError(f"md5 must have the keys {', '.join(self.source.md5)}, got {echo(sorted(md5))}")
        return replace(self.source, md5=dict(md5))

    def read(self, root: str | Path) -> Dataset:
        """Parse its verified raw IDX files under torchvision root `root` (see find_data_root)."""
        return read_idx(root, self.source)

    def load(self, data_dir: str | Path | None = None, *, download: bool = True,
             md5: Mapping[str, str] | None = None) -> Dataset:
        """The whole dataset: train and test images uint8 (n, H, W) with int64 labels.

        Looks in `data_dir`, then $DATAVSMATH_DATA, then the user cache (and a Debian
        package's folder where the source names one); if none holds the data and `download`
        is true, torchvision downloads it (with its MD5 checks) into the user cache. `md5`
        replaces the published checksums (see `with_md5`); n_train/n_test then come from the
        files. Raises DataNotFoundError listing the ways to provide the data, ChecksumError
        naming a wrong file."""
        source = self.with_md5(md5)
        return read_idx(find_data_root(data_dir, download=download, source=source), source)


def _entry(name: str, *, title: str, class_names: tuple[str, ...], input_shape: tuple[int, ...], n_train: int,
           n_test: int, **source: Any) -> BuiltInDataset:
    """An entry whose facts are these (its DatasetInfo) and whose files IdxSource(**source) finds."""
    info = DatasetInfo(name=name, class_names=class_names, input_shape=input_shape, n_train=n_train, n_test=n_test,
                       kind=name)
    return BuiltInDataset(name, title=title, source=IdxSource(info=info, **source))


DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package

# MD5s are of the uncompressed IDX files. The published MD5s (torchvision's `resources`) are of
# the .gz files; re-compressed copies (Debian's) differ there but not in content, so the
# content is what we check. torchvision checks the published .gz MD5s when it downloads.
BUILT_IN_DATASETS: MappingProxyType[str, BuiltInDataset] = MappingProxyType({e.name: e for e in (
    # The talk's data: Zalando's Fashion-MNIST.
    _entry("fashion_mnist", title="Fashion MNIST",
           class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot"),
           input_shape=(28, 28), n_train=60_000, n_test=10_000,
           display="Fashion-MNIST", subdirs=("", "FashionMNIST/raw"), torchvision_class="FashionMNIST",
              md5={"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
           debian_dir=DEBIAN_DIR, debian_package="dataset-fashion-mnist",
           extra_ways=("  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
                       f"(puts the files in {DEBIAN_DIR}).",)),
    # The talk's digits. Its files have Fashion-MNIST's names, so a folder's MNIST/raw
    # (torchvision's layout) is looked in before the folder itself: $DATAVSMATH_DATA may hold
    # both datasets that way. torchvision's published .gz MD5s: f68b3c2d..., d53e105e...,
    # 9fb629c4..., ec29112d...
    _entry("mnist", title="MNIST", class_names=tuple(str(digit) for digit in range(10)),
           input_shape=(28, 28), n_train=60_000, n_test=10_000,
           display="MNIST", subdirs=("MNIST/raw", ""), torchvision_class="MNIST",
           md5={"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
           extra_ways=("  - on a machine with internet: python -c \"import torchvision; "
                       "torchvision.datasets.MNIST('DIR', download=True)\", copy DIR here and pass --data-dir DIR "
                       f"or set {DATA_ENV_VAR}=DIR (no Debian package holds MNIST).",)),
)})
BUILT_IN = tuple(BUILT_IN_DATASETS)  # the dataset kinds a plain name selects
DEFAULT_DATASET = "fashion_mnist"  # a spec's dataset when it names none: the talk's

# Shorthands for the entries' facts, which code and tests name directly.
FASHION_MNIST_IDX = BUILT_IN_DATASETS["fashion_mnist"].source
FASHION_MNIST = FASHION_MNIST_IDX.info
IDX_MD5 = FASHION_MNIST_IDX.md5
MNIST_IDX = BUILT_IN_DATASETS["mnist"].source
MNIST = MNIST_IDX.info
MNIST_IDX_MD5 = MNIST_IDX.md5


def read_fashion_mnist(root: str | Path) -> Dataset:
    """Fashion-MNIST's verified raw IDX files under torchvision root `root` (see find_data_root)."""
    return BUILT_IN_DATASETS["fashion_mnist"].read(root)


def load_fashion_mnist(data_dir: str | Path | None = None, *, download: bool = True) -> Dataset:
    """Fashion-MNIST: train 60000x28x28 uint8 + labels, test 10000x28x28 uint8 + labels (see
    BuiltInDataset.load; Debian's /usr/share/datasets/fashion-mnist is looked in too)."""
    return BUILT_IN_DATASETS["fashion_mnist"].load(data_dir, download=download)
