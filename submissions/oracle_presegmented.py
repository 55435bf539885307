"""Oracle: pre-segmented discriminator (paper §5.1; Tables 1-2; a reimplementation).

Scores a 32x32 crop of every visible glyph, segmented with the ground-truth instance map, against
the target; returns the chosen glyph's ground-truth mask (so IoU = decision accuracy, §5.4) and
its crop centre as the location. Needs ``--oracle``; weights:
``oneshotbench train presegmented_discriminator``, set ``ONESHOTBENCH_CHECKPOINT``.
"""

import torch

from reference_models.submission import discriminator_oracle_predictor

PROTOCOL_VERSION = 1
ORACLE_FIELDS = ("instance_map", "instances")
CHECKPOINT_PATH: str | None = None
PARAMETERS: int | None = None  # the loaded network's, set by make_predictor for the record


def make_predictor(device: torch.device):
    global PARAMETERS
    predict, PARAMETERS = discriminator_oracle_predictor(
        "presegmented_discriminator", CHECKPOINT_PATH, device
    )
    return predict
