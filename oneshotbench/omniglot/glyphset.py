"""The decoded glyph source: every Omniglot drawing as one bit-packed array with its names.

Everything above the source layer (the generator, the splits) sees only a :class:`GlyphSet`;
its fingerprint (the SHA-256 of the pixels) is what "the real Omniglot" means.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: sha256 of ``GlyphSet.packed.tobytes()`` for the complete, unmodified Omniglot.
CANONICAL_FINGERPRINT = "43f3e5e604f5d4ba93a120ae07a0525c7b3513d558c5952e9e531bc7fc798ce3"
SIZE = 105
N_DRAWERS = 20
PACKED_WIDTH = (SIZE + 7) // 8


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: compare fingerprints
class GlyphSet:
    """All drawings of a glyph source, bit-packed, in the original's sorted order.

    ``packed[c, d]`` is drawer ``d`` (file ``_{d+1:02d}``) of character ``c``, packed along x
    with :func:`numpy.packbits`; a set bit is a stroke (black in the PNG). Characters are in
    alphabet-major order: background alphabets first, then evaluation alphabets, each sorted.
    """

    packed: np.ndarray
    alphabets: tuple[str, ...]
    char_alphabet: np.ndarray
    char_names: tuple[str, ...]
    n_background: int
    n_background_alphabets: int
    fingerprint: str

    def __post_init__(self) -> None:
        n_chars = self.packed.shape[0]
        if (
            self.packed.dtype != np.uint8
            or self.packed.shape[1:] != (N_DRAWERS, SIZE, PACKED_WIDTH)
            or not self.packed.flags.c_contiguous
        ):
            raise ValueError(
                f"packed must be C-contiguous uint8 [n, 20, 105, 14], got {self.packed.shape}"
            )
        if self.char_alphabet.shape != (n_chars,) or len(self.char_names) != n_chars:
            raise ValueError("char_alphabet and char_names must have one entry per character")
        if not 0 <= self.n_background <= n_chars:
            raise ValueError(f"n_background={self.n_background} is outside 0..{n_chars}")

    def bitmap(self, char: int, drawer: int) -> np.ndarray:
        """Stroke mask of one drawing: bool [105, 105], row = y; ``drawer`` is 0..19."""
        return np.unpackbits(self.packed[char, drawer], axis=-1, count=SIZE).view(bool)


def make_glyphset(
    packed: np.ndarray,
    alphabets: Sequence[str],
    char_alphabet: Sequence[int] | np.ndarray,
    char_names: Sequence[str],
    n_background: int,
    n_background_alphabets: int,
    *,
    fingerprint: str | None = None,
) -> GlyphSet:
    """Build a read-only :class:`GlyphSet`; its fingerprint is computed from the packed bytes
    unless the caller has verified them already and passes it."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    packed.flags.writeable = False
    char_alphabet = np.asarray(char_alphabet, dtype=np.int16)
    char_alphabet.flags.writeable = False
    return GlyphSet(
        packed=packed,
        alphabets=tuple(alphabets),
        char_alphabet=char_alphabet,
        char_names=tuple(char_names),
        n_background=int(n_background),
        n_background_alphabets=int(n_background_alphabets),
        fingerprint=fingerprint or content_fingerprint(packed),
    )


def content_fingerprint(packed: np.ndarray) -> str:
    """sha256 of the packed bitmaps: identifies the pixels, whatever the packaging."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(packed)).cast("B")).hexdigest()


def synthetic_glyphs(
    n_background_alphabets: int = 3,
    n_evaluation_alphabets: int = 4,
    chars_per_alphabet: int = 3,
    seed: int = 0,
) -> GlyphSet:
    """Tiny random stroke-like glyphs with Omniglot's structure, for tests without real data.

    Each character is a random polyline; its 20 drawers are jittered copies of it, as if drawn
    by 20 people. Alphabets are ``Synthetic_background_NN`` then ``Synthetic_evaluation_NN``.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    alphabets = [f"Synthetic_background_{i:02d}" for i in range(n_background_alphabets)]
    alphabets += [f"Synthetic_evaluation_{i:02d}" for i in range(n_evaluation_alphabets)]
    char_alphabet = np.repeat(np.arange(len(alphabets)), chars_per_alphabet)
    packed = np.empty((len(char_alphabet), N_DRAWERS, SIZE, PACKED_WIDTH), np.uint8)
    for char in range(len(char_alphabet)):
        skeleton = rng.uniform(20, SIZE - 20, size=(int(rng.integers(3, 7)), 2))
        for drawer in range(N_DRAWERS):
            points = skeleton + rng.normal(0.0, 2.5, size=skeleton.shape)
            image = Image.new("1", (SIZE, SIZE), 0)
            ImageDraw.Draw(image).line(
                [(float(x), float(y)) for x, y in points], fill=1, width=3, joint="curve"
            )
            packed[char, drawer] = np.packbits(np.asarray(image), axis=-1)
    char_names = [
        f"{alphabets[alphabet]}/character{k + 1:02d}"
        for alphabet in range(len(alphabets))
        for k in range(chars_per_alphabet)
    ]
    return make_glyphset(
        packed,
        alphabets,
        char_alphabet,
        char_names,
        n_background_alphabets * chars_per_alphabet,
        n_background_alphabets,
    )
