"""The training stream: fresh samples of the canonical distribution for every step, never stored.

The paper trains on 2 M samples per level; nobody should store them. Two backends produce
batches as a pure function of (seed, step):

* ``kernel`` (default on CPU): the canonical compiled generator itself, run on fresh job seeds
  derived from (seed, step) in parallel threads — exactly the canonical distribution.
* ``torch`` (default on CUDA): a vectorised torch generator that runs on the GPU next to the
  model, so data never starves it. It draws the same random quantities as the canonical one
  (pool character, drawer, rotation, shear, anisotropic log-uniform scale, off-by-one crop with
  its retry, uniform colours, uniform top-left corner, dead-leaves pasting with the target last,
  an unscaled re-augmented target image), vectorised over all glyphs of a batch. Its bytes differ
  from the canonical release (another random stream, float instead of fixed-point sampling); its
  distribution does not, which the tests check with two-sample tests against the kernel.

Because batches depend only on (seed, step), training resumes at any step and every data-loader
worker or DDP rank can take its own steps without sharing state.
"""

from __future__ import annotations

import numpy as np
import torch

from oneshotbench.generator.canonical import T_SUM_X, T_SUM_Y, T_VISIBLE
from oneshotbench.generator.jobs import Run, generate_runs
from oneshotbench.generator.spec import (
    MAX_ROTATION,
    MAX_SCALE,
    MAX_SHEAR,
    SCENE_SIZE,
    SOURCE_SIZE,
    TARGET_SIZE,
    JobSpec,
)

_NUDGE = 1e-5
_STEP_STRIDE = 1_000_003  # mixes (seed, step) into one 63-bit generator seed


KERNEL_RUN = 50  # samples per independent kernel run (fixed, so bytes never depend on threads)


def stream_seed(seed: int, step: int) -> int:
    """The torch generator seed of one batch."""
    return (seed * _STEP_STRIDE + step) % (2**63 - 1)


def kernel_seeds(seed: int, step: int, runs: int) -> np.ndarray:
    """Job seeds (1..2**32-1) of the kernel runs that make up one batch."""
    state = np.random.SeedSequence([seed, step]).generate_state(runs, np.uint32)
    return np.maximum(state, 1).astype(np.int64)


