"""One cache root for everything the project stores, and atomic file writes.

The root is ``$ONESHOTBENCH_CACHE`` if set, else the per-user cache directory. Nothing is ever
written next to the user's Omniglot files (that folder may be read-only).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "ONESHOTBENCH_CACHE"


def cache_root() -> Path:
    """The directory under which all caches live (created on demand by writers)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs  # only without $ONESHOTBENCH_CACHE (GPU windows set it; no wheel there)

    return Path(platformdirs.user_cache_dir("oneshotbench"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Readers never see a half-written file, and a crash leaves the old file (if any) intact.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp's 0600 would surprise users of shared files
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def current_umask() -> int:
    """The process umask (read by setting it, then set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks: artefacts and checkpoints can be large."""
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
