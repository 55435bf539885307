"""The canonical cluttered-Omniglot generator (bit-exact with the authors' release).

Compiled kernels are cached under the project's cache root so that later starts skip the JIT.
"""

import os

from oneshotbench.cache import cache_root

os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_root() / "numba"))
