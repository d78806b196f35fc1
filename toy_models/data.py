"""Datasets for Margin Lab behind one loader: ``load_dataset(name, ...) -> Dataset``.

- ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, ships with scikit-learn, no files needed).
- ``mnist`` / ``fashion-mnist``: the real 28×28 IDX files, read with numpy from a folder you point at; a folder
  that holds the other of the two (same file names) is recognised and refused (toy_models.idx_data).
- ``toy``: seeded synthetic identities (the 8-identity toy of the CosFace/ArcFace papers), 8×8 "images".
- ``glyphs``: hundreds of identities at 28×28, one Unicode glyph each, drawn in random faces with jitter; a fixed
  set of identities is always held out (toy_models.glyphs).

Every dataset comes back the same way: float32 image tensors (N, 1, H, W) scaled to [0, 1], int64 labels
0..K-1, class names, and an optional open-set split of classes held out of training entirely.
Anything wrong with the input raises :class:`DatasetError`, whose message is one sentence naming the
file or folder and what was expected.
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from . import glyphs, idx_data
from .errors import DatasetError
from .idx_data import DIGIT_NAMES, read_idx, write_idx

__all__ = ["DATASETS", "Dataset", "DatasetError", "fixed_holdout", "load_dataset", "read_idx", "write_idx"]

DATASETS = ("digits", "mnist", "fashion-mnist", "toy", "glyphs")


TOY_IDENTITIES = (2, 20)  # inclusive bounds for num_identities
TOY_SAMPLES_PER_IDENTITY = 300
TOY_NOISE_STD = 0.3


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split plus an optional open-set holdout, all as tensors ready for training.

    Images are float32 (N, *input_shape) in [0, 1]; labels are int64. Training labels are contiguous
    0..num_classes-1 even when classes are held out; ``y_holdout`` keeps the ORIGINAL class indices,
    and ``holdout_class_names[i]`` names ``holdout_classes[i]`` (ascending original index).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    x_holdout: torch.Tensor
    y_holdout: torch.Tensor
    holdout_class_names: tuple[str, ...]
    holdout_classes: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        """Number of training classes."""
        return len(self.class_names)

    def __repr__(self) -> str:  # the default repr would print whole tensors
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"classes={self.num_classes}, input_shape={self.input_shape}, holdout={len(self.y_holdout)})"
        )


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    holdout_classes: Sequence[int] = (),
    max_train: int | None = None,
    max_test: int | None = None,
    num_identities: int = 8,
    train_identities: int | None = None,
) -> Dataset:
    """Load one of :data:`DATASETS` as a :class:`Dataset`.

    Args:
        name: ``"digits"``, ``"mnist"``, ``"fashion-mnist"`` or ``"toy"`` (case and ``_``/``-`` are forgiven).
        data_dir: folder with the IDX files (needed for mnist / fashion-mnist). Flat, torchvision's
            ``MNIST/raw`` / ``FashionMNIST/raw`` layout, or a parent holding ``mnist/`` / ``fashion-mnist/``.
            Both datasets use the same file names, so files that seem to be the other dataset (by the checksum
            of an official file, by their images, or by the folder's name) are refused with a DatasetError.
        seed: seeds every random choice (split, subsample, toy data); same seed → bit-identical tensors.
        test_fraction: share of samples for the stratified test split. Ignored when the IDX folder has
            both the official train and t10k files (the official split is used).
        holdout_classes: original class indices kept out of training and test entirely (open set).
        max_train, max_test: stratified subsample sizes, e.g. to cut MNIST's 60k to 10k for live use.
        num_identities: number of identities of the ``toy`` dataset (2..20); ignored by the others.
        train_identities: ``glyphs`` only: train on the first K of its training identities (None: all of them).
            Its held-out identities are fixed (every K verifies on the same ones), so ``holdout_classes`` must
            stay empty; the Dataset names them in ``holdout_classes`` (classes K..K+H-1).
    """
    key = _canonical_name(name)
    _check_options(seed, test_fraction, max_train, max_test)

    if key == "digits":
        pool, class_names = _digits()
        train, test = _stratified_split(pool, test_fraction, seed, source="digits")
    elif key == "toy":
        pool, class_names = _toy(num_identities, seed)
        train, test = _stratified_split(pool, test_fraction, seed, source="toy")
    elif key == "glyphs":
        if isinstance(holdout_classes, numbers.Integral) or len(holdout_classes):
            raise DatasetError("glyphs holds out its own fixed identities (never trained on), so holdout_classes "
                               "must be empty; choose the number of training identities instead")
        pool, class_names, holdout_classes = _glyphs(seed, train_identities)
        trained = pool.labels < holdout_classes[0]
        train, test = _stratified_split(pool.take(trained), test_fraction, seed, source="glyphs")
        held_out = pool.take(~trained)  # in identity order, so every K verifies on the very same pairs
        train = _Samples(np.concatenate([train.images, held_out.images]),
                         np.concatenate([train.labels, held_out.labels]), train.scale)
    else:
        train, test, class_names = _real_dataset(key, data_dir, test_fraction, seed)

    held = _check_holdout(holdout_classes, key, len(class_names))
    kept = [c for c in range(len(class_names)) if c not in held]
    train, train_held = _separate(train, held)
    test, test_held = _separate(test, held)

    train = _subsample(train, max_train, seed, what="max_train", num_classes=len(kept))
    test = _subsample(test, max_test, seed, what="max_test", num_classes=len(kept))

    # Relabel the remaining classes 0..K-1, keeping their original order.
    new_label = np.full(len(class_names), -1, dtype=np.int64)
    new_label[kept] = np.arange(len(kept))

    input_shape = (1, *train.images.shape[1:])
    holdout_images = np.concatenate([train_held.images, test_held.images])
    holdout_labels = np.concatenate([train_held.labels, test_held.labels])
    return Dataset(
        name=key,
        x_train=_image_tensor(train.images, train.scale),
        y_train=_label_tensor(new_label[train.labels]),
        x_test=_image_tensor(test.images, test.scale),
        y_test=_label_tensor(new_label[test.labels]),
        class_names=tuple(class_names[c] for c in kept),
        input_shape=input_shape,
        x_holdout=_image_tensor(holdout_images, train.scale).reshape(-1, *input_shape),
        y_holdout=_label_tensor(holdout_labels),
        holdout_class_names=tuple(class_names[c] for c in held),
        holdout_classes=tuple(held),
    )


# --------------------------------------------------------------------------------------------------------
# Samples as numpy arrays until the very end: images (N, H, W) plus the value that maps them to [0, 1].


class _Samples(NamedTuple):
    images: np.ndarray  # (N, H, W), uint8 or float
    labels: np.ndarray  # (N,), int64 original class indices
    scale: float  # images / scale lies in [0, 1]

    def take(self, index: np.ndarray) -> _Samples:
        return _Samples(self.images[index], self.labels[index], self.scale)


def _image_tensor(images: np.ndarray, scale: float) -> torch.Tensor:
    as_float = np.array(images, dtype=np.float32)  # always a fresh copy: the cached arrays stay untouched
    as_float /= np.float32(scale)
    return torch.from_numpy(as_float).unsqueeze(1)


def _label_tensor(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return key


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_options(seed: int, test_fraction: float, max_train: int | None, max_test: int | None) -> None:
    if not _is_int(seed) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(test_fraction, numbers.Real) or not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    for what, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None and (not _is_int(value) or value < 1):
            raise DatasetError(f"{what} must be a positive integer or None, got {value!r}")


# --------------------------------------------------------------------------------------------------------
# Splitting, subsampling and holding classes out.


def _stratified_split(pool: _Samples, test_fraction: float, seed: int, *, source: str) -> tuple[_Samples, ...]:
    """Seeded train/test split that keeps every class's share the same in both parts."""
    from sklearn.model_selection import train_test_split  # imported lazily: sklearn takes ~1 s to import

    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(pool.labels)), test_size=test_fraction, stratify=pool.labels, random_state=seed
        )
    except ValueError as err:  # e.g. a class with a single sample, or too few samples for every class
        raise DatasetError(f"{source}: cannot make a stratified {test_fraction:g} test split ({err})") from err
    # Sorting keeps the samples in their original order, which makes the split easy to inspect.
    return pool.take(np.sort(train_idx)), pool.take(np.sort(test_idx))


