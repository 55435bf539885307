"""The ahead-of-time compiled kernel: same bytes as the JIT kernel, used without numba.

One module is built per session (``data warm``'s build step, seconds, needs a C compiler and the
Python headers: CI installs them; elsewhere the tests skip without them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from oneshotbench.cache import CACHE_ENV
from oneshotbench.datasets import load_split
from oneshotbench.generator import aot
from oneshotbench.generator.jobs import GeneratedSamples, generate_run
from oneshotbench.omniglot import OMNIGLOT_ENV, load_omniglot
from tests.conftest import require_real_omniglot


@pytest.fixture(scope="session")
def aot_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding the glyph cache and the compiled module (as after ``data warm``)."""
    omniglot = require_real_omniglot()
    root = tmp_path_factory.mktemp("aot-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(root))
        patch.delenv(aot.AOT_ENV, raising=False)
        load_omniglot(omniglot, progress=False)
        try:
            aot.build()
        except aot.AotBuildError as err:
            if os.environ.get("CI"):
                pytest.fail(str(err))
            pytest.skip(str(err))
    return root


@pytest.fixture
def with_module(aot_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(aot_cache))
    monkeypatch.delenv(aot.AOT_ENV, raising=False)
    return aot_cache


def compiled():
    kernel = aot.kernel_for(1, 1)
    assert kernel is not aot.jit_kernel(), "the compiled module was not found"
    return kernel


@pytest.mark.parametrize(
    ("split", "level", "job", "version"),
    [("test-one-shot", 4, 0, 1), ("val-one-shot", 32, 3, 1), ("train", 8, 100, 1),
     ("val-train", 256, 1, 1), ("test-train", 64, 2, 1), ("test-one-shot", 64, 1, 0)],
)  # fmt: skip
def test_compiled_kernel_writes_the_jit_kernels_bytes(
    with_module, real_glyphs, split: str, level: int, job: int, version: int
) -> None:
    spec = load_split(split, level, glyphs=real_glyphs, version=version).job_spec(job)
    assert spec.pre_fix == (version == 0)  # version 0: the pre-fix draws
    count = 12 if level == 256 else 40
    jit = generate_run(real_glyphs.packed, spec, count, kernel=aot.jit_kernel())
    fast = generate_run(real_glyphs.packed, spec, count, kernel=compiled())
    for field in GeneratedSamples.__dataclass_fields__:  # instance maps and tables included
        assert np.array_equal(getattr(fast, field), getattr(jit, field)), field
    # Random access inside the job (from a word offset), and the scratch mode without tables.
    lean = GeneratedSamples.empty(count - 7, level, instances=False)
    start = int(jit.offset[7])
    generate_run(real_glyphs.packed, spec, count - 7, word_offset=start, into=lean,
                 kernel=compiled())  # fmt: skip
    for field in ("scene", "mask", "target", "offset"):
        assert np.array_equal(getattr(lean, field), getattr(jit, field)[7:]), field


def test_split_api_uses_the_module_and_gives_the_same_samples(
    with_module, real_glyphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = load_split("test-one-shot", 16, glyphs=real_glyphs)
    picks = np.array([3, 2500, 7001, 9999])
    fast = split.get(picks, workers=1)
    monkeypatch.setenv(aot.AOT_ENV, "0")
    slow = split.get(picks, workers=1)
    for field in ("scene", "mask", "target", "instance_map", "table"):
        assert np.array_equal(getattr(fast, field), getattr(slow, field)), field


def test_one_dispatch_rule(with_module, monkeypatch: pytest.MonkeyPatch) -> None:
    jit = aot.jit_kernel()
    assert aot.kernel_for(1, 10_000) is not jit  # nothing else runs: holding the GIL is harmless
    assert aot.kernel_for(2, 1) is jit  # threads need the GIL-free kernel
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert aot.kernel_for(1, aot.SMALL_REQUEST) is not jit  # brief: a progress bar's thread
        assert aot.kernel_for(1, aot.SMALL_REQUEST + 1) is jit  # e.g. evaluate's scoring thread
    finally:
        release.set()
        other.join()
    monkeypatch.setenv(aot.AOT_ENV, "0")
    assert aot.kernel_for(1, 1) is jit


def test_without_a_built_module_the_jit_kernel_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert aot.load() is None
    assert aot.kernel_for(1, 1) is aot.jit_kernel()


def test_a_broken_module_is_ignored_with_a_warning(
    aot_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    built = next((aot_cache / "aot").glob("*/*.so"))
    broken = aot.module_dir() / built.name  # where this installation's module would be
    broken.parent.mkdir(parents=True)
    broken.write_bytes(built.read_bytes()[:4096])  # truncated
    with pytest.warns(UserWarning, match="ignoring the compiled kernel"):
        assert aot.load() is None
    assert aot.kernel_for(1, 1) is aot.jit_kernel()


def test_compiled_kernel_refuses_arrays_it_was_not_built_for(with_module, real_glyphs) -> None:
    spec = load_split("test-one-shot", 4, glyphs=real_glyphs).job_spec(0)
    out = GeneratedSamples.empty(2, 4)
    out.scene = np.empty((2, 96, 96, 3), np.int16)  # wrong dtype: would be written out of bounds
    with pytest.raises(TypeError, match="scenes must be writable C-contiguous uint8"):
        generate_run(real_glyphs.packed, spec, 2, into=out, kernel=compiled())
    out = GeneratedSamples.empty(2, 4)
    out.mask = out.mask[:, ::2]  # a strided view: the kernel assumes C order
    with pytest.raises(TypeError, match="masks must be writable C-contiguous bool"):
        generate_run(real_glyphs.packed, spec, 2, into=out, kernel=compiled())
    out = GeneratedSamples.empty(2, 4)
    out.target.flags.writeable = False  # would crash the process when written
    with pytest.raises(TypeError, match="targets must be writable"):
        generate_run(real_glyphs.packed, spec, 2, into=out, kernel=compiled())


_EXPORT = """
import sys
from oneshotbench.cli.main import main
sys.argv = ["oneshotbench", *sys.argv[1:]]
try:
    main()
finally:
    print("NUMBA_LOADED" if "numba" in sys.modules else "NUMBA_ABSENT")
"""


def _export(cache: Path, out: Path, *, use_module: bool) -> str:
    env = {**os.environ, CACHE_ENV: str(cache), aot.AOT_ENV: "1" if use_module else "0"}
    env.pop(OMNIGLOT_ENV, None)  # served by the glyph cache, as after `data warm`
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT, "data", "export", "--level", "32", "--split",
         "test-one-shot", "--start", "9998", "--stop", "10000", "--out", str(out)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_another_process_exports_with_the_module_and_never_imports_numba(
    aot_cache: Path, tmp_path: Path
) -> None:
    fast = _export(aot_cache, tmp_path / "aot", use_module=True)
    slow = _export(aot_cache, tmp_path / "jit", use_module=False)
    assert "NUMBA_ABSENT" in fast and "NUMBA_LOADED" in slow
    for name in ("images.npy", "segmentation.npy", "targets.npy"):
        assert (tmp_path / "aot" / name).read_bytes() == (tmp_path / "jit" / name).read_bytes()


_VERIFY = """
import json, sys
from oneshotbench.datasets import load_split
from oneshotbench.datasets.fingerprints import verify_fingerprint
result = verify_fingerprint(load_split("test-one-shot", 4), workers=1)
print(json.dumps({"ok": result.ok, "bad": result.bad_samples, "numba": "numba" in sys.modules}))
"""


def test_every_sample_verified_through_the_module(aot_cache: Path) -> None:
    """All 10,000 samples of test-one-shot L4 against the committed fingerprints, numba-free."""
    env = {**os.environ, CACHE_ENV: str(aot_cache), aot.AOT_ENV: "1"}
    env.pop(OMNIGLOT_ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", _VERIFY], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {"ok": True, "bad": [], "numba": False}


def test_importing_and_generating_never_builds_the_module(tmp_path: Path) -> None:
    omniglot = require_real_omniglot()
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    env.pop(aot.AOT_ENV, None)
    script = (
        "import sys; from oneshotbench.datasets import load_split; "
        "load_split('test-one-shot', 4, omniglot=sys.argv[1]).get(0)"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(omniglot)], env=env, check=True, capture_output=True
    )
    assert (tmp_path / "glyphs").is_dir() and not (tmp_path / "aot").exists()


def test_warm_rebuilds_a_damaged_module_and_reports_a_failed_build(
    aot_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from numba.pycc import CC
    from setuptools.errors import CompileError  # what pycc raises without a compiler
    from typer.testing import CliRunner

    from oneshotbench.cli.main import app

    monkeypatch.setenv(CACHE_ENV, str(aot_cache))
    monkeypatch.setattr(aot, "module_key", lambda: "damaged-module-key")
    built = next((aot_cache / "aot").glob("*/*.so"))
    broken = aot.module_dir() / built.name
    broken.parent.mkdir(parents=True)
    broken.write_bytes(built.read_bytes()[:4096])

    def no_compiler(self) -> None:
        raise CompileError("command 'gcc' failed: No such file or directory")

    monkeypatch.setattr(CC, "compile", no_compiler)
    result = CliRunner().invoke(app, ["data", "warm", "--omniglot", str(require_real_omniglot())])
    assert isinstance(result.exception, aot.AotBuildError), result.output  # main(): exit 2
    assert "glyph cache ready" in result.output and "JIT kernels compiled" in result.output
    assert "cannot compile the kernel ahead of time (CompileError" in str(result.exception)
    assert not broken.exists()  # the damaged module is gone, no partial one took its place
    assert not list((aot_cache / "aot").glob(".build-*"))
