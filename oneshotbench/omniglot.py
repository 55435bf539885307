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

Layers: pure decoding (:func:`decode_png`, :func:`plan_set`, :func:`check_layout`) knows no
files; the set readers, the glyph cache and the download form the thin I/O shell around it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from oneshotbench.cache import CACHE_ENV, atomic_path, cache_root
from oneshotbench.errors import DataError

OMNIGLOT_ENV = "ONESHOTBENCH_OMNIGLOT"
#: sha256 of ``GlyphSet.packed.tobytes()`` for the complete, unmodified Omniglot.
CANONICAL_FINGERPRINT = "43f3e5e604f5d4ba93a120ae07a0525c7b3513d558c5952e9e531bc7fc798ce3"
#: Bump whenever the decoded array or the cache layout changes meaning.
FORMAT_VERSION = 1

SIZE = 105
N_DRAWERS = 20
PACKED_WIDTH = (SIZE + 7) // 8
SETS = ("images_background", "images_evaluation")
RELEASE_URL = "https://github.com/brendenlake/omniglot"
CANONICAL_ARCHIVES = {  # set -> (url, md5) of the canonical release zips
    "images_background": (
        f"{RELEASE_URL}/raw/master/python/images_background.zip",
        "68d2efa1b9178cc56df9314c21c6e718",
    ),
    "images_evaluation": (
        f"{RELEASE_URL}/raw/master/python/images_evaluation.zip",
        "6b91aef0f799c5bb55b94e3f2daec811",
    ),
}

#: set -> alphabet -> number of characters, as in the canonical release.
OMNIGLOT_ALPHABETS: Mapping[str, Mapping[str, int]] = {
    "images_background": {
        "Alphabet_of_the_Magi": 20,
        "Anglo-Saxon_Futhorc": 29,
        "Arcadian": 26,
        "Armenian": 41,
        "Asomtavruli_(Georgian)": 40,
        "Balinese": 24,
        "Bengali": 46,
        "Blackfoot_(Canadian_Aboriginal_Syllabics)": 14,
        "Braille": 26,
        "Burmese_(Myanmar)": 34,
        "Cyrillic": 33,
        "Early_Aramaic": 22,
        "Futurama": 26,
        "Grantha": 43,
        "Greek": 24,
        "Gujarati": 48,
        "Hebrew": 22,
        "Inuktitut_(Canadian_Aboriginal_Syllabics)": 16,
        "Japanese_(hiragana)": 52,
        "Japanese_(katakana)": 47,
        "Korean": 40,
        "Latin": 26,
        "Malay_(Jawi_-_Arabic)": 40,
        "Mkhedruli_(Georgian)": 41,
        "N_Ko": 33,
        "Ojibwe_(Canadian_Aboriginal_Syllabics)": 14,
        "Sanskrit": 42,
        "Syriac_(Estrangelo)": 23,
        "Tagalog": 17,
        "Tifinagh": 55,
    },
    "images_evaluation": {
        "Angelic": 20,
        "Atemayar_Qelisayer": 26,
        "Atlantean": 26,
        "Aurek-Besh": 26,
        "Avesta": 26,
        "Ge_ez": 26,
        "Glagolitic": 45,
        "Gurmukhi": 45,
        "Kannada": 41,
        "Keble": 26,
        "Malayalam": 47,
        "Manipuri": 40,
        "Mongolian": 30,
        "Old_Church_Slavonic_(Cyrillic)": 45,
        "Oriya": 46,
        "Sylheti": 28,
        "Syriac_(Serto)": 23,
        "Tengwar": 25,
        "Tibetan": 42,
        "ULOG": 26,
    },
}

_DRAWER_FILE = re.compile(r"^\d+_(\d+)\.png$")


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


# --------------------------------------------------------------------------------------------
# Pure decoding: bytes -> bitmap, file listing -> ordered structure.


