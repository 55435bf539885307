"""The kernel compiled ahead of time: small requests start without importing numba.

Loading the JIT kernel from numba's cache costs about half a second per process (importing numba,
initialising its CPU target, loading the cached machine code): most of a one-sample
``data export``. ``oneshotbench data warm`` therefore also compiles the very same source
(:func:`oneshotbench.generator.canonical.generate_samples` and its callees) with
:class:`numba.pycc.CC` into an extension module under ``cache_root()/aot/<key>``; the module
imports without numba. The key hashes the kernel's source files, the numba and numpy versions and
the interpreter's extension ABI, so any change to one of them makes the module invisible (the JIT
is used until the next ``data warm``). Nothing here ever compiles on import or on first use.

Functions exported by pycc hold the GIL; the JIT kernel releases it (``nogil=True``), which the
parallel generation and ``evaluate``'s background generation rely on. :func:`kernel_for` is the
one place that chooses between them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from oneshotbench.cache import cache_root, current_umask, file_sha256
from oneshotbench.errors import OneshotbenchError

#: Set to ``0`` to never use the compiled module (the JIT kernel is used instead).
AOT_ENV = "ONESHOTBENCH_AOT"

_HERE = Path(__file__).resolve().parent
#: The files whose code the module contains (plus this one: it holds the signature).
SOURCES = ("canonical.py", "mt19937.py", "mt19937_state.py", "spec.py", "aot.py")
_EXPORT = "generate_samples"
#: pycc's wrapper converts arrays without checking them: :func:`_checked` does, against these
#: (name, dtype, dimensions, written by the kernel).
_ARGS = (
    ("state", np.int64, 1, True),
    ("glyphs", np.uint8, 4, False),
    ("bounds", np.int64, 3, True),
    ("pool", np.int64, 1, False),
    ("drawer_low", None, 0, False),
    ("drawer_high", None, 0, False),
    ("level", None, 0, False),
    ("scenes", np.uint8, 4, True),
    ("masks", np.bool_, 3, True),
    ("targets", np.uint8, 4, True),
    ("instance_maps", np.int16, 3, True),
    ("tables", np.int32, 3, True),
    ("offsets", np.int64, 1, True),
    ("word_offset", None, 0, False),
    ("pre_fix", None, 0, False),
)
_NUMBA_TYPES = {np.int64: "i8", np.uint8: "u1", np.bool_: "b1", np.int16: "i2", np.int32: "i4"}


def _signature() -> str:
    def one(dtype, ndim: int) -> str:
        if dtype is None:
            return "i8"
        return f"{_NUMBA_TYPES[dtype]}[{':,' * (ndim - 1)}::1]"

    return f"i8({', '.join(one(dtype, ndim) for _, dtype, ndim, _ in _ARGS)})"


class AotBuildError(OneshotbenchError):
    """The compiled module could not be built (no C compiler or Python headers, ...)."""


def enabled() -> bool:
    return os.environ.get(AOT_ENV, "1") != "0"


def _numba_version() -> str:
    """numba's version, read from its sources: importing numba (or importlib.metadata) would
    cost more than everything else a small request does."""
    spec = importlib.util.find_spec("numba")
    if spec is None or spec.origin is None:
        return "absent"
    text = (Path(spec.origin).parent / "_version.py").read_text()
    found = re.search(r'"version": "([^"]+)"', text)
    return found.group(1) if found else "unknown"


@functools.cache  # once per process: every single-worker request asks
def module_key() -> str:
    """Identity of the module this installation would build: sources, versions, ABI."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (_HERE / name).read_bytes() + b"\0")
    abi = importlib.machinery.EXTENSION_SUFFIXES[0]  # interpreter, ABI and platform
    digest.update(f"numba={_numba_version()}|numpy={np.__version__}|{abi}".encode())
    return digest.hexdigest()[:24]


def module_dir(key: str | None = None) -> Path:
    return cache_root() / "aot" / (key or module_key())


def _module_name(key: str) -> str:
    return f"oneshotbench_kernel_{key}"


def _module_path(key: str) -> Path:
    return module_dir(key) / (_module_name(key) + importlib.machinery.EXTENSION_SUFFIXES[0])


_LOADED: dict[str, ModuleType | None] = {}
_LOCK = threading.Lock()


def load() -> ModuleType | None:
    """The compiled module for the current sources, or None if it was not built (or is unusable).

    Looked up once per process and cache folder. A file that exists but is damaged (its
    SHA-256 is checked first, 1 ms) or does not load is reported with a warning and ignored.
    """
    if not enabled():
        return None
    key = module_key()
    where = str(_module_path(key))
    with _LOCK:
        if where not in _LOADED:
            _LOADED[where] = _import(key)
        return _LOADED[where]


