"""Template matching oracle (paper §6.3, footnote 2) — a reimplementation; no code was released.

The paper: "We generated 9317 transformed versions of the target (11 rotations, 7 shearing
angles, 11x11 x/y scales), convolved them with each segmented, binarized character and picked
the best match", built on the pre-segmented discriminator (ground-truth locations and masks).
Choices made here where the paper is silent:

* Target binarisation: a pixel is foreground if any channel is non-zero (glyphs are pasted on
  pure black with nearest-neighbour sampling, so there is no anti-aliasing to threshold).
* Transform grid, in the generator's own parameterisation (spec §2.5: x axis rotated by
  phi+theta, y axis by phi-theta, independent x/y scales a, b): 11 rotations phi in [-40, 40]
  degrees, 7 shears theta in [-20, 20] degrees and 11 x 11 scales a, b in 2^[-1, 1]. The ranges
  are those of the *relative* transform between the target image (its own rotation +-20 and
  shear +-10, unscaled) and the scene copy (rotation +-20, shear +-10, scale 2^U(-1,1) per axis).
  Templates are warped about the target's centre of mass, nearest-neighbour like the generator.
* Characters: as the pre-segmented discriminator sees them — a 32 x 32 crop at each glyph's
  floored centre of mass holding only that glyph's visible pixels (instance map == k).
* Score: the cosine similarity <T, C> / sqrt(|T| |C|) of the binary crop and the template's
  pixels in the same 32 x 32 window, maximised over templates and shifts; the best glyph wins.
  ``normalized=False`` gives the raw correlation <T, C>, which favours whatever fills the
  window. Why normalised: on standard 5-way one-shot Omniglot, for which the paper reports 84 %
  (footnote 3), this matcher scores 80.2 % normalised but only 37.8 % raw
  (``benchmarks/template_matching_fiveway.py --trials 400``), so raw scores are not what the
  paper used. On cluttered scenes the paper's row (62.2 ... 28.6 %) lies between the two:
  normalised 99.2 ... 78.0 % (all 10,000 samples per level), raw 41.5 ... 17.3 % (1,000 per
  level; records in ``results/``, README). The paper's own scoring is unknown; with the same
  drawing in target and scene (spec §2.4) and oracle segmentation, the normalised match finds the
  target far more often than the paper's.
* Shifts ("convolved"): the literal full convolution (every relative shift, by FFT:
  ``exhaustive_scores``) costs 10 s per scene at L=4 on one CPU core, days for Table 1.
  ``scores`` aligns template and crop at their centres of mass and searches shifts within +-2 px,
  and it picks the same glyph as the full convolution on all 88 checked scenes (the first 60 at
  L=4, 15 at L=16, 8 at L=32, 3 at L=64, 2 at L=256; +-1 px: all but one; no shift: 93 %, 87 %,
  88 %, 67 %, 100 %), measured by ``benchmarks/template_matching_agreement.py``.
* Speed: on the CPU the search is compiled (:mod:`reference_models.template_kernels`: per glyph
  and shift, the sum of the template rows of the crop's lit pixels), 18.7 ms per scene at L=4 and
  143 ms at L=256 on one core; on a GPU it is one matrix product per scene (119.6 ms and 1,677 ms
  on that CPU core, ``benchmarks/bench_template_matching.py``). Both give the same scores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from reference_models import template_kernels
from reference_models.layers import instance_centers, window_crop

CANVAS = 64
CROP = 32  # the pre-segmented discriminator's crop size
SHIFT_RADIUS = 2


@dataclass(frozen=True)
class TemplateGrid:
    """The transformed-template family of footnote 2 (11 x 7 x 11 x 11 = 9,317 by default)."""

    rotations: int = 11
    shears: int = 7
    scales: int = 11
    max_rotation: float = 40.0  # degrees
    max_shear: float = 20.0  # degrees
    max_log2_scale: float = 1.0

    def __len__(self) -> int:
        return self.rotations * self.shears * self.scales * self.scales

    def _axes(self) -> tuple[Tensor, Tensor, Tensor]:
        deg = lambda m, n: torch.deg2rad(torch.linspace(-m, m, n, dtype=torch.float64))  # noqa: E731
        log2 = torch.linspace(
            -self.max_log2_scale, self.max_log2_scale, self.scales, dtype=torch.float64
        )
        return deg(self.max_rotation, self.rotations), deg(self.max_shear, self.shears), 2.0**log2

    def bases(self) -> Tensor:
        """Unscaled maps R(phi, theta) [rotations*shears, 2, 2]: A = R @ diag(a, b)."""
        phi, theta, _ = self._axes()
        p, t = (g.flatten() for g in torch.meshgrid(phi, theta, indexing="ij"))
        row0 = torch.stack([torch.cos(p + t), torch.sin(p - t)], dim=1)
        row1 = torch.stack([-torch.sin(p + t), torch.cos(p - t)], dim=1)
        return torch.stack([row0, row1], dim=1)

    def scale_values(self) -> Tensor:
        """The per-axis scales a (and b), [scales]."""
        return self._axes()[2]

    def matrices(self) -> Tensor:
        """All forward maps A [N, 2, 2] on (x, y) columns, in template order (phi, theta, a, b)."""
        scale = self.scale_values()
        a, b = (g.flatten() for g in torch.meshgrid(scale, scale, indexing="ij"))
        diag = torch.diag_embed(torch.stack([a, b], dim=1))  # [S*S, 2, 2]
        return (self.bases()[:, None] @ diag[None]).flatten(0, 1)


def binarize_targets(targets: Tensor) -> Tensor:
    """Targets [B, 3, 32, 32] in [0, 1] -> bool glyph masks [B, 32, 32] (any channel > 0)."""
    return targets.amax(dim=1) > 0


@functools.cache
def scaled_offsets(grid: TemplateGrid, canvas: int, chunk: int = 8) -> tuple[Tensor, Tensor]:
    """The part of every template's warp that does not depend on the target: for each canvas
    pixel p, the x [k, S, P] (by rotation/shear pair, x scale a, pixel) and y [k, S, P] (pair,
    y scale b) of diag(1/a, 1/b) R^-1 (p - centre), float32 on the CPU, computed once.

    The warp is about the target's centre of mass, which lands on the canvas centre
    (canvas // 2), sampled nearest-neighbour: pixel p reads the source pixel nearest to
    A^-1 (p - centre) + com. Since A^-1 = diag(1/a, 1/b) R^-1, source columns depend only on
    (R, a) and rows only on (R, b).
    """
    offsets = torch.arange(canvas, dtype=torch.float32) - canvas // 2
    gy, gx = torch.meshgrid(offsets, offsets, indexing="ij")
    points = torch.stack([gx, gy], dim=-1).reshape(-1, 2)  # [P, 2] (x, y)
    inverse = torch.linalg.inv(grid.bases()).to(torch.float32)
    scale = grid.scale_values().to(torch.float32)[None, :, None]
    columns, rows = [], []
    for part in inverse.split(chunk):
        rotated = points @ part.transpose(1, 2)  # [k, P, 2] = R^-1 p
        columns.append(rotated[:, None, :, 0] / scale)
        rows.append(rotated[:, None, :, 1] / scale)
    return torch.cat(columns), torch.cat(rows)


def center_of_mass(mask: Tensor) -> Tensor | None:
    """float32 (x, y) mean of the mask's pixels [2], or None for an empty mask."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(xs) == 0:
        return None
    return torch.stack([xs.float().mean(), ys.float().mean()])


def make_templates(mask: Tensor, grid: TemplateGrid, canvas: int = CANVAS) -> Tensor:
    """Warp one binary target mask [h, w] by every map of ``grid`` (see :func:`scaled_offsets`)
    -> float [N, canvas, canvas], in grid order (pair, a, b): one gather over the outer product
    of source columns and rows, 8 rotation/shear pairs at a time."""
    height, width = mask.shape
    com = center_of_mass(mask)
    if com is None:
        return torch.zeros((len(grid), canvas, canvas), device=mask.device)
    flat, templates = mask.flatten(), []
    for part_x, part_y in zip(*(o.split(8) for o in scaled_offsets(grid, canvas)), strict=True):
        x = torch.floor(part_x.to(mask.device) + com[0] + 0.5).long()
        y = torch.floor(part_y.to(mask.device) + com[1] + 0.5).long()
        index = y.clamp(0, height - 1)[:, None] * width + x.clamp(0, width - 1)[:, :, None]
        inside = ((x >= 0) & (x < width))[:, :, None] & ((y >= 0) & (y < height))[:, None]
        templates.append((flat[index] & inside).flatten(0, 2))  # [k*S*S, P]
    return torch.cat(templates).view(len(grid), canvas, canvas).to(torch.float32)


@functools.cache
def _pixel_major_offsets(grid: TemplateGrid, canvas: int) -> tuple[np.ndarray, np.ndarray]:
    return tuple(o.permute(2, 0, 1).contiguous().numpy() for o in scaled_offsets(grid, canvas))


def pixel_major_templates(mask: Tensor, grid: TemplateGrid, canvas: int) -> np.ndarray:
    """The templates of :func:`make_templates` as uint8 [canvas * canvas, N] (CPU), the layout
    the compiled matcher reads one pixel's row from."""
    com = center_of_mass(mask)
    if com is None:
        return np.zeros((canvas * canvas, len(grid)), np.uint8)
    columns, rows = _pixel_major_offsets(grid, canvas)
    return template_kernels.warp_pixel_major(mask.numpy(), columns, rows, *com.numpy())


def shift_offsets(radius: int) -> list[tuple[int, int]]:
    """All integer (dx, dy) with |dx|, |dy| <= radius."""
    steps = range(-radius, radius + 1)
    return [(dx, dy) for dy in steps for dx in steps]


def cosine(dots: Tensor, character_mass: Tensor, template_mass: Tensor) -> Tensor:
    """Cosine similarity of binary images from their dot products and pixel counts (broadcast):
    <T, C> / sqrt(|T| |C|), 1 only for an exact match and 0 when either image is empty.

    float32 with a correctly rounded square root, taken in float64: torch's float32 ``sqrt`` is
    off by one unit in the last place on some CPUs (AVX-512: sqrt(2365) gives 48.631264, not
    48.631268), which would make scores depend on the machine."""
    norm = (character_mass * template_mass).clamp(min=1.0).double().sqrt().float()
    return dots / norm


def segmented_crops(instance_map: Tensor, num_glyphs: int, crop: int) -> tuple[Tensor, Tensor]:
    """The pre-segmented discriminator's inputs, binarised: for each visible glyph of one scene
    (instance_map [96, 96]), its own pixels in a ``crop`` x ``crop`` window at its floored centre
    of mass. Returns the 0-based glyph indices [N] and float crops [N, crop, crop]."""
    centers, visible = instance_centers(instance_map[None], num_glyphs)
    ids = torch.nonzero(visible[0]).flatten()
    windows = window_crop(instance_map[None, None], torch.zeros_like(ids), centers[0, ids], crop)
    return ids, (windows[:, 0] == (ids + 1)[:, None, None]).to(torch.float32)


def _per_glyph(ids: Tensor, best: Tensor, num_glyphs: int) -> Tensor:
    result = torch.full((num_glyphs,), -1.0, device=best.device)
    result[ids] = best.to(result.dtype)
    return result


class TemplateMatcher:
    """Pick the scene glyph that best matches any transformed version of the target.

    ``scores`` is the fast search (template and crop aligned at their centres of mass, shifts
    within +-``shift_radius``); ``exhaustive_scores`` correlates at every relative shift (the
    literal full convolution, by FFT) and exists to check that the fast search picks the same
    glyph (``benchmarks/template_matching_agreement.py``).
    """

    def __init__(
        self,
        grid: TemplateGrid = TemplateGrid(),
        shift_radius: int = SHIFT_RADIUS,
        crop: int = CROP,
        normalized: bool = True,
    ) -> None:
        self.grid = grid
        self.normalized = normalized
        self.shift_radius = shift_radius
        self.crop = crop

    def _target_mask(self, target: Tensor) -> Tensor:
        return binarize_targets(target[None])[0]

    def scores(self, target: Tensor, instance_map: Tensor, num_glyphs: int) -> Tensor:
        """One scene: target [3,32,32], instance_map [96,96] -> best score per glyph [L] (-1 if
        the glyph is invisible).

        Templates sit on a (crop + 2r)-pixel canvas and each crop is placed on it at every shift.
        On the CPU the compiled matcher adds, per glyph and shift, the template rows of the
        crop's lit pixels (:mod:`reference_models.template_kernels`); elsewhere one matrix
        product scores all templates, glyphs and shifts, and a second gives each template's mass
        inside the crop's window at each shift (its norm there). Both give the same scores.
        """
        if target.device.type == "cpu":
            return self._sparse_scores(target, instance_map, num_glyphs)
        return self._dense_scores(target, instance_map, num_glyphs)

    def _sparse_scores(self, target: Tensor, instance_map: Tensor, num_glyphs: int) -> Tensor:
        r, crop = self.shift_radius, self.crop
        size = crop + 2 * r
        templates = pixel_major_templates(self._target_mask(target), self.grid, size)
        masses = template_kernels.window_masses(templates, size, crop, r)
        ids, crops = segmented_crops(instance_map, num_glyphs, crop)
        glyph, cy, cx = torch.nonzero(crops, as_tuple=True)  # row-major: grouped by glyph
        starts = torch.zeros(len(ids) + 1, dtype=torch.int64)
        starts[1:] = torch.bincount(glyph, minlength=len(ids)).cumsum(0)
        best = template_kernels.best_matches(
            templates,
            masses,
            (cy * size + cx).numpy(),
            starts.numpy(),
            crops.flatten(1).sum(1).numpy(),
            size,
            r,
            self.normalized,
        )
        return _per_glyph(ids, torch.from_numpy(best), num_glyphs)

    def _dense_scores(self, target: Tensor, instance_map: Tensor, num_glyphs: int) -> Tensor:
        r, crop = self.shift_radius, self.crop
        size = crop + 2 * r
        templates = make_templates(self._target_mask(target), self.grid, size).flatten(1)
        ids, crops = segmented_crops(instance_map, num_glyphs, crop)
        shifts = shift_offsets(r)
        placed = crops.new_zeros((len(shifts), len(ids) + 1, size, size))
        for i, (dx, dy) in enumerate(shifts):
            placed[i, :-1, r + dy : r + dy + crop, r + dx : r + dx + crop] = crops
            placed[i, -1, r + dy : r + dy + crop, r + dx : r + dx + crop] = 1.0  # the window
        dots = (placed.flatten(2) @ templates.T).view(len(shifts), len(ids) + 1, -1)
        glyph_dots, in_window = dots[:, :-1], dots[:, -1:]
        if self.normalized:
            glyph_dots = cosine(glyph_dots, crops.flatten(1).sum(1)[None, :, None], in_window)
        return _per_glyph(ids, glyph_dots.amax(dim=(0, 2)), num_glyphs)

    def exhaustive_scores(self, target: Tensor, instance_map: Tensor, num_glyphs: int) -> Tensor:
        """Like :meth:`scores`, but at every shift at which the crop overlaps the template's
        64 x 64 canvas (+-47 px): the full convolution, by FFT. Seconds per glyph on a CPU."""
        templates = make_templates(self._target_mask(target), self.grid, CANVAS)
        ids, crops = segmented_crops(instance_map, num_glyphs, self.crop)
        size = (CANVAS + self.crop, CANVAS + self.crop)  # >= the full correlation's extent
        spectra = torch.fft.rfft2(templates, s=size)
        box = torch.ones((1, self.crop, self.crop), device=crops.device)

        def correlate(image: Tensor) -> Tensor:  # [M, shifts] of sum_p T(p + s) image(p)
            kernel = torch.fft.rfft2(image, s=size).conj()
            return torch.fft.irfft2(spectra * kernel, s=size).round().flatten(1)

        in_window = correlate(box[0]) if self.normalized else None
        best = torch.empty(len(ids), device=crops.device)
        for i, crop in enumerate(crops):
            dots = correlate(crop)
            if self.normalized:
                dots = cosine(dots, crop.sum(), in_window)
            best[i] = dots.max()
        return _per_glyph(ids, best, num_glyphs)

    def __call__(
        self, targets: Tensor, instance_map: Tensor, num_glyphs: int
    ) -> tuple[Tensor, Tensor]:
        """Batch: chosen glyph id (1-based; 0 if nothing is visible) [B] and its centre [B, 2]."""
        chosen = (
            torch.stack(
                [
                    self.scores(t, m, num_glyphs).argmax()
                    for t, m in zip(targets, instance_map, strict=True)
                ]
            )
            + 1
        )
        centers, visible = instance_centers(instance_map, num_glyphs)
        rows = torch.arange(len(chosen), device=chosen.device)
        seen = visible[rows, chosen - 1]
        return torch.where(seen, chosen, 0), centers[rows, chosen - 1].to(torch.float32)
