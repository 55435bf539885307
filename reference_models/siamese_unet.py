"""Siamese U-Net baseline (paper §3, ``model.py: siamese_u_net``), following the released code.

Paper vs code (spec §5.12, §5.24), code followed: the two encoders do **not** share weights; the
matching step is a plain inner product (the paper says cosine similarity); initialisation is
truncated-normal variance scaling (the paper says MSRA); the decoder's 2-class classifier is
layer-normalised too. Trainable parameters at F = 24: 3,223,922.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from reference_models.encoders import Encoder, encoder_channels
from reference_models.layers import ConvLN, layer_norm
from reference_models.normalization import InputStats, standardize

# (kernel, upsample after) of decoder blocks d6 .. d1; d1 is the classifier (no ReLU).
_DECODER_LAYOUT = ((1, False), (2, False), (3, True), (3, True), (3, True), (3, False))


def match(scene_features: Tensor, target_vector: Tensor) -> Tensor:
    """Inner-product heat map times the target vector (before normalisation).

    scene_features [B, C, h, w], target_vector [B, C, 1, 1] -> [B, C, h, w]: at every position
    the plain dot product of scene and target embeddings (the authors' per-sample 1x1 conv),
    then the outer product of that 1-channel map with the target vector.
    """
    similarity = (scene_features * target_vector).sum(dim=1, keepdim=True)
    return similarity * target_vector


class Decoder(nn.Module):
    """U-Net decoder d6..d1: concat skip -> conv -> LN -> ReLU (-> nearest 2x upsampling).

    Accepts a batch of P decoder seeds per sample ([B, P, C, 12, 12]) sharing the sample's skips,
    so MaskNet decodes all of its proposals in one pass.
    """

    def __init__(self, features: int, num_classes: int = 2) -> None:
        super().__init__()
        skips = encoder_channels(features)[::-1]  # e6 .. e1
        outs = [8 * features, 8 * features, 4 * features, 4 * features, 2 * features, num_classes]
        ins = [skips[0], *outs[:-1]]
        self.upsample = [up for _, up in _DECODER_LAYOUT]
        self.convs = nn.ModuleList(
            ConvLN(c_in, c_out, k, skip_channels=c_skip, relu=i < 5)
            for i, (c_in, c_out, c_skip, (k, _)) in enumerate(
                zip(ins, outs, skips, _DECODER_LAYOUT, strict=True)
            )
        )

    def forward(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        """x: [B, P, C, 12, 12]; skips: encoder end points e1..e6 -> logits [B, P, 2, 96, 96]."""
        for conv, skip, up in zip(self.convs, skips[::-1], self.upsample, strict=True):
            x = conv(x, skip)
            if up:
                x = F.interpolate(x.flatten(0, 1), scale_factor=2, mode="nearest")
                x = x.unflatten(0, (skip.shape[0], -1))
        return x


class SiameseUNet(nn.Module):
    """Target encoder + dilated scene encoder + matching + U-Net decoder + 2-class logits."""

    def __init__(self, features: int = 24, stats: InputStats | None = None) -> None:
        super().__init__()
        self.features = features
        self.stats = stats
        self.target_encoder = Encoder(features, dilated=False)  # TF scope "clean_encoder"
        self.scene_encoder = Encoder(features, dilated=True)  # TF scope "clutter_encoder"
        self.decoder = Decoder(features)

    def standardize(self, images01: Tensor) -> Tensor:
        """Apply the training-set constants stored with the model (spec §3.1)."""
        if self.stats is None:
            raise RuntimeError("input statistics are not set; load a checkpoint or train first")
        return standardize(images01, self.stats)

    def encode(self, targets: Tensor, scenes: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
        """Images in [0,1] -> (target vector [B,C,1,1], scene skips e1..e6, matched [B,C,12,12])."""
        target_vector = self.target_encoder(self.standardize(targets))[-1]
        skips = self.scene_encoder(self.standardize(scenes))
        return target_vector, skips, match(skips[-1], target_vector)

    def forward(self, targets: Tensor, scenes: Tensor) -> Tensor:
        """targets [B,3,32,32], scenes [B,3,96,96] in [0, 1] -> logits [B, 2, 96, 96]."""
        _, skips, matched = self.encode(targets, scenes)
        return self.decoder(layer_norm(matched).unsqueeze(1), skips)[:, 0]
