"""numba for the compiled kernels: the on-disk cache, and a lighter first call.

The kernels use ``njit(cache=True)``: the first process compiles them (seconds) and stores the
machine code under ``<cache>/numba`` (see :mod:`oneshotbench.generator`); later processes load
it. Loading still initialises numba's CPU target, which imports ``numba.np.arraymath``, and that
module imports ``scipy.linalg`` only to set a flag saying whether BLAS is there (0.1-0.3 s, a
third of a one-sample ``data export``). Here that module is imported with ``scipy.linalg``
hidden, and the flag is then set to what numba would have found, so nothing changes for numba
code that does use BLAS (numba imports scipy itself when it compiles such code). Kernel modules
take ``njit`` from here so that this always runs before their first call.
"""

from __future__ import annotations

import importlib.util
import sys

from numba import njit

__all__ = ["njit"]

_LINALG = "scipy.linalg"


def _import_arraymath_lightly() -> None:
    if "numba.np.arraymath" in sys.modules or _LINALG in sys.modules:
        return  # already paid for, or nothing to save
    sys.modules[_LINALG] = None  # type: ignore[assignment]  # makes its import fail at once
    try:
        import numba.np.arraymath as arraymath
    finally:
        del sys.modules[_LINALG]
    arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None


_import_arraymath_lightly()
