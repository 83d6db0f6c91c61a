"""The dataset registry: a spec's `dataset:` names one kind, and `load_dataset` reads it.

Kinds (`KINDS`):

- the built-in datasets (``BUILT_IN``: ``fashion_mnist``, ``mnist``), one entry each in
  datavsmath.trainables.datasets.built_in: IDX files found by --data-dir, $DATAVSMATH_DATA, the
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
  (16-bit images scaled from 0..65535; see datavsmath.trainables.datasets.images).
- ``arrays``: a NumPy ``.npz`` file of ``x`` and ``y`` (datavsmath.trainables.datasets.arrays), ``{kind:
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

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datavsmath.trainables.datasets.arrays import load_arrays
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, BuiltInDataset
from datavsmath.trainables.datasets.common import TABLE_FORMATS, Dataset, DatasetError, listed
from datavsmath.trainables.datasets.config import BUILT_IN, COLORS, KINDS, DatasetConfigError, check_dataset_config
from datavsmath.trainables.datasets.images import default_image_size, load_images
from datavsmath.trainables.datasets.table import load_table

# kind -> loader(normal config, base_dir, data_dir, download)
Loader = Callable[[Mapping[str, Any], str | Path | None, str | Path | None, bool], Dataset]

def _built_in_loader(entry: BuiltInDataset) -> Loader:
    return lambda config, base_dir, data_dir, download: entry.load(data_dir, download=download)


LOADERS: dict[str, Loader] = {
    **{name: _built_in_loader(entry) for name, entry in BUILT_IN_DATASETS.items()},
    "table": lambda config, base_dir, data_dir, download: load_table(config, base_dir),
    "images": lambda config, base_dir, data_dir, download: load_images(config, base_dir),
    "arrays": lambda config, base_dir, data_dir, download: load_arrays(config, base_dir),
}


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
    "TABLE_FORMATS", "default_image_size", "listed", "load_dataset",
]

