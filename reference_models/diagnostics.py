"""Does a trained segmentation network still look at its target?

A one-shot network that has stopped using its target can still lower its training loss (it learns
where the ink is and gives every glyph the chance that it is the target), so neither the loss nor
a falling val-train IoU says what went wrong. Two direct measurements do: how much the output
moves when each scene is given another sample's target, and how much the matching step's
normalised output (the only way the target reaches the decoder) differs between samples. Both are
pure functions of a model and a batch; ``tools/target_dependence.py`` runs them on a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reference_models.layers import layer_norm
from reference_models.siamese_unet import SiameseUNet

BLIND_BELOW = 1e-4
"""Mean probability change under swapped targets below which a network counts as blind to its
target: the tiny CPU U-Net, which picks the target more often than chance, moves 4.7e-3; the
paper-size one trained on a CPU at level 4, which does not, 9e-7."""


@dataclass(frozen=True)
class TargetDependence:
    output_change: float  # mean |p(target, scene) - p(other target, scene)| over all pixels
    matched_spread: float  # between-sample std of the normalised matching output, channel mean
    samples: int

    @property
    def blind(self) -> bool:
        return self.output_change < BLIND_BELOW


@torch.no_grad()
def target_dependence(model: SiameseUNet, targets: Tensor, scenes: Tensor) -> TargetDependence:
    """Measure ``model`` on a batch (images in [0, 1], NCHW); each scene is also paired with the
    next sample's target, so the batch needs at least two samples with different targets."""
    if len(targets) < 2:
        raise ValueError("target dependence needs a batch of at least two samples")
    model.eval()
    other = torch.roll(torch.arange(len(targets), device=targets.device), 1)
    own = torch.softmax(model(targets, scenes).float(), dim=1)[:, 1]
    swapped = torch.softmax(model(targets[other], scenes).float(), dim=1)[:, 1]
    _, _, matched = model.encode(targets, scenes)
    return TargetDependence(
        output_change=(own - swapped).abs().mean().item(),
        matched_spread=layer_norm(matched.float()).std(dim=0).mean().item(),
        samples=len(targets),
    )