def decode_png(data: bytes, name: str) -> np.ndarray:
    """Stroke mask (bool [105, 105]) of one Omniglot PNG; ``name`` only labels errors.

    Equivalent to the original's convert('L') -> invert -> convert('1') for black-and-white
    images; grey levels are refused because dithering would make the result ambiguous.
    """
    from PIL import Image  # only when decoding: a start served by the glyph cache needs none

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (SIZE, SIZE):
                width, height = image.size
                raise DataError(f"{name} is {width}x{height} pixels; Omniglot images are 105x105")
            if image.mode == "1":
                return ~np.asarray(image)
            grey = np.asarray(image.convert("L"))
    except (OSError, SyntaxError, ValueError) as err:  # what PIL raises for broken images
        raise DataError(f"{name} is not a readable PNG image ({err})") from err
    if not np.isin(grey, (0, 255)).all():
        raise DataError(
            f"{name} has grey levels (PIL mode {image.mode!r}); Omniglot images are black-and-white"
        )
    return grey == 0


@dataclass(frozen=True)
class CharacterFiles:
    """One character folder: its alphabet, its name and its 20 drawer files in drawer order."""

    alphabet: str
    character: str
    files: tuple[str, ...]


def is_ignored(relpath: str) -> bool:
    """Hidden files and macOS archive debris (``__MACOSX/``, ``._x.png``) are not Omniglot."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relpath.split("/"))


def plan_set(label: str, relpaths: Iterable[str]) -> list[CharacterFiles]:
    """Order a set's PNG files as the original does, checking every character has 20 drawers.

    ``relpaths`` are ``<Alphabet>/<characterNN>/<id>_<drawer>.png`` relative to the set folder;
    other files are ignored. Alphabets and characters come in sorted order, files in drawer order.
    """
    folders: dict[tuple[str, str], dict[int, str]] = {}
    for rel in relpaths:
        if not rel.lower().endswith(".png") or is_ignored(rel):
            continue
        parts = rel.split("/")
        if len(parts) != 3:
            raise DataError(f"{label}: {rel} is not at <Alphabet>/<character>/<file>.png")
        match = _DRAWER_FILE.match(parts[2])
        if match is None:
            raise DataError(f"{label}: {rel} is not named <id>_<drawer>.png")
        drawers = folders.setdefault((parts[0], parts[1]), {})
        drawer = int(match.group(1))
        if drawer in drawers:
            raise DataError(f"{label}: {rel} and {drawers[drawer]} are both drawer {drawer:02d}")
        drawers[drawer] = rel
    if not folders:
        raise DataError(f"{label} holds no <Alphabet>/<character>/<file>.png images")
    wanted = set(range(1, N_DRAWERS + 1))
    plan = []
    for (alphabet, character), drawers in sorted(folders.items()):
        missing, extra = wanted - set(drawers), set(drawers) - wanted
        if missing or extra:
            problems = [f"missing drawer(s) {_numbers(missing)}"] if missing else []
            problems += [f"unexpected drawer(s) {_numbers(extra)}"] if extra else []
            raise DataError(
                f"{label}: {alphabet}/{character} has {'; '.join(problems)} (expected 01-20)"
            )
        plan.append(CharacterFiles(alphabet, character, tuple(drawers[d] for d in sorted(drawers))))
    return plan


def _numbers(values: Iterable[int]) -> str:
    return ", ".join(f"{value:02d}" for value in sorted(values))


def check_layout(label: str, plan: Sequence[CharacterFiles], expected: Mapping[str, int]) -> None:
    """Raise a DataError naming every alphabet that is missing, unexpected or incomplete."""
    found = Counter(char.alphabet for char in plan)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    problems = [f"missing {len(missing)} alphabet(s): {', '.join(missing)}"] if missing else []
    problems += [f"unexpected alphabet(s): {', '.join(extra)}"] if extra else []
    problems += [
        f"{alphabet} has {found[alphabet]} characters, expected {count}"
        for alphabet, count in sorted(expected.items())
        if alphabet in found and found[alphabet] != count
    ]
    if problems:
        raise DataError(
            f"{label} is not the complete Omniglot set ({len(expected)} alphabets, "
            f"{sum(expected.values())} characters): {'; '.join(problems)}"
        )


# --------------------------------------------------------------------------------------------
# Set readers: a zip archive or an extracted folder, each with a cheap identity key.


class SetSource(Protocol):
    """One of the two Omniglot sets, as a zip or a folder."""

    name: str
    label: str

    def key(self) -> str:
        """Identity of the source's content (may read every byte)."""
        ...

    def stamp(self) -> str:
        """Cheap identity of the source's files (no reading): changes whenever a file does."""
        ...

    def members(self) -> list[str]:
        """Relative paths ``<Alphabet>/<character>/<file>`` of everything in the set."""
        ...

    def read(self, relpath: str) -> bytes:
        """Bytes of one member."""
        ...


