"""Loading the real Fashion-MNIST: shapes, search order, checksums, the missing-data error."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest

from datavsmath.trainables.datasets.built_in import (
    DEBIAN_DIR,
    FASHION_MNIST,
    FASHION_MNIST_IDX,
    IDX_MD5,
    candidate_dirs,
    find_data_root,
    load_fashion_mnist,
    parse_idx,
)
from datavsmath.trainables.datasets.common import ChecksumError, DataNotFoundError, Dataset


def test_shapes_dtypes_and_known_labels(fashion):
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_train.dtype == np.uint8
    assert fashion.x_test.shape == (10000, 28, 28) and fashion.x_test.dtype == np.uint8
    assert fashion.y_train.shape == (60000,) and fashion.y_test.shape == (10000,)
    # The talk's str(mnist): y train 9 0 0 3 0 2 7 2 5 5 ..., y test 9 2 1 1 6 1 4 6 5 7 ...
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert fashion.x_train.max() == 255


def test_the_dataset_carries_its_facts(fashion):
    assert fashion.name == "fashion_mnist" and fashion.info is FASHION_MNIST
    assert (fashion.n_classes, fashion.n_train, fashion.n_test, fashion.input_shape) == (10, 60000, 10000, (28, 28))
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert fashion.n_classes == len(np.unique(fashion.y_train)) and fashion.x_train.shape[1:] == fashion.input_shape


def test_a_dataset_refuses_arrays_that_contradict_its_facts(fashion):
    with pytest.raises(ValueError, match=r"fashion_mnist x_test must have shape \(10000, 28, 28\), got \(9999, 28, 28\)"):
        Dataset(x_train=fashion.x_train, y_train=fashion.y_train, x_test=fashion.x_test[1:], y_test=fashion.y_test,
                info=FASHION_MNIST)


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv("DATAVSMATH_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    labels = [label for label, _ in candidate_dirs(tmp_path / "cli", source=FASHION_MNIST_IDX)]
    assert labels == ["--data-dir", "$DATAVSMATH_DATA", "user cache", "Debian package dataset-fashion-mnist"]


def _copy_real_files(target):
    target.mkdir(parents=True)
    for name in IDX_MD5:
        shutil.copy(DEBIAN_DIR / f"{name}.gz", target / f"{name}.gz")


def test_data_dir_with_gz_files_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _copy_real_files(tmp_path / "data")
    data = load_fashion_mnist(tmp_path / "data", download=False)
    assert data.y_test[:3].tolist() == [9, 2, 1]


def test_truncated_file_gives_checksum_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _copy_real_files(tmp_path / "data")
    victim = tmp_path / "data" / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    with pytest.raises(ChecksumError, match=r"train-labels-idx1-ubyte.gz: checksum failed"):
        load_fashion_mnist(tmp_path / "data", download=False)


def test_truncated_raw_file_gives_checksum_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data_dir = tmp_path / "raw"
    data_dir.mkdir()
    for name in IDX_MD5:
        raw = gzip.decompress((DEBIAN_DIR / f"{name}.gz").read_bytes())
        (data_dir / name).write_bytes(raw[:-100] if name.startswith("t10k-images") else raw)
    with pytest.raises(ChecksumError, match=r"t10k-images-idx3-ubyte: checksum failed"):
        load_fashion_mnist(data_dir, download=False)


def test_missing_data_dir_lists_every_way_to_provide_it(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)data_dir .*empty.*--data-dir.*DATAVSMATH_DATA.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "empty", download=False)


def _link_all_but(target, missing):
    target.mkdir(parents=True)
    for name in IDX_MD5:
        if name not in missing:
            (target / f"{name}.gz").symlink_to(DEBIAN_DIR / f"{name}.gz")


def test_an_incomplete_env_folder_is_an_error_naming_the_missing_file(tmp_path, monkeypatch):
    # before, the folder was skipped and another copy used without a word
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _link_all_but(tmp_path / "env", {"t10k-labels-idx1-ubyte"})
    monkeypatch.setenv("DATAVSMATH_DATA", str(tmp_path / "env"))
    with pytest.raises(DataNotFoundError, match=r"^\$DATAVSMATH_DATA .*/env lacks the Fashion-MNIST file "
                                                r"t10k-labels-idx1-ubyte \(raw or .gz\); it has the other 3$"):
        find_data_root(download=False, source=FASHION_MNIST_IDX)
    assert not (tmp_path / "cache").exists()


def test_an_env_folder_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAVSMATH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match=r"(?s)^\$DATAVSMATH_DATA .*/nowhere does not exist .*apt-get install"):
        find_data_root(download=False, source=FASHION_MNIST_IDX)


def test_an_incomplete_data_dir_names_every_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _link_all_but(tmp_path / "cli", {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"})
    with pytest.raises(DataNotFoundError, match=r"^data_dir .*/cli lacks the Fashion-MNIST files train-images-idx3-ubyte, "
                                                r"t10k-images-idx3-ubyte \(raw or .gz\); it has the other 2$"):
        find_data_root(tmp_path / "cli", download=False, source=FASHION_MNIST_IDX)


def test_a_complete_data_dir_wins_over_an_incomplete_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _link_all_but(tmp_path / "env", {"t10k-labels-idx1-ubyte"})
    monkeypatch.setenv("DATAVSMATH_DATA", str(tmp_path / "env"))
    _copy_real_files(tmp_path / "cli")
    assert find_data_root(tmp_path / "cli", download=False, source=FASHION_MNIST_IDX) == tmp_path / "cache" / "datavsmath"


def test_the_idx_reader_gives_what_torchvision_reads(fashion):
    import torchvision.datasets

    root = find_data_root(None, download=False, source=FASHION_MNIST_IDX)
    for train, x, y in ((True, fashion.x_train, fashion.y_train), (False, fashion.x_test, fashion.y_test)):
        theirs = torchvision.datasets.FashionMNIST(root=str(root), train=train, download=False)
        assert np.array_equal(theirs.data.numpy(), x) and np.array_equal(theirs.targets.numpy(), y)
    assert fashion.x_train.flags.writeable and fashion.y_train.dtype == np.int64


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x0d\x01" + struct.pack(">I", 2) + b"\x00" * 8, r"not an IDX file of unsigned bytes \(header 00000d01\)"),
    (b"", r"not an IDX file of unsigned bytes \(header empty\)"),
    (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + b"\x01" * 5, r"the header says 2x3 = 6 bytes of data, the file holds 5"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x01" * 3, r"the header says 2 = 2 bytes of data, the file holds more"),
])
def test_the_idx_reader_refuses_a_file_that_is_not_what_its_header_says(content, message, tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"bad-idx1-ubyte: {message}"):
        parse_idx(path)


def test_the_idx_reader_keeps_the_dimensions(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "cube-idx3-ubyte"
    path.write_bytes(struct.pack(">I3I", 0x0803, *array.shape) + array.tobytes())
    assert np.array_equal(parse_idx(path), array)
