"""Oracle floor: a uniformly random visible glyph, the target ignored.

It is given what the discriminator oracles of Tables 1-2 are given (where every visible glyph is,
its ground-truth mask) and picks one of them at random, with the same crop centre: its score is
what an oracle of those rows gets for knowing where the glyphs are, before it matches anything.
The choice is drawn from a generator seeded with the scene's own bytes, so a sample's prediction
never depends on its batch or position. Needs ``--oracle``.
"""

import numpy as np
import torch

from reference_models.layers import instance_centers
from reference_models.submission import glyph_masks, oracle_glyphs, scene_rng

PROTOCOL_VERSION = 1
ORACLE_FIELDS = ("instance_map", "instances")


def random_visible(scene: np.ndarray, visible: np.ndarray) -> int:
    """Index of one visible glyph (-1 if none), chosen with a seed taken from the scene."""
    candidates = np.flatnonzero(visible)
    if len(candidates) == 0:
        return -1
    return int(candidates[scene_rng(scene).integers(len(candidates))])


def make_predictor(device: torch.device):
    def predict(targets: torch.Tensor, scenes: torch.Tensor, oracle: dict):
        instance_map, num_glyphs, _ = oracle_glyphs(oracle, device)
        centers, visible = instance_centers(instance_map, num_glyphs)
        pixels = (scenes * 255).round().to(torch.uint8).cpu().numpy()
        flags = visible.cpu().numpy()
        index = torch.tensor(
            [random_visible(p, v) for p, v in zip(pixels, flags, strict=True)], device=device
        )
        rows = torch.arange(len(index), device=device)
        chosen = torch.where(index >= 0, index + 1, 0)
        return glyph_masks(instance_map, chosen), centers[rows, index.clamp(min=0)].float()

    return predict
