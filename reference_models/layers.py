"""Building blocks shared by the reference models, written to match the authors' TF1/slim code.

Conventions (reference spec §3.2, §5.13): every convolution has stride 1, TF ``SAME`` padding and
no bias, and is followed by a layer norm that normalises each sample jointly over (C, H, W), adds a
learned per-channel offset and has **no** gain; epsilon is TF1-contrib's 1e-12. Weights use
TF-contrib's truncated-normal variance scaling with factor 2 over the average fan.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN_EPS = 1e-12
"""``tf.contrib.layers.layer_norm``'s variance epsilon."""

L2_FACTOR = 1e-9
"""The authors' slim ``l2_regularizer(1e-9)`` on conv weights: loss += 1e-9 * sum(w**2) / 2."""


def tf_same_padding(kernel: int, dilation: int = 1) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding that reproduces TF ``SAME`` at stride 1.

    TF pads ``dilation*(kernel-1)`` in total and puts the smaller half first, so the even 2x2
    kernel gets (0 before, 1 after) and its dilation-2 version (1, 1); PyTorch's symmetric
    ``padding=`` cannot express the former.
    """
    total = dilation * (kernel - 1)
    before = total // 2
    return (before, total - before, before, total - before)


def variance_scaling_(weight: Tensor, factor: float = 2.0) -> Tensor:
    """In-place TF-contrib ``variance_scaling_initializer(factor, mode='FAN_AVG')`` (normal).

    stddev = sqrt(1.3 * factor / n) with n the mean of fan-in and fan-out (kernel area included),
    truncated at two standard deviations. The paper says "MSRA Gaussian"; the released
    checkpoints come from this code, so it is the default (spec §5.24).
    """
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    std = math.sqrt(1.3 * factor / ((fan_in + fan_out) / 2.0))
    with torch.no_grad():
        return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def layer_norm(x: Tensor, bias: Tensor | None = None) -> Tensor:
    """TF1 ``slim.layer_norm(scale=False)`` on NCHW: per-sample statistics over (C, H, W).

    Equal to ``GroupNorm(1, C)`` with the gain fixed at 1; runs in float32 under autocast. The
    offset is added separately: torch 2.13's group_norm backward fails for a bias without weight.
    """
    out = F.group_norm(x, 1, None, None, LN_EPS)
    return out if bias is None else out + bias[:, None, None].to(out.dtype)


class LayerNorm2d(nn.Module):
    """Layer norm with a learned per-channel offset and no gain (C parameters in all)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.bias)


class ConvLN(nn.Module):
    """slim.conv2d as the authors configured it: SAME conv without bias -> layer norm -> ReLU.

    ``skip_channels`` splits the input of a decoder block into the running tensor and the
    concatenated encoder skip. The weight stays one tensor over the concatenation (as in TF), but
    the two halves are convolved separately so that a skip shared by many decoder proposals is
    convolved once and broadcast (conv is linear, so this equals conv(concat(x, skip))).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        *,
        dilation: int = 1,
        skip_channels: int = 0,
        relu: bool = True,
    ) -> None:
        super().__init__()
        total_in = in_channels + skip_channels
        self.weight = nn.Parameter(torch.empty(out_channels, total_in, kernel, kernel))
        self.norm = LayerNorm2d(out_channels)
        self.in_channels = in_channels
        self.dilation = dilation
        self.padding = tf_same_padding(kernel, dilation)
        self.relu = relu
        variance_scaling_(self.weight)

    def _conv(self, x: Tensor, weight: Tensor) -> Tensor:
        left, right = self.padding[:2]
        if left == right:  # odd kernels (and dilated 2x2): the conv's own padding, no copy
            return F.conv2d(x, weight, padding=left, dilation=self.dilation)
        return F.conv2d(F.pad(x, self.padding), weight, dilation=self.dilation)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        """x: [N, C, H, W], or [B, P, C, H, W] with ``skip`` [B, Cs, H, W] shared by the P."""
        lead = x.shape[:-3]
        weight = self.weight if skip is None else self.weight[:, : self.in_channels]
        out = self._conv(x.flatten(0, -4), weight)
        if skip is not None:
            side = self._conv(skip, self.weight[:, self.in_channels :])
            out = out.unflatten(0, lead) + (side.unsqueeze(1) if len(lead) == 2 else side)
            out = out.flatten(0, -4)
        out = self.norm(out)
        out = F.relu(out) if self.relu else out
        return out.unflatten(0, lead)


def conv_weights(module: nn.Module) -> list[Tensor]:
    """The conv kernels the authors' L2 regulariser covers (not the layer-norm offsets)."""
    return [m.weight for m in module.modules() if isinstance(m, ConvLN)]


def l2_penalty(module: nn.Module, factor: float = L2_FACTOR) -> Tensor:
    """slim ``l2_regularizer``: factor * sum(w^2) / 2 over the conv kernels of ``module``."""
    return factor * sum(w.float().pow(2).sum() for w in conv_weights(module)) / 2.0


