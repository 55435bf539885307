"""The journal of one run: every finished batch's per-sample results on disk, authenticated.

A failure loses nothing and ``--resume`` continues. Each batch file carries an HMAC-SHA256 over
all its arrays (whatever they are) and its own position, under a random per-run key kept in the
journal folder, which the sandboxed submission cannot see; a changed, moved or foreign batch file
is refused by name. The manifest (``run.json``) pins everything that determines the scores.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oneshotbench.cache import atomic_path, atomic_write_bytes
from oneshotbench.errors import OneshotbenchError
from oneshotbench.glyph_analysis import GlyphAnalysis
from oneshotbench.metrics import PerSampleScores

JOURNAL_FORMAT = 2  # 2: authenticated batch files
_MAC = "_hmac"
_KEY_FILE = "key"


def journal_path(out: Path) -> Path:
    """Where the finished batches of the run writing ``out`` are kept until it completes."""
    return Path(out).with_name(f"{Path(out).stem}.partial")


@dataclass
class Probe:
    """Main-run output of the invariance-check samples of one batch."""

    index: np.ndarray
    probs: np.ndarray
    locations: np.ndarray | None

    @staticmethod
    def concat(parts: Sequence[Probe]) -> Probe:
        locations = [p.locations for p in parts]
        return Probe(
            np.concatenate([p.index for p in parts]),
            np.concatenate([p.probs for p in parts]),
            None if any(loc is None for loc in locations) else np.concatenate(locations),
        )


@dataclass
class BatchResult:
    scores: PerSampleScores
    wall_s: float
    probe: Probe | None = None
    analysis: GlyphAnalysis | None = None  # glyph analysis (and saved masks), when on

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {**self.scores.arrays(), "wall_s": np.float64(self.wall_s)}
        if self.probe is not None:
            arrays.update(probe_index=self.probe.index, probe_probs=self.probe.probs)
            if self.probe.locations is not None:
                arrays["probe_locations"] = self.probe.locations
        if self.analysis is not None:
            arrays.update(self.analysis.arrays("glyph_"))
        return arrays

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> BatchResult:
        probe = None
        if "probe_index" in data:
            probe = Probe(data["probe_index"], data["probe_probs"], data.get("probe_locations"))
        scores = PerSampleScores.from_arrays({f: data[f] for f in PerSampleScores.FIELDS})
        return cls(scores, float(data["wall_s"]), probe, GlyphAnalysis.from_npz(data, "glyph_"))


def _mac(key: bytes, name: str, arrays: dict[str, np.ndarray]) -> bytes:
    """HMAC over the file's name and every array's name, dtype, shape and bytes."""
    code = hmac.new(key, name.encode() + b"\0", hashlib.sha256)
    for field in sorted(arrays):
        array = np.ascontiguousarray(arrays[field])
        code.update(f"{field}\0{array.dtype.str}\0{array.shape}\0".encode())
        code.update(array.tobytes())
    return code.digest()


def _run_key(directory: Path) -> bytes:
    """The run's key: created once (linked into place, so parallel processes share it)."""
    path = directory / _KEY_FILE
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(prefix=f".{_KEY_FILE}.", dir=directory)  # mode 0600
        try:
            os.write(fd, os.urandom(32))
            os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_bytes()


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """Nested dicts -> {"dataset.fingerprints.4": value, ...}, to name each differing setting."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _brief(value: object) -> str:
    """A setting as shown in a message: hashes cut to 12 characters, missing ones as 'absent'."""
    if value is None:
        return "absent"
    text = repr(value)
    return text[:13] + "…'" if isinstance(value, str) and len(value) > 16 else text


class Journal:
    """Finished batches of one run, one small ``.npz`` each, beside the record.

    ``--resume`` refuses a journal whose manifest differs, so a resumed record equals an
    uninterrupted one, and refuses any batch file whose authentication code does not match.
    """

    def __init__(self, directory: Path, manifest: dict, *, resume: bool):
        self.directory = directory
        existing = self.batch_files()
        if existing and not resume:
            raise OneshotbenchError(
                f"{directory} holds {len(existing)} finished batches of an earlier run of this "
                "evaluation; pass --resume to continue it, or delete that folder to start over"
            )
        directory.mkdir(parents=True, exist_ok=True)
        if existing:
            self._check_manifest(manifest)
        else:
            atomic_write_bytes(directory / "run.json", json.dumps(manifest, indent=1).encode())
        self._key = _run_key(directory)

    def batch_files(self) -> list[Path]:
        return sorted(self.directory.glob("L*-*.npz"))

    def _check_manifest(self, manifest: dict) -> None:
        try:
            old = json.loads((self.directory / "run.json").read_text())
        except (OSError, ValueError):
            old = {}
        start_over = f"delete {self.directory} and start over (without --resume)"
        if old.get("format") != manifest.get("format"):
            raise OneshotbenchError(
                f"cannot resume from {self.directory}: it was written by another version of "
                f"oneshotbench (journal format {old.get('format')!r}); {start_over}"
            )
        changed = [k for k in ("submission_sha256", "artifacts") if old.get(k) != manifest.get(k)]
        if changed:
            raise OneshotbenchError(
                f"cannot resume from {self.directory}: the submission changed since those "
                f"batches were scored ({' and '.join(changed)} differ), so they would mix two "
                f"submissions; {start_over}"
            )
        old, new = _flatten(old), _flatten(manifest)
        differ = [k for k in sorted(set(new) | set(old)) if old.get(k) != new.get(k)]
        if differ:
            shown = "".join(
                f"\n  {k}: {_brief(old.get(k))} then, {_brief(new.get(k))} now" for k in differ
            )
            raise OneshotbenchError(
                f"cannot resume from {self.directory}: the run differs in{shown}\nRerun with the "
                "original settings, or delete that folder to start over"
            )

    def _path(self, level: int, start: int) -> Path:
        return self.directory / f"L{level:03d}-{start:06d}.npz"

    def read(self, path: Path) -> dict[str, np.ndarray]:
        """The arrays of one batch file, after checking that this run wrote it unchanged."""
        refuse = (
            f"journal file {path} was not written by this run, or was changed since; "
            f"delete {self.directory} and start over (without --resume)"
        )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            raise OneshotbenchError(refuse) from None
        mac = arrays.pop(_MAC, None)
        expected = _mac(self._key, path.name, arrays)
        if mac is None or not hmac.compare_digest(mac.tobytes(), expected):
            raise OneshotbenchError(refuse)
        return arrays

    def finished(self, level: int, starts: Sequence[int]) -> set[int]:
        """Which of ``starts`` have a batch file (not read: :meth:`load` reads and checks it)."""
        return {start for start in starts if self._path(level, start).is_file()}

    def load(self, level: int, starts: Sequence[int]) -> dict[int, BatchResult]:
        """The finished batches among ``starts`` of ``level``."""
        done = {}
        for start in starts:
            path = self._path(level, start)
            if path.is_file():
                done[start] = BatchResult.from_arrays(self.read(path))
        return done

    def save(self, level: int, start: int, result: BatchResult) -> None:
        path = self._path(level, start)
        arrays = result.arrays()
        mac = np.frombuffer(_mac(self._key, path.name, arrays), np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays, **{_MAC: mac})

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
