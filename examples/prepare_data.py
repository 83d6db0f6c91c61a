"""Prepare the examples' data from the real Fashion-MNIST: a CSV table and PNG class folders.

    python examples/prepare_data.py [--per-class 300] [--test-per-class 100] [--out examples/data]

Writes, from the first images of each class (Fashion-MNIST found as `datavsmath data` finds it):

- OUT/fashion_table.csv: one row per image, 784 pixel columns px0..px783 (0..255) and a
  `label` column holding the class name ("Ankle boot", "Bag", ...); the training and test
  images of each class together (the spec splits them with test_frac);
- OUT/fashion_images/train/<class>/<n>.png and OUT/fashion_images/test/<class>/<n>.png:
  28x28 grayscale PNGs in torchvision's ImageFolder layout.

Defaults: 300 training and 100 test images per class (3,000 + 1,000 in all), about 10 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from datavsmath.trainables.datasets.built_in import load_fashion_mnist


def first_per_class(y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """Row indices (sorted) of the first `n` rows of each class 0..n_classes-1."""
    return np.sort(np.concatenate([np.flatnonzero(y == k)[:n] for k in range(n_classes)]))


def folder_name(class_name: str) -> str:
    """A class name as a folder name ("T-shirt/top" -> "T-shirt_top")."""
    return class_name.replace("/", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300, help="training images per class (default 300)")
    parser.add_argument("--test-per-class", type=int, default=100, help="test images per class (default 100)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data", help="output folder")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files (default: as datavsmath)")
    args = parser.parse_args()
    started = time.monotonic()
    data = load_fashion_mnist(args.data_dir)
    names = np.array(data.class_names)
    parts = {"train": (data.x_train, data.y_train, first_per_class(data.y_train, args.per_class, data.n_classes)),
             "test": (data.x_test, data.y_test, first_per_class(data.y_test, args.test_per_class, data.n_classes))}
    args.out.mkdir(parents=True, exist_ok=True)
    frames = []
    for part, (x, y, rows) in parts.items():
        for i in rows:
            folder = args.out / "fashion_images" / part / folder_name(names[y[i]])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i], mode="L").save(folder / f"{i:05d}.png")
        frame = pd.DataFrame(x[rows].reshape(len(rows), -1), columns=[f"px{j}" for j in range(x[0].size)])
        frame["label"] = names[y[rows]]
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(args.out / "fashion_table.csv", index=False)
    print(f"wrote {len(table)} rows to {args.out / 'fashion_table.csv'} and "
          f"{sum(len(r) for _, _, r in parts.values())} PNGs under {args.out / 'fashion_images'} "
          f"in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
