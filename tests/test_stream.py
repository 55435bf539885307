"""The training stream: deterministic from (seed, step), canonical distribution, loader-safe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from torch.utils.data import DataLoader

from oneshotbench.datasets import TrainingStream, TrainingStreamDataset, load_split

LEVEL = 8
N = 640


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k].nan_to_num(-7), b[k].nan_to_num(-7)) for k in a)


@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_batches_are_a_pure_function_of_seed_and_step(synthetic, backend) -> None:
    stream = TrainingStream(4, 16, seed=3, glyphs=synthetic, backend=backend)
    again = TrainingStream(4, 16, seed=3, glyphs=synthetic, backend=backend)
    assert _equal(stream.batch(5), again.batch(5))
    assert not torch.equal(stream.batch(5)["scene"], stream.batch(6)["scene"])
    other_seed = TrainingStream(4, 16, seed=4, glyphs=synthetic, backend=backend)
    assert not torch.equal(stream.batch(5)["scene"], other_seed.batch(5)["scene"])
    batch = stream.batch(0)
    assert batch["scene"].shape == (16, 3, 96, 96) and batch["scene"].dtype == torch.uint8
    assert batch["target"].shape == (16, 3, 32, 32)
    assert torch.equal(batch["mask"], batch["instance_map"] == 4)
    assert batch["centers"].shape == (16, 4, 2) and batch["target_com"].shape == (16, 2)


def _statistics(scene, target, mask, instance_map) -> dict[str, np.ndarray]:
    """Per-sample quantities whose distributions must agree between generators."""
    area = mask.sum((1, 2))
    has = area > 0
    ys = np.arange(96)[None, :, None]
    xs = np.arange(96)[None, None, :]
    com_x = (mask * xs).sum((1, 2))[has] / area[has]
    com_y = (mask * ys).sum((1, 2))[has] / area[has]
    rows, cols = mask.any(2), mask.any(1)
    height = rows.sum(1)[has]  # the crop's rows that carry strokes
    width = cols.sum(1)[has]
    red = np.array([scene[i][mask[i]][0, 0] for i in np.flatnonzero(has)])
    visible_glyphs = np.array([len(np.unique(m)) - (0 in m) for m in instance_map])
    return {
        "target area": area,
        "target width": width,
        "target height": height,
        "target x": com_x,
        "target y": com_y,
        "target red": red,
        "covered fraction": (instance_map > 0).mean((1, 2)),
        "visible glyphs": visible_glyphs,
        "target image area": (target.max(-1) > 0).sum((1, 2)),
    }


def test_torch_stream_has_the_canonical_distribution(real_glyphs) -> None:
    canonical = load_split("train", LEVEL, glyphs=real_glyphs).get(0, N)
    ours = _statistics(canonical.scene, canonical.target, canonical.mask, canonical.instance_map)
    stream = TrainingStream(LEVEL, 160, seed=11, glyphs=real_glyphs, backend="torch")
    batches = [stream.batch(step) for step in range(N // 160)]
    cat = {
        k: torch.cat([b[k] for b in batches]) for k in ("scene", "target", "mask", "instance_map")
    }
    theirs = _statistics(
        cat["scene"].permute(0, 2, 3, 1).numpy(),
        cat["target"].permute(0, 2, 3, 1).numpy(),
        cat["mask"].numpy(),
        cat["instance_map"].numpy(),
    )
    for name in ours:
        p = ks_2samp(ours[name], theirs[name]).pvalue
        assert p > 1e-3, f"{name}: two-sample KS p = {p:.2g}"


def test_iterable_dataset_gives_each_step_once_across_workers(synthetic) -> None:
    dataset = TrainingStreamDataset(4, 8, seed=1, stop=6, glyphs=synthetic)
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    batches = {int(b["step"]): b for b in loader}
    assert sorted(batches) == list(range(6))
    direct = TrainingStream(4, 8, seed=1, glyphs=synthetic, backend="kernel")
    for step, batch in batches.items():
        expected = direct.batch(step)
        assert torch.equal(batch["scene"], expected["scene"])
