"""Shared fixtures: the real Omniglot (decoded once per session) and a tiny synthetic glyph set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oneshotbench.cache import CACHE_ENV
from oneshotbench.omniglot import OMNIGLOT_ENV, SETS, GlyphSet, load_omniglot, synthetic_glyphs

REPO = Path(__file__).resolve().parents[1]
REAL_PATH = Path(os.environ.get(OMNIGLOT_ENV) or REPO.parent / "shared" / "omniglot")
REAL_AVAILABLE = all((REAL_PATH / f"{s}.zip").is_file() or (REAL_PATH / s).is_dir() for s in SETS)


def require_real_omniglot() -> Path:
    """The real data's folder; skip without it, but fail in CI where it must be present."""
    if not REAL_AVAILABLE:
        message = f"real Omniglot not found at {REAL_PATH} (set {OMNIGLOT_ENV})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_PATH


@pytest.fixture(scope="session")
def real_glyphs(tmp_path_factory: pytest.TempPathFactory) -> GlyphSet:
    path = require_real_omniglot()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("glyph-cache")))
        return load_omniglot(path, progress=False)


@pytest.fixture(scope="session")
def synthetic() -> GlyphSet:
    return synthetic_glyphs(
        n_background_alphabets=3, n_evaluation_alphabets=4, chars_per_alphabet=3
    )
