"""Chance level: predict one of the scene's uniformly coloured pieces, chosen at random.

Every glyph is pasted in one flat colour, so a scene splits into pieces: 4-connected regions of
equal, non-black colour. A model that knows where the glyphs are but ignores the target picks
one uniformly; this is what it scores. The choice is drawn from a generator seeded with the
scene's own bytes, so the prediction of a sample never depends on its batch or position.
"""

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from reference_models.submission import scene_rng

PROTOCOL_VERSION = 1


def colour_pieces(scenes: np.ndarray) -> np.ndarray:
    """uint8 scenes [B,H,W,3] -> piece label per pixel [B,H,W] (-1 on black pixels).

    Labels are unique across the batch; neighbours join when their colours are equal.
    """
    colour = scenes.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    node = np.arange(colour.size).reshape(colour.shape)
    lit = colour > 0
    right = lit[:, :, :-1] & (colour[:, :, :-1] == colour[:, :, 1:])
    down = lit[:, :-1, :] & (colour[:, :-1, :] == colour[:, 1:, :])
    rows = np.concatenate([node[:, :, :-1][right], node[:, :-1, :][down]])
    cols = np.concatenate([node[:, :, 1:][right], node[:, 1:, :][down]])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(colour.size,) * 2)
    _, labels = connected_components(graph, directed=False)
    return np.where(lit, labels.reshape(colour.shape), -1)


def pick_piece(scene: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mask of one piece of one scene, chosen uniformly with a seed taken from the scene."""
    flat = labels.reshape(-1)
    pieces, first = np.unique(flat[flat >= 0], return_index=True)
    if len(pieces) == 0:
        return np.zeros(labels.shape, dtype=bool)
    ordered = pieces[np.argsort(np.flatnonzero(flat >= 0)[first])]  # raster order: batch-free
    return labels == ordered[scene_rng(scene).integers(len(ordered))]


def make_predictor(device: torch.device):
    def predict(targets: torch.Tensor, scenes: torch.Tensor) -> torch.Tensor:
        pixels = (scenes * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        labels = colour_pieces(pixels)
        masks = np.stack([pick_piece(s, lab) for s, lab in zip(pixels, labels, strict=True)])
        return torch.from_numpy(masks).to(device)

    return predict