class _Draws:
    """Uniform draws from one seeded torch generator on the stream's device."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.device = device

    def uniform(self, shape, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        values = torch.rand(
            shape, generator=self.generator, device=self.device, dtype=torch.float64
        )
        return low + (high - low) * values

    def integers(self, shape, high: torch.Tensor | int) -> torch.Tensor:
        """Uniform integers in [0, high) (``high`` may differ per element)."""
        return torch.floor(self.uniform(shape) * high).long()


def _affine(n: int, scale: float, draws: _Draws):
    """Rotation, shear and per-axis scale of ``n`` glyphs, as the original parameterises them."""
    phi = torch.deg2rad(draws.uniform(n, -MAX_ROTATION, MAX_ROTATION))
    theta = torch.deg2rad(draws.uniform(n, -MAX_SHEAR, MAX_SHEAR))
    a = scale ** draws.uniform(n, -1.0, 1.0)
    b = scale ** draws.uniform(n, -1.0, 1.0)
    return phi, theta, a, b


def render_glyphs(
    bitmaps: torch.Tensor, phi, theta, a, b, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp, resize by 32/105 (nearest) and crop ``len(bitmaps)`` glyphs in one batched pass.

    ``bitmaps`` is bool [G, 105, 105]. Returns boxes, bool [G, size, size] with the resized glyph
    at the top-left, and crops, int64 [G, 4] = left, top, width, height of the authors' off-by-one
    crop (width or height 0 where the original would have retried).
    """
    cpt, spt = torch.cos(phi + theta), torch.sin(phi + theta)
    cmt, smt = torch.cos(phi - theta), torch.sin(phi - theta)
    x, y = a * SOURCE_SIZE, b * SOURCE_SIZE
    zero = torch.zeros_like(x)
    corners_x = torch.stack([zero, smt * y, cpt * x, cpt * x + smt * y], 1)
    corners_y = torch.stack([zero, cmt * y, -spt * x, -spt * x + cmt * y], 1)
    min_x, min_y = corners_x.min(1).values, corners_y.min(1).values
    extent_x = corners_x.max(1).values - min_x
    extent_y = corners_y.max(1).values - min_y
    canvas_w, canvas_h = torch.floor(extent_x), torch.floor(extent_y)
    width = torch.floor(32 * extent_x / 105).clamp(1, size)
    height = torch.floor(32 * extent_y / 105).clamp(1, size)
    det = a * b * (cpt * cmt + spt * smt)
    inv = torch.stack([b * cmt, -b * smt, a * spt, a * cpt], 1) / det[:, None]
    grid = torch.arange(size, device=bitmaps.device, dtype=torch.float32) + 0.5
    # canvas pixel centres read by the nearest-neighbour resize, then shifted into the square
    col = (
        torch.floor(grid[None, :] * (canvas_w / width).float()[:, None])
        + 0.5
        + min_x.float()[:, None]
    )
    row = (
        torch.floor(grid[None, :] * (canvas_h / height).float()[:, None])
        + 0.5
        + min_y.float()[:, None]
    )
    inv = inv.float()
    src_x = torch.floor(
        inv[:, 0, None, None] * col[:, None, :] + inv[:, 1, None, None] * row[:, :, None]
    )
    src_y = torch.floor(
        inv[:, 2, None, None] * col[:, None, :] + inv[:, 3, None, None] * row[:, :, None]
    )
    inside = (src_x >= 0) & (src_x < SOURCE_SIZE) & (src_y >= 0) & (src_y < SOURCE_SIZE)
    inside &= (grid[None, None, :] < width[:, None, None]) & (
        grid[None, :, None] < height[:, None, None]
    )
    flat = (src_y.clamp(0, SOURCE_SIZE - 1) * SOURCE_SIZE + src_x.clamp(0, SOURCE_SIZE - 1)).long()
    boxes = torch.gather(bitmaps.reshape(len(bitmaps), -1), 1, flat.reshape(len(bitmaps), -1))
    boxes = boxes.reshape(len(bitmaps), size, size) & inside
    rows, cols = boxes.any(2), boxes.any(1)
    index = torch.arange(size, device=bitmaps.device)
    top = torch.where(rows, index, size).min(1).values
    bottom = torch.where(rows, index, -1).max(1).values
    left = torch.where(cols, index, size).min(1).values
    right = torch.where(cols, index, -1).max(1).values
    empty = bottom < 0
    crop_w = torch.where(empty, 0, right - left)
    crop_h = torch.where(empty, 0, bottom - top)
    return boxes, torch.stack([left, top, crop_w, crop_h], 1)


