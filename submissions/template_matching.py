"""Oracle: template matching (paper §6.3, footnote 2; Table 1 row 1; a reimplementation).

9,317 transformed versions of the binarised target (11 rotations x 7 shears x 11 x 11 scales)
are correlated with every ground-truth-segmented, binarised glyph; the best match is the
prediction (its ground-truth mask and centre). No training. Needs ``--oracle``. Choices the paper
leaves open are documented in ``reference_models/template_matching.py``.
"""

import torch

from reference_models.submission import glyph_masks, oracle_glyphs
from reference_models.template_matching import TemplateMatcher

PROTOCOL_VERSION = 1
ORACLE_FIELDS = ("instance_map", "instances")


def make_predictor(device: torch.device):
    matcher = TemplateMatcher()

    @torch.no_grad()
    def predict(targets, scenes, oracle):
        instance_map, num_glyphs, _ = oracle_glyphs(oracle, device)
        chosen, centers = matcher(targets, instance_map, num_glyphs)
        return glyph_masks(instance_map, chosen), centers

    return predict
