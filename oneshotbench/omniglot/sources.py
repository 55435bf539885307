"""Set readers: one Omniglot set as a zip archive or an extracted folder, each with a cheap
identity stamp, and the decoding of both sets into a :class:`GlyphSet`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from oneshotbench.errors import DataError
from oneshotbench.omniglot.glyphset import N_DRAWERS, PACKED_WIDTH, SIZE, GlyphSet, make_glyphset
from oneshotbench.omniglot.layout import SETS, check_layout, decode_png, is_ignored, plan_set


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
class _SetAtPath:
    """A set's name and where it lies; errors name the path."""

    name: str
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ZipSet(_SetAtPath):
    """A set stored as ``<set>.zip`` with entries under ``<set>/``; keyed by the zip's sha256."""

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
        return f"zip:{self.name}:{self.path.resolve()}:{file_stamp(self.path)}"

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
class DirSet(_SetAtPath):
    """A set extracted to a folder; keyed by relative paths, sizes and mtimes (no reading)."""

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


def file_stamp(path: Path) -> str:
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
    with progress_bar(progress) as bar:
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


def progress_bar(enabled: bool) -> Progress:
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
