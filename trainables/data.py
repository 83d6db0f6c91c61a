"""Datasets as numpy arrays with their facts; Fashion-MNIST found locally or downloaded by torchvision.

A `Dataset` owns every fact about the data that the rest of the project needs: the class
count and names, the input shape, the training- and test-set sizes and where it came from.
Loaded once per sweep in the driver and shared with trials through Ray's object store;
nothing in here imports ray.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "DATAVSMATH_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# MD5 of the uncompressed IDX files. The published MD5s (torchvision's `resources`) are of
# Zalando's .gz files; re-compressed copies (Debian's) differ there but not in content, so
# the content is what we check. torchvision checks the published .gz MD5s when it downloads.
IDX_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


class DataNotFoundError(FileNotFoundError):
    """No copy of Fashion-MNIST was found and none could be downloaded."""


class ChecksumError(ValueError):
    """A dataset file exists but its content is not the published Fashion-MNIST."""


@dataclass(frozen=True)
class DatasetInfo:
    """The facts of a dataset, known before its arrays are read.

    name: the dataset's name in specs and results; class_names: one per class, in label
    order (labels are 0..K-1); input_shape: one input row, e.g. (28, 28) for a grayscale
    image; n_train, n_test: the sizes of the full training and test sets.
    """

    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    n_train: int
    n_test: int

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


FASHION_MNIST = DatasetInfo(
    name="fashion_mnist",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    input_shape=(28, 28), n_train=60_000, n_test=10_000,
)


@dataclass(frozen=True)
class Dataset:
    """A whole dataset: x_* (n, *info.input_shape), uint8 pixels for images; y_* int64 (n,)
    in [0, info.n_classes). Its facts are `info`'s; `source` says where it was read from."""

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


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/datavsmath`, default `~/.cache/datavsmath`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "datavsmath"


def candidate_dirs(data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """Where to look, in order: --data-dir, $DATAVSMATH_DATA, the user cache, Debian's package."""
    found = []
    if data_dir is not None:
        found.append(("--data-dir", Path(data_dir)))
    if os.environ.get(DATA_ENV_VAR):
        found.append((f"${DATA_ENV_VAR}", Path(os.environ[DATA_ENV_VAR])))
    found.append(("user cache", user_cache_dir()))
    found.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    return found


def _locate(directory: Path, name: str) -> Path | None:
    """The file for IDX `name` in `directory`: raw or .gz, flat or in torchvision's layout."""
    for folder in (directory, directory / "FashionMNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _verified_bytes(path: Path, name: str) -> bytes:
    """The uncompressed IDX bytes of `path`, after checking them against the known MD5."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ChecksumError(f"{path}: checksum failed, not a complete gzip file ({exc}); "
                                "delete it and provide the data again") from exc
    if _md5(raw) != IDX_MD5[name]:
        raise ChecksumError(f"{path}: checksum failed (md5 of content {_md5(raw)}, "
                            f"expected {IDX_MD5[name]}); the file is truncated or not Fashion-MNIST")
    return raw


def _missing_files(directory: Path) -> list[str]:
    """The IDX files `_locate` does not find in `directory`, in IDX_MD5 order."""
    return [name for name in IDX_MD5 if _locate(directory, name) is None]


def _has_all_files(directory: Path) -> bool:
    return not _missing_files(directory)


def _install_into_cache(directory: Path) -> Path:
    """Verify the four files in `directory` and place raw copies in torchvision's layout.

    Returns the torchvision root (the user cache, or `directory` itself if it already
    holds verified raw files in that layout).
    """
    raw_dir = directory / "FashionMNIST" / "raw"
    if all((raw_dir / name).is_file() for name in IDX_MD5):
        for name in IDX_MD5:
            _verified_bytes(raw_dir / name, name)
        return directory
    root = user_cache_dir()
    target = root / "FashionMNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    for name in IDX_MD5:
        source = _locate(directory, name)
        if source is None:
            raise DataNotFoundError(f"{directory} lacks the Fashion-MNIST file {name} (raw or .gz)")
        data = _verified_bytes(source, name)
        tmp = target / f".{name}.tmp{os.getpid()}"
        tmp.write_bytes(data)
        tmp.replace(target / name)  # atomic, so a concurrent reader never sees half a file
    return root


def _torchvision_dataset():
    # Imported here: torch + torchvision cost seconds, and the CLI's early checks need neither.
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    return TorchvisionFashionMNIST


def _read_split(root: Path, *, train: bool) -> tuple[np.ndarray, np.ndarray]:
    ds = _torchvision_dataset()(root=str(root), train=train, download=False)
    return ds.data.numpy(), ds.targets.numpy().astype(np.int64)


def _not_found_message(tried: list[tuple[str, Path]], download_error: str | None) -> str:
    lines = ["Fashion-MNIST was not found. Looked in:"]
    lines += [f"  - {label}: {path}" for label, path in tried]
    if download_error:
        lines.append(f"Download by torchvision failed: {download_error}")
    lines += [
        "Provide it in one of these ways:",
        "  - pass --data-dir DIR, a folder holding the four IDX files (.gz or raw);",
        f"  - set {DATA_ENV_VAR}=DIR;",
        f"  - let torchvision download it into {user_cache_dir()} (needs internet; on by default);",
        "  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
        f"(puts the files in {DEBIAN_DIR}).",
    ]
    return "\n".join(lines)


# Folders the user named: one that lacks files is an error, never skipped for another copy.
USER_NAMED = {"--data-dir": "data_dir", f"${DATA_ENV_VAR}": f"${DATA_ENV_VAR}"}


def _user_folder_error(label: str, directory: Path, tried: list[tuple[str, Path]]) -> DataNotFoundError:
    """The error for a folder named by --data-dir or $DATAVSMATH_DATA that lacks files: one
    line naming the missing files when some are there, else the ways to provide the data."""
    missing = _missing_files(directory)
    field = USER_NAMED[label]
    if len(missing) < len(IDX_MD5):
        return DataNotFoundError(f"{field} {directory} lacks the Fashion-MNIST file{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} (raw or .gz); it has the other "
                                 f"{len(IDX_MD5) - len(missing)}")
    what = "does not exist" if not directory.exists() else "holds none of the four Fashion-MNIST IDX files"
    return DataNotFoundError(f"{field} {directory} {what} ({', '.join(IDX_MD5)}, raw or .gz)\n"
                             + _not_found_message(tried, None))


def find_data_root(data_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """The torchvision root holding verified raw IDX files; downloads if nothing local exists.

    Raises DataNotFoundError listing every way to provide the data, or ChecksumError naming
    the file whose content is wrong. A folder named by `data_dir` or $DATAVSMATH_DATA that
    lacks any of the four files is an error naming the missing ones.
    """
    tried = candidate_dirs(data_dir)
    for label, directory in tried:
        if _has_all_files(directory):
            return _install_into_cache(directory)
        if label in USER_NAMED:
            raise _user_folder_error(label, directory, tried)
    if not download:
        raise DataNotFoundError(_not_found_message(tried, None))
    try:
        _torchvision_dataset()(root=str(user_cache_dir()), train=True, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError on no network
        raise DataNotFoundError(_not_found_message(tried, f"{type(exc).__name__}: {exc}")) from exc
    return _install_into_cache(user_cache_dir())


def read_fashion_mnist(root: str | Path) -> Dataset:
    """Parse the verified raw IDX files under torchvision root `root` (see find_data_root)."""
    x_train, y_train = _read_split(Path(root), train=True)
    x_test, y_test = _read_split(Path(root), train=False)
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=FASHION_MNIST,
                   source=str(root))


def load_fashion_mnist(data_dir: str | Path | None = None, *, download: bool = True) -> Dataset:
    """Fashion-MNIST: train 60000x28x28 uint8 + labels, test 10000x28x28 uint8 + labels.

    Looks in `data_dir`, then $DATAVSMATH_DATA, the user cache, and Debian's
    /usr/share/datasets/fashion-mnist; if none holds the data and `download` is true,
    torchvision downloads it (with its MD5 checks) into the user cache.
    """
    return read_fashion_mnist(find_data_root(data_dir, download=download))
