"""Template matching per scene: the compiled matcher, the matrix product, the full convolution.

Run: ``pytest benchmarks/bench_template_matching.py --benchmark-columns=median,rounds``. All score
the same 9,317 templates against every glyph of the first test-one-shot scene of a level on one
core: the compiled matcher (the CPU path of ``TemplateMatcher.scores``: per glyph and shift, the
template rows of the crop's lit pixels), the matrix product it replaces on the CPU (the GPU path),
both with shifts within +-2 px of the centres of mass, and ``exhaustive_scores`` (every shift, by
FFT; level 4 only, seconds per scene). The first two give equal scores
(``tests/test_template_kernels.py``); whether the search picks the glyph the full convolution
picks is measured by ``benchmarks/template_matching_agreement.py``.
"""

from __future__ import annotations

import pytest
import torch

from oneshotbench.datasets import load_split
from reference_models.template_matching import TemplateMatcher

pytestmark = pytest.mark.usefixtures("one_thread")

SEARCHES = {
    "compiled": TemplateMatcher._sparse_scores,
    "matrix product": TemplateMatcher._dense_scores,
    "full convolution": TemplateMatcher.exhaustive_scores,
}


def first_scene(glyphs, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_split("test-one-shot", level, glyphs=glyphs).get(0, 1)
    target = torch.from_numpy(data.target[0]).permute(2, 0, 1).float() / 255
    return target, torch.from_numpy(data.instance_map[0].astype("int64"))


CASES = [("compiled", 4), ("matrix product", 4), ("full convolution", 4)]
CASES += [("compiled", 256), ("matrix product", 256)]  # the full convolution: minutes per scene


@pytest.mark.parametrize(("search", "level"), CASES)
def test_template_matching_scene(benchmark, real_glyphs, search: str, level: int) -> None:
    matcher = TemplateMatcher()
    scene = first_scene(real_glyphs, level)
    rounds = 1 if search == "full convolution" else 5
    scores = benchmark.pedantic(
        SEARCHES[search], args=(matcher, *scene, level), rounds=rounds, warmup_rounds=1
    )
    assert int(scores.argmax()) == level - 1  # this scene's target is found either way
    benchmark.extra_info["scenes_per_s"] = round(1 / benchmark.stats.stats.median, 3)
