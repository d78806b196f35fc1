"""Builds toy_models/data_files/glyphs.npz, the glyph renderings behind the ``glyphs`` dataset.

    python -m toy_models.glyph_build            # rewrites the file and prints its sha256
    python -m toy_models.glyph_build --check    # rebuilds in memory and says whether the shipped file matches

A developer tool, not a runtime one: it needs matplotlib (requirements-dev.txt), whose package data ships the
DejaVu and STIX faces and whose ft2font module is a FreeType renderer. Using only those faces (never the
system's) makes the file the same on every machine with the same matplotlib; the app itself only reads the
finished file, so matplotlib is not a runtime dependency. What it does:

1. Candidates: every letter, digit, symbol or punctuation code point that all :data:`FACES` have.
2. Each one drawn in each face by FreeType (anti-aliased, unhinted) at a fixed 24-pixel em, so that sizes stay
   comparable (``o`` is smaller than ``O``); a glyph wider or taller than 22 pixels is drawn smaller until it
   fits. The ink's bounding box is centred in a 28×28 canvas, as MNIST centres its digits.
3. Dropped: glyphs under 10 pixels tall and wide in some face (dots, quotes, accents alone: after jitter they
   are nearly all alike).
4. Look-alikes dropped: two glyphs are alike when their renderings, blurred by 1 pixel, have a mean cosine
   similarity (face by face, over all faces) of at least :data:`LOOKALIKE_SIMILARITY`. Walking the code points in
   order, a glyph is kept unless it is alike to one already kept, so Latin ``O`` stays and Greek ``Ο`` and
   Cyrillic ``О`` go. At 0.90, ``é``/``è`` (0.96) and ``l``/``I`` (0.95) count as alike; ``O``/``0`` (0.77) and
   ``I``/``1`` (0.88) do not.
5. A fixed order: the kept glyphs shuffled with :data:`ORDER_SEED`; the last fifth are the held-out identities
   (never trained on), the rest the training identities in the order the loader takes them (the first K).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import unicodedata
from pathlib import Path

import numpy as np

from .glyphs import read_npz, write_npz

FACES = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
)  # fmt: skip
CANVAS_PX = 28
EM_PX = 24
MAX_GLYPH_PX = 22
MIN_GLYPH_PX = 10
INK_LEVEL = 32  # a pixel counts as ink from this grey level on (of 255), for the size rule
LOOKALIKE_SIMILARITY = 0.90
LOOKALIKE_BLUR_PX = 1.0
HOLDOUT_FRACTION = 0.2
ORDER_SEED = 17
FORMAT_VERSION = 1
OUTPUT = Path(__file__).resolve().parent / "data_files" / "glyphs.npz"


def _fonts() -> list:
    try:
        import matplotlib
        from matplotlib.ft2font import FT2Font
    except ImportError as err:  # a developer tool: say what is missing in one sentence
        raise SystemExit(f"glyph_build needs matplotlib (pip install -r requirements-dev.txt): {err}") from err
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [FT2Font(str(folder / f"{face}.ttf")) for face in FACES]


def _ink(font, char: str, size_px: float) -> np.ndarray | None:
    """The glyph's anti-aliased bitmap cropped to its ink, or None when it draws nothing."""
    from matplotlib.ft2font import LoadFlags

    font.set_size(size_px, 72)  # 72 dpi: one point is one pixel
    font.set_text(char, 0.0, flags=LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    image = np.asarray(font.get_image())
    rows, cols = np.nonzero(image)
    if not len(rows):
        return None
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def render(font, char: str) -> np.ndarray | None:
    """(28, 28) uint8: the glyph at EM_PX (smaller if it would not fit MAX_GLYPH_PX), its ink centred."""
    size = float(EM_PX)
    glyph = _ink(font, char, size)
    while glyph is not None and max(glyph.shape) > MAX_GLYPH_PX:
        size *= 0.97 * MAX_GLYPH_PX / max(glyph.shape)
        glyph = _ink(font, char, size)
    if glyph is None:
        return None
    canvas = np.zeros((CANVAS_PX, CANVAS_PX), np.uint8)
    top, left = (CANVAS_PX - glyph.shape[0]) // 2, (CANVAS_PX - glyph.shape[1]) // 2
    canvas[top:top + glyph.shape[0], left:left + glyph.shape[1]] = glyph
    return canvas


def _extent_px(bitmap: np.ndarray) -> int:
    rows, cols = np.nonzero(bitmap >= INK_LEVEL)
    return 0 if not len(rows) else int(max(np.ptp(rows), np.ptp(cols)) + 1)


def similarity(bitmaps: np.ndarray) -> np.ndarray:
    """(N, N): mean over faces of the cosine similarity of two glyphs' blurred renderings in that face."""
    from scipy.ndimage import gaussian_filter  # scipy comes with scikit-learn

    count, faces = bitmaps.shape[:2]
    blurred = gaussian_filter(bitmaps.astype(np.float64) / 255, sigma=(0, 0, LOOKALIKE_BLUR_PX, LOOKALIKE_BLUR_PX))
    vectors = blurred.reshape(count, faces, -1)
    vectors /= np.linalg.norm(vectors, axis=2, keepdims=True)
    return np.einsum("ifd,jfd->ij", vectors, vectors) / faces


def build() -> dict[str, np.ndarray]:
    """The arrays of glyphs.npz (see the module docstring for each step)."""
    import matplotlib
    from matplotlib import ft2font

    fonts = _fonts()
    common = set.intersection(*(set(font.get_charmap()) for font in fonts))
    candidates = sorted(c for c in common if unicodedata.category(chr(c))[0] in "LNSP")
    drawn, codepoints = [], []
    for code in candidates:
        bitmaps = [render(font, chr(code)) for font in fonts]
        if any(b is None or _extent_px(b) < MIN_GLYPH_PX for b in bitmaps):
            continue
        drawn.append(np.stack(bitmaps))
        codepoints.append(code)
    bitmaps = np.stack(drawn)
    alike = similarity(bitmaps) >= LOOKALIKE_SIMILARITY
    kept: list[int] = []
    for i in range(len(codepoints)):  # code-point order: the first of a family of look-alikes stays
        if not alike[i, kept].any():
            kept.append(i)
    order = np.array(kept)[np.random.default_rng(ORDER_SEED).permutation(len(kept))]
    return {
        "format_version": np.array(FORMAT_VERSION, np.int32),
        "codepoints": np.array(codepoints, np.int32)[order],
        "bitmaps": bitmaps[order],  # (identities, faces, 28, 28) uint8
        "num_holdout": np.array(round(HOLDOUT_FRACTION * len(order)), np.int32),
        "faces": np.array(FACES),
        "candidates": np.array(len(candidates), np.int32),
        "freetype_version": np.array(ft2font.__freetype_version__),
        "matplotlib_version": np.array(matplotlib.__version__),
    }


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The .npz file's bytes (deflated; zip entries dated 1980-01-01, so the same arrays and zlib give the
    same bytes)."""
    buffer = io.BytesIO()
    write_npz(buffer, arrays)
    return buffer.getvalue()


def same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Whether two builds hold equal arrays (bytes may differ with another zlib; the arrays may not)."""
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toy_models.glyph_build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="rebuild in memory and compare with the shipped file")
    args = parser.parse_args(argv)
    arrays = build()
    data = to_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    summary = (f"{len(arrays['codepoints'])} identities ({int(arrays['num_holdout'])} held out) of "
               f"{int(arrays['candidates'])} candidates x {len(FACES)} faces, {len(data) / 1e6:.2f} MB, "
               f"sha256 {digest}")
    if args.check:
        same = OUTPUT.is_file() and same_arrays(arrays, read_npz(OUTPUT))
        print(("matches" if same else "DIFFERS from") + f" {OUTPUT}: {summary}")
        return 0 if same else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
