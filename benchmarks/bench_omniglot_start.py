"""Omniglot start-up: the verified glyph cache vs decoding the PNGs as the original does.

Run: ``pytest benchmarks/bench_omniglot_start.py`` (needs the real zips; see the tests).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from oneshotbench.cache import CACHE_ENV
from oneshotbench.omniglot import CANONICAL_FINGERPRINT, OMNIGLOT_ENV, SETS, load_omniglot

REAL_PATH = Path(
    os.environ.get(OMNIGLOT_ENV) or Path(__file__).resolve().parents[1].parent / "shared/omniglot"
)
pytestmark = pytest.mark.skipif(
    not all((REAL_PATH / f"{s}.zip").is_file() for s in SETS), reason=f"no zips in {REAL_PATH}"
)


def naive_decode(folder: Path) -> list[np.ndarray]:
    """get_omniglot.ipynb's per-image pipeline over both zips: what every start would cost."""
    bitmaps = []
    for name in SETS:
        with zipfile.ZipFile(folder / f"{name}.zip") as archive:
            for member in sorted(n for n in archive.namelist() if n.endswith(".png")):
                image = Image.open(io.BytesIO(archive.read(member))).convert("L")
                bitmaps.append(np.asarray(ImageOps.invert(image).convert("1")))
    return bitmaps


@pytest.mark.benchmark(group="omniglot-start")
def test_cached_start(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    load_omniglot(REAL_PATH, progress=False)  # first start: decode and cache
    glyphs = benchmark(load_omniglot, REAL_PATH, progress=False)
    assert glyphs.fingerprint == CANONICAL_FINGERPRINT


@pytest.mark.benchmark(group="omniglot-start")
def test_naive_decode_every_start(benchmark) -> None:
    bitmaps = benchmark.pedantic(naive_decode, args=(REAL_PATH,), rounds=1, iterations=1)
    assert len(bitmaps) == 32_460
