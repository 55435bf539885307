"""``instances.csv`` rows, formatted by a compiled loop.

An export of 10,000 samples at level 32 has 320,000 glyph rows; pandas needs about half a second
for them, a tenth of the whole export. The rows are integers plus one alphabet name, so a small
compiled formatter writes exactly what ``DataFrame.to_csv(index=False)`` writes, in a few
milliseconds (the tests compare the two byte for byte).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from oneshotbench.datasets.samples import INSTANCE_COLUMNS, Samples, paper_center
from oneshotbench.generator.canonical import (
    T_B,
    T_CHAR,
    T_DRAWER,
    T_G,
    T_H,
    T_R,
    T_SUM_X,
    T_SUM_Y,
    T_VISIBLE,
    T_W,
    T_X,
    T_Y,
)

HEADER = ",".join(INSTANCE_COLUMNS) + "\n"
_ALPHABET_COLUMN = INSTANCE_COLUMNS.index("alphabet")  # the one text column
_MAX_DIGITS = 21


@njit(cache=True, nogil=True)
def _write_int(out: np.ndarray, pos: int, value: int) -> int:
    if value < 0:
        out[pos] = 45  # "-"
        pos += 1
        value = -value
    digits = np.empty(_MAX_DIGITS, np.uint8)
    n = 0
    while True:
        digits[n] = 48 + value % 10
        n += 1
        value //= 10
        if value == 0:
            break
    for i in range(n):
        out[pos + i] = digits[n - 1 - i]
    return pos + n


@njit(cache=True, nogil=True)
def _format(values, names, name_starts, name_index, text_column, out) -> int:
    pos = 0
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            if column == text_column:
                name = name_index[row]
                for i in range(name_starts[name], name_starts[name + 1]):
                    out[pos] = names[i]
                    pos += 1
                out[pos] = 44  # ","
                pos += 1
            pos = _write_int(out, pos, values[row, column])
            out[pos] = 44 if column < values.shape[1] - 1 else 10
            pos += 1
    return pos


def format_instances(samples: Samples) -> bytes:
    """The CSV rows (without header) of every pasted glyph of ``samples``."""
    n, level, _ = samples.table.shape
    rows = samples.table.reshape(n * level, -1).astype(np.int64)
    visible = rows[:, T_VISIBLE]
    values = np.stack(
        [
            np.repeat(samples.index, level),
            np.tile(np.arange(1, level + 1), n),
            rows[:, T_CHAR],
            rows[:, T_DRAWER],
            rows[:, T_R],
            rows[:, T_G],
            rows[:, T_B],
            rows[:, T_X],
            rows[:, T_Y],
            rows[:, T_W],
            rows[:, T_H],
            visible,
            paper_center(rows[:, T_SUM_X], visible),
            paper_center(rows[:, T_SUM_Y], visible),
        ],
        axis=1,
    )
    encoded = [name.encode() for name in samples.alphabets]
    if any(set(name) & set(b',"\n\r') for name in encoded):
        raise ValueError("alphabet names must not need CSV quoting")
    names = np.frombuffer(b"".join(encoded), np.uint8)
    starts = np.concatenate([[0], np.cumsum([len(name) for name in encoded])]).astype(np.int64)
    name_index = samples.char_alphabet[rows[:, T_CHAR]].astype(np.int64)
    longest = max(len(name) for name in encoded)
    out = np.empty(len(values) * (values.shape[1] * (_MAX_DIGITS + 1) + longest + 1), np.uint8)
    size = _format(values, names, starts, name_index, _ALPHABET_COLUMN, out)
    return out[:size].tobytes()
