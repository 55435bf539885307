"""The data path: in-place generation, list-like splits, torch wrappers' reprs and transforms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from oneshotbench.cache import cache_root
from oneshotbench.datasets import ClutteredOmniglot, TrainingStream, load_split
from oneshotbench.errors import OneshotbenchError
from oneshotbench.generator.jobs import GeneratedSamples
from tests.conftest import require_real_omniglot


def test_split_is_subscriptable_like_a_list(synthetic) -> None:
    split = load_split("val-one-shot", 8, glyphs=synthetic)
    assert len(split) == 10_000
    last = split[-1]
    assert last.index.tolist() == [9_999]
    assert np.array_equal(last.scene, split.get(9_999).scene)
    piece = split[3_998:4_003]  # crosses a job boundary
    assert piece.index.tolist() == list(range(3_998, 4_003))
    assert np.array_equal(piece.scene, split.get(3_998, 4_003).scene)
    stepped = split[9_000::400]
    assert stepped.index.tolist() == list(range(len(split)))[9_000::400]
    assert np.array_equal(stepped.mask[1], split[9_400].mask[0])
    assert len(split[5:5]) == 0
    with pytest.raises(IndexError, match="out of range"):
        split[10_000]
    with pytest.raises(TypeError, match="integers or slices"):
        split["3"]


def test_generation_writes_into_given_buffers(synthetic) -> None:
    split = load_split("test-train", 16, glyphs=synthetic)
    expected = split.get(1_990, 2_030)
    buffers = GeneratedSamples.empty(40, 16)
    buffers.scene[:] = 7  # whatever was there is overwritten
    returned = split.raw(1_990, 2_030, into=buffers, workers=2)
    assert returned is buffers
    assert np.array_equal(buffers.scene, expected.scene)
    assert np.array_equal(buffers.mask, expected.mask)
    assert np.array_equal(buffers.instance_map, expected.instance_map)
    lean = split.raw(1_990, 2_030, instances=False, workers=2)
    assert lean.instance_map.shape[0] == 1 and not lean.has_instances
    assert np.array_equal(lean.scene, expected.scene)
    assert np.array_equal(lean.target, expected.target)


def test_reprs_say_what_the_object_is(synthetic) -> None:
    split = load_split("test-one-shot", 32, glyphs=synthetic)
    assert "test-one-shot" in repr(split) and "level=32" in repr(split)
    assert "10,000 samples" in repr(split)
    dataset = ClutteredOmniglot("val-train", 4, glyphs=synthetic)
    assert (
        repr(dataset) == "ClutteredOmniglot(split='val-train', level=4, version=1, samples=10000)"
    )
    stream = TrainingStream(8, 4, seed=3, glyphs=synthetic)
    assert repr(stream).startswith("TrainingStream(level=8, batch_size=4, seed=3, split='train'")


def test_transform_is_applied_to_each_item(synthetic) -> None:
    def to_float(item):
        return {**item, "scene": item["scene"].float() / 255}

    dataset = ClutteredOmniglot("val-train", 4, glyphs=synthetic, transform=to_float)
    item = dataset[5]
    assert item["scene"].dtype == torch.float32 and float(item["scene"].max()) <= 1.0
    raw = ClutteredOmniglot("val-train", 4, glyphs=synthetic)[5]
    assert torch.equal(item["scene"], raw["scene"].float() / 255)


def test_unusable_device_is_a_clear_error(synthetic) -> None:
    with pytest.raises(OneshotbenchError, match="cuda:7"):
        TrainingStream(8, 4, device="cuda:7", glyphs=synthetic)
    with pytest.raises(OneshotbenchError, match="unknown torch device"):
        TrainingStream(8, 4, device="gpu0", glyphs=synthetic)


_FRESH_PROCESS = """
import json, sys
import oneshotbench, oneshotbench.datasets, oneshotbench.generator.jobs
numba_at_import = "numba" in sys.modules
from oneshotbench.datasets import load_split
load_split("test-one-shot", 4, omniglot=sys.argv[1]).get(0)
from oneshotbench.generator.canonical import generate_samples
stats = generate_samples.stats
print(json.dumps({"numba_at_import": numba_at_import, "cache": str(stats.cache_path),
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def test_a_second_process_loads_the_kernel_from_the_cache_and_compiles_nothing() -> None:
    """Importing never loads numba; the first process compiles at most once (a cache miss),
    a second process finds the machine code on disk (hits only: nothing compiled)."""
    omniglot = require_real_omniglot()
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _FRESH_PROCESS, str(omniglot)],
                env={**os.environ, "ONESHOTBENCH_AOT": "0"},  # the JIT path (see test_aot.py)
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(2)
    ]
    assert not runs[0]["numba_at_import"] and not runs[1]["numba_at_import"]
    assert runs[0]["hits"] + runs[0]["misses"] == 1
    assert runs[1] == {**runs[0], "hits": 1, "misses": 0}
    assert Path(runs[1]["cache"]).is_relative_to(cache_root() / "numba")
