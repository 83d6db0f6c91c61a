"""The `images` dataset kind: a folder in torchvision's ImageFolder layout (one subfolder of
images per class), or with ``train/`` and ``test/`` subfolders in that layout, ``{kind:
images, path: DIR, size: [H, W], color: grayscale | rgb, test_frac: 0.2, seed: 0, name:
NAME}``, read as uint8 (n, H, W) grayscale or (n, H, W, 3) rgb pixels.

`class_files(folder)` lists what torchvision's ImageFolder lists (class folders in sorted
order, each walked top-down with its files sorted, links followed), in the same order, but
refuses a folder link that leads back to a folder already walked (a loop that ImageFolder's
walk never leaves). `read_image(path, mode)` decodes one image as 8-bit "L" or "RGB": any
decode failure, Pillow's decompression-bomb limit included, is a DatasetError naming the
file; 16-bit images are scaled from their range 0..65535 to 0..255, and 32-bit integer and
float images, which have no fixed range, are refused, so no pixel is clipped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datavsmath.trainables.checks import DatavsmathError
from datavsmath.trainables.datasets.common import (
    DataNotFoundError,
    Dataset,
    DatasetError,
    DatasetInfo,
    check_classes,
    check_two_classes,
    default_name,
    listed,
    resolve_path,
    stratified_split,
)
from datavsmath.trainables.datasets.config import DEFAULT_TEST_FRAC, MAX_DEFAULT_SIDE

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
SIXTEEN_BIT_MAX = 65535.0
NO_FIXED_RANGE = {"I": "32-bit integer", "F": "32-bit float"}


class ImageFileError(DatavsmathError, ValueError):
    """An image file or folder that cannot be used; the message names it."""


def _walk(class_dir: Path, extensions: tuple[str, ...]) -> list[str]:
    """The image files under `class_dir`, in ImageFolder's order; ImageFileError for a folder
    link back into a folder already walked."""
    seen = {os.path.realpath(class_dir)}
    walked = []
    for root, dirs, files in os.walk(class_dir, followlinks=True):
        dirs.sort()  # the first link of a loop named is the same on every file system
        for name in dirs:
            path = os.path.join(root, name)
            real = os.path.realpath(path)
            if real in seen:
                raise ImageFileError(f"{path}: a link to {real}, a folder already read (a loop); remove the link")
            seen.add(real)
        walked.append((root, files))
    return [os.path.join(root, name) for root, files in sorted(walked) for name in sorted(files)
            if name.lower().endswith(extensions)]


def image_extensions() -> tuple[str, ...]:
    """The file endings that count as images: torchvision's (.jpg, .jpeg, .png, ...)."""
    # Imported here: torchvision (with torch) costs about 3 s to import.
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return tuple(IMG_EXTENSIONS)


def class_files(folder: Path) -> dict[str, list[str]]:
    """class name -> its image paths, for each subfolder of `folder` in sorted order, as
    ImageFolder lists them (a class without images: []). ImageFileError for a loop."""
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    extensions = image_extensions()
    return {name: _walk(folder / name, extensions) for name in classes}


def _open(path: str) -> Any:
    from PIL import Image

    try:
        return Image.open(path)
    except Exception as exc:  # UnidentifiedImageError, DecompressionBombError, OSError, SyntaxError...
        raise ImageFileError(f"{path}: cannot read as an image ({exc})") from exc


def image_size(path: str) -> tuple[int, int]:
    """(H, W) of an image file, from its header."""
    with _open(path) as image:
        width, height = image.size
    return height, width


def _eight_bit(image: Any, path: str) -> Any:
    """The image with 8 bits per channel: 16-bit scaled by 255/65535, the others as they are."""
    from PIL import Image

    if image.mode in NO_FIXED_RANGE:
        raise ImageFileError(f"{path}: {NO_FIXED_RANGE[image.mode]} pixels (mode {image.mode}) have no fixed range "
                             "to scale to 0..255; save the image with 8 or 16 bits per channel")
    if image.mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(image, dtype=np.float64) * (255.0 / SIXTEEN_BIT_MAX)
        return Image.fromarray(np.rint(pixels).astype(np.uint8))
    return image


def read_image(path: str, mode: str) -> Any:
    """The image file decoded as a PIL image of `mode` ("L" or "RGB"), 8 bits per channel."""
    with _open(path) as image:
        try:
            return _eight_bit(image, path).convert(mode)
        except ImageFileError:
            raise
        except Exception as exc:  # a truncated or corrupt file fails when its pixels are decoded
            raise ImageFileError(f"{path}: cannot read as an image ({exc})") from exc


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


def load_images(config: Mapping[str, Any], base_dir: str | Path | None) -> Dataset:
    root = resolve_path(config["path"], base_dir)
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
        check_two_classes(names, str(train_dir), "1 class folder")
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
        check_two_classes(names, str(root), "1 class folder")
        train, test = stratified_split(y_all, test_frac, config["seed"], names, str(root))
        train_paths, test_paths = [all_paths[i] for i in train], [all_paths[i] for i in test]
        y_train, y_test = y_all[train], y_all[test]
        train_where = test_where = source = f"{root} (test_frac {test_frac:g}, seed {config['seed']})"
    hint = "" if split else "; raise test_frac, or give train/ and test/ folders"
    check_classes(y_train, y_test, names, train_where, test_where, what, hint)
    size = tuple(config["size"]) if config["size"] else default_image_size(
        [_image_size(path) for path in [*train_paths, *test_paths]])
    height, width = int(size[0]), int(size[1])
    color = config["color"]
    x_train = _read_images(train_paths, (height, width), color)
    x_test = _read_images(test_paths, (height, width), color)
    info = DatasetInfo(name=config["name"] or default_name(root), class_names=tuple(names),
                       input_shape=tuple(x_train.shape[1:]), n_train=len(y_train), n_test=len(y_test), kind="images")
    return Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, info=info,
                   source=f"{source}, {height}x{width} {color}")

