"""The files of an image folder: which images a class folder holds, and their pixels as 8 bits.

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
from pathlib import Path
from typing import Any

import numpy as np

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
SIXTEEN_BIT_MAX = 65535.0
NO_FIXED_RANGE = {"I": "32-bit integer", "F": "32-bit float"}


class ImageFileError(ValueError):
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
