"""numpy's legacy ``RandomState`` draws as compiled functions of the raw MT19937 word stream.

The state is one int64 array of :data:`STATE_WORDS` entries: the 624-word key, the position in it,
and a running count of the 32-bit words consumed since seeding (the "word offset" that makes
random access into a job possible). Every function reproduces numpy's legacy algorithm exactly:

* a double is ``((w1 >> 5) * 2**26 + (w2 >> 6)) / 2**53`` from two words;
* ``randint(low, high)`` is masked rejection sampling on single words (no draw if the range is 1);
* ``uniform(low, high)`` is ``low + (high - low) * double``.
"""

from __future__ import annotations

import numpy as np

from oneshotbench.generator.jit import njit
from oneshotbench.generator.mt19937_state import (  # noqa: F401  (re-exported)
    CONSUMED,
    KEY_WORDS,
    POS,
    STATE_WORDS,
    seeded_state,
)

_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF


@njit(cache=True, nogil=True)
def _twist(state: np.ndarray) -> None:
    for i in range(KEY_WORDS):
        y = (state[i] & _UPPER) | (state[(i + 1) % KEY_WORDS] & _LOWER)
        value = state[(i + _M) % KEY_WORDS] ^ (y >> 1)
        if y & 1:
            value ^= _MATRIX_A
        state[i] = value
    state[POS] = 0


@njit(cache=True, nogil=True)
def next_word(state: np.ndarray) -> np.int64:
    """The next tempered 32-bit output."""
    if state[POS] >= KEY_WORDS:
        _twist(state)
    y = state[state[POS]]
    state[POS] += 1
    state[CONSUMED] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y


@njit(cache=True, nogil=True)
def skip_words(state: np.ndarray, count: int) -> None:
    """Discard ``count`` words (cheap: whole key blocks are skipped by twisting)."""
    while count > 0:
        if state[POS] >= KEY_WORDS:
            _twist(state)
        take = min(count, KEY_WORDS - state[POS])
        state[POS] += take
        state[CONSUMED] += take
        count -= take


@njit(cache=True, nogil=True)
def next_double(state: np.ndarray) -> float:
    """``RandomState.random_sample()``."""
    a = next_word(state) >> 5
    b = next_word(state) >> 6
    return (a * 67108864.0 + b) / 9007199254740992.0


@njit(cache=True, nogil=True)
def uniform(state: np.ndarray, low: float, high: float) -> float:
    """``RandomState.uniform(low, high)``."""
    return low + (high - low) * next_double(state)


@njit(cache=True, nogil=True)
def randint(state: np.ndarray, low: int, high: int) -> int:
    """``RandomState.randint(low, high)`` (high exclusive; requires high > low)."""
    span = high - 1 - low
    if span == 0:
        return low
    mask = span
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    while True:
        value = next_word(state) & mask
        if value <= span:
            return low + value
