"""Glyph cache: content-addressed decoded arrays, plus a record per source of what it decodes to.

Every later start maps the array into memory instead of decoding 32,460 PNGs; the pixels are
re-hashed whenever the array's stamp differs from the one recorded at its last check.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oneshotbench.cache import CACHE_ENV, atomic_path, cache_root
from oneshotbench.errors import DataError
from oneshotbench.omniglot.glyphset import GlyphSet, make_glyphset
from oneshotbench.omniglot.sources import file_stamp

#: Bump whenever the decoded array or the cache layout changes meaning.
FORMAT_VERSION = 1


class _CorruptCache(Exception):
    """A cache file exists but cannot be trusted; callers warn and rebuild it."""


def _glyph_dir() -> Path:
    return cache_root() / "glyphs"


def _glyph_files(fingerprint: str) -> tuple[Path, Path]:
    stem = _glyph_dir() / f"v{FORMAT_VERSION}-{fingerprint[:16]}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def _verified_stamp(array_path: Path) -> Path:
    """Where the stamp of the cache array, as it was when last hashed, is kept."""
    return array_path.with_suffix(".verified")


def source_record(key: str, kind: str = "sources") -> Path:
    """What a source decodes to: ``sources/`` by content key, ``stamps/`` by file stamps."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return _glyph_dir() / kind / f"v{FORMAT_VERSION}-{digest}.json"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise _CorruptCache(f"{path} is unreadable: {err}") from err
    if not isinstance(value, dict) or value.get("format") != FORMAT_VERSION:
        raise _CorruptCache(f"{path} is not a format-{FORMAT_VERSION} cache record")
    return value


def _write(path: Path, write: Callable[[Path], None]) -> None:
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as err:
        raise DataError(
            f"cannot write the glyph cache {path} ({err.strerror or err}); set "
            f"{CACHE_ENV} to a writable folder"
        ) from err


def _warn_rebuild(err: _CorruptCache) -> None:
    warnings.warn(f"{err}; rebuilding the glyph cache from the Omniglot source", stacklevel=4)


def _structure_digest(structure: dict) -> str:
    return hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()


def _read_glyph_cache(fingerprint: str, *, rehash: bool = False) -> GlyphSet | None:
    """The cached GlyphSet with this fingerprint, memory-mapped; None if absent.

    The names and counts are checked against their own digest on every read; the pixels
    against the fingerprint whenever the array's stamp differs from the one recorded at its last
    check (or with ``rehash``), so no corruption of either file goes unnoticed.
    """
    array_path, meta_path = _glyph_files(fingerprint)
    if not meta_path.exists():
        return None
    meta = _read_json(meta_path)
    structure = meta.get("structure")
    if not isinstance(structure, dict) or meta.get("structure_sha256") != _structure_digest(
        structure
    ):
        raise _CorruptCache(f"glyph cache sidecar {meta_path} is corrupt")
    if meta.get("fingerprint") != fingerprint:
        raise _CorruptCache(f"glyph cache sidecar {meta_path} names another fingerprint")
    stamp_path = _verified_stamp(array_path)
    try:
        stamp: str | None = file_stamp(array_path)
    except DataError:
        stamp = None
    try:
        trusted = stamp is not None and not rehash and stamp_path.read_text() == stamp
    except OSError:
        trusted = False
    try:
        # Mapped, not read: a start touches only the pages of the glyphs it draws.
        packed = np.load(array_path, mmap_mode="r", allow_pickle=False)
        glyphs = make_glyphset(packed, **structure, fingerprint=fingerprint if trusted else None)
    except (OSError, EOFError, ValueError, DataError) as err:  # unreadable, truncated, misshapen
        raise _CorruptCache(f"glyph cache {array_path} is corrupt or truncated: {err}") from err
    if glyphs.fingerprint != fingerprint:
        raise _CorruptCache(
            f"glyph cache {array_path} hashes to {glyphs.fingerprint}, expected {fingerprint}"
        )
    if not trusted and stamp is not None:
        _write(stamp_path, lambda tmp: tmp.write_text(stamp))
    return glyphs


def cached_glyphs(fingerprint: str, *, rehash: bool = False) -> GlyphSet | None:
    """The verified cached GlyphSet with this fingerprint, or None (warning if it was corrupt)."""
    try:
        return _read_glyph_cache(fingerprint, rehash=rehash)
    except _CorruptCache as err:
        _warn_rebuild(err)
        return None


def write_glyph_cache(glyphs: GlyphSet) -> None:
    array_path, meta_path = _glyph_files(glyphs.fingerprint)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a file object, so numpy adds no ".npy" to the temp name
            np.save(file, glyphs.packed, allow_pickle=False)

    structure = {
        "alphabets": list(glyphs.alphabets),
        "char_alphabet": glyphs.char_alphabet.tolist(),
        "char_names": list(glyphs.char_names),
        "n_background": glyphs.n_background,
        "n_background_alphabets": glyphs.n_background_alphabets,
    }
    meta = {
        "format": FORMAT_VERSION,
        "fingerprint": glyphs.fingerprint,
        "structure": structure,
        "structure_sha256": _structure_digest(structure),
    }
    _write(array_path, save)  # the sidecar goes last: it is what makes the entry visible
    stamp = file_stamp(array_path)  # just written from hashed pixels: verified
    _write(_verified_stamp(array_path), lambda tmp: tmp.write_text(stamp))
    _write(meta_path, lambda tmp: tmp.write_text(json.dumps(meta)))


def recorded_fingerprint(record: Path) -> str | None:
    """What this source decoded to last time, or None if it was never decoded."""
    if not record.exists():
        return None
    try:
        fingerprint = _read_json(record).get("fingerprint")
        if not isinstance(fingerprint, str):
            raise _CorruptCache(f"{record} records no fingerprint")
    except _CorruptCache as err:
        _warn_rebuild(err)
        return None
    return fingerprint


def write_record(path: Path, entry: dict) -> None:
    """Write a source record (what a source decodes to), unless it already says exactly that."""
    text = json.dumps(entry)
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    _write(path, lambda tmp: tmp.write_text(text))
