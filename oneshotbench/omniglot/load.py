"""Entry points: the glyphs of a source at a path, or of the real Omniglot wherever it is
(environment, cache, or downloaded and checked)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rich.progress import Progress

from oneshotbench.cache import cache_root
from oneshotbench.errors import DataError
from oneshotbench.omniglot.glyph_cache import (
    FORMAT_VERSION,
    cached_glyphs,
    recorded_fingerprint,
    source_record,
    write_glyph_cache,
    write_record,
)
from oneshotbench.omniglot.glyphset import CANONICAL_FINGERPRINT, GlyphSet
from oneshotbench.omniglot.layout import OMNIGLOT_ALPHABETS, SETS
from oneshotbench.omniglot.sources import decode_sets, progress_bar, resolve_sets

OMNIGLOT_ENV = "ONESHOTBENCH_OMNIGLOT"
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


def _check_fingerprint(got: str, expected: str | None, where: Path) -> None:
    if expected is not None and got != expected:
        raise DataError(
            f"the pixels in {where} differ from the real Omniglot: content fingerprint {got}, "
            f"expected {expected}. Use unmodified copies of images_background.zip and "
            f"images_evaluation.zip from {RELEASE_URL}"
        )


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
    stamped = source_record("|".join(source.stamp() for source in sources), "stamps")
    recorded = None if rehash else recorded_fingerprint(stamped)
    if recorded is None:  # new, changed or touched files: identify them by content
        record = source_record("|".join(source.key() for source in sources))
        recorded = recorded_fingerprint(record)
    if recorded is not None:
        _check_fingerprint(recorded, expected_fingerprint, where)
        glyphs = cached_glyphs(recorded, rehash=rehash)
        if glyphs is not None:
            write_record(stamped, {**entry, "fingerprint": recorded})
            return glyphs
    glyphs = decode_sets(sources, layout, progress)
    _check_fingerprint(glyphs.fingerprint, expected_fingerprint, where)
    write_glyph_cache(glyphs)
    record = source_record("|".join(source.key() for source in sources))
    write_record(record, {**entry, "fingerprint": glyphs.fingerprint})
    write_record(stamped, {**entry, "fingerprint": glyphs.fingerprint})
    return glyphs


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
        with progress_bar(progress) as bar:
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
