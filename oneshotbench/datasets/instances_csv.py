"""``instances.csv`` rows, formatted by a compiled loop.

An export of 10,000 samples at level 32 has 320,000 glyph rows; pandas needs about half a second
for them, a tenth of the whole export. The rows are integers plus one alphabet name, so a small
compiled formatter writes exactly what ``DataFrame.to_csv(index=False)`` writes, in a few
milliseconds (the tests compare the two byte for byte).
"""

from __future__ import annotations

import numpy as np

from oneshotbench.datasets.samples import INSTANCE_COLUMNS, Samples
from oneshotbench.generator.jit import njit

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
    columns = samples.instance_columns()
    name_index = columns.pop("alphabet")
    values = np.stack(list(columns.values()), axis=1)
    encoded = [name.encode() for name in samples.alphabets]
    if any(set(name) & set(b',"\n\r') for name in encoded):
        raise ValueError("alphabet names must not need CSV quoting")
    names = np.frombuffer(b"".join(encoded), np.uint8)
    starts = np.concatenate([[0], np.cumsum([len(name) for name in encoded])]).astype(np.int64)
    longest = max(len(name) for name in encoded)
    out = np.empty(len(values) * (values.shape[1] * (_MAX_DIGITS + 1) + longest + 1), np.uint8)
    size = _format(values, names, starts, name_index, _ALPHABET_COLUMN, out)
    return out[:size].tobytes()
