"""MaskNet (paper §4, ``model.py: mask_net``): segment all 144 proposals first, decide later.

Front end = the Siamese U-Net's encoders and matching step. Proposal q multiplies the matched
tensor by a one-hot 12x12 map at cell q (flat index column + 12*row), layer-normalises it without
parameters and decodes it with the shared decoder; all proposals of a batch go through the
decoder as one [B, P, ...] tensor (the skips are convolved once per sample and broadcast); on a
CPU in tiles of ``CPU_PROPOSAL_TILE`` proposals, which is faster there.
Decision: binarise each proposal at 0.3, floored centre of mass, 32x32 crop with the authors'
spatial transformer, shown *white* (value*255, standardised like the inputs, 3 channels), scored
by the Siamese scorer against the target vector; the highest score wins. Trainable parameters at
F = 24: 4,208,402.

Untargeted variant (paper §6.6, no released code; a reimplementation): "we remove the target
multiplication step ... and simply seed the decoder with the spatial one-hot encoding". The seed
is the one-hot map broadcast over the 16F channels (a constant vector instead of the target
embedding), so the decoder keeps its shape and is initialised from the baseline like the
targeted one; the decision stage is unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from oneshotbench.metrics import PAPER_THRESHOLD, binarize, center_of_mass
from reference_models.discriminators import CROP, SiameseScorer
from reference_models.layers import crop_transformer, layer_norm
from reference_models.normalization import InputStats
from reference_models.siamese_unet import SiameseUNet

GRID = 12
NUM_PROPOSALS = GRID * GRID
CPU_PROPOSAL_TILE = 8
"""Proposals per decoder pass on a CPU, where one 144-proposal pass is memory-bound: per sample,
2 threads, 0.92 s in one pass, 0.36 s in tiles of 8 (0.38 s of 4, 0.50 s of 16), 0.65 s as 144
single calls (``benchmarks/bench_training.py``). On a GPU all 144 go in one pass."""


class MaskNet(SiameseUNet):
    """Targeted or untargeted MaskNet; ``forward`` returns the chosen proposal's logits."""

    def __init__(
        self,
        features: int = 24,
        stats: InputStats | None = None,
        *,
        targeted: bool = True,
        threshold: float = PAPER_THRESHOLD,
    ) -> None:
        super().__init__(features, stats)
        self.targeted = targeted
        self.threshold = threshold
        self.discriminator = SiameseScorer(features)

    def decode(
        self, targets: Tensor, scenes: Tensor, cells: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Decode proposals at grid ``cells`` (int64 [B, P]; default all 144).

        Returns logits [B, P, 2, 96, 96] and the target vectors [B, 16F].
        """
        target_vector, skips, matched = self.encode(targets, scenes)
        if cells is None:
            cells = torch.arange(NUM_PROPOSALS, device=scenes.device).expand(len(scenes), -1)
        base = matched if self.targeted else torch.ones_like(matched)
        one_hot = torch.nn.functional.one_hot(cells, NUM_PROPOSALS).to(base.dtype)
        seeds = base.unsqueeze(1) * one_hot.unflatten(2, (GRID, GRID)).unsqueeze(2)
        seeds = layer_norm(seeds.flatten(0, 1)).unflatten(0, cells.shape)
        tile = CPU_PROPOSAL_TILE if seeds.device.type == "cpu" else seeds.shape[1]
        logits = torch.cat([self.decoder(part, skips) for part in seeds.split(tile, dim=1)], dim=1)
        return logits, target_vector.flatten(1)

    def score(self, foreground: Tensor, target_vectors: Tensor) -> Tensor:
        """Scores [B, P] of proposals given their foreground probabilities [B, P, 96, 96]."""
        masks = binarize(foreground.flatten(0, 1), self.threshold)
        centers = center_of_mass(masks)
        crops = crop_transformer(masks[:, None].to(torch.float32), centers, CROP)
        crops = self.standardize(crops).expand(-1, 3, -1, -1)
        vectors = target_vectors.repeat_interleave(foreground.shape[1], dim=0)
        return self.discriminator(crops, vectors).unflatten(0, foreground.shape[:2])

    def forward(self, targets: Tensor, scenes: Tensor) -> Tensor:
        """targets [B,3,32,32], scenes [B,3,96,96] in [0, 1] -> logits [B, 2, 96, 96]."""
        logits, target_vectors = self.decode(targets, scenes)
        scores = self.score(torch.softmax(logits.float(), dim=2)[:, :, 1], target_vectors)
        best = scores.argmax(dim=1)
        return logits[torch.arange(len(best), device=best.device), best]
