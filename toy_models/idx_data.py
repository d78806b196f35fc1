"""MNIST-format data on disk: IDX files (read, written, cached), found in a folder, and checked to be the dataset
asked for (MNIST and Fashion-MNIST use the same file names). Nothing here knows about training: the loader
(toy_models.data) turns what `read_folder` returns into a Dataset.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import DatasetError

DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_MNIST_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


# --------------------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST: IDX files on disk.

_IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, cols)
_LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
_IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the third byte of the magic number
_IDX_TYPE_NAMES = {0x08: "unsigned bytes", 0x09: "signed bytes", 0x0B: "16-bit integers", 0x0C: "32-bit integers",
                   0x0D: "32-bit floats", 0x0E: "64-bit floats"}

_SPLIT_FILES = {  # split -> (images file, labels file), each optionally with .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class _RealDataset(NamedTuple):
    title: str
    subfolders: tuple[str, ...]  # names of this dataset's folder inside a parent data folder
    torchvision_folder: str  # torchvision keeps the files in <root>/<this>/raw
    class_names: tuple[str, ...]


_REAL = {
    "mnist": _RealDataset("MNIST", ("mnist",), "MNIST", DIGIT_NAMES),
    "fashion-mnist": _RealDataset("Fashion-MNIST", ("fashion-mnist", "fashion_mnist"), "FashionMNIST",
                                  FASHION_MNIST_NAMES),
}




def read_folder(key: str, data_dir: str | os.PathLike | None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                                     tuple[str, ...], str]:
    """The IDX files of `key` ("mnist" or "fashion-mnist") in a folder: ({"train"/"t10k": (uint8 images, int64
    labels)} for every complete pair, the class names, the path a single pair came from); DatasetError, one
    sentence naming the file, for anything missing, corrupt or of the other dataset."""
    spec = _REAL[key]
    pairs = _locate_idx_files(spec, data_dir)
    parts = {split: _read_pair(images, labels, len(spec.class_names)) for split, (images, labels) in pairs.items()}
    _check_folder_holds(key, pairs)
    if len(parts) == 2:
        _check_same_image_size(pairs)
    return parts, spec.class_names, str(next(iter(pairs.values()))[0])


def _find_file(folder: Path, stem: str) -> Path | None:
    # The uncompressed file wins when both exist (torchvision leaves both): it is faster to read.
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidate_folders(root: Path, spec: _RealDataset) -> list[Path]:
    # Dataset-specific places first, so a parent folder holding several datasets never hands out the
    # wrong one; the root itself (files lying flat in it) last.
    folders = [root / spec.torchvision_folder / "raw"]
    for sub in spec.subfolders:
        folders += [root / sub, root / sub / spec.torchvision_folder / "raw"]
    return [*folders, root]


def _locate_idx_files(spec: _RealDataset, data_dir: str | os.PathLike | None) -> dict[str, tuple[Path, Path]]:
    """{"train"/"t10k": (images path, labels path)} for every complete pair in the first folder with files."""
    all_names = [stem for pair in _SPLIT_FILES.values() for stem in pair]
    if data_dir is None:
        raise DatasetError(f"{spec.title} needs data_dir: a folder holding {', '.join(all_names)} (or .gz)")
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: folder not found, expected a folder holding the {spec.title} IDX files")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder, expected a folder holding the {spec.title} IDX files")

    for folder in _candidate_folders(root, spec):
        found = {stem: _find_file(folder, stem) for stem in all_names}
        if any(found.values()):
            return _complete_pairs(folder, found)
    subfolders = ", ".join([f"{spec.torchvision_folder}/raw", *spec.subfolders])
    raise DatasetError(f"{root}: no {spec.title} files found; looked for {', '.join(all_names)} "
                       f"(optionally .gz) in it and in its subfolders {subfolders}")


def _complete_pairs(folder: Path, found: dict[str, Path | None]) -> dict[str, tuple[Path, Path]]:
    pairs = {}
    for split, (images_stem, labels_stem) in _SPLIT_FILES.items():
        images, labels = found[images_stem], found[labels_stem]
        if images and labels:
            pairs[split] = (images, labels)
        elif images or labels:  # half a pair is a mistake, not a reason to silently fall back
            present, missing = (images, labels_stem) if images else (labels, images_stem)
            raise DatasetError(f"{folder / missing}: file not found (looked for {missing} and {missing}.gz), "
                               f"expected it next to {present.name}")
    return pairs


def _read_pair(images_path: Path, labels_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx_cached(images_path, _IMAGE_MAGIC)
    labels = _read_idx_cached(labels_path, _LABEL_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(f"{labels_path}: holds {len(labels)} labels but {images_path.name} holds "
                           f"{len(images)} images, expected one label per image")
    if labels.max() >= num_classes:
        raise DatasetError(f"{labels_path}: label {int(labels.max())} is out of range, expected labels "
                           f"0–{num_classes - 1}")
    return images, labels.astype(np.int64)


def _check_same_image_size(pairs: dict[str, tuple[Path, Path]]) -> None:
    train_path, test_path = pairs["train"][0], pairs["t10k"][0]
    train_hw = _read_idx_cached(train_path, _IMAGE_MAGIC).shape[1:]
    test_hw = _read_idx_cached(test_path, _IMAGE_MAGIC).shape[1:]
    if train_hw != test_hw:
        raise DatasetError(f"{test_path}: images are {test_hw[0]}×{test_hw[1]}, expected "
                           f"{train_hw[0]}×{train_hw[1]} like {train_path.name}")


# --------------------------------------------------------------------------------------------------------
# Which dataset a folder holds. MNIST and Fashion-MNIST use the same file names, so without this check
# Fashion-MNIST chosen with an MNIST folder would train on digits labelled "T-shirt/top, Trouser, ...".
# The evidence, strongest first (the first that answers decides):
#   1. checksums: the md5 of a file's decompressed bytes is that of an official file (`_OFFICIAL_MD5` below);
#   2. the images: MNIST digits are centred in a 20×20 box, so the 3-pixel border of their 28×28 images is
#      nearly blank, while Fashion-MNIST items fill the frame (`_border_ink`);
#   3. the layout: the folder is torchvision's MNIST/raw or FashionMNIST/raw, or named mnist / fashion-mnist.
# Files none of these recognise (other sizes, noise, a folder of another name) are loaded as asked.

_OFFICIAL_MD5 = {  # md5 of the decompressed official files -> the dataset they belong to
    "6bbc9ace898e44ae57da46a324031adb": "mnist",  # train-images-idx3-ubyte
    "a25bea736e30d166cdddb491f175f624": "mnist",  # train-labels-idx1-ubyte
    "2646ac647ad5339dbf082846283269ea": "mnist",  # t10k-images-idx3-ubyte
    "27ae3e4e09519cfbb04c329615203637": "mnist",  # t10k-labels-idx1-ubyte
    "f4a8712d7a061bf5bd6d2ca38dc4d50a": "fashion-mnist",  # train-images-idx3-ubyte
    "9018921c3c673c538a1fc5bad174d6f9": "fashion-mnist",  # train-labels-idx1-ubyte
    "8181f5470baa50b63fa0f6fddb340f0a": "fashion-mnist",  # t10k-images-idx3-ubyte
    "15d484375f8d13e6eb1aabb0c3f46965": "fashion-mnist",  # t10k-labels-idx1-ubyte
}

# Share of inked (non-zero) pixels in the 3-pixel border of 28×28 images, measured on the official files:
# MNIST 0.6 % (train and test; at most 2.2 % for any one digit, 8 % for any one image), Fashion-MNIST test
# 23.8 % (at least 14.7 % for any one class; 5.7 % at the 0.1st percentile of single images).
_BORDER_PX = 3
_DIGITS_MAX_BORDER_INK = 0.05  # below: digits
_CLOTHES_MIN_BORDER_INK = 0.10  # above (with at most _CLOTHES_MAX_INK ink overall): clothes
_CLOTHES_MAX_INK = 0.8  # Fashion-MNIST inks 50 % of all pixels; uniform noise inks nearly all of them
_MIN_IMAGES_FOR_STATISTIC = 10
_STATISTIC_SAMPLE = 1000  # evenly spaced images are enough: the statistic is an average


def _border_ink(images: np.ndarray) -> tuple[float, float]:
    """(share of inked pixels in the 3-pixel border, share of inked pixels overall) of up to 1,000 evenly
    spaced images of an (N, H, W) uint8 array."""
    sample = images[np.linspace(0, len(images) - 1, min(len(images), _STATISTIC_SAMPLE)).astype(np.int64)]
    inked = sample > 0
    inner = inked[:, _BORDER_PX:-_BORDER_PX, _BORDER_PX:-_BORDER_PX]
    border_pixels = inked[0].size - inner[0].size
    border_ink = (inked.sum() - inner.sum()) / (len(sample) * border_pixels)
    return float(border_ink), float(inked.mean())


def _looks_like(images: np.ndarray) -> tuple[str | None, float]:
    """("mnist" / "fashion-mnist" / None, border ink) for 28×28 images; None when the images are of another
    size, too few, or look like neither (blank, noise, something in between)."""
    if images.shape[1:] != (28, 28) or len(images) < _MIN_IMAGES_FOR_STATISTIC:
        return None, float("nan")
    border, overall = _border_ink(images)
    if 0 < overall and border < _DIGITS_MAX_BORDER_INK:
        return "mnist", border
    if border >= _CLOTHES_MIN_BORDER_INK and overall <= _CLOTHES_MAX_INK:
        return "fashion-mnist", border
    return None, border


@functools.lru_cache(maxsize=16)
def _content_md5(path: str, mtime_ns: int, size: int, magic: int) -> str:
    """md5 of a file's decompressed bytes (header and data), from the cached decoded array."""
    array = _decode_idx_file(path, mtime_ns, size, magic)
    digest = hashlib.md5(np.array([magic, *array.shape], dtype=">u4").tobytes(), usedforsecurity=False)
    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