def _stratified_subsample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of n samples that keep each class's share (±1 sample), at least one per class."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(labels))
    # Group the shuffled samples by class; the stable sort keeps the random order inside each class.
    grouped = shuffled[np.argsort(labels[shuffled], kind="stable")]
    _, starts, counts = np.unique(labels[grouped], return_index=True, return_counts=True)
    rank_in_class = np.arange(len(grouped)) - np.repeat(starts, counts)
    # Taking the n smallest within-class quantiles takes the same fraction of every class, and the first
    # sample of every class (quantile 0) comes before any second one.
    quantile = rank_in_class / np.repeat(counts, counts)
    return np.sort(grouped[np.argsort(quantile, kind="stable")[:n]])


def _subsample(samples: _Samples, limit: int | None, seed: int, *, what: str, num_classes: int) -> _Samples:
    if limit is None or limit >= len(samples.labels):
        return samples
    if limit < num_classes:
        raise DatasetError(f"{what}={limit} is too small: it must keep at least one sample of each of the "
                           f"{num_classes} training classes")
    return samples.take(_stratified_subsample(samples.labels, limit, seed))


def _check_holdout(holdout_classes: Sequence[int], source: str, num_classes: int) -> list[int]:
    """Validated, sorted list of the classes to hold out."""
    if isinstance(holdout_classes, numbers.Integral):
        holdout_classes = [holdout_classes]  # a single class index is an easy mistake to forgive
    held: list[int] = []
    for c in holdout_classes:
        if not _is_int(c):
            raise DatasetError(f"holdout class {c!r} is not a class index: expected integers 0–{num_classes - 1}")
        if not 0 <= c < num_classes:
            raise DatasetError(f"class {c} does not exist: {source} has classes 0–{num_classes - 1}")
        if int(c) in held:
            raise DatasetError(f"holdout_classes lists class {c} twice: each class can be held out only once")
        held.append(int(c))
    if num_classes - len(held) < 2:
        raise DatasetError(f"holding out {len(held)} of {source}'s {num_classes} classes leaves "
                           f"{num_classes - len(held)} for training: at least 2 are needed")
    return sorted(held)


