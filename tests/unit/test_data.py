"""Tests for toy_models.data: the embedded datasets, the IDX reader on hand-made files, and the real files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from toy_models import data, idx_data
from toy_models.data import DATASETS, Dataset, DatasetError, load_dataset, read_idx, write_idx

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

TENSOR_FIELDS = ("x_train", "y_train", "x_test", "y_test", "x_holdout", "y_holdout")


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    for field in TENSOR_FIELDS:
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert a.class_names == b.class_names


def fraction_per_class(labels: torch.Tensor, num_classes: int) -> np.ndarray:
    return (torch.bincount(labels, minlength=num_classes).double() / len(labels)).numpy()


# --------------------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_datasets_constant_lists_every_loader():
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "toy", "glyphs")


def test_digits_shapes_dtypes_and_range(digits):
    assert digits.name == "digits"
    assert digits.input_shape == (1, 8, 8)
    assert digits.x_train.shape == (1437, 1, 8, 8) and digits.x_test.shape == (360, 1, 8, 8)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.y_test.dtype == torch.int64
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() == 1.0  # 16/16
    assert digits.class_names == tuple(str(d) for d in range(10)) and digits.num_classes == 10
    assert set(digits.y_train.tolist()) == set(range(10))
    assert digits.x_holdout.shape == (0, 1, 8, 8) and digits.y_holdout.shape == (0,)
    assert digits.holdout_class_names == () and digits.holdout_classes == ()
    assert "train=1437" in repr(digits)


def test_digits_split_is_stratified(digits):
    overall = fraction_per_class(torch.cat([digits.y_train, digits.y_test]), 10)
    assert np.abs(fraction_per_class(digits.y_test, 10) - overall).max() < 0.01
    assert np.abs(fraction_per_class(digits.y_train, 10) - overall).max() < 0.01


def test_digits_test_fraction():
    ds = load_dataset("digits", test_fraction=0.5)
    assert abs(len(ds.y_test) - 1797 / 2) <= 1


def test_same_seed_gives_identical_tensors_and_other_seeds_differ(digits):
    assert_same_dataset(digits, load_dataset("digits", seed=0))
    other = load_dataset("digits", seed=1)
    assert not torch.equal(digits.y_test, other.y_test) or not torch.equal(digits.x_test, other.x_test)


def test_loads_return_fresh_tensors(digits):
    again = load_dataset("digits")
    again.x_train.zero_()
    assert digits.x_train.max() == 1.0
    assert load_dataset("digits").x_train.max() == 1.0


def test_name_is_forgiving_but_unknown_names_fail():
    assert load_dataset(" Digits ").name == "digits"
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"seed": -1}, "seed"),
        ({"max_train": 0}, "max_train"),
        ({"max_test": 2.5}, "max_test"),
        ({"max_train": 5}, "max_train=5 is too small"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset("digits", **options)


def test_max_train_and_max_test_subsample_stratified_and_seeded(digits):
    small = load_dataset("digits", max_train=200, max_test=50)
    assert len(small.y_train) == 200 and len(small.y_test) == 50
    counts = torch.bincount(small.y_train, minlength=10)
    expected = torch.bincount(digits.y_train, minlength=10).double() * 200 / len(digits.y_train)
    assert (counts - expected).abs().max() <= 1
    assert torch.bincount(small.y_test, minlength=10).min() >= 4
    assert_same_dataset(small, load_dataset("digits", max_train=200, max_test=50))
    # A subsample is drawn from the full split: every picked image is one of the original training images.
    assert torch.isin(small.x_train.flatten(1).sum(1), digits.x_train.flatten(1).sum(1)).all()
    # The limit is a cap, not a requirement.
    assert len(load_dataset("digits", max_train=10**6).y_train) == len(digits.y_train)


def test_subsample_keeps_every_class_even_tiny_ones():
    labels = np.array([0] * 1000 + [1] * 3 + [2] * 1)
    picked = data._stratified_subsample(labels, 10, seed=0)
    assert len(picked) == 10 and set(labels[picked]) == {0, 1, 2}


# --------------------------------------------------------------------------------------------------------
# holdout (open set)


def test_holdout_removes_classes_and_relabels_contiguously(digits):
    ds = load_dataset("digits", holdout_classes=[3, 7])
    assert ds.num_classes == 8
    assert ds.class_names == ("0", "1", "2", "4", "5", "6", "8", "9")
    assert set(ds.y_train.tolist()) == set(range(8)) and set(ds.y_test.tolist()) == set(range(8))
    assert ds.holdout_class_names == ("3", "7") and ds.holdout_classes == (3, 7)
    assert set(ds.y_holdout.tolist()) == {3, 7}
    # Every sample of the held-out classes, from train AND test, lands in the holdout.
    all_labels = torch.cat([digits.y_train, digits.y_test])
    assert len(ds.y_holdout) == int(((all_labels == 3) | (all_labels == 7)).sum())
    assert ds.x_holdout.shape == (len(ds.y_holdout), 1, 8, 8) and ds.x_holdout.dtype == torch.float32
    # The remaining classes keep their split: the same images as without a holdout, minus classes 3 and 7.
    keep = (digits.y_train != 3) & (digits.y_train != 7)
    assert torch.equal(ds.x_train, digits.x_train[keep])
    old_to_new = torch.tensor([0, 1, 2, -1, 3, 4, 5, -1, 6, 7])
    assert torch.equal(ds.y_train, old_to_new[digits.y_train[keep]])


def test_holdout_order_of_arguments_does_not_matter():
    assert_same_dataset(load_dataset("digits", holdout_classes=(7, 3)), load_dataset("digits", holdout_classes=[3, 7]))


@pytest.mark.parametrize(
    ("holdout", "message"),
    [
        ([12], "class 12 does not exist: digits has classes 0–9"),
        ([-1], "class -1 does not exist"),
        ([2, 2], "lists class 2 twice"),
        (list(range(9)), "leaves 1 for training"),
        (["a"], "not a class index"),
    ],
)
def test_bad_holdout_raises(holdout, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset("digits", holdout_classes=holdout)


# --------------------------------------------------------------------------------------------------------
# toy


def test_toy_shapes_range_and_names():
    ds = load_dataset("toy")
    assert ds.name == "toy" and ds.num_classes == 8 and ds.input_shape == (1, 8, 8)
    total = len(ds.y_train) + len(ds.y_test)
    assert total == 8 * data.TOY_SAMPLES_PER_IDENTITY
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert len(set(ds.class_names)) == 8
    assert (torch.bincount(ds.y_test) == 60).all()


def test_toy_is_seeded():
    assert_same_dataset(load_dataset("toy", seed=3), load_dataset("toy", seed=3))
    assert not torch.equal(load_dataset("toy", seed=3).x_train, load_dataset("toy", seed=4).x_train)


def test_toy_identities_are_separable_by_their_means():
    ds = load_dataset("toy", num_identities=5)
    means = torch.stack([ds.x_train[ds.y_train == k].mean(0) for k in range(5)]).flatten(1)
    nearest = torch.cdist(ds.x_test.flatten(1), means).argmin(1)
    assert (nearest == ds.y_test).double().mean() > 0.9


@pytest.mark.parametrize("k", [2, 20])
def test_toy_identity_bounds_are_accepted(k):
    assert load_dataset("toy", num_identities=k).num_classes == k


@pytest.mark.parametrize("k", [1, 21, 0, 2.5])
def test_toy_identity_bounds_are_enforced(k):
    with pytest.raises(DatasetError, match="num_identities"):
        load_dataset("toy", num_identities=k)


def test_toy_holdout():
    ds = load_dataset("toy", holdout_classes=[0])
    assert ds.num_classes == 7 and set(ds.y_holdout.tolist()) == {0}
    assert len(ds.y_holdout) == data.TOY_SAMPLES_PER_IDENTITY


# --------------------------------------------------------------------------------------------------------
# IDX files made by hand

ROWS, COLS = 6, 5  # not square, so a transposed read would show


def make_split(n_per_class: int, seed: int, rows: int = ROWS, cols: int = COLS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10, dtype=np.uint8), n_per_class)
    images = rng.integers(0, 256, size=(len(labels), rows, cols), dtype=np.uint8)
    images[:, 0, 0] = labels  # tag every image with its label, to check images and labels stay paired
    return images, labels


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, suffix: str = ".gz") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)


def idx_bytes(array: np.ndarray) -> bytes:
    header = np.array([0x0800 | array.ndim, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(tmp_path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    arrays = {"train": make_split(6, seed=1), "t10k": make_split(3, seed=2)}
    for split, (images, labels) in arrays.items():
        write_split(tmp_path, split, images, labels)
    return tmp_path, arrays


def test_write_idx_writes_the_standard_header(tmp_path):
    images, labels = make_split(2, seed=0)
    raw = write_idx(tmp_path / "x-images-idx3-ubyte", images)
    assert raw.read_bytes()[:16] == np.array([2051, 20, ROWS, COLS], dtype=">u4").tobytes()
    assert raw.read_bytes() == idx_bytes(images)
    write_idx(tmp_path / "y-labels-idx1-ubyte.gz", labels)
    assert gzip.decompress((tmp_path / "y-labels-idx1-ubyte.gz").read_bytes())[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 20])
    assert np.array_equal(read_idx(raw), images)
    assert np.array_equal(read_idx(tmp_path / "y-labels-idx1-ubyte.gz"), labels)
    with pytest.raises(ValueError, match="0–255"):
        write_idx(tmp_path / "bad", np.array([1, 300]))


def test_official_split_from_gz_files(fake_mnist):
    folder, arrays = fake_mnist
    ds = load_dataset("mnist", folder)
    train_images, train_labels = arrays["train"]
    assert ds.input_shape == (1, ROWS, COLS)
    assert ds.x_train.shape == (60, 1, ROWS, COLS) and ds.x_test.shape == (30, 1, ROWS, COLS)
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(train_images).float() / 255)
    assert torch.equal(ds.y_train, torch.from_numpy(train_labels).long())
    assert ds.class_names == tuple(str(d) for d in range(10))


def test_fashion_mnist_class_names(fake_mnist):
    folder, _ = fake_mnist
    ds = load_dataset("fashion-mnist", folder)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot" and ds.num_classes == 10


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("layout", ["flat", "torchvision", "parent", "parent+torchvision"])
def test_layouts_and_compression(tmp_path, suffix, layout):
    folder = {
        "flat": tmp_path,
        "torchvision": tmp_path / "MNIST" / "raw",
        "parent": tmp_path / "mnist",
        "parent+torchvision": tmp_path / "mnist" / "MNIST" / "raw",
    }[layout]
    for split, n in (("train", 4), ("t10k", 2)):
        write_split(folder, split, *make_split(n, seed=n), suffix=suffix)
    ds = load_dataset("mnist", tmp_path)
    assert len(ds.y_train) == 40 and len(ds.y_test) == 20


def test_fashion_mnist_found_in_torchvision_layout_and_parent_folder(tmp_path):
    write_split(tmp_path / "FashionMNIST" / "raw", "t10k", *make_split(5, seed=0), suffix="")
    assert len(load_dataset("fashion-mnist", tmp_path).y_test) == 10
    parent = tmp_path / "shared"
    write_split(parent / "mnist", "t10k", *make_split(10, seed=0))
    write_split(parent / "fashion-mnist", "t10k", *make_split(5, seed=0))
    assert len(load_dataset("fashion-mnist", parent).y_test) == 10
    assert len(load_dataset("mnist", parent).y_test) == 20


def test_only_t10k_gives_a_seeded_stratified_split(tmp_path):
    images, labels = make_split(10, seed=5)
    write_split(tmp_path, "t10k", images, labels)
    ds = load_dataset("fashion-mnist", tmp_path, seed=0)
    assert len(ds.y_train) == 80 and len(ds.y_test) == 20
    assert (torch.bincount(ds.y_test) == 2).all() and (torch.bincount(ds.y_train) == 8).all()
    # images and labels stay paired (each image carries its label in pixel (0, 0))
    assert torch.equal((ds.x_train[:, 0, 0, 0] * 255).round().long(), ds.y_train)
    assert_same_dataset(ds, load_dataset("fashion-mnist", tmp_path, seed=0))
    assert not torch.equal(ds.y_test, load_dataset("fashion-mnist", tmp_path, seed=1).y_test)


def test_holdout_and_subsample_on_idx_files(fake_mnist):
    folder, _ = fake_mnist
    ds = load_dataset("mnist", folder, holdout_classes=[0, 9], max_train=16, max_test=8)
    assert len(ds.y_train) == 16 and len(ds.y_test) == 8 and ds.num_classes == 8
    assert set(ds.y_holdout.tolist()) == {0, 9} and len(ds.y_holdout) == 2 * (6 + 3)
    assert torch.equal((ds.x_holdout[:, 0, 0, 0] * 255).round().long(), ds.y_holdout)


def _set_mtime_ns(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_decoded_files_are_cached(fake_mnist):
    folder, _ = fake_mnist
    idx_data._decode_idx_file.cache_clear()
    load_dataset("mnist", folder)
    assert idx_data._decode_idx_file.cache_info().misses == 4  # two images files, two label files
    load_dataset("mnist", folder)
    assert idx_data._decode_idx_file.cache_info().misses == 4 and idx_data._decode_idx_file.cache_info().hits >= 4


def test_a_file_rewritten_with_the_same_size_is_reread_when_its_mtime_changes(tmp_path):
    """Deterministic: uncompressed files keep their size exactly, and the new mtime is set, not waited for
    (two writes within one filesystem timestamp tick would otherwise look unchanged)."""
    for split, seed in (("train", 1), ("t10k", 2)):
        write_split(tmp_path, split, *make_split(3, seed=seed), suffix="")
    path = tmp_path / "train-images-idx3-ubyte"
    before = path.stat()
    idx_data._decode_idx_file.cache_clear()
    load_dataset("mnist", tmp_path)
    images, labels = make_split(3, seed=99)
    write_split(tmp_path, "train", images, labels, suffix="")
    assert path.stat().st_size == before.st_size
    _set_mtime_ns(path, before.st_mtime_ns + 1_000_000_000)
    ds = load_dataset("mnist", tmp_path)
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(images).float() / 255)


def test_a_file_rewritten_with_the_same_mtime_is_reread_when_its_size_changes(tmp_path):
    for split, seed in (("train", 1), ("t10k", 2)):
        write_split(tmp_path, split, *make_split(3, seed=seed), suffix="")
    path = tmp_path / "train-images-idx3-ubyte"
    before = path.stat()
    idx_data._decode_idx_file.cache_clear()
    load_dataset("mnist", tmp_path)
    images, labels = make_split(4, seed=99)  # 40 images instead of 30
    write_split(tmp_path, "train", images, labels, suffix="")
    _set_mtime_ns(path, before.st_mtime_ns)
    _set_mtime_ns(tmp_path / "train-labels-idx1-ubyte", before.st_mtime_ns)
    ds = load_dataset("mnist", tmp_path)
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(images).float() / 255)


# --- every kind of bad input is a DatasetError naming the file or folder ---


def test_missing_data_dir_argument():
    with pytest.raises(DatasetError, match="MNIST needs data_dir"):
        load_dataset("mnist")


def test_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match="folder not found") as err:
        load_dataset("mnist", missing)
    assert str(missing) in str(err.value)


def test_data_dir_is_a_file(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset("mnist", file)


def test_folder_without_any_files_lists_the_names_looked_for(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and "t10k-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message


def test_missing_label_file(tmp_path):
    images, _ = make_split(2, seed=0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: file not found") as err:
        load_dataset("mnist", tmp_path)
    assert "train-labels-idx1-ubyte.gz" in str(err.value)


def test_missing_image_file(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", make_split(2, seed=0)[1])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: file not found"):
        load_dataset("mnist", tmp_path)


def corrupt(folder: Path, name: str, payload: bytes) -> Path:
    path = folder / name
    path.write_bytes(payload)
    return path


def test_truncated_images(fake_mnist):
    folder, arrays = fake_mnist
    full = idx_bytes(arrays["train"][0])
    path = corrupt(folder, "train-images-idx3-ubyte.gz", gzip.compress(full[:-7]))
    with pytest.raises(DatasetError, match="truncated") as err:
        load_dataset("mnist", folder)
    assert str(path) in str(err.value) and "holds only" in str(err.value)


def test_truncated_labels(fake_mnist):
    folder, arrays = fake_mnist
    path = corrupt(folder, "t10k-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(arrays["t10k"][1])[:-1]))
    with pytest.raises(DatasetError, match="truncated") as err:
        load_dataset("mnist", folder)
    assert str(path) in str(err.value)


def test_file_shorter_than_its_header(fake_mnist):
    folder, _ = fake_mnist
    path = corrupt(folder, "train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((1, 2, 2)))[:10]))
    with pytest.raises(DatasetError, match="too short for the 16-byte header") as err:
        load_dataset("mnist", folder)
    assert str(path) in str(err.value)


def test_extra_bytes_after_the_data(fake_mnist):
    folder, arrays = fake_mnist
    path = corrupt(folder, "train-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(arrays["train"][1]) + b"\0\0"))
    with pytest.raises(DatasetError, match="2 unexpected bytes") as err:
        load_dataset("mnist", folder)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda good: good[: len(good) // 2], id="gzip-cut-in-half"),
        pytest.param(lambda good: good[:-8] + b"\xff" * 8, id="bad-crc"),
        pytest.param(lambda good: good[:12] + b"\x00" * (len(good) - 12), id="garbage-deflate"),
        pytest.param(lambda good: b"this is not gzip at all", id="not-gzip"),
    ],
)
def test_corrupt_gzip(fake_mnist, payload):
    folder, arrays = fake_mnist
    good = gzip.compress(idx_bytes(arrays["train"][0]))
    path = corrupt(folder, "train-images-idx3-ubyte.gz", payload(good))
    with pytest.raises(DatasetError, match="corrupt or truncated gzip") as err:
        load_dataset("mnist", folder)
    assert str(path) in str(err.value)
    assert err.value.__cause__ is not None  # the original error is chained, not lost


def test_wrong_magic_number(fake_mnist):
    folder, arrays = fake_mnist
    # label bytes where the images should be
    path = corrupt(folder, "train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(arrays["train"][1])))
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", folder)
    assert str(err.value) == f"{path}: wrong magic number 2049, expected 2051 (an IDX image file)"


@pytest.mark.parametrize(
    ("type_code", "dtype", "holds"),
    [(0x09, ">i1", "signed bytes"), (0x0B, ">i2", "16-bit integers"), (0x0D, ">f4", "32-bit floats")],
)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_file_of_another_type_is_refused_naming_the_file(tmp_path, type_code, dtype, holds, suffix):
    """Only unsigned bytes are read: the type code (third byte of the magic number) must be 0x08. A file of
    signed bytes is the same size as one of unsigned bytes, so only the type code can tell them apart."""
    values = np.array([[1, -2, 3], [4, 5, -6]], dtype=dtype)
    payload = np.array([(type_code << 8) | 2, 2, 3], dtype=">u4").tobytes() + values.tobytes()
    path = tmp_path / f"weights-idx2{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    assert str(err.value) == (f"{path}: IDX type code 0x{type_code:02X} says it holds {holds}, "
                              f"expected 0x08 (unsigned bytes, as in MNIST)")


@pytest.mark.parametrize(
    ("magic", "words"),
    [(0x01000801, "is not that of an IDX file"), (0x00000701, "is not that of an IDX file"),
     (0x00000800, "declares 0 dimensions")],
)
def test_idx_magic_number_must_be_well_formed(tmp_path, magic, words):
    path = tmp_path / "odd-idx"
    path.write_bytes(np.array([magic, 1], dtype=">u4").tobytes() + b"\x05")
    with pytest.raises(DatasetError, match=words) as err:
        read_idx(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_image_file_of_signed_bytes_is_refused_by_load_dataset(tmp_path):
    images, labels = make_split(2, seed=0)
    header = np.array([0x0903, *images.shape], dtype=">u4").tobytes()
    path = corrupt(tmp_path, "t10k-images-idx3-ubyte", header + images.tobytes())
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    assert str(err.value).startswith(f"{path}: wrong magic number 2307, expected 2051")


def test_gzip_data_without_gz_suffix_gets_a_hint(tmp_path):
    images, labels = make_split(2, seed=0)
    corrupt(tmp_path, "t10k-images-idx3-ubyte", gzip.compress(idx_bytes(images)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DatasetError, match=r"wrong magic number .*looks gzip-compressed"):
        load_dataset("mnist", tmp_path)


def test_image_and_label_count_mismatch(fake_mnist):
    folder, arrays = fake_mnist
    path = write_idx(folder / "t10k-labels-idx1-ubyte.gz", arrays["t10k"][1][:-1])
    with pytest.raises(DatasetError, match=r"holds 29 labels but t10k-images-idx3-ubyte\.gz holds 30 images") as err:
        load_dataset("mnist", folder)
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize("label", [10, 12])  # 10: exactly the class count, the first label out of range
def test_label_out_of_range(fake_mnist, label):
    folder, arrays = fake_mnist
    labels = arrays["train"][1].copy()
    labels[5] = label
    path = write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", folder)
    assert str(err.value) == f"{path}: label {label} is out of range, expected labels 0–9"


def test_train_and_test_image_sizes_must_match(fake_mnist):
    folder, _ = fake_mnist
    images, labels = make_split(3, seed=2, rows=4, cols=4)
    write_split(folder, "t10k", images, labels)
    with pytest.raises(DatasetError, match="images are 4×4, expected 6×5"):
        load_dataset("mnist", folder)


def test_unreadable_path_is_a_dataset_error(tmp_path):
    folder = tmp_path / "t10k-images-idx3-ubyte"  # a folder where a file should be is skipped, not crashed on
    folder.mkdir()
    with pytest.raises(DatasetError, match="no MNIST files found"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DatasetError, match="cannot be read"):
        read_idx(folder)


# --------------------------------------------------------------------------------------------------------
# the real files in ../shared/data


def require_shared(dataset: str) -> Path:
    folder = SHARED_DATA / dataset
    if not folder.is_dir():
        pytest.skip(f"real {dataset} files not present: {folder} does not exist")
    return folder


@pytest.mark.data
def test_real_mnist():
    require_shared("mnist")
    ds = load_dataset("mnist", SHARED_DATA)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.x_train.double().mean().item() * 255 == pytest.approx(33.32, abs=0.01)
    assert ds.x_test.double().mean().item() * 255 == pytest.approx(33.79, abs=0.01)
    small = load_dataset("mnist", SHARED_DATA / "mnist", max_train=10000, max_test=2000)
    assert len(small.y_train) == 10000 and len(small.y_test) == 2000
    assert (torch.bincount(small.y_train) - torch.bincount(ds.y_train) / 6).abs().max() <= 1


@pytest.mark.data
def test_real_fashion_mnist():
    require_shared("fashion-mnist")
    ds = load_dataset("fashion-mnist", SHARED_DATA)
    assert len(ds.y_train) == 8000 and len(ds.y_test) == 2000
    assert (torch.bincount(ds.y_train) == 800).all() and (torch.bincount(ds.y_test) == 200).all()
    everything = torch.cat([ds.x_train, ds.x_test])
    assert everything.double().mean().item() * 255 == pytest.approx(73.15, abs=0.01)
    assert ds.class_names[0] == "T-shirt/top"


# --------------------------------------------------------------------------------------------------------
# Which dataset a folder holds: MNIST and Fashion-MNIST share their file names, so a mismatch is refused


def refusal(folder: Path, held: str, asked: str, evidence: str) -> str:
    return (f"{folder}: this folder seems to hold {held}, not {asked}: {evidence}; choose {held} or point the data "
            f"folder at the {asked} files")


@pytest.mark.parametrize(
    ("where", "held", "asked", "shown"),
    [
        ("MNIST/raw", "mnist", "fashion-mnist", "MNIST/raw"),
        ("FashionMNIST/raw", "fashion-mnist", "mnist", "FashionMNIST/raw"),
        ("mnist", "mnist", "fashion-mnist", "mnist"),
        ("fashion_mnist", "fashion-mnist", "mnist", "fashion_mnist"),
    ],
)
def test_layout_rule_refuses_the_other_dataset(tmp_path, where, held, asked, shown):
    """Fake 6×5 images carry no content evidence, so the folder's torchvision / project name decides."""
    folder = tmp_path / where
    write_split(folder, "t10k", *make_split(10, seed=0))
    titles = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
    with pytest.raises(DatasetError) as err:
        load_dataset(asked, folder)
    evidence = f"its name {shown} is where {titles[held]} is kept"
    assert str(err.value) == refusal(folder, titles[held], titles[asked], evidence)
    assert load_dataset(held, folder).name == held


