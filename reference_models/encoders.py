"""The six-layer encoder of the paper's Fig. 3C (``model.py: encoder``), target or scene flavour.

Target path (32x32 in): conv 3x3 (2F) | pool | 3x3 (4F) | pool | 3x3 (8F) | pool | 3x3 (8F) |
pool | 2x2 (16F) | pool | 1x1 (16F) -> a 1x1x16F vector. Scene path ("dilated", 96x96 in): the
same without the last two poolings and with dilation 2 on the 2x2 conv -> 12x12x16F. Pooling is
2x2 average, stride 2. All six outputs are returned because the decoder uses them as skips.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from reference_models.layers import ConvLN


def encoder_channels(features: int) -> list[int]:
    """Output channels of e1..e6 for ``feature_maps`` F (F = 24 in the paper: 48 ... 384)."""
    return [2 * features, 4 * features, 8 * features, 8 * features, 16 * features, 16 * features]


class Encoder(nn.Module):
    """One encoder path; ``dilated=True`` is the scene encoder ("clutter_encoder")."""

    KERNELS = (3, 3, 3, 3, 2, 1)

    def __init__(self, features: int, dilated: bool) -> None:
        super().__init__()
        channels = encoder_channels(features)
        ins = [3, *channels[:-1]]
        self.dilated = dilated
        self.convs = nn.ModuleList(
            ConvLN(c_in, c_out, k, dilation=2 if (dilated and i == 4) else 1)
            for i, (c_in, c_out, k) in enumerate(zip(ins, channels, self.KERNELS, strict=True))
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: standardised images [N, 3, H, W] -> the end points e1..e6."""
        points = []
        for i, conv in enumerate(self.convs):
            if 1 <= i <= 3 or (i >= 4 and not self.dilated):
                x = F.avg_pool2d(x, 2)
            x = conv(x)
            points.append(x)
        return points