def _digest_path(key: str) -> Path:
    return module_dir(key) / "module.sha256"


def _intact(key: str) -> bool:
    """Whether the module's bytes are those recorded when it was built (1 ms: 0.7 MB)."""
    try:
        return file_sha256(_module_path(key)) == _digest_path(key).read_text().strip()
    except OSError:
        return False


def _import(key: str) -> ModuleType | None:
    path = _module_path(key)
    if not path.is_file():
        return None
    name = _module_name(key)
    try:
        # Checked before loading: a damaged shared library can crash the process in dlopen.
        if not _intact(key):
            raise ImportError("damaged: its SHA-256 differs from the one recorded at its build")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        getattr(module, _EXPORT)
    except (ImportError, OSError, AttributeError) as err:
        warnings.warn(
            f"ignoring the compiled kernel {path} ({err}); run `oneshotbench data warm` to "
            "rebuild it",
            stacklevel=3,
        )
        return None
    sys.modules[name] = module
    return module


def _checked(function: Callable[..., int]) -> Callable[..., int]:
    def call(*args) -> int:
        for (name, dtype, ndim, written), value in zip(_ARGS, args, strict=True):
            if dtype is None:
                continue
            flags = value.flags
            if (
                value.dtype != dtype
                or value.ndim != ndim
                or not flags.c_contiguous
                or (written and not flags.writeable)
            ):
                state = "writable " if written else ""
                raise TypeError(
                    f"compiled kernel: {name} must be {state}C-contiguous {np.dtype(dtype)} "
                    f"with {ndim} dimensions, got {value.dtype} {value.shape}"
                )
        return function(*args)

    return call


def jit_kernel() -> Callable[..., int]:
    """The numba JIT kernel (loads numba and its on-disk cache)."""
    from oneshotbench.generator.canonical import generate_samples

    return generate_samples


#: Samples few enough that holding the GIL while generating them stalls other threads briefly
#: (about 30 ms at level 256): a progress bar's refresh thread, say.
SMALL_REQUEST = 32


def kernel_for(workers: int, count: int) -> Callable[..., int]:
    """The ``generate_samples`` to run when ``workers`` threads will generate ``count`` samples.

    The one dispatch rule. The compiled module holds the GIL, so it is used only where that
    harms no one: a single worker, and either no other Python thread alive in the process or a
    small request (at most :data:`SMALL_REQUEST` samples). Thread pools, ``evaluate``'s batches
    generated beside the scoring thread, and large requests made while other threads run get
    the GIL-free JIT kernel; so does every request when the module has not been built
    (``oneshotbench data warm``) or is disabled with ``ONESHOTBENCH_AOT=0``. Both kernels
    produce the same bytes (tests/test_aot.py).
    """
    if workers == 1 and (count <= SMALL_REQUEST or threading.active_count() == 1):
        module = load()
        if module is not None:
            return _checked(getattr(module, _EXPORT))
    return jit_kernel()


def build() -> Path:
    """Compile the module for the current sources (seconds; needs a C compiler) and return it.

    Built in a temporary folder and renamed into place, so a concurrent or interrupted build
    never leaves a partial module where :func:`load` looks.
    """
    key = module_key()
    final = _module_path(key)
    if _intact(key):
        return final
    shutil.rmtree(module_dir(key), ignore_errors=True)  # damaged or incomplete
    root = module_dir(key).parent
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pycc's pending deprecation: it still works
                from numba.pycc import CC

            compiler = CC(_module_name(key))
            compiler.output_dir = str(work)
            compiler.verbose = False
            compiler.export(_EXPORT, _signature())(jit_kernel().py_func)
            compiler.compile()
            built = work / _module_path(key).name
            (work / _digest_path(key).name).write_text(file_sha256(built))
        except Exception as err:  # distutils/setuptools raise several unrelated error types
            raise AotBuildError(
                f"cannot compile the kernel ahead of time ({type(err).__name__}: {err}); a C "
                "compiler and the Python headers are needed (Debian: gcc python3-dev). The JIT "
                "kernel is used instead."
            ) from err
        work.chmod(0o777 & ~current_umask())  # mkdtemp's 0700 would hide it from other users
        try:
            os.rename(work, module_dir(key))
        except OSError:  # built by someone else meanwhile
            if not final.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with _LOCK:
        _LOADED.pop(str(final), None)
    return final