def test_a_folder_of_any_other_name_is_loaded_as_asked(tmp_path):
    folder = tmp_path / "my-images"
    write_split(folder, "t10k", *make_split(10, seed=0))
    assert load_dataset("mnist", folder).name == "mnist"
    assert load_dataset("fashion-mnist", folder).name == "fashion-mnist"


def digit_like(n: int, seed: int) -> np.ndarray:
    """28×28 images with strokes inside the central 20×20 box only, like MNIST's size-normalised digits."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = np.where(rng.random((n, 20, 20)) < 0.25, rng.integers(1, 256, (n, 20, 20)), 0)
    return images


def clothes_like(n: int, seed: int) -> np.ndarray:
    """28×28 images of filled shapes that reach the image's edges, like Fashion-MNIST's items."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for image, half_width in zip(images, rng.integers(6, 14, n), strict=True):
        image[:, 14 - half_width:14 + half_width] = rng.integers(40, 256)
    return images


def write_images(folder: Path, images: np.ndarray) -> None:
    write_split(folder, "t10k", images, np.arange(len(images), dtype=np.uint8) % 10)


def test_the_border_statistic_tells_digit_like_from_clothes_like_images(tmp_path):
    digits_folder, clothes_folder = tmp_path / "a", tmp_path / "b"
    write_images(digits_folder, digit_like(50, seed=0))
    write_images(clothes_folder, clothes_like(50, seed=0))
    with pytest.raises(DatasetError, match=r"seems to hold MNIST, not Fashion-MNIST: the images of "
                                           r"t10k-images-idx3-ubyte\.gz look like MNIST's handwritten digits \(0\.0 %"):
        load_dataset("fashion-mnist", digits_folder)
    with pytest.raises(DatasetError, match=r"seems to hold Fashion-MNIST, not MNIST: .* look like Fashion-MNIST's "
                                           r"clothing items") as err:
        load_dataset("mnist", clothes_folder)
    assert str(err.value).startswith(f"{clothes_folder}: ")
    assert load_dataset("mnist", digits_folder).name == "mnist"
    assert load_dataset("fashion-mnist", clothes_folder).name == "fashion-mnist"


