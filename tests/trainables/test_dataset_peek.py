"""A dataset's sizes from its metadata, header or listing agree with the full load, on real
data (scikit-learn's breast-cancer, wine and digits); bad inputs are refused with the full
load's own message."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

from datavsmath.trainables.datasets import DatasetError, load_dataset
from datavsmath.trainables.datasets.common import DataNotFoundError
from datavsmath.trainables.datasets.peek import peek_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Real tables, an image folder and an arrays file, each named by its config."""
    tmp = tmp_path_factory.mktemp("peek")
    cancer = load_breast_cancer(as_frame=True).frame
    cancer.to_csv(tmp / "cancer.csv", index=False)
    cancer.to_csv(tmp / "cancer.csv.gz", index=False)
    cancer.to_parquet(tmp / "cancer.parquet")
    wine = load_wine(as_frame=True).frame
    wine[wine.index % 4 != 0].to_csv(tmp / "wine_train.csv", index=False)  # every class in both
    wine[wine.index % 4 == 0].to_parquet(tmp / "wine_test.parquet")
    with open(tmp / "no_newline.csv", "w") as out:  # the last row ends without a line break
        out.write(cancer.iloc[:40].to_csv(index=False).rstrip("\n"))
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images[:90], digits.target[:90])):
        folder = tmp / "digits" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 16).astype(np.uint8), mode="L").save(folder / f"{i:03d}.png")
    np.savez(tmp / "digits.npz", x=digits.data[:200], y=digits.target[:200])
    return tmp


CONFIGS = {
    "csv": lambda t: {"kind": "table", "path": str(t / "cancer.csv"), "label": "target"},
    "csv.gz": lambda t: {"kind": "table", "path": str(t / "cancer.csv.gz"), "label": "target", "test_frac": 0.3},
    "parquet": lambda t: {"kind": "table", "path": str(t / "cancer.parquet"), "label": "target", "test_frac": 0.15},
    "test file": lambda t: {"kind": "table", "path": str(t / "wine_train.csv"), "label": "target",
                            "test": str(t / "wine_test.parquet")},
    "no final newline": lambda t: {"kind": "table", "path": str(t / "no_newline.csv"), "label": "target",
                                   "test_frac": 0.25},
    "images": lambda t: {"kind": "images", "path": str(t / "digits"), "test_frac": 0.3},
    "arrays": lambda t: {"kind": "arrays", "path": str(t / "digits.npz")},
}


@pytest.mark.parametrize("which", list(CONFIGS))
def test_peeked_sizes_are_the_full_loads(files, which):
    config = CONFIGS[which](files)
    peek, info = peek_dataset(config), load_dataset(config).info
    assert peek is not None and (peek.n_train, peek.n_test) == (info.n_train, info.n_test)


def test_a_built_in_dataset_is_not_peeked():
    assert peek_dataset("fashion_mnist") is None


def _bad(files, which: str):
    """A table config and the change that makes it bad, written next to the good files."""
    cancer = pd.read_csv(files / "cancer.csv")
    if which == "no label column":
        return {"kind": "table", "path": str(files / "cancer.csv"), "label": "churned"}
    if which == "text feature":
        cancer.assign(note="x").to_parquet(files / "text.parquet")
        return {"kind": "table", "path": str(files / "text.parquet"), "label": "target",
                "features": ["mean radius", "note"]}
    if which == "absent feature":
        return {"kind": "table", "path": str(files / "cancer.csv"), "label": "target", "features": ["mean girth"]}
    if which == "duplicate columns":
        text = (files / "cancer.csv").read_text().replace("mean texture", "mean radius", 1)
        (files / "dupes.csv").write_text(text)
        return {"kind": "table", "path": str(files / "dupes.csv"), "label": "target"}
    if which == "header only":
        (files / "empty.csv").write_text(",".join(cancer.columns) + "\n")
        return {"kind": "table", "path": str(files / "empty.csv"), "label": "target"}
    if which == "not a table":
        (files / "cancer.txt").write_text("x")
        return {"kind": "table", "path": str(files / "cancer.txt"), "label": "target"}
    return {"kind": "table", "path": str(files / "nowhere.csv"), "label": "target"}


@pytest.mark.parametrize("which, error, message", [
    ("no label column", DatasetError, r"label column 'churned' not found; columns: "),
    ("text feature", DatasetError, r"feature columns must be numeric; not numeric: 'note'"),
    ("absent feature", DatasetError, r"feature column 'mean girth' not found"),
    ("duplicate columns", DatasetError, r"duplicate column names 'mean radius'"),
    ("header only", DatasetError, r"the table has no rows"),
    ("not a table", DatasetError, r"unknown table format"),
    ("missing file", DataNotFoundError, r"dataset.path .*nowhere.csv does not exist"),
])
def test_a_bad_table_is_refused_as_the_full_load_refuses_it(files, which, error, message):
    config = _bad(files, which)
    with pytest.raises(error, match=message) as peeked:
        peek_dataset(config)
    with pytest.raises(error) as loaded:
        load_dataset(config)
    assert str(peeked.value) == str(loaded.value)


def test_an_arrays_file_without_y_is_refused(files):
    np.savez(files / "x_only.npz", x=np.zeros((4, 3)))
    with pytest.raises(DatasetError, match=re.escape("it lacks 'y'")):
        peek_dataset({"kind": "arrays", "path": str(files / "x_only.npz")})