def _separate(samples: _Samples, held: list[int]) -> tuple[_Samples, _Samples]:
    """(samples of the training classes, samples of the held-out classes)."""
    is_held = np.isin(samples.labels, held)
    return samples.take(~is_held), samples.take(is_held)


# --------------------------------------------------------------------------------------------------------
# digits and toy: built in memory.


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # reads a small CSV shipped inside scikit-learn

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # integer pixel values 0..16
    images.setflags(write=False)  # shared by every call through the cache
    labels = digits.target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def _digits() -> tuple[_Samples, tuple[str, ...]]:
    images, labels = _digits_arrays()
    return _Samples(images, labels, scale=16.0), DIGIT_NAMES


def _toy(num_identities: int, seed: int) -> tuple[_Samples, tuple[str, ...]]:
    """k identities, each a random 8×8 prototype pattern plus Gaussian noise, clipped to [0, 1]."""
    low, high = TOY_IDENTITIES
    if not _is_int(num_identities) or not low <= num_identities <= high:
        raise DatasetError(f"num_identities={num_identities!r} is out of range: the toy dataset has "
                           f"{low}–{high} identities")
    rng = np.random.default_rng(seed)
    prototypes = rng.random((num_identities, 8, 8))
    noise = rng.normal(0.0, TOY_NOISE_STD, (num_identities, TOY_SAMPLES_PER_IDENTITY, 8, 8))
    images = np.clip(prototypes[:, None] + noise, 0.0, 1.0).reshape(-1, 8, 8)
    labels = np.repeat(np.arange(num_identities, dtype=np.int64), TOY_SAMPLES_PER_IDENTITY)
    names = tuple(f"id {i}" for i in range(num_identities))
    return _Samples(images, labels, scale=1.0), names


def _glyphs(seed: int, train_identities: int | None) -> tuple[_Samples, tuple[str, ...], tuple[int, ...]]:

    k = glyphs.TRAIN_IDENTITIES if train_identities is None else train_identities
    images, labels, names, held = glyphs.glyph_pool(seed, k)
    return _Samples(images, labels, scale=255.0), names, held


def fixed_holdout(name: str, train_identities: int | None) -> tuple[int, ...] | None:
    """The classes a dataset always holds out (glyphs: K..K+H-1), or None when the caller chooses them."""
    if _canonical_name(name) != "glyphs":
        return None
    from . import glyphs

    k = glyphs.TRAIN_IDENTITIES if train_identities is None else int(train_identities)
    return tuple(range(k, k + glyphs.HOLDOUT_IDENTITIES))


def _real_dataset(key: str, data_dir: str | os.PathLike | None, test_fraction: float,
                  seed: int) -> tuple[_Samples, _Samples, tuple[str, ...]]:
    """MNIST or Fashion-MNIST from IDX files (toy_models.idx_data): both official splits as they are, or one pair
    split here."""
    parts, class_names, source = idx_data.read_folder(key, data_dir)
    samples = {split: _Samples(images, labels, scale=255.0) for split, (images, labels) in parts.items()}
    if len(samples) == 2:
        return samples["train"], samples["t10k"], class_names
    [pool] = samples.values()
    train, test = _stratified_split(pool, test_fraction, seed, source=source)
    return train, test, class_names