def test_the_images_outweigh_the_folder_name(tmp_path):
    """Clothes in a folder named MNIST/raw are clothes: content is stronger evidence than a name."""
    folder = tmp_path / "MNIST" / "raw"
    write_images(folder, clothes_like(50, seed=1))
    assert load_dataset("fashion-mnist", folder).name == "fashion-mnist"
    with pytest.raises(DatasetError, match="look like Fashion-MNIST's clothing items"):
        load_dataset("mnist", folder)


@pytest.mark.parametrize(
    "images",
    [
        pytest.param(lambda: np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8), id="noise"),
        pytest.param(lambda: np.zeros((50, 28, 28), dtype=np.uint8), id="blank"),
    ],
)
def test_images_that_look_like_neither_are_loaded_as_asked(tmp_path, images):
    write_images(tmp_path, images())
    assert load_dataset("mnist", tmp_path).name == "mnist"
    assert load_dataset("fashion-mnist", tmp_path).name == "fashion-mnist"


def test_too_few_images_for_the_statistic_are_loaded_as_asked(tmp_path):
    for split, seed in (("train", 0), ("t10k", 1)):  # both splits: no stratified split of 5 images is needed
        write_split(tmp_path, split, digit_like(5, seed), np.arange(5, dtype=np.uint8))
    assert load_dataset("mnist", tmp_path).name == "mnist"
    assert load_dataset("fashion-mnist", tmp_path).name == "fashion-mnist"


