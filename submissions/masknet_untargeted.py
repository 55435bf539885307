"""MaskNet with untargeted proposals (paper §6.6, Table 1; a reimplementation).

Weights: ``oneshotbench train masknet_untargeted`` (both stages). As slow as MaskNet on CPU
(144 proposals per sample); use ``--device cuda``. Set ``ONESHOTBENCH_CHECKPOINT``.
"""

import torch

from reference_models.submission import samples_per_pass, segmentation_predictor

PROTOCOL_VERSION = 1
CHECKPOINT_PATH: str | None = None
PARAMETERS: int | None = None  # the loaded network's, set by make_predictor for the record


def make_predictor(device: torch.device):
    global PARAMETERS
    chunk = samples_per_pass(device, cpu=2, cuda=16)
    predict, PARAMETERS = segmentation_predictor(
        "masknet_untargeted", CHECKPOINT_PATH, device, chunk
    )
    return predict
