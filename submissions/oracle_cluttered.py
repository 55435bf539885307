"""Oracle: cluttered discriminator (paper §5.2; Table 2; a reimplementation).

Like the pre-segmented oracle but the crops keep the clutter. The paper reports only its
localisation (Table 2); the returned mask is the chosen glyph's ground-truth mask, so its IoU is
its decision accuracy and is not a paper number. Needs ``--oracle``; weights:
``oneshotbench train cluttered_discriminator``, set ``ONESHOTBENCH_CHECKPOINT``.
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
        "cluttered_discriminator", CHECKPOINT_PATH, device
    )
    return predict
