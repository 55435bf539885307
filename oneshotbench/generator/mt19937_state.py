"""The layout of the MT19937 state array, and its seeding: plain numpy, no numba.

Kept apart from :mod:`oneshotbench.generator.mt19937` (the compiled draws) so that a process
running the ahead-of-time compiled kernel (:mod:`oneshotbench.generator.aot`) seeds its jobs
without importing numba.
"""

from __future__ import annotations

import numpy as np

KEY_WORDS = 624
POS = 624
CONSUMED = 625
STATE_WORDS = 626


def seeded_state(seed: int) -> np.ndarray:
    """The state numpy's ``RandomState(seed)`` starts from, with the consumed-word count at 0."""
    key, pos = np.random.RandomState(seed).get_state()[1:3]
    state = np.zeros(STATE_WORDS, np.int64)
    state[:KEY_WORDS] = key
    state[POS] = pos
    return state