def _official_dataset(path: Path, magic: int) -> str | None:
    stat = path.stat()
    return _OFFICIAL_MD5.get(_content_md5(str(path.resolve()), stat.st_mtime_ns, stat.st_size, magic))


def _layout_dataset(folder: Path) -> str | None:
    """The dataset a folder's name stands for: torchvision's <MNIST|FashionMNIST>/raw, or mnist / fashion-mnist."""
    name = folder.parent.name if folder.name == "raw" else folder.name
    return {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}.get(
        name.lower().replace("_", "-"))


def _what_folder_holds(pairs: dict[str, tuple[Path, Path]]) -> tuple[str | None, str]:
    """(dataset the files seem to be, the evidence as a phrase), or (None, "") when nothing tells."""
    for images, labels in pairs.values():
        for path, magic in ((labels, _LABEL_MAGIC), (images, _IMAGE_MAGIC)):  # labels first: tiny to hash
            found = _official_dataset(path, magic)
            if found:
                return found, f"{path.name} is the official {_REAL[found].title} file (by its checksum)"
    for images, _ in pairs.values():
        found, border = _looks_like(_read_idx_cached(images, _IMAGE_MAGIC))
        if found:
            kind = "handwritten digits" if found == "mnist" else "clothing items"
            digits, clothes = 100 * _DIGITS_MAX_BORDER_INK, 100 * _CLOTHES_MIN_BORDER_INK
            return found, (f"the images of {images.name} look like {_REAL[found].title}'s {kind} "
                           f"({100 * border:.1f} % of their 3-pixel border is inked; MNIST's under {digits:g} %, "
                           f"Fashion-MNIST's over {clothes:g} %)")
    folder = next(iter(pairs.values()))[0].parent
    found = _layout_dataset(folder)
    if found:
        name = f"{folder.parent.name}/raw" if folder.name == "raw" else folder.name
        return found, f"its name {name} is where {_REAL[found].title} is kept"
    return None, ""