@dataclass(frozen=True)
class ZipSet:
    """A set stored as ``<set>.zip`` with entries under ``<set>/``; keyed by the zip's sha256."""

    name: str
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def _data(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as err:
            raise DataError(f"cannot read {self.path}: {err.strerror or err}") from err

    @cached_property
    def _zip(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(io.BytesIO(self._data))
        except zipfile.BadZipFile as err:
            raise DataError(
                f"{self.path} is not a valid zip archive (truncated or corrupt: {err}); "
                "replace it with a fresh copy"
            ) from err

    def key(self) -> str:
        return f"zip:{self.name}:{hashlib.sha256(self._data).hexdigest()}"

    def stamp(self) -> str:
        return f"zip:{self.name}:{self.path.resolve()}:{_file_stamp(self.path)}"

    def members(self) -> list[str]:
        prefix = f"{self.name}/"
        names = self._zip.namelist()
        return [n[len(prefix) :] for n in names if n.startswith(prefix) and not n.endswith("/")]

    def read(self, relpath: str) -> bytes:
        try:
            return self._zip.read(f"{self.name}/{relpath}")
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            raise DataError(
                f"{self.path} is corrupt or truncated: cannot extract {self.name}/{relpath} ({err})"
            ) from err


@dataclass(frozen=True)
class DirSet:
    """A set extracted to a folder; keyed by relative paths, sizes and mtimes (no reading)."""

    name: str
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def _stats(self) -> list[tuple[str, int, int]]:
        found = []
        for folder, dirs, files in os.walk(self.path):
            dirs.sort()
            rel_folder = Path(folder).relative_to(self.path).as_posix()
            for file in sorted(files):
                rel = file if rel_folder == "." else f"{rel_folder}/{file}"
                if is_ignored(rel):
                    continue
                stat = os.stat(os.path.join(folder, file))
                found.append((rel, stat.st_size, stat.st_mtime_ns))
        return found

    def key(self) -> str:
        return f"dir:{self.name}:{hashlib.sha256(json.dumps(self._stats).encode()).hexdigest()}"

    def stamp(self) -> str:
        return self.key()  # already made of sizes and times

    def members(self) -> list[str]:
        return [rel for rel, _, _ in self._stats]

    def read(self, relpath: str) -> bytes:
        try:
            return (self.path / relpath).read_bytes()
        except OSError as err:
            raise DataError(f"cannot read {self.path / relpath}: {err.strerror or err}") from err


def _file_stamp(path: Path) -> str:
    """Size, modification time, inode and device of a file: any rewrite changes one of them."""
    try:
        st = path.stat()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from err
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"


def resolve_sets(path: str | os.PathLike[str]) -> tuple[SetSource, ...]:
    """The two sets under ``path``: a folder holding ``<set>.zip`` or ``<set>/`` for both sets.

    ``path`` may also name one of the zips or set folders; its parent is used then. A zip wins
    over an extracted folder of the same set.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"Omniglot path {root} does not exist")
    if root.name in SETS or root.name in {f"{name}.zip" for name in SETS}:
        root = root.parent
    if not root.is_dir():
        raise DataError(f"Omniglot path {root} is not a folder")
    sources: list[SetSource] = []
    for name in SETS:
        if (root / f"{name}.zip").is_file():
            sources.append(ZipSet(name, root / f"{name}.zip"))
        elif (root / name).is_dir():
            sources.append(DirSet(name, root / name))
        else:
            raise DataError(
                f"{root} holds neither {name}.zip nor an extracted {name}/ folder; an Omniglot "
                f"folder needs both {SETS[0]} and {SETS[1]}"
            )
    return tuple(sources)


def decode_sets(
    sources: Sequence[SetSource],
    layout: Mapping[str, Mapping[str, int]] | None,
    progress: bool,
) -> GlyphSet:
    """Decode every PNG of the (background, evaluation) sets into a :class:`GlyphSet`.

    All listings are checked against ``layout`` before the first image is decoded, so a broken
    source fails fast.
    """
    plans = [plan_set(source.label, source.members()) for source in sources]
    if layout is not None:
        for source, plan in zip(sources, plans, strict=True):
            check_layout(source.label, plan, layout[source.name])
    set_alphabets = [sorted({char.alphabet for char in plan}) for plan in plans]
    alphabets = [alphabet for names in set_alphabets for alphabet in names]
    n_chars = sum(len(plan) for plan in plans)
    packed = np.empty((n_chars, N_DRAWERS, SIZE, PACKED_WIDTH), np.uint8)
    char_alphabet: list[int] = []
    char_names: list[str] = []
    with _progress_bar(progress) as bar:
        task = bar.add_task("Decoding Omniglot (first start only)", total=n_chars * N_DRAWERS)
        offset = 0
        for source, plan, names in zip(sources, plans, set_alphabets, strict=True):
            index = {alphabet: offset + i for i, alphabet in enumerate(names)}
            offset += len(names)
            for char in plan:
                strokes = [
                    decode_png(source.read(rel), f"{source.label}: {rel}") for rel in char.files
                ]
                packed[len(char_names)] = np.packbits(np.stack(strokes), axis=-1)
                char_alphabet.append(index[char.alphabet])
                char_names.append(f"{char.alphabet}/{char.character}")
                bar.advance(task, N_DRAWERS)
    return make_glyphset(
        packed, alphabets, char_alphabet, char_names, len(plans[0]), len(set_alphabets[0])
    )


def _progress_bar(enabled: bool) -> Progress:
    """A transient rich bar on stderr, drawn only for an interactive terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


# --------------------------------------------------------------------------------------------
# Glyph cache: content-addressed decoded arrays, plus a record per source of what it decodes to.


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


def _source_record(key: str, kind: str = "sources") -> Path:
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
        stamp: str | None = _file_stamp(array_path)
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


def _write_glyph_cache(glyphs: GlyphSet) -> None:
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
    stamp = _file_stamp(array_path)  # just written from hashed pixels: verified
    _write(_verified_stamp(array_path), lambda tmp: tmp.write_text(stamp))
    _write(meta_path, lambda tmp: tmp.write_text(json.dumps(meta)))


def _recorded_fingerprint(record: Path) -> str | None:
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


def _check_fingerprint(got: str, expected: str | None, where: Path) -> None:
    if expected is not None and got != expected:
        raise DataError(
            f"the pixels in {where} differ from the real Omniglot: content fingerprint {got}, "
            f"expected {expected}. Use unmodified copies of images_background.zip and "
            f"images_evaluation.zip from {RELEASE_URL}"
        )


# --------------------------------------------------------------------------------------------
# Entry points.


def load_glyphs(
    path: str | os.PathLike[str],
    *,
    layout: Mapping[str, Mapping[str, int]] | None = OMNIGLOT_ALPHABETS,
    expected_fingerprint: str | None = CANONICAL_FINGERPRINT,
    progress: bool = False,
    rehash: bool = False,
) -> GlyphSet:
    """Glyphs of the source at ``path``, decoded once and cached (see :func:`resolve_sets`).

    ``layout`` (set -> alphabet -> characters) and ``expected_fingerprint`` default to the real
    Omniglot; ``None`` disables the check (for custom or synthetic sources). A cache hit skips
    the layout check: the recorded fingerprint already pins the content. Files whose stamps
    match those recorded at their last verification are not re-hashed, unless ``rehash``.
    """
    sources = resolve_sets(path)
    where = Path(path).expanduser()
    entry = {"format": FORMAT_VERSION, "source": str(where)}
    stamped = _source_record("|".join(source.stamp() for source in sources), "stamps")
    recorded = None if rehash else _recorded_fingerprint(stamped)
    if recorded is None:  # new, changed or touched files: identify them by content
        record = _source_record("|".join(source.key() for source in sources))
        recorded = _recorded_fingerprint(record)
    if recorded is not None:
        _check_fingerprint(recorded, expected_fingerprint, where)
        glyphs = cached_glyphs(recorded, rehash=rehash)
        if glyphs is not None:
            _write_record(stamped, {**entry, "fingerprint": recorded})
            return glyphs
    glyphs = decode_sets(sources, layout, progress)
    _check_fingerprint(glyphs.fingerprint, expected_fingerprint, where)
    _write_glyph_cache(glyphs)
    record = _source_record("|".join(source.key() for source in sources))
    _write_record(record, {**entry, "fingerprint": glyphs.fingerprint})
    _write_record(stamped, {**entry, "fingerprint": glyphs.fingerprint})
    return glyphs


def _write_record(path: Path, entry: dict) -> None:
    """Write a source record (what a source decodes to), unless it already says exactly that."""
    text = json.dumps(entry)
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    _write(path, lambda tmp: tmp.write_text(text))


def load_omniglot(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    rehash: bool = False,
) -> GlyphSet:
    """The real Omniglot, verified against :data:`CANONICAL_FINGERPRINT`.

    Source: ``path``, else ``$ONESHOTBENCH_OMNIGLOT``, else the verified glyph cache of an
    earlier start, else the release zips in ``cache_root()/omniglot`` (downloaded there with
    pooch when missing and ``download`` is true). ``rehash`` re-hashes every file even where
    its stamp is unchanged (``data verify``).
    """
    if path is None and os.environ.get(OMNIGLOT_ENV):
        try:
            return load_glyphs(os.environ[OMNIGLOT_ENV], progress=progress, rehash=rehash)
        except DataError as err:
            raise DataError(f"{err} (path from ${OMNIGLOT_ENV})") from err
    if path is not None:
        return load_glyphs(path, progress=progress, rehash=rehash)
    glyphs = cached_glyphs(CANONICAL_FINGERPRINT, rehash=rehash)
    if glyphs is not None:
        return glyphs
    return load_glyphs(
        fetch_release(download=download, progress=progress), progress=progress, rehash=rehash
    )


def fetch_release(*, download: bool = True, progress: bool = False) -> Path:
    """The folder ``cache_root()/omniglot`` holding both zips, downloading the missing ones.

    Zips already there are used as they are (a repackaged copy works too: the content
    fingerprint, not the zip MD5, decides); downloads are MD5-checked and atomic (pooch).
    """
    folder = cache_root() / "omniglot"
    missing = [name for name in SETS if not (folder / f"{name}.zip").is_file()]
    if missing and not download:
        raise DataError(_absent_message(folder, "downloading is disabled"))
    if not missing:
        return folder
    import pooch  # only downloads need it (a GPU machine with the zips at hand has no pooch)

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch logs every download at INFO
    try:
        with _progress_bar(progress) as bar:
            for name in missing:
                url, md5 = CANONICAL_ARCHIVES[name]
                downloader = pooch.HTTPDownloader(
                    progressbar=_DownloadBar(bar, f"Downloading {name}.zip"), timeout=60
                )
                try:
                    pooch.retrieve(
                        url, f"md5:{md5}", fname=f"{name}.zip", path=folder, downloader=downloader
                    )
                except OSError as err:  # requests' network errors are OSErrors
                    reason = f"downloading {url} failed: {type(err).__name__}"
                    raise DataError(_absent_message(folder, reason)) from err
                except ValueError as err:  # pooch: the MD5 check failed
                    reason = f"the file downloaded from {url} failed its MD5 check"
                    raise DataError(_absent_message(folder, reason)) from err
    finally:
        logger.setLevel(level)
    return folder


def _absent_message(folder: Path, reason: str) -> str:
    return (
        f"Omniglot is not available ({reason}). Put images_background.zip and "
        f"images_evaluation.zip from {RELEASE_URL} (python/ folder) into {folder}, or pass "
        f"--omniglot PATH (or set {OMNIGLOT_ENV}=PATH) to a folder holding those zips or the "
        "extracted images_background/ and images_evaluation/ folders"
    )


class _DownloadBar:
    """The tqdm-like object pooch's HTTPDownloader drives, drawn as a rich task."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=None)

    @property
    def total(self) -> float | None:
        return self._progress.tasks[self._task].total

    @total.setter
    def total(self, value: float) -> None:
        self._progress.update(self._task, total=value or None)

    def update(self, n: float) -> None:
        self._progress.advance(self._task, n)

    def reset(self) -> None:
        self._progress.reset(self._task)

    def close(self) -> None:
        self._progress.stop_task(self._task)


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
