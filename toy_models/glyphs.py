"""The ``glyphs`` dataset: hundreds of identities at 28×28 (one Unicode glyph = one identity), no download.

Where the images come from: ``data_files/glyphs.npz`` holds every identity drawn once in each of 16 faces
(DejaVu Sans, Serif and Mono, STIX General; upright, bold, italic): about 1.3 MB, rendered by
``python -m toy_models.glyph_build`` with the FreeType and the fonts inside matplotlib's package data, never the
system's fonts. The build dropped look-alikes (Latin O, Greek Ο and Cyrillic О are one identity) and fixed the
order of the identities: the last fifth are held out (never trained on), the rest are the training identities,
of which a run takes the first K (so K = 32 is a subset of K = 128).

Each sample is one identity in a face chosen at random, jittered (rotation, scale, aspect, shear, shift and,
for a quarter of them, a 1-pixel thicker stroke). The jitter is bit-identical on every platform: the random
numbers are PCG64's raw 64-bit words (a fixed algorithm, seeded through SeedSequence from the seed and the
code point), and the arithmetic is float64 with only + − × ÷ and floor/rint (exactly rounded by IEEE 754;
no sin or cos from the platform's maths library: a rotation by θ is written with t = tan(θ/2) as
((1 − t²), −2t; 2t, (1 − t²)) / (1 + t²)). Bilinear sampling, then rounding to uint8.

Generating every identity's samples for one seed takes a second or two; the result is cached on disk
(``$MARGIN_LAB_CACHE``, else ``~/.margin-lab/cache``) with a checksum, and a cache file that is unreadable or
fails its checksum is rebuilt (with a warning naming it).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
import zipfile
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from .errors import DatasetError

__all__ = [
    "GLYPH_FILE",
    "HOLDOUT_IDENTITIES",
    "SAMPLES_PER_IDENTITY",
    "TRAIN_IDENTITIES",
    "cache_dir",
    "glyph_pool",
    "glyph_table",
    "jitter_samples",
    "read_npz",
    "write_npz",
]

GLYPH_FILE = Path(__file__).resolve().parent / "data_files" / "glyphs.npz"
# sha256 of the shipped file; glyph_build prints it. A different file is refused, so a damaged install is named.
GLYPH_FILE_SHA256 = "9d2f8955b8a5e10f2e63e35a55accd24e7371658e011ac05ec03bfde498bbbd9"
TRAIN_IDENTITIES = 289  # identities a run can train on (K ≤ this); the file's order, first K
HOLDOUT_IDENTITIES = 72  # fixed identities never trained on: every run's open-set verification uses them all
SAMPLES_PER_IDENTITY = 80  # samples drawn per identity (training identities are then split train/test)
CACHE_ENV = "MARGIN_LAB_CACHE"
SAMPLES_VERSION = 1  # bump when the jitter changes: it names the cache files
SIZE_PX = 28

# Jitter ranges. Rotation ±12° as t = tan(θ/2): tan(6°) typed out, so no platform's tan is ever called.
_MAX_HALF_TAN = 0.10510423526567646
_SCALE = (0.88, 1.12)  # overall size
_ASPECT = (0.92, 1.08)  # width / height, around 1
_SHEAR = (-0.15, 0.15)
_SHIFT_PX = (-2.0, 2.0)
_THICKEN_ONE_IN = 4
_DRAWS_PER_SAMPLE = 8  # face, t, scale, aspect, shear, dx, dy, stroke: one raw 64-bit word each
_CHUNK = 4096  # samples warped at once (bounds the temporary arrays to a few tens of MB)


class GlyphTable(NamedTuple):
    """The shipped renderings: bitmaps[identity, face] (28×28 uint8), identities in the fixed order."""

    codepoints: np.ndarray  # (N,) int32
    bitmaps: np.ndarray  # (N, faces, 28, 28) uint8
    faces: tuple[str, ...]
    num_holdout: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{chr(c)} U+{c:04X}" for c in self.codepoints)


# --------------------------------------------------------------------------------------------------------
# .npz files without pickle


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read with allow_pickle=False (an object array is an error, never code)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def write_npz(target: str | os.PathLike | BinaryIO, arrays: dict[str, np.ndarray], *, compress: bool = True) -> None:
    """Write arrays as an .npz (deflated unless compress=False) whose zip entries carry a fixed date, so the same
    arrays give the same bytes (with the same zlib). A path is written through a temporary file and renamed, so
    no reader ever sees half a file."""
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as f:
                write_npz(f, arrays, compress=compress)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(target, "w", compression=method) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


# --------------------------------------------------------------------------------------------------------
# The shipped renderings


@functools.lru_cache(maxsize=1)
def glyph_table(path: str | os.PathLike = GLYPH_FILE) -> GlyphTable:
    """The renderings file, checked: its sha256 (the shipped file only), its arrays' shapes and the identity counts
    the constants promise. DatasetError (one sentence naming the file) when anything is off."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err}); it ships with toy_models, so "
                           f"reinstall it or rebuild the file with python -m toy_models.glyph_build") from err
    if path == GLYPH_FILE and hashlib.sha256(data).hexdigest() != GLYPH_FILE_SHA256:
        raise DatasetError(f"{path}: its sha256 is not the one this version ships ({GLYPH_FILE_SHA256[:12]}…), "
                           f"so it is damaged or from another version; reinstall toy_models")
    try:
        arrays = read_npz(io.BytesIO(data))
        codepoints, bitmaps = arrays["codepoints"], arrays["bitmaps"]
        faces, num_holdout = tuple(str(f) for f in arrays["faces"]), int(arrays["num_holdout"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"{path}: not a readable glyph file ({err}); rebuild it with "
                           f"python -m toy_models.glyph_build") from err
    count = len(codepoints)
    if bitmaps.dtype != np.uint8 or bitmaps.shape != (count, len(faces), SIZE_PX, SIZE_PX):
        raise DatasetError(f"{path}: bitmaps are {bitmaps.dtype} {bitmaps.shape}, expected uint8 "
                           f"({count}, {len(faces)}, {SIZE_PX}, {SIZE_PX})")
    if (count - num_holdout, num_holdout) != (TRAIN_IDENTITIES, HOLDOUT_IDENTITIES):
        raise DatasetError(f"{path}: holds {count - num_holdout} training and {num_holdout} held-out identities, "
                           f"expected {TRAIN_IDENTITIES} and {HOLDOUT_IDENTITIES}")
    codepoints.setflags(write=False)
    bitmaps.setflags(write=False)
    return GlyphTable(codepoints, bitmaps, faces, num_holdout)


# --------------------------------------------------------------------------------------------------------
# The jitter: integers from PCG64's raw words, float64 with + − × ÷ only, floor and rint.


def _unit(words: np.ndarray) -> np.ndarray:
    """Uniform doubles in [0, 1) from raw 64-bit words: the top 53 bits times 2⁻⁵³ (exact)."""
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _between(words: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    low, high = bounds
    return low + (high - low) * _unit(words)


def _draws(seed: int, codepoint: int, count: int) -> np.ndarray:
    """(count, 8) raw words for one identity's samples: its own stream, whatever else is generated."""
    bits = np.random.PCG64(np.random.SeedSequence([int(seed), int(codepoint), SAMPLES_VERSION]))
    return bits.random_raw(count * _DRAWS_PER_SAMPLE).reshape(count, _DRAWS_PER_SAMPLE)


def _inverse_maps(words: np.ndarray) -> np.ndarray:
    """(n, 2, 3): for each sample, the map from an output pixel (relative to the centre) to the source pixel it
    reads: the inverse of rotate · shear · scale, then the shift."""
    t = _between(words[:, 1], (-_MAX_HALF_TAN, _MAX_HALF_TAN))
    cos, sin = (1.0 - t * t) / (1.0 + t * t), (2.0 * t) / (1.0 + t * t)
    scale, aspect = _between(words[:, 2], _SCALE), _between(words[:, 3], _ASPECT)
    scale_x, scale_y = scale * aspect, scale / aspect
    shear = _between(words[:, 4], _SHEAR)
    shift_x, shift_y = _between(words[:, 5], _SHIFT_PX), _between(words[:, 6], _SHIFT_PX)
    # forward A = R · [[1, h], [0, 1]] · diag(sx, sy); inverse = diag(1/sx, 1/sy) · [[1, −h], [0, 1]] · Rᵀ
    a = (cos + shear * sin) / scale_x
    b = (sin - shear * cos) / scale_x
    c = -sin / scale_y
    d = cos / scale_y
    maps = np.empty((len(words), 2, 3))
    maps[:, 0, 0], maps[:, 0, 1] = a, b
    maps[:, 1, 0], maps[:, 1, 1] = c, d
    maps[:, 0, 2] = -(a * shift_x + b * shift_y)
    maps[:, 1, 2] = -(c * shift_x + d * shift_y)
    return maps


def _warp(padded: np.ndarray, sources: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Bilinear samples of padded[sources] (zero outside the bitmap) through maps: (n, 28, 28) uint8."""
    centre = (SIZE_PX - 1) / 2
    grid = np.arange(SIZE_PX, dtype=np.float64) - centre
    out_y, out_x = grid[None, :, None], grid[None, None, :]
    a, b, tx = (maps[:, 0, k][:, None, None] for k in range(3))
    c, d, ty = (maps[:, 1, k][:, None, None] for k in range(3))
    # Clipped to one pixel beyond the bitmap, where the padding is zero, so far-away reads are zero too.
    x = np.clip(a * out_x + b * out_y + tx + centre, -1.0, float(SIZE_PX))
    y = np.clip(c * out_x + d * out_y + ty + centre, -1.0, float(SIZE_PX))
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    side = SIZE_PX + 4  # two zero pixels on each side
    flat = (sources[:, None, None] * (side * side) + (y0.astype(np.int64) + 2) * side + (x0.astype(np.int64) + 2))
    p00, p01 = padded[flat], padded[flat + 1]
    p10, p11 = padded[flat + side], padded[flat + side + 1]
    value = (1.0 - fy) * ((1.0 - fx) * p00 + fx * p01) + fy * ((1.0 - fx) * p10 + fx * p11)
    return np.clip(np.rint(value), 0, 255).astype(np.uint8)


def _thicken(images: np.ndarray, words: np.ndarray) -> None:
    """In place: one sample in _THICKEN_ONE_IN gets its strokes 1 pixel thicker (the max with a copy shifted one
    pixel right, left, down or up)."""
    chosen = np.flatnonzero(words % np.uint64(_THICKEN_ONE_IN) == 0)
    direction = (words[chosen] // np.uint64(_THICKEN_ONE_IN)) % np.uint64(4)
    for way, (axis, step) in enumerate(((2, 1), (2, -1), (1, 1), (1, -1))):
        rows = chosen[direction == way]
        shifted = np.roll(images[rows], step, axis=axis)
        edge = 0 if step == 1 else -1
        if axis == 2:
            shifted[:, :, edge] = 0
        else:
            shifted[:, edge, :] = 0
        images[rows] = np.maximum(images[rows], shifted)


def jitter_samples(table: GlyphTable, identities: np.ndarray, per_identity: int, seed: int) -> np.ndarray:
    """(len(identities) · per_identity, 28, 28) uint8: per_identity jittered samples of each identity (indices into
    the table), identity by identity. An identity's samples depend on the seed and its code point only."""
    identities = np.asarray(identities, dtype=np.int64)
    faces = len(table.faces)
    words = np.concatenate([_draws(seed, table.codepoints[i], per_identity) for i in identities]) if len(
        identities) else np.zeros((0, _DRAWS_PER_SAMPLE), np.uint64)
    sources = np.repeat(identities, per_identity) * faces + (words[:, 0] % np.uint64(faces)).astype(np.int64)
    padded = np.pad(table.bitmaps.reshape(-1, SIZE_PX, SIZE_PX), ((0, 0), (2, 2), (2, 2))).ravel()  # uint8
    maps = _inverse_maps(words)
    images = np.empty((len(words), SIZE_PX, SIZE_PX), np.uint8)
    for start in range(0, len(words), _CHUNK):
        part = slice(start, start + _CHUNK)
        images[part] = _warp(padded, sources[part], maps[part])
    _thicken(images, words[:, 7])
    return images


# --------------------------------------------------------------------------------------------------------
# Every identity's samples for one seed, cached on disk


def cache_dir() -> Path:
    """Where generated samples are kept: $MARGIN_LAB_CACHE, else cache/ in $MARGIN_LAB_HOME (~/.margin-lab)."""
    home = os.environ.get("MARGIN_LAB_HOME") or Path.home() / ".margin-lab"
    return Path(os.environ.get(CACHE_ENV) or Path(home) / "cache").expanduser()


def _digest(images: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast("B")).hexdigest()


def _cache_path(seed: int, per_identity: int) -> Path:
    return cache_dir() / f"glyphs-v{SAMPLES_VERSION}-{GLYPH_FILE_SHA256[:12]}-seed{seed}-n{per_identity}.npz"


def _read_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached images, or None when the file is missing; a bad file is named in a warning and ignored."""
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path)
        images, digest = arrays["images"], str(arrays["sha256"])
        problem = (f"holds {images.dtype} {images.shape}, expected uint8 {shape}"
                   if images.dtype != np.uint8 or images.shape != shape
                   else "fails its checksum" if _digest(images) != digest else "")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        problem = f"cannot be read ({err})"
    if problem:
        warnings.warn(f"glyph cache {path} {problem}: rebuilding it", RuntimeWarning, stacklevel=3)
        return None
    return images


def _write_cache(path: Path, images: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, {"images": images, "sha256": np.array(_digest(images))}, compress=False)  # fast to read
    except OSError as err:  # a read-only home still trains: the samples stay in memory
        warnings.warn(f"glyph cache {path} could not be written ({err.strerror or err}): the samples are "
                      f"generated again next time", RuntimeWarning, stacklevel=3)


@functools.lru_cache(maxsize=2)
def all_samples(seed: int, per_identity: int = SAMPLES_PER_IDENTITY) -> np.ndarray:
    """(identities, per_identity, 28, 28) uint8 for every identity of the table: from the disk cache when it is
    there and sound, else generated (and cached). Read-only: shared by every caller."""
    table = glyph_table()
    shape = (len(table.codepoints), per_identity, SIZE_PX, SIZE_PX)
    path = _cache_path(seed, per_identity)
    images = _read_cache(path, shape)
    if images is None:
        images = jitter_samples(table, np.arange(len(table.codepoints)), per_identity, seed).reshape(shape)
        _write_cache(path, images)
    images.setflags(write=False)
    return images


def glyph_pool(seed: int, train_identities: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[int, ...]]:
    """(images (n, 28, 28) uint8, labels, class names, held-out classes) for load_dataset.

    Classes 0..K−1 are the first K training identities, K..K+H−1 the H fixed held-out identities.
    """
    if isinstance(train_identities, bool) or not isinstance(train_identities, (int, np.integer)) or not (
            2 <= train_identities <= TRAIN_IDENTITIES):
        raise DatasetError(f"train_identities={train_identities!r} is out of range: glyphs has 2–"
                           f"{TRAIN_IDENTITIES} training identities (and {HOLDOUT_IDENTITIES} held out)")
    table = glyph_table()
    chosen = np.r_[np.arange(train_identities), np.arange(TRAIN_IDENTITIES, TRAIN_IDENTITIES + HOLDOUT_IDENTITIES)]
    samples = all_samples(seed)[chosen]
    per_identity = samples.shape[1]
    labels = np.repeat(np.arange(len(chosen), dtype=np.int64), per_identity)
    names = table.names
    held = tuple(range(train_identities, len(chosen)))
    return samples.reshape(-1, SIZE_PX, SIZE_PX), labels, tuple(names[i] for i in chosen), held
