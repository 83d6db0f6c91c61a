"""The dataset registry on real data: a Fashion-MNIST subset exported to Parquet and to an
ImageFolder of PNGs reads back as the built-in arrays; scikit-learn's digits as a CSV table
with a stratified test_frac; MNIST's IDX loader on files the test writes; every validation
error with its message."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from datavsmath.trainables.datasets import (
    DatasetConfigError,
    DatasetError,
    check_dataset_config,
    default_image_size,
    load_dataset,
)
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, FASHION_MNIST, MNIST, MNIST_IDX_MD5
from datavsmath.trainables.datasets.common import ChecksumError, DataNotFoundError

PER_CLASS_TRAIN, PER_CLASS_TEST = 30, 10  # 300 training and 100 test images of Fashion-MNIST
PIXELS = [f"px{i}" for i in range(784)]


def _per_class(y: np.ndarray, n: int) -> np.ndarray:
    """The first n rows of each class, in the file's order."""
    return np.sort(np.concatenate([np.flatnonzero(y == k)[:n] for k in range(10)]))


@pytest.fixture(scope="module")
def subset(fashion):
    train, test = _per_class(fashion.y_train, PER_CLASS_TRAIN), _per_class(fashion.y_test, PER_CLASS_TEST)
    return {"x_train": fashion.x_train[train], "y_train": fashion.y_train[train],
            "x_test": fashion.x_test[test], "y_test": fashion.y_test[test]}


def _frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(x.reshape(len(x), -1), columns=PIXELS)  # uint8 columns
    frame["label"] = y
    frame["class"] = np.array(FASHION_MNIST.class_names)[y]
    return frame