class TrainingStream:
    """Batches of cluttered-Omniglot training samples, a pure function of (seed, step).

    Each batch is a dict of tensors on ``device``: ``scene`` uint8 [B,3,96,96], ``target`` uint8
    [B,3,32,32], ``mask`` bool [B,96,96], ``instance_map`` int16 [B,96,96] (k-th pasted glyph,
    target last), ``centers`` float32 [B,L,2] (x, y centre of each glyph's visible pixels, NaN if
    none is visible) and ``target_com`` int64 [B,2] (floored as the paper's metric does).
    """

    def __init__(
        self,
        level: int,
        batch_size: int = 250,
        seed: int = 0,
        device: str | torch.device = "cpu",
        omniglot=None,
        *,
        split: str = "train",
        version: int = 1,
        glyphs=None,
        backend: str = "auto",
        chunk: int = 1024,
    ) -> None:
        from oneshotbench.datasets.cluttered_omniglot import get_dataset
        from oneshotbench.datasets.split import pool_characters
        from oneshotbench.omniglot import load_omniglot

        dataset = get_dataset("cluttered-omniglot", version)
        self.level = dataset.check_level(level)
        definition = dataset.split(split)
        glyphs = glyphs if glyphs is not None else load_omniglot(omniglot)
        pool = pool_characters(glyphs, definition.pool)
        low, high = definition.drawers
        self.device = torch.device(device)
        if backend == "auto":
            backend = "torch" if self.device.type == "cuda" else "kernel"
        if backend not in ("kernel", "torch"):
            raise ValueError(f"unknown training-stream backend {backend!r} (kernel, torch)")
        self.backend = backend
        self._glyphs, self._pool, self._drawers = glyphs, pool, (low, high)
        if backend == "torch":
            bits = np.unpackbits(glyphs.packed[pool, low:high], axis=-1)[..., :SOURCE_SIZE]
            self.bitmaps = torch.from_numpy(bits.astype(bool)).to(self.device)  # [P, D, 105, 105]
        self.batch_size = batch_size
        self.seed = seed
        self.chunk = chunk
        self.split = split

    def _render(self, chars, drawers, scale: float, draws: _Draws, redraw_chars: bool):
        """Render glyphs, retrying failed crops (with new characters where the original did)."""
        n = len(chars)
        size = SCENE_SIZE if scale > 1 else TARGET_SIZE + TARGET_SIZE // 2
        boxes_out = torch.zeros(n, size, size, dtype=torch.bool, device=self.device)
        crops_out = torch.zeros(n, 4, dtype=torch.long, device=self.device)
        pending = torch.arange(n, device=self.device)
        while len(pending):
            if redraw_chars and len(pending) < n:
                chars[pending] = draws.integers(len(pending), self.bitmaps.shape[0])
                drawers[pending] = draws.integers(len(pending), self.bitmaps.shape[1])
            phi, theta, a, b = _affine(len(pending), scale, draws)
            failed = []
            for first in range(0, len(pending), self.chunk):
                ids = pending[first : first + self.chunk]
                sl = slice(first, first + len(ids))
                boxes, crops = render_glyphs(
                    self.bitmaps[chars[ids], drawers[ids]], phi[sl], theta[sl], a[sl], b[sl], size
                )
                boxes_out[ids], crops_out[ids] = boxes, crops
                failed.append(ids[(crops[:, 2] == 0) | (crops[:, 3] == 0)])
            pending = torch.cat(failed)
        return boxes_out, crops_out

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of training step ``step``."""
        if self.backend == "kernel":
            return self._kernel_batch(step)
        return self._torch_batch(step)

    def _kernel_batch(self, step: int) -> dict[str, torch.Tensor]:
        counts = [
            min(KERNEL_RUN, self.batch_size - first)
            for first in range(0, self.batch_size, KERNEL_RUN)
        ]
        seeds = kernel_seeds(self.seed, step, len(counts))
        low, high = self._drawers
        runs = [
            Run(JobSpec(self._pool, low, high, self.level, int(job_seed)), 0, count, first)
            for job_seed, count, first in zip(
                seeds, counts, np.cumsum([0, *counts[:-1]]), strict=True
            )
        ]
        raw = generate_runs(self._glyphs.packed, runs, self.batch_size, self.level)
        visible = raw.table[..., T_VISIBLE].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            centers = (
                np.stack([raw.table[..., T_SUM_X], raw.table[..., T_SUM_Y]], -1)
                / visible[..., None]
            )
        from oneshotbench.datasets.samples import paper_center

        target_com = np.stack(
            [paper_center(raw.table[:, -1, T_SUM_X], visible[:, -1]),
             paper_center(raw.table[:, -1, T_SUM_Y], visible[:, -1])], 1
        )  # fmt: skip
        tensors = {
            "scene": torch.from_numpy(raw.scene).permute(0, 3, 1, 2).contiguous(),
            "target": torch.from_numpy(raw.target).permute(0, 3, 1, 2).contiguous(),
            "mask": torch.from_numpy(raw.mask),
            "instance_map": torch.from_numpy(raw.instance_map),
            "centers": torch.from_numpy(centers.astype(np.float32)),
            "target_com": torch.from_numpy(target_com),
        }
        return {name: t.to(self.device) for name, t in tensors.items()}

    def _torch_batch(self, step: int) -> dict[str, torch.Tensor]:
        draws = _Draws(stream_seed(self.seed, step), self.device)
        n_b, level = self.batch_size, self.level
        n_chars, n_drawers = self.bitmaps.shape[:2]
        target_char = draws.integers(n_b, n_chars)
        target_drawer = draws.integers(n_b, n_drawers)
        chars = draws.integers((n_b, level), n_chars)
        drawers = draws.integers((n_b, level), n_drawers)
        chars[:, -1], drawers[:, -1] = target_char, target_drawer
        chars, drawers = chars.reshape(-1), drawers.reshape(-1)
        is_target = torch.zeros(n_b, level, dtype=torch.bool, device=self.device)
        is_target[:, -1] = True
        boxes, crops = self._render(chars, drawers, MAX_SCALE, draws, redraw_chars=True)
        colours = torch.floor(255 * draws.uniform((n_b * level, 3))).to(torch.uint8)
        width, height = crops[:, 2], crops[:, 3]
        x = draws.integers(n_b * level, SCENE_SIZE - width + 1)
        y = draws.integers(n_b * level, SCENE_SIZE - height + 1)
        instance = self._paste(boxes, crops, x, y, n_b, level)
        mask = instance == level
        # the target image: the same bitmap, re-augmented without scaling, centred
        t_boxes, t_crops = self._render(
            target_char.clone(), target_drawer.clone(), 1.0, draws, False
        )
        t_colours = torch.floor(255 * draws.uniform((n_b, 3))).to(torch.uint8)
        target = self._target_image(t_boxes, t_crops, t_colours)
        palette = torch.cat(
            [
                torch.zeros(n_b, 1, 3, dtype=torch.uint8, device=self.device),
                colours.view(n_b, level, 3),
            ],
            1,
        )
        scene = torch.gather(palette, 1, instance.view(n_b, -1, 1).expand(-1, -1, 3).long()).view(
            n_b, SCENE_SIZE, SCENE_SIZE, 3
        )
        centers, target_com = _centers(instance, level)
        return {
            "scene": scene.permute(0, 3, 1, 2).contiguous(),
            "target": target,
            "mask": mask,
            "instance_map": instance.to(torch.int16),
            "centers": centers,
            "target_com": target_com,
        }

    def _paste(self, boxes, crops, x, y, n_b: int, level: int) -> torch.Tensor:
        """Dead-leaves composition: each scene pixel shows the last glyph pasted over it."""
        glyph, row, col = torch.nonzero(boxes, as_tuple=True)
        left, top, width, height = crops[glyph].unbind(1)
        keep = (col >= left) & (col < left + width) & (row >= top) & (row < top + height)
        glyph, row, col = glyph[keep], row[keep] - top[keep], col[keep] - left[keep]
        sample = glyph // level
        flat = sample * SCENE_SIZE * SCENE_SIZE + (y[glyph] + row) * SCENE_SIZE + x[glyph] + col
        order = (glyph % level + 1).to(torch.int64)
        instance = torch.zeros(n_b * SCENE_SIZE * SCENE_SIZE, dtype=torch.int64, device=self.device)
        instance.scatter_reduce_(0, flat, order, reduce="amax")
        return instance.view(n_b, SCENE_SIZE, SCENE_SIZE)

    def _target_image(self, boxes, crops, colours) -> torch.Tensor:
        n_b = len(crops)
        glyph, row, col = torch.nonzero(boxes, as_tuple=True)
        left, top, width, height = crops[glyph].unbind(1)
        keep = (col >= left) & (col < left + width) & (row >= top) & (row < top + height)
        glyph, left, top = glyph[keep], left[keep], top[keep]
        tx = (TARGET_SIZE - crops[glyph, 2]) // 2 + col[keep] - left
        ty = (TARGET_SIZE - crops[glyph, 3]) // 2 + row[keep] - top
        inside = (tx >= 0) & (tx < TARGET_SIZE) & (ty >= 0) & (ty < TARGET_SIZE)
        image = torch.zeros(n_b, TARGET_SIZE, TARGET_SIZE, 3, dtype=torch.uint8, device=self.device)
        g = glyph[inside]
        image[g, ty[inside], tx[inside]] = colours[g]
        return image.permute(0, 3, 1, 2).contiguous()


def _centers(instance: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Visible-pixel centres of every glyph and the target's paper-floored centre of mass."""
    n_b = len(instance)
    labels = instance.view(n_b, -1)
    coords = torch.arange(SCENE_SIZE * SCENE_SIZE, device=instance.device)
    xs = (coords % SCENE_SIZE).expand(n_b, -1).double()
    ys = (coords // SCENE_SIZE).expand(n_b, -1).double()
    count = torch.zeros(n_b, level + 1, dtype=torch.float64, device=instance.device)
    count.scatter_add_(1, labels, torch.ones_like(xs))
    sum_x = torch.zeros_like(count).scatter_add_(1, labels, xs)
    sum_y = torch.zeros_like(count).scatter_add_(1, labels, ys)
    centers = torch.stack([sum_x, sum_y], 2)[:, 1:] / count[:, 1:, None]
    nudge = torch.tensor(_NUDGE, dtype=torch.float32)
    t_count = count[:, level].float() - nudge
    target_com = torch.stack(
        [torch.floor((sum_x[:, level].float() + nudge) / t_count),
         torch.floor((sum_y[:, level].float() + nudge) / t_count)], 1
    ).long()  # fmt: skip
    return centers.float(), target_com
