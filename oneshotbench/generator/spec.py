"""Constants of the authors' generator and the description of one generation job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCENE_SIZE = 96
TARGET_SIZE = 32
SOURCE_SIZE = 105
MAX_ROTATION = 20.0
MAX_SHEAR = 10.0
MAX_SCALE = 2.0
JOB_LENGTH = 2000

# Columns of the per-glyph table produced by the kernel.
T_CHAR, T_DRAWER, T_R, T_G, T_B, T_X, T_Y, T_W, T_H, T_VISIBLE, T_SUM_X, T_SUM_Y = range(12)
TABLE_FIELDS = 12

OK, GLYPH_TOO_LARGE = 0, 1  # the kernel's status
UNKNOWN_BOUNDS = -2  # marks a glyph whose stroke box has not been computed yet


@dataclass(frozen=True)
class JobSpec:
    """Everything one of the authors' joblib jobs depends on.

    ``pool`` lists the global Omniglot character indices the job samples from, in pool order;
    drawers are drawn from ``range(drawer_low, drawer_high)`` (0-based: file ``_01`` is 0).
    ``pre_fix`` selects the authors' code before their 5 September 2018 fix (dataset version 0,
    reference-spec §2.12): a random distractor count, failed distractors skipped, a failed scene
    target restarting the scene.
    """

    pool: np.ndarray
    drawer_low: int
    drawer_high: int
    level: int
    seed: int
    pre_fix: bool = False