def _check_folder_holds(key: str, pairs: dict[str, tuple[Path, Path]]) -> None:
    """DatasetError when the IDX files found for `key` seem to be the other dataset."""
    found, evidence = _what_folder_holds(pairs)
    if found is None or found == key:
        return
    folder = next(iter(pairs.values()))[0].parent
    asked, held = _REAL[key].title, _REAL[found].title
    raise DatasetError(f"{folder}: this folder seems to hold {held}, not {asked}: {evidence}; choose {held} "
                       f"or point the data folder at the {asked} files")


def _read_idx_cached(path: Path, magic: int) -> np.ndarray:
    # Keyed on mtime and size too, so a file replaced on disk is read again.
    stat = path.stat()
    return _decode_idx_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size, magic)


@functools.lru_cache(maxsize=16)
def _decode_idx_file(path: str, mtime_ns: int, size: int, magic: int) -> np.ndarray:
    """Read-only array of one IDX file; cached because gunzipping 60k MNIST images takes a while."""
    return _parse_idx(Path(path), _read_bytes(Path(path)), expected_magic=magic)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # BadGzipFile is an OSError: catch it first
        raise DatasetError(f"{path}: corrupt or truncated gzip data ({err}), expected a gzip-compressed "
                           f"IDX file") from err
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err}), expected a readable IDX file") from err


