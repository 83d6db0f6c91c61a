"""The built-in datasets, one entry each: their facts, their IDX files and how they load.

Adding a built-in dataset means adding one ``BuiltInDataset`` to ``BUILT_IN_DATASETS``: its
name (a spec's ``dataset:``), its title in figures, and its ``IdxSource`` (its facts, the MD5s
of its four IDX files, where to look for them and how torchvision downloads it). The spec's
dataset names, the loaders, the facts a dry run shows, the ``data`` command and the figures'
subtitle all read the entry. Nothing here reads data at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from datavsmath.trainables.checks import echo
from datavsmath.trainables.data import DATA_ENV_VAR, Dataset, DatasetInfo, IdxSource, find_data_root, read_idx


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