@pytest.fixture(scope="module")
def parquet_dir(subset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("parquet")
    _frame(subset["x_train"], subset["y_train"]).to_parquet(folder / "train.parquet")
    _frame(subset["x_test"], subset["y_test"]).to_parquet(folder / "test.parquet")
    return folder


def _class_folder(k: int) -> str:
    return f"{k}_{FASHION_MNIST.class_names[k].replace('/', '-')}"  # "0_T-shirt-top": sorts as the labels


@pytest.fixture(scope="module")
def image_dir(subset, tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for part in ("train", "test"):
        for i, (image, label) in enumerate(zip(subset[f"x_{part}"], subset[f"y_{part}"])):
            folder = root / part / _class_folder(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(folder / f"{i:05d}.png")
    return root


def _in_folder_order(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows as ImageFolder lists them: by class folder, then by file name (the row number)."""
    order = np.lexsort((np.arange(len(y)), y))
    return x[order], y[order]


# -- built-in ---------------------------------------------------------------------------


def test_fashion_mnist_by_the_registry_is_todays_loader(fashion):
    data = load_dataset({"kind": "fashion_mnist"}, download=False)
    assert data.info is FASHION_MNIST and data.fingerprint == fashion.fingerprint
    assert np.array_equal(data.x_test, fashion.x_test) and np.array_equal(data.y_train, fashion.y_train)
    assert (FASHION_MNIST.name, FASHION_MNIST.n_classes, FASHION_MNIST.input_shape, FASHION_MNIST.n_train,
            FASHION_MNIST.n_test) == ("fashion_mnist", 10, (28, 28), 60000, 10000)
    facts = fashion.facts()
    assert {k: facts[k] for k in ("name", "kind", "input_kind", "input_shape", "n_train", "n_test")} == {
        "name": "fashion_mnist", "kind": "fashion_mnist", "input_kind": "image", "input_shape": [28, 28],
        "n_train": 60000, "n_test": 10000}
    assert fashion.image_shape == (28, 28, 1) and len(facts["fingerprint"]) == 64
    assert check_dataset_config("fashion_mnist") == check_dataset_config({"kind": "fashion_mnist"}) == {
        "kind": "fashion_mnist"}


# -- Parquet export of Fashion-MNIST ------------------------------------------------------


@pytest.mark.parametrize("label, features", [("label", None), ("class", PIXELS)], ids=["int-labels", "name-labels"])
def test_parquet_export_reads_back_as_the_builtin_rows(parquet_dir, subset, label, features):
    config = {"kind": "table", "path": "train.parquet", "test": "test.parquet", "label": label}
    if features is not None:
        config["features"] = features  # else the default: every other numeric column (not "class")
    data = load_dataset(config, base_dir=parquet_dir)
    assert (data.name, data.kind, data.input_kind, data.input_shape) == ("train", "table", "flat", (784,))
    assert (data.n_train, data.n_test) == (10 * PER_CLASS_TRAIN, 10 * PER_CLASS_TEST)
    assert data.x_train.dtype == np.uint8  # uint8 columns stay pixels
    assert np.array_equal(data.x_train, subset["x_train"].reshape(-1, 784))
    assert np.array_equal(data.x_test, subset["x_test"].reshape(-1, 784))
    names = np.array(FASHION_MNIST.class_names)
    if label == "label":
        assert data.class_names == tuple(str(k) for k in range(10))
        assert np.array_equal(data.y_train, subset["y_train"]) and np.array_equal(data.y_test, subset["y_test"])
    else:  # names sorted: "Ankle boot", "Bag", ..., "Trouser"; each row keeps its name
        assert data.class_names == tuple(sorted(names))
        assert np.array_equal(np.array(data.class_names)[data.y_train], names[subset["y_train"]])
        assert np.array_equal(np.array(data.class_names)[data.y_test], names[subset["y_test"]])


# -- ImageFolder export of Fashion-MNIST ----------------------------------------------------


def test_image_folder_export_reads_back_as_the_builtin_rows(image_dir, subset):
    data = load_dataset({"kind": "images", "path": str(image_dir), "color": "grayscale"})
    assert (data.kind, data.input_kind, data.input_shape, data.image_shape) == ("images", "image", (28, 28), (28, 28, 1))
    assert data.class_names == tuple(_class_folder(k) for k in range(10))
    assert (data.n_train, data.n_test) == (10 * PER_CLASS_TRAIN, 10 * PER_CLASS_TEST)
    for part in ("train", "test"):
        x, y = _in_folder_order(subset[f"x_{part}"], subset[f"y_{part}"])
        assert getattr(data, f"x_{part}").dtype == np.uint8
        assert np.array_equal(getattr(data, f"x_{part}"), x) and np.array_equal(getattr(data, f"y_{part}"), y)


def test_rgb_and_size_of_an_image_folder(image_dir, subset):
    rgb = load_dataset({"kind": "images", "path": str(image_dir)})  # color defaults to rgb
    gray, _ = _in_folder_order(subset["x_train"], subset["y_train"])
    assert rgb.input_shape == (28, 28, 3) and rgb.image_shape == (28, 28, 3)
    assert all(np.array_equal(rgb.x_train[..., c], gray) for c in range(3))
    small = load_dataset({"kind": "images", "path": str(image_dir), "size": [14, 12], "color": "grayscale"})
    assert small.x_train.shape == (300, 14, 12) and small.x_test.shape == (100, 14, 12)
    assert small.x_train.dtype == np.uint8 and 200 < int(small.x_train.max()) <= 255


@pytest.mark.parametrize("color", ["grayscale", "rgb"])
def test_a_16_bit_image_folder_is_scaled_to_8_bits_not_clipped(subset, tmp_path, color):
    """The Fashion-MNIST rows saved as 16-bit PNGs (each pixel p as 257 p, so 0..255 spans
    0..65535) read back as the 8-bit rows; clipping made 53 % of such pixels 255."""
    for part in ("train", "test"):
        for i, (image, label) in enumerate(zip(subset[f"x_{part}"], subset[f"y_{part}"])):
            folder = tmp_path / part / _class_folder(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.astype(np.uint16) * 257).save(folder / f"{i:05d}.png")
    assert Image.open(next((tmp_path / "train").rglob("*.png"))).mode == "I;16"
    data = load_dataset({"kind": "images", "path": str(tmp_path), "color": color})
    x, _ = _in_folder_order(subset["x_train"], subset["y_train"])
    assert np.array_equal(data.x_train if color == "grayscale" else data.x_train[..., 1], x)


def test_a_folder_without_train_and_test_is_split_stratified(image_dir):
    config = {"kind": "images", "path": str(image_dir / "train"), "color": "grayscale", "test_frac": 0.3, "seed": 4}
    data = load_dataset(config)
    assert (data.n_train, data.n_test) == (210, 90)
    assert np.bincount(data.y_test).tolist() == [9] * 10 and np.bincount(data.y_train).tolist() == [21] * 10
    again = load_dataset(config)
    assert again.fingerprint == data.fingerprint
    assert load_dataset({**config, "seed": 5}).fingerprint != data.fingerprint


@pytest.mark.parametrize("sizes, expected", [
    ([(28, 28)] * 3 + [(40, 40)] * 2, (28, 28)),
    ([(100, 80)] * 3 + [(28, 28)], (64, 51)),       # fitted into 64x64, aspect kept
    ([(30, 200)], (10, 64)),
    ([(64, 64), (65, 65)], (64, 64)),               # a tie: the larger one, fitted
    ([(1, 500)], (1, 64)),
])
def test_default_image_size(sizes, expected):
    assert default_image_size(sizes) == expected


def test_default_size_resizes_larger_images(subset, tmp_path):
    # real Fashion-MNIST images scaled up: a size that real data lacks
    for k in (0, 1):
        folder = tmp_path / "big" / f"class{k}"
        folder.mkdir(parents=True)
        images = subset["x_train"][subset["y_train"] == k][:8]
        for i, image in enumerate(images):
            size = (80, 100) if i < 6 else (28, 28)  # PIL sizes are (W, H)
            Image.fromarray(image, mode="L").resize(size).save(folder / f"{i}.png")
    data = load_dataset({"kind": "images", "path": str(tmp_path / "big"), "color": "grayscale", "test_frac": 0.25})
    assert data.input_shape == (64, 51) and (data.n_train, data.n_test) == (12, 4)


# -- scikit-learn's digits as a CSV table -----------------------------------------------------


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    digits = load_digits(as_frame=True)
    frame = digits.frame  # 64 float pixel columns and "target"
    frame.to_csv(folder / "digits.csv", index=False)
    frame.to_parquet(folder / "digits.parquet")
    changed = frame.copy()
    changed.loc[0, "target"] = 1  # one label changed: row 0 is a 0
    changed.to_csv(folder / "changed.csv", index=False)
    return folder


def test_digits_csv_with_test_frac_is_a_seeded_stratified_split(digits_dir):
    digits = load_digits()
    data = load_dataset({"kind": "table", "path": str(digits_dir / "digits.csv"), "label": "target",
                         "test_frac": 0.25, "seed": 3})
    assert (data.name, data.input_shape, data.n_classes) == ("digits", (64,), 10)
    assert data.class_names == tuple(str(k) for k in range(10)) and data.x_train.dtype == np.float32
    train, test = train_test_split(np.arange(1797), test_size=0.25, random_state=3, stratify=digits.target)
    assert np.array_equal(data.x_train, digits.data[np.sort(train)].astype(np.float32))
    assert np.array_equal(data.y_test, digits.target[np.sort(test)])
    assert data.n_train + data.n_test == 1797 and data.n_test == 450
    counts, totals = np.bincount(data.y_test, minlength=10), np.bincount(digits.target)
    assert counts.min() >= 1 and np.all(np.abs(counts - 0.25 * totals) <= 1)  # stratified


def test_digits_fingerprint_is_stable_and_follows_the_content(digits_dir):
    config = {"kind": "table", "path": "digits.csv", "label": "target"}  # test_frac 0.2, seed 0 by default
    first = load_dataset(config, base_dir=digits_dir)
    second = load_dataset(config, base_dir=digits_dir)
    parquet = load_dataset({**config, "path": "digits.parquet"}, base_dir=digits_dir)
    assert first.fingerprint == second.fingerprint == parquet.fingerprint
    assert np.array_equal(first.y_test, second.y_test)
    assert load_dataset({**config, "path": "changed.csv"}, base_dir=digits_dir).fingerprint != first.fingerprint
    assert load_dataset({**config, "seed": 1}, base_dir=digits_dir).fingerprint != first.fingerprint


@pytest.mark.parametrize("mapping, class_names", [
    ({0: "zero", 1: "one"}, ("one", "zero")),
    ({0: "zero", 1: "one", 2: "two"}, ("one", "two", "zero")),
    ({0: 100, 1: 5, 2: 10}, ("5", "10", "100")),  # numbers sort as numbers
], ids=["K2-strings", "K3-strings", "K3-numbers"])
def test_k_class_tables_map_labels_sorted_and_keep_names(tmp_path, mapping, class_names):
    frame = load_digits(as_frame=True).frame
    frame = frame[frame["target"].isin(list(mapping))].reset_index(drop=True)
    frame["target"] = frame["target"].map(mapping)
    frame.iloc[:200].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[200:].to_csv(tmp_path / "test.csv", index=False)
    data = load_dataset({"kind": "table", "path": "train.csv", "test": "test.csv", "label": "target"},
                        base_dir=tmp_path)
    assert data.class_names == class_names and data.n_classes == len(mapping)
    names = np.array(data.class_names)
    assert names[data.y_train].tolist() == frame["target"].astype(str).iloc[:200].tolist()
    assert names[data.y_test].tolist() == frame["target"].astype(str).iloc[200:].tolist()
    assert (data.n_train, data.n_test) == (200, len(frame) - 200)


# -- MNIST on IDX files the test writes ------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array: magic 0x0000080N, the N sizes big-endian, the data."""
    return struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.astype(np.uint8).tobytes()


@pytest.fixture()
def mnist_files(subset, tmp_path, monkeypatch):
    """Fashion-MNIST rows written as IDX files with MNIST's names (.gz, flat), with their MD5s;
    the user cache and $DATAVSMATH_DATA point into tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DATAVSMATH_DATA", raising=False)
    folder = tmp_path / "idx"
    folder.mkdir()
    contents = {"train-images-idx3-ubyte": _idx(subset["x_train"]), "train-labels-idx1-ubyte": _idx(subset["y_train"]),
                "t10k-images-idx3-ubyte": _idx(subset["x_test"]), "t10k-labels-idx1-ubyte": _idx(subset["y_test"])}
    for name, content in contents.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
    md5 = {name: hashlib.md5(content).hexdigest() for name, content in contents.items()}
    return folder, md5


def test_mnist_reads_idx_files_with_their_md5_table(mnist_files, subset, tmp_path):
    folder, md5 = mnist_files
    data = BUILT_IN_DATASETS["mnist"].load(folder, download=False, md5=md5)
    assert (data.name, data.kind, data.class_names, data.input_shape) == ("mnist", "mnist", MNIST.class_names, (28, 28))
    assert (data.n_train, data.n_test) == (300, 100)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(data, field), subset[field])
    assert data.y_train.dtype == np.int64
    # placed, verified, in torchvision's layout in the user cache; read from there next time
    assert sorted(p.name for p in (tmp_path / "cache" / "datavsmath" / "MNIST" / "raw").iterdir()) == sorted(md5)
    shutil.rmtree(folder)
    assert BUILT_IN_DATASETS["mnist"].load(download=False, md5=md5).fingerprint == data.fingerprint


def test_mnist_checksum_error_names_the_file(mnist_files):
    folder, _ = mnist_files
    with pytest.raises(ChecksumError, match=r"idx/train-images-idx3-ubyte.gz: checksum failed \(md5 of content "
                                            r"[0-9a-f]{32}, expected 6bbc9ace898e44ae57da46a324031adb\); "
                                            r"the file is truncated or not MNIST"):
        load_dataset("mnist", data_dir=folder, download=False)
    assert MNIST_IDX_MD5["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"


def test_mnist_without_a_copy_lists_the_ways_to_provide_one(mnist_files, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)^MNIST was not found\. Looked in:\n  - user cache: .*"
                                                r"--data-dir DIR.*DATAVSMATH_DATA=DIR.*torchvision download.*"
                                                r"torchvision.datasets.MNIST\('DIR', download=True\)"):
        load_dataset("mnist", download=False)
    with pytest.raises(DataNotFoundError, match=r"(?s)^data_dir .*/nowhere does not exist .*MNIST was not found"):
        BUILT_IN_DATASETS["mnist"].load(tmp_path / "nowhere", download=False)


# -- validation ----------------------------------------------------------------------------------

CONFIG_ERRORS = [
    ("cifar", r"^dataset must be one of \['fashion_mnist', 'mnist'\] or a mapping with kind, got 'cifar'$"),
    ("table", r"^dataset 'table' needs a mapping with its path"),
    (3, r"^dataset must be a name \(fashion_mnist, mnist\) or a mapping with kind, got int 3$"),
    ({"path": "a.csv"}, r"^dataset: missing key 'kind'; one of fashion_mnist, mnist, table, images, arrays$"),
    ({"kind": "tabel"}, r"^dataset.kind must be one of \['fashion_mnist', 'mnist', 'table', 'images', 'arrays'\], got 'tabel'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "colour": "rgb"},
     r"^dataset: unknown key 'colour' for kind table; allowed: kind, name, path, label, features, test, test_frac, seed$"),
    ({"kind": "mnist", "path": "x"}, r"^dataset: unknown key 'path' for kind mnist; allowed: kind$"),
    ({"kind": "table", "path": "a.csv"}, r"^dataset: kind table needs key 'label'$"),
    ({"kind": "images"}, r"^dataset: kind images needs key 'path'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "test": "b.csv", "test_frac": 0.2},
     r"^dataset: give test or test_frac, not both \(got test 'b.csv' and test_frac 0.2\)$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "test_frac": 1.5}, r"^dataset.test_frac must be in \(0, 1\), got 1.5$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "test_frac": "0.2"},
     r"^dataset.test_frac must be a number in \(0, 1\), got '0.2'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "seed": -1}, r"^dataset.seed must be in \[0, 4294967295\], got -1$"),
    ({"kind": "table", "path": "", "label": "y"}, r"^dataset.path must be a file or folder path \(a non-empty string\), got ''$"),
    ({"kind": "table", "path": "a.csv", "label": 3}, r"^dataset.label must be a column name \(a non-empty string\), got 3$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "features": "x1"},
     r"^dataset.features must be a non-empty list of column names, got 'x1'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "features": []}, r"^dataset.features must be a non-empty list"),
    ({"kind": "table", "path": "a.csv", "label": "y", "features": ["a", "b", "a"]},
     r"^dataset.features must have distinct names, got duplicates 'a'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "features": ["a", "y"]},
     r"^dataset.features must not include the label column 'y'$"),
    ({"kind": "table", "path": "a.csv", "label": "y", "name": "my data"}, r"^dataset.name must be 1-100 letters"),
    ({"kind": "images", "path": "d", "size": [28]}, r"^dataset.size must be \[H, W\], two integers >= 1, got \[28\]$"),
    ({"kind": "images", "path": "d", "size": [0, 28]}, r"^dataset.size must be \[H, W\], two integers >= 1, got \[0, 28\]$"),
    ({"kind": "images", "path": "d", "size": [28, 28.5]}, r"^dataset.size must be \[H, W\]"),
    ({"kind": "images", "path": "d", "size": "28x28"}, r"^dataset.size must be \[H, W\], two integers >= 1, got '28x28'$"),
    ({"kind": "images", "path": "d", "size": [True, 2]}, r"^dataset.size must be \[H, W\]"),
    ({"kind": "images", "path": "d", "color": "grey"}, r"^dataset.color must be one of \['grayscale', 'rgb'\], got 'grey'$"),
]


@pytest.mark.parametrize("config, pattern", CONFIG_ERRORS, ids=[f"config{i}" for i in range(len(CONFIG_ERRORS))])
def test_config_errors_without_reading_data(config, pattern):
    with pytest.raises(DatasetConfigError, match=pattern):
        check_dataset_config(config)
    with pytest.raises(ValueError, match=pattern):  # and load_dataset checks the same first
        load_dataset(config, download=False)


@pytest.fixture(scope="module")
def bad_tables(digits_dir, tmp_path_factory):
    """Real digits rows made wrong in one way each."""
    folder = tmp_path_factory.mktemp("bad_tables")
    frame = load_digits(as_frame=True).frame
    frame[frame["target"] == 0].to_csv(folder / "one_class.csv", index=False)
    frame[frame["target"] != 9].to_csv(folder / "no_nines.csv", index=False)
    frame.drop(columns="target").to_csv(folder / "unlabelled.csv", index=False)
    words = frame.copy()
    for i in range(7):
        words[f"word{i}"] = np.where(frame["target"] % 2 == 0, "even", "odd")
    words.to_csv(folder / "words.csv", index=False)
    holes = frame.copy()
    holes.loc[[3, 5, 8], "pixel_0_1"] = np.nan
    holes.loc[4, "pixel_0_2"] = np.inf
    holes.to_csv(folder / "holes.csv", index=False)
    lone = pd.concat([frame, frame.iloc[[0]].assign(target=10)], ignore_index=True)  # class 10 has one row
    lone.to_csv(folder / "lone.csv", index=False)
    pair = pd.concat([frame, frame.iloc[[0, 1]].assign(target=10)], ignore_index=True)  # 2 rows: 0.4 expected in test
    pair.to_csv(folder / "pair.csv", index=False)
    empty_label = frame.copy().astype({"target": "float64"})
    empty_label.loc[[7, 9], "target"] = np.nan
    empty_label.to_csv(folder / "empty_label.csv", index=False)
    frame.iloc[:0].to_csv(folder / "no_rows.csv", index=False)
    frame[["target"]].to_csv(folder / "only_label.csv", index=False)
    (folder / "digits.txt").write_text("not a table\n")
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (folder / "a_folder.csv").mkdir()
    shutil.copy(digits_dir / "digits.csv", folder / "digits.csv")
    return folder


TAB = {"kind": "table", "label": "target"}
TABLE_ERRORS = [
    ({**TAB, "path": "nope.csv"}, DataNotFoundError, r"^dataset.path .*/nope.csv does not exist$"),
    ({**TAB, "path": "digits.csv", "test": "nope.csv"}, DataNotFoundError, r"^dataset.test .*/nope.csv does not exist$"),
    ({**TAB, "path": "a_folder.csv"}, DatasetError, r"^dataset.path .*/a_folder.csv is a folder, not a CSV or Parquet file$"),
    ({**TAB, "path": "digits.txt"}, DatasetError, r"^dataset.path .*/digits.txt: unknown table format; the name must end in .csv"),
    ({**TAB, "path": "broken.parquet"}, DatasetError, r"^dataset.path .*/broken.parquet: cannot read as Parquet \("),
    ({**TAB, "path": "no_rows.csv"}, DatasetError, r"/no_rows.csv: the table has no rows$"),
    ({**TAB, "path": "digits.csv", "label": "klass"}, DatasetError,
     r"/digits.csv: label column 'klass' not found; columns: 'pixel_0_0', 'pixel_0_1', 'pixel_0_2', 'pixel_0_3', 'pixel_0_4' and 60 more$"),
    ({**TAB, "path": "digits.csv", "test": "unlabelled.csv"}, DatasetError, r"/unlabelled.csv: label column 'target' not found"),
    ({**TAB, "path": "empty_label.csv"}, DatasetError, r"/empty_label.csv: label column 'target' has 2 missing labels \(None, NaN, NA or an empty string\) of "
     r"1797 rows, at data rows 8, 10; every row needs a label: drop those rows or label them$"),
    ({**TAB, "path": "one_class.csv", "test": "digits.csv"}, DatasetError,
     r"/one_class.csv: label column 'target' has 1 class \('0'\); a classifier needs at least 2 classes$"),
    ({**TAB, "path": "one_class.csv"}, DatasetError, r"/one_class.csv: label column 'target' has 1 class"),
    ({**TAB, "path": "digits.csv", "test": "no_nines.csv"}, DatasetError,
     r"/no_nines.csv: the test set lacks class '9' of label column 'target'; every class must be in the test set$"),
    ({**TAB, "path": "no_nines.csv", "test": "digits.csv"}, DatasetError,
     r"/digits.csv: label column 'target' has class '9' that the training file no_nines.csv lacks$"),
    ({**TAB, "path": "lone.csv"}, DatasetError, r"/lone.csv: class '10' has fewer than 2 rows; test_frac's stratified split"),
    ({**TAB, "path": "pair.csv"}, DatasetError,
     r"/pair.csv \(test_frac 0.2, seed 0\): the test set lacks class '10' of label column 'target'; every class must "
     r"be in the test set; raise test_frac, or give the test set as its own file \(test:\)$"),
    ({**TAB, "path": "digits.csv", "test_frac": 0.001}, DatasetError,
     r"/digits.csv: test_frac 0.001 cannot be split stratified over 10 classes and 1797 rows: "),
    ({**TAB, "path": "words.csv", "features": ["pixel_0_0", *(f"word{i}" for i in range(7))]}, DatasetError,
     r"/words.csv: feature columns must be numeric; not numeric: 'word0', 'word1', 'word2', 'word3', 'word4' and 2 more$"),
    ({**TAB, "path": "digits.csv", "features": ["pixel_0_0", "pixel_9_9"]}, DatasetError,
     r"/digits.csv: feature column 'pixel_9_9' not found; columns: "),
    ({**TAB, "path": "holes.csv"}, DatasetError,
     r"/holes.csv: feature columns must be finite; empty, NaN, inf or beyond float32's range in 'pixel_0_1' \(3 rows\), 'pixel_0_2' \(1 row\)$"),
    ({**TAB, "path": "only_label.csv"}, DatasetError, r"/only_label.csv: no numeric feature column besides the label column 'target'$"),
]


@pytest.mark.parametrize("config, error, pattern", TABLE_ERRORS, ids=[f"table{i}" for i in range(len(TABLE_ERRORS))])
def test_table_errors_name_the_file_and_the_column(bad_tables, config, error, pattern):
    with pytest.raises(error, match=pattern):
        load_dataset(config, base_dir=bad_tables)


def test_default_features_leave_out_text_columns(bad_tables):
    data = load_dataset({**TAB, "path": "words.csv"}, base_dir=bad_tables)
    assert data.input_shape == (64,)


@pytest.fixture(scope="module")
def bad_images(subset, tmp_path_factory):
    """Real Fashion-MNIST PNGs in folders that are wrong in one way each."""
    root = tmp_path_factory.mktemp("bad_images")

    def put(folder, k, n=3):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(subset["x_train"][subset["y_train"] == k][:n]):
            Image.fromarray(image, mode="L").save(root / folder / f"{i}.png")

    put("train_only/train/bag", 8)
    put("train_only/train/boot", 9)
    put("one_class/bag", 8)
    put("one_class_split/train/bag", 8)
    put("one_class_split/test/bag", 8)
    put("no_boots/train/bag", 8)
    put("no_boots/train/boot", 9)
    put("no_boots/test/bag", 8)
    put("extra/train/bag", 8)
    put("extra/train/boot", 9)
    put("extra/test/bag", 8)
    put("extra/test/boot", 9)
    put("extra/test/coat", 4)
    put("empty_class/bag", 8)
    (root / "empty_class" / "boot").mkdir()
    (root / "empty_class" / "boot" / "notes.txt").write_text("no images here")
    put("corrupt/bag", 8)
    put("corrupt/boot", 9)
    (root / "corrupt" / "boot" / "9.png").write_bytes(b"\x89PNG not really")
    put("split_and_frac/train/bag", 8)
    put("split_and_frac/train/boot", 9)
    put("split_and_frac/test/bag", 8)
    put("split_and_frac/test/boot", 9)
    (root / "flat").mkdir()
    Image.fromarray(subset["x_train"][0], mode="L").save(root / "flat" / "0.png")
    Image.fromarray(subset["x_train"][0], mode="L").save(root / "a_file.png")
    put("loop/bag", 8)
    put("loop/boot", 9)
    for name in ("again", "and_again"):  # two links: a walk that follows them branches 2^40 times
        (root / "loop" / "boot" / name).symlink_to(root / "loop" / "boot", target_is_directory=True)
    put("bomb/bag", 8)
    put("bomb/boot", 9)
    Image.new("1", (14000, 14000)).save(root / "bomb" / "boot" / "huge.png")  # 24 KB, 196 million pixels
    put("float/bag", 8)
    put("float/boot", 9)
    Image.fromarray(subset["x_train"][0].astype(np.float32) / 255).save(root / "float" / "boot" / "f.tiff")
    return root


IMG = {"kind": "images"}
IMAGE_ERRORS = [
    ({**IMG, "path": "nowhere"}, DataNotFoundError, r"^dataset.path .*/nowhere does not exist$"),
    ({**IMG, "path": "a_file.png"}, DatasetError, r"^dataset.path .*/a_file.png is a file, not a folder of class subfolders$"),
    ({**IMG, "path": "train_only"}, DatasetError, r"/train_only has a train/ folder but no test/; give both"),
    ({**IMG, "path": "one_class"}, DatasetError, r"/one_class: 1 class folder \('bag'\); a classifier needs at least 2 classes$"),
    ({**IMG, "path": "one_class_split"}, DatasetError, r"/one_class_split/train: 1 class folder \('bag'\); a classifier needs at least 2 classes$"),
    ({**IMG, "path": "no_boots"}, DatasetError, r"no_boots/test: the test set lacks class folder 'boot' of .*no_boots/train; every class must be in the test set$"),
    ({**IMG, "path": "extra"}, DatasetError, r"extra/test: class folder 'coat' not in .*extra/train$"),
    ({**IMG, "path": "empty_class"}, DatasetError, r"/empty_class: class folder 'boot' holds no image file \(.jpg, .jpeg, .png"),
    ({**IMG, "path": "corrupt"}, DatasetError, r"corrupt/boot/9.png: cannot read as an image \("),
    ({**IMG, "path": "split_and_frac", "test_frac": 0.2}, DatasetError, r"/split_and_frac has train/ and test/ folders, so dataset.test_frac does not apply"),
    ({**IMG, "path": "flat"}, DatasetError, r"/flat: no class subfolders; the layout is one subfolder of images per class"),
    ({**IMG, "path": "loop"}, DatasetError, r"/loop/boot/again: a link to .*/loop/boot, a folder already read \(a loop\)"),
    ({**IMG, "path": "bomb"}, DatasetError, r"/bomb/boot/huge.png: cannot read as an image \(Image size \(196000000 "
     r"pixels\) exceeds limit"),
    ({**IMG, "path": "bomb", "size": [28, 28]}, DatasetError, r"/bomb/boot/huge.png: cannot read as an image"),
    ({**IMG, "path": "float"}, DatasetError, r"/float/boot/f.tiff: 32-bit float pixels \(mode F\) have no fixed range"),
]
IMAGE_IDS = [*(f"images{i}" for i in range(len(IMAGE_ERRORS) - 4)),
             "symlink_loop", "decompression_bomb", "decompression_bomb_with_size", "float_image"]


@pytest.mark.parametrize("config, error, pattern", IMAGE_ERRORS, ids=IMAGE_IDS)
def test_image_folder_errors_name_the_folder(bad_images, config, error, pattern):
    with pytest.raises(error, match=pattern):
        load_dataset(config, base_dir=bad_images)
