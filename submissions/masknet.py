"""MaskNet (paper §4; Tables 1-2). Weights: ``oneshotbench train masknet`` (both stages).

Each sample decodes and scores 144 proposals: about 0.6 s per sample on a 2-core CPU, i.e.
12 hours for the seven 10,000-sample levels. Use ``--device cuda`` for full evaluations. Set
``ONESHOTBENCH_CHECKPOINT`` to the stage-2 (discriminator) checkpoint of the evaluated level.
"""

import torch

from reference_models.submission import samples_per_pass, segmentation_predictor

PROTOCOL_VERSION = 1
CHECKPOINT_PATH: str | None = None
PARAMETERS: int | None = None  # the loaded network's, set by make_predictor for the record


def make_predictor(device: torch.device):
    global PARAMETERS
    chunk = samples_per_pass(device, cpu=2, cuda=16)
    predict, PARAMETERS = segmentation_predictor("masknet", CHECKPOINT_PATH, device, chunk)
    return predict