@pytest.mark.data
@pytest.mark.parametrize(("folder_name", "asked", "held"), [("mnist", "Fashion-MNIST", "MNIST"),
                                                            ("fashion-mnist", "MNIST", "Fashion-MNIST")])
def test_real_folder_of_the_other_dataset_is_refused_by_checksum(folder_name, asked, held):
    folder = require_shared(folder_name)
    with pytest.raises(DatasetError) as err:
        load_dataset(asked.lower(), folder)
    message = str(err.value)
    assert message.startswith(f"{folder}: this folder seems to hold {held}, not {asked}: ")
    assert f"is the official {held} file (by its checksum)" in message


@pytest.mark.data
@pytest.mark.parametrize("folder_name", ["mnist", "fashion-mnist"])
def test_every_real_file_has_a_known_checksum(folder_name):
    folder = require_shared(folder_name)
    for path in sorted(folder.glob("*-ubyte.gz")):
        magic = idx_data._IMAGE_MAGIC if "images" in path.name else idx_data._LABEL_MAGIC
        assert idx_data._official_dataset(path, magic) == folder_name, path


REAL_IMAGES = [("mnist", "train"), ("mnist", "t10k"), ("fashion-mnist", "t10k")]


@pytest.mark.data
@pytest.mark.parametrize(("folder_name", "split"), REAL_IMAGES)
def test_border_statistic_on_the_real_files_every_class(folder_name, split):
    """Measured: MNIST's border is 0.6 % inked, Fashion-MNIST's 23.8 %; every class alone is on its side too."""
    folder = require_shared(folder_name)
    images = read_idx(folder / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{split}-labels-idx1-ubyte.gz")
    border, _ = idx_data._border_ink(images)
    if folder_name == "mnist":
        assert border < idx_data._DIGITS_MAX_BORDER_INK / 5
    else:
        assert border > 2 * idx_data._CLOTHES_MIN_BORDER_INK
    for c in range(10):
        assert idx_data._looks_like(images[labels == c])[0] == folder_name, c


@pytest.mark.data
@pytest.mark.parametrize(("folder_name", "asked"), [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")])
def test_altered_real_files_are_recognised_by_their_images(tmp_path, folder_name, asked):
    """One changed pixel breaks the checksum; the border statistic still tells digits from clothes."""
    source = require_shared(folder_name)
    images = read_idx(source / "t10k-images-idx3-ubyte.gz")[:2000]
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")[:2000]
    images[0, 14, 14] ^= 1
    write_split(tmp_path, "t10k", images, labels)
    with pytest.raises(DatasetError, match=r"the images of t10k-images-idx3-ubyte\.gz look like") as err:
        load_dataset(asked, tmp_path)
    assert "checksum" not in str(err.value)
    assert load_dataset(folder_name, tmp_path).name == folder_name


@pytest.mark.parametrize("fraction", [0, 1, 0.0, 1.0])
def test_a_test_fraction_of_exactly_0_or_1_is_refused(fraction):
    with pytest.raises(DatasetError, match=f"^test_fraction must be between 0 and 1 \\(exclusive\\), got {fraction}$"):
        load_dataset("digits", test_fraction=fraction)


def test_the_last_class_may_be_held_out_and_one_past_it_is_no_class():
    assert 9 in load_dataset("digits", holdout_classes=(9,)).holdout_classes
    with pytest.raises(DatasetError, match=r"^class 10 does not exist: .* has classes 0–9$"):
        load_dataset("digits", holdout_classes=(10,))


def test_write_idx_takes_whole_numbers_from_exactly_0_to_exactly_255(tmp_path):
    path = write_idx(tmp_path / "labels.idx", np.array([0, 255], dtype=np.int64))
    assert list(read_idx(path)) == [0, 255]
    for bad in ([-1, 3], [0, 256]):
        with pytest.raises(ValueError, match="needs unsigned bytes"):
            write_idx(tmp_path / "bad.idx", np.array(bad, dtype=np.int64))


def test_a_file_of_exactly_its_header_is_read_as_a_header_that_holds_no_samples(tmp_path):
    path = tmp_path / "empty.idx"
    path.write_bytes(np.array([0x0801, 0], dtype=">u4").tobytes())  # 1-D, 0 items: exactly the 8-byte header
    with pytest.raises(DatasetError, match="header says it holds no samples"):
        read_idx(path)
    path.write_bytes(np.array([0x0801], dtype=">u4").tobytes())  # one byte-word short of it
    with pytest.raises(DatasetError, match="only 4 bytes, too short for the 8-byte header"):
        read_idx(path)


@pytest.mark.parametrize("what", ["max_train", "max_test"])
def test_a_cap_of_exactly_1_is_a_number_judged_against_the_classes_and_0_is_no_cap(what):
    with pytest.raises(DatasetError, match=f"^{what}=1 is too small: it must keep at least one sample of each of"):
        load_dataset("digits", **{what: 1})
    with pytest.raises(DatasetError, match=f"^{what} must be a positive integer or None, got 0$"):
        load_dataset("digits", **{what: 0})
    capped = load_dataset("digits", **{what: 10})
    assert len(capped.y_test if what == "max_test" else capped.y_train) == 10  # exactly one per class
