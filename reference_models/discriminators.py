"""Siamese discriminators: MaskNet's decision head and the paper's two oracles (§4.2, §5).

The scorer is the authors' (``model.py: mask_net``): a third, target-style encoder embeds a 32x32
crop, and score = sigmoid(sum_c w_c |crop_c - target_c|) with 16F learned weights (no bias,
Glorot-uniform init as slim's ``fully_connected``).

The oracles have no released code (spec §3.7, §5.22, §5.25); this is a reimplementation from
the paper's text with these choices:

* Candidates are all glyphs with at least one visible pixel, read from the ground-truth instance
  map; each crop is the integer 32x32 window centred on the glyph's floored centre of mass of its
  visible pixels (zero outside the scene). MaskNet's crops use the authors' spatial transformer;
  no code fixes the oracles' crops, and an integer window is exact and cheap for 256 glyphs.
* Pre-segmented: the crop keeps only the pixels of that glyph (its own colour on black, "we use
  the fact that the characters are uniformly colored to segment each character"); cluttered: the
  raw scene crop.
* Prediction = the glyph with the highest score; its location = its crop centre; its mask = the
  ground-truth mask of that glyph (so the pre-segmented IoU equals its decision accuracy, §5.4;
  the paper reports only localisation for the cluttered one).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reference_models.encoders import Encoder
from reference_models.layers import instance_centers, window_crop
from reference_models.normalization import InputStats, standardize

CROP = 32


class SiameseScorer(nn.Module):
    """Crop encoder + weighted L1 distance to the target vector + sigmoid."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.encoder = Encoder(features, dilated=False)  # TF scope "discriminator"
        self.weighted_sum = nn.Linear(16 * features, 1, bias=False)
        nn.init.xavier_uniform_(self.weighted_sum.weight)

    def forward(self, crops: Tensor, target_vectors: Tensor) -> Tensor:
        """crops: standardised [N, 3, 32, 32]; target_vectors [N, 16F] -> scores in (0, 1) [N]."""
        embedding = self.encoder(crops)[-1].flatten(1)
        distance = (embedding - target_vectors).abs().float()
        # fp32 with autocast off: a bf16 head rounds sigmoid(logit > ~6.2) to exactly 1.0, where
        # the BCE gradient vanishes.
        with torch.autocast(distance.device.type, enabled=False):
            return torch.sigmoid(self.weighted_sum(distance)).squeeze(1)


class DiscriminatorOracle(nn.Module):
    """Pre-segmented (``segmented=True``) or cluttered discriminator oracle of the paper's §5."""

    def __init__(self, features: int = 24, stats: InputStats | None = None, *, segmented: bool):
        super().__init__()
        self.features = features
        self.stats = stats
        self.segmented = segmented
        self.target_encoder = Encoder(features, dilated=False)
        self.scorer = SiameseScorer(features)

    def glyph_crops(
        self, scenes: Tensor, instance_map: Tensor, sample: Tensor, ids: Tensor, centers: Tensor
    ) -> Tensor:
        """Standardised 32x32 crops of glyphs ``ids`` (1-based) of scenes ``sample``."""
        if self.stats is None:
            raise RuntimeError("input statistics are not set; load a checkpoint or train first")
        crops = window_crop(scenes, sample, centers, CROP)
        if self.segmented:
            owner = window_crop(instance_map[:, None], sample, centers, CROP)
            crops = crops * (owner == ids[:, None, None, None]).to(crops.dtype)
        return standardize(crops, self.stats)

    def pair_scores(
        self,
        targets: Tensor,
        scenes: Tensor,
        instance_map: Tensor,
        sample: Tensor,
        ids: Tensor,
        centers: Tensor,
    ) -> Tensor:
        """Same/different scores [N] of (target of ``sample``, glyph ``ids`` at ``centers``)."""
        if self.stats is None:
            raise RuntimeError("input statistics are not set; load a checkpoint or train first")
        target_vectors = self.target_encoder(standardize(targets, self.stats))[-1].flatten(1)
        crops = self.glyph_crops(scenes, instance_map, sample, ids, centers)
        return self.scorer(crops, target_vectors[sample])

    def forward(
        self, targets: Tensor, scenes: Tensor, instance_map: Tensor, num_glyphs: int
    ) -> tuple[Tensor, Tensor]:
        """Pick the visible glyph most similar to the target.

        targets [B,3,32,32] and scenes [B,3,96,96] in [0, 1]; instance_map int [B,96,96].
        Returns the chosen glyph id (1-based, 0 if the scene has no visible glyph) [B] and its
        crop centre (x, y) [B, 2].
        """
        centers, visible = instance_centers(instance_map, num_glyphs)
        sample, index = visible.nonzero(as_tuple=True)
        scores = torch.full(visible.shape, -1.0, device=scenes.device)
        scores[sample, index] = self.pair_scores(
            targets, scenes, instance_map, sample, index + 1, centers[sample, index]
        ).float()
        best = scores.argmax(dim=1)
        rows = torch.arange(len(best), device=best.device)
        chosen = torch.where(visible[rows, best], best + 1, 0)
        return chosen, centers[rows, best].to(torch.float32)
