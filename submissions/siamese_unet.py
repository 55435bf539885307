"""Siamese U-Net baseline (paper §3; Tables 1-2). Weights: ``oneshotbench train siamese_unet``.

Set ``ONESHOTBENCH_CHECKPOINT`` to the checkpoint of the clutter level being evaluated (or edit
``CHECKPOINT_PATH``); its stored input constants are used, never statistics of the test data.
"""

import torch

from reference_models.submission import samples_per_pass, segmentation_predictor

PROTOCOL_VERSION = 1
CHECKPOINT_PATH: str | None = None
PARAMETERS: int | None = None  # the loaded network's, set by make_predictor for the record


def make_predictor(device: torch.device):
    global PARAMETERS
    chunk = samples_per_pass(device, cpu=64, cuda=250)
    predict, PARAMETERS = segmentation_predictor("siamese_unet", CHECKPOINT_PATH, device, chunk)
    return predict
