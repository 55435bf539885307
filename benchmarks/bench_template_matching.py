"""Template matching per scene: the fast search vs the literal full convolution.

Run: ``pytest benchmarks/bench_template_matching.py --benchmark-columns=median,rounds``. Both
score the same 9,317 templates against every glyph of the first test-one-shot scene at level 4
on one core: ``TemplateMatcher.scores`` (shifts within +-2 px of the centres of mass, one matrix
product) and ``exhaustive_scores`` (every shift, by FFT). Whether they pick the same glyph on
many scenes is measured by ``benchmarks/template_matching_agreement.py``.
"""

from __future__ import annotations

import pytest
import torch

from oneshotbench.datasets import load_split
from reference_models.template_matching import TemplateMatcher

LEVEL = 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scene(real_glyphs) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_split("test-one-shot", LEVEL, glyphs=real_glyphs).get(0, 1)
    target = torch.from_numpy(data.target[0]).permute(2, 0, 1).float() / 255
    return target, torch.from_numpy(data.instance_map[0].astype("int64"))


@pytest.mark.parametrize("search", ["fast", "exhaustive"])
def test_template_matching_scene(benchmark, scene, search: str) -> None:
    matcher = TemplateMatcher()
    score = matcher.scores if search == "fast" else matcher.exhaustive_scores
    rounds = 5 if search == "fast" else 1
    scores = benchmark.pedantic(score, args=(*scene, LEVEL), rounds=rounds, warmup_rounds=1)
    assert int(scores.argmax()) == LEVEL - 1  # this scene's target is found either way
    benchmark.extra_info["scenes_per_s"] = round(1 / benchmark.stats.stats.median, 3)
