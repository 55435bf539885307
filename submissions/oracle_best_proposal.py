"""Oracle: MaskNet's best segmentation proposal (paper §6.5, Table 1 "best seg. proposal").

Decodes MaskNet's 144 proposals and returns the one with the highest IoU against the target's
ground-truth mask (read from the instance map through the harness's oracle mode) — a perfect
discriminator. Needs ``--oracle``; set ``ONESHOTBENCH_CHECKPOINT`` to a MaskNet checkpoint (the
proposal decoder of either stage). 144 decoder passes per sample: use ``--device cuda``.
"""

import torch

from oneshotbench.metrics import binarize, iou
from reference_models import count_parameters
from reference_models.checkpoint import load_checkpoint
from reference_models.submission import (
    glyph_masks,
    oracle_glyphs,
    resolve_checkpoint,
    samples_per_pass,
)

PROTOCOL_VERSION = 1
ORACLE_FIELDS = ("instance_map", "instances")
CHECKPOINT_PATH: str | None = None
PARAMETERS: int | None = None  # the loaded network's, set by make_predictor for the record


def make_predictor(device: torch.device):
    global PARAMETERS
    path = resolve_checkpoint(CHECKPOINT_PATH, "masknet")
    model, _ = load_checkpoint(path, device=device, expect_model="masknet")
    PARAMETERS = count_parameters(model)
    chunk = samples_per_pass(device, cpu=2, cuda=16)

    @torch.no_grad()
    def best_proposal(targets, scenes, truth):
        logits, _ = model.decode(targets, scenes)
        foreground = torch.softmax(logits.float(), dim=2)[:, :, 1]  # [B, 144, 96, 96]
        proposals = binarize(foreground.flatten(0, 1), model.threshold)
        repeated = truth.repeat_interleave(foreground.shape[1], dim=0)
        best = iou(proposals, repeated).view(len(truth), -1).argmax(dim=1)
        return foreground[torch.arange(len(best), device=best.device), best]

    def predict(targets, scenes, oracle):
        instance_map, _, target_ids = oracle_glyphs(oracle, device)
        truth = glyph_masks(instance_map, target_ids)
        parts = [
            best_proposal(targets[i : i + chunk], scenes[i : i + chunk], truth[i : i + chunk])
            for i in range(0, len(targets), chunk)
        ]
        return torch.cat(parts)

    return predict