def _describe_magic(magic: int) -> str:
    return {_IMAGE_MAGIC: "an IDX image file", _LABEL_MAGIC: "an IDX label file"}.get(magic, "an IDX file")


def _parse_idx(path: Path, data: bytes, expected_magic: int | None = None) -> np.ndarray:
    """Decode IDX bytes (big-endian header, unsigned-byte data) into an array of the header's shape."""
    what = _describe_magic(expected_magic) if expected_magic else "an IDX file"
    if len(data) < 4:
        raise DatasetError(f"{path}: only {len(data)} bytes, too short for the header of {what}")
    magic = int(np.frombuffer(data, ">u4", count=1)[0])
    if expected_magic is not None and magic != expected_magic:
        hint = "; it looks gzip-compressed, so name it *.gz" if data[:2] == b"\x1f\x8b" else ""
        raise DatasetError(f"{path}: wrong magic number {magic}, expected {expected_magic} ({what}){hint}")
    ndim, type_code = magic & 0xFF, (magic >> 8) & 0xFF
    if magic >> 16 or type_code not in _IDX_TYPE_NAMES:
        raise DatasetError(f"{path}: magic number {magic} is not that of an IDX file, expected 0x0000 08 <ndim> "
                           f"(two zero bytes, the type code 0x08 of unsigned bytes, the number of dimensions)")
    if type_code != _IDX_UBYTE:
        raise DatasetError(f"{path}: IDX type code 0x{type_code:02X} says it holds {_IDX_TYPE_NAMES[type_code]}, "
                           f"expected 0x08 (unsigned bytes, as in MNIST)")
    if ndim == 0:
        raise DatasetError(f"{path}: magic number {magic} declares 0 dimensions, expected at least 1")
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        raise DatasetError(f"{path}: only {len(data)} bytes, too short for the {header_size}-byte header of {what}")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if shape[0] == 0:
        raise DatasetError(f"{path}: header says it holds no samples, expected at least one")
    promised, actual = int(np.prod(shape)), len(data) - header_size
    if actual < promised:
        raise DatasetError(f"{path}: truncated, the header promises {' × '.join(map(str, shape))} = {promised} "
                           f"bytes of data but the file holds only {actual}")
    if actual > promised:
        raise DatasetError(f"{path}: {actual - promised} unexpected bytes after the "
                           f"{' × '.join(map(str, shape))} = {promised} bytes of data the header promises")
    return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape)  # read-only view of the bytes


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read any unsigned-byte IDX file (``.gz`` or not) into a uint8 array; raises DatasetError if bad."""
    path = Path(path)
    return _parse_idx(path, _read_bytes(path)).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed if the name ends in ``.gz``); returns the path.

    The header is the magic number 0x0000 08 <ndim> and one big-endian uint32 per dimension, so a
    (N, 28, 28) array becomes an image file (magic 2051) and an (N,) array a label file (magic 2049).
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or (array.size and (array.min() < 0 or array.max() > 255)):
            raise ValueError(f"write_idx needs unsigned bytes (integers 0–255), got dtype {array.dtype}")
        array = array.astype(np.uint8)
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs an array with 1 to 255 dimensions, got {array.ndim}")
    header = np.array([(_IDX_UBYTE << 8) | array.ndim, *array.shape], dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime=0: the same array gives the same bytes
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path