def crop_transformer(images: Tensor, centers: Tensor, size: int = 32) -> Tensor:
    """Crop ``size``x``size`` windows centred on ``centers`` exactly as MaskNet's code does.

    The authors feed theta = [[1/3, 0, 2*cx/(W-1) - 1], [0, 1/3, 2*cy/(H-1) - 1]] to the classic
    TF spatial transformer (tensorflow/models ``transformer``): output grid ``linspace(-1, 1,
    size)``, source pixel ``(u + 1) * W / 2`` (note W, not W-1: a sub-pixel mismatch, spec §5.17),
    bilinear weights computed from the *clipped* neighbour indices, so samples outside the image
    read 0. images: [N, C, H, W]; centers: [N, 2] (x, y) pixels -> [N, C, size, size].
    """
    n, _, height, width = images.shape
    grid = torch.linspace(-1.0, 1.0, size, device=images.device, dtype=torch.float32)
    c = centers.to(torch.float32)
    shift_x = 2.0 * c[:, 0:1] / (width - 1) - 1.0
    shift_y = 2.0 * c[:, 1:2] / (height - 1) - 1.0
    xs = (grid / 3.0 + shift_x + 1.0) * width / 2.0  # [N, size]
    ys = (grid / 3.0 + shift_y + 1.0) * height / 2.0
    x0, y0 = torch.floor(xs), torch.floor(ys)
    x0c, x1c = x0.clamp(0, width - 1), (x0 + 1).clamp(0, width - 1)
    y0c, y1c = y0.clamp(0, height - 1), (y0 + 1).clamp(0, height - 1)
    wx0, wx1 = x1c - xs, xs - x0c  # TF: (x1_f - x), (x - x0_f) from clipped indices
    wy0, wy1 = y1c - ys, ys - y0c
    flat = images.flatten(2).to(torch.float32)  # [N, C, H*W]

    def gather(yi: Tensor, xi: Tensor) -> Tensor:
        idx = (yi.long()[:, :, None] * width + xi.long()[:, None, :]).flatten(1)  # [N, s*s]
        picked = flat.gather(2, idx[:, None, :].expand(-1, flat.shape[1], -1))
        return picked.unflatten(2, (size, size))

    out = (
        gather(y0c, x0c) * (wy0[:, :, None] * wx0[:, None, :])[:, None]
        + gather(y1c, x0c) * (wy1[:, :, None] * wx0[:, None, :])[:, None]
        + gather(y0c, x1c) * (wy0[:, :, None] * wx1[:, None, :])[:, None]
        + gather(y1c, x1c) * (wy1[:, :, None] * wx1[:, None, :])[:, None]
    )
    return out.view(n, -1, size, size)


def window_crop(images: Tensor, sample: Tensor, centers: Tensor, size: int) -> Tensor:
    """Integer ``size``x``size`` windows (zero outside the image), one per (sample, centre).

    The window of centre (x, y) covers columns x - size//2 .. x + size//2 - 1 (rows likewise).
    images: [B, C, H, W]; sample: int64 [N] indices into B; centers: int64 [N, 2] -> [N, C, s, s].
    """
    half = size // 2
    padded = F.pad(images, (half, half, half, half))
    offsets = torch.arange(size, device=images.device)
    ys = centers[:, 1:2] + offsets  # padded coordinates: centre + half - half
    xs = centers[:, 0:1] + offsets
    lim = padded.shape[-1] - 1, padded.shape[-2] - 1
    ys, xs = ys.clamp(0, lim[1]), xs.clamp(0, lim[0])
    crops = padded[sample[:, None, None], :, ys[:, :, None], xs[:, None, :]]  # [N, s, s, C]
    return crops.permute(0, 3, 1, 2)


def instance_centers(instance_map: Tensor, num_glyphs: int) -> tuple[Tensor, Tensor]:
    """Floored centre of mass (x, y) of every glyph's visible pixels, from the instance map.

    instance_map: int [B, H, W] with 0 = background and k = the k-th glyph (1-based).
    Returns centres int64 [B, num_glyphs, 2] (index k-1; (-1, -1) when invisible) and
    visible bool [B, num_glyphs]. One scatter-add, so L = 256 glyphs cost the same as 4.
    """
    b, height, width = instance_map.shape
    ids = instance_map.long().flatten(1).clamp(0, num_glyphs)  # [B, H*W]
    ys, xs = torch.meshgrid(
        torch.arange(height, device=ids.device),
        torch.arange(width, device=ids.device),
        indexing="ij",
    )
    moments = torch.zeros(b, num_glyphs + 1, 3, dtype=torch.int64, device=ids.device)
    values = torch.stack([torch.ones_like(xs), xs, ys], dim=-1).flatten(0, 1)  # [H*W, 3]
    moments.scatter_add_(1, ids[:, :, None].expand(-1, -1, 3), values.expand(b, -1, -1))
    moments = moments[:, 1:]
    count = moments[..., :1]
    centers = torch.where(count > 0, moments[..., 1:] // count.clamp(min=1), -1)
    return centers, count[..., 0] > 0


def paper_bce(prob: Tensor, label: Tensor, weight: Tensor | None = None) -> Tensor:
    """The authors' binary cross-entropy on sigmoid scores, with 1e-4 inside the logs.

    ``-(y log(p + 1e-4) + (1 - y) log(1 - p + 1e-4))`` averaged over all entries (or a weighted
    mean, where ``weight`` drops pairs that could not be formed).
    """
    eps = 1e-4
    with torch.autocast(prob.device.type, enabled=False):  # always fp32 (bf16 saturates)
        prob, label = prob.float(), label.float()
        loss = -(label * torch.log(prob + eps) + (1 - label) * torch.log(1 - prob + eps))
        if weight is None:
            return loss.mean()
        return (loss * weight.float()).sum() / weight.float().sum().clamp(min=1)
