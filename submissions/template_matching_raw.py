"""Oracle: template matching scored by raw correlation — a variant of ``template_matching.py``.

Identical except that a glyph's score is the plain correlation <T, C> of template and segmented
crop, not its cosine similarity, so whatever fills the 32 x 32 window scores high. It shows how
much the paper's unpublished choice of score matters (see
``reference_models/template_matching.py``). Needs ``--oracle``.
"""

import torch

from reference_models.submission import glyph_masks, oracle_glyphs
from reference_models.template_matching import TemplateMatcher

PROTOCOL_VERSION = 1
ORACLE_FIELDS = ("instance_map", "instances")


def make_predictor(device: torch.device):
    matcher = TemplateMatcher(normalized=False)

    @torch.no_grad()
    def predict(targets, scenes, oracle):
        instance_map, num_glyphs, _ = oracle_glyphs(oracle, device)
        chosen, centers = matcher(targets, instance_map, num_glyphs)
        return glyph_masks(instance_map, chosen), centers

    return predict
