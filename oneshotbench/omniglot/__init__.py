"""Omniglot source layer: find the two release archives, verify them, decode once, cache.

The generator needs all 32,460 Omniglot drawings (1,623 characters x 20 drawers, 105 x 105
binary) as one array. Decoding the PNGs takes seconds, so it happens once per source; the
result is stored under ``cache_root()/glyphs`` in a content-addressed, versioned cache that
every later start maps into memory without reading it.

Verification is paid once per file state, not once per start: a source's full identity (the
zips' SHA-256) and the cache array's hash are recomputed only when a file's stamp (size,
modification time, inode, device) differs from the one recorded when it was last verified. So a
replaced, modified, truncated or merely touched file is re-hashed on the next start (and
accepted if its content is unchanged); a change that keeps every stamp field (possible only by
deliberately resetting the modification time) is caught by ``oneshotbench data verify``, which
always re-hashes (``rehash=True``).

What counts as "the real Omniglot" is the pixel content, not the packaging: any copy whose
decoded bitmaps hash to :data:`CANONICAL_FINGERPRINT` is accepted (the canonical zips, a
repackaged copy, or extracted folders); anything else is rejected with a precise error.

Modules, bottom up: :mod:`.glyphset` (the decoded array and its fingerprint), :mod:`.layout`
(pure decoding: knows no files), :mod:`.sources` (zip and folder readers), :mod:`.glyph_cache`
and :mod:`.load` (the entry points, with the download). The names below are the public API.
"""

from oneshotbench.omniglot.glyph_cache import FORMAT_VERSION, cached_glyphs
from oneshotbench.omniglot.glyphset import (
    CANONICAL_FINGERPRINT,
    N_DRAWERS,
    SIZE,
    GlyphSet,
    content_fingerprint,
    make_glyphset,
    synthetic_glyphs,
)
from oneshotbench.omniglot.layout import (
    OMNIGLOT_ALPHABETS,
    SETS,
    CharacterFiles,
    check_layout,
    decode_png,
    plan_set,
)
from oneshotbench.omniglot.load import (
    CANONICAL_ARCHIVES,
    OMNIGLOT_ENV,
    RELEASE_URL,
    fetch_release,
    load_glyphs,
    load_omniglot,
)
from oneshotbench.omniglot.sources import DirSet, SetSource, ZipSet, decode_sets, resolve_sets

__all__ = [
    "CANONICAL_ARCHIVES",
    "CANONICAL_FINGERPRINT",
    "FORMAT_VERSION",
    "N_DRAWERS",
    "OMNIGLOT_ALPHABETS",
    "OMNIGLOT_ENV",
    "RELEASE_URL",
    "SETS",
    "SIZE",
    "CharacterFiles",
    "DirSet",
    "GlyphSet",
    "SetSource",
    "ZipSet",
    "cached_glyphs",
    "check_layout",
    "content_fingerprint",
    "decode_png",
    "decode_sets",
    "fetch_release",
    "load_glyphs",
    "load_omniglot",
    "make_glyphset",
    "plan_set",
    "resolve_sets",
    "synthetic_glyphs",
]
