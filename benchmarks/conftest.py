"""Benchmarks share the test fixtures (real Omniglot decoded once, synthetic glyphs)."""

from collections.abc import Iterator

import numba
import pytest
import torch

from tests.conftest import real_glyphs, synthetic  # noqa: F401


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch and numba on one thread, for per-core figures
    (``pytestmark = usefixtures("one_thread")``)."""
    before = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


_RATES: dict[tuple[str, int], float] = {}


@pytest.fixture(scope="session")
def rates() -> dict[tuple[str, int], float]:
    """Scenes per second by (path, level), for the same-run ratios printed at the end."""
    return _RATES


def pytest_terminal_summary(terminalreporter) -> None:
    """Every measured rate as a ratio to the Pillow loop at the same level, from this run."""
    if not _RATES:
        return
    terminalreporter.section("scenes/s, and the ratio to the Pillow loop in this run")
    for (path, level), rate in sorted(_RATES.items(), key=lambda item: (item[0][1], item[0][0])):
        pillow = _RATES.get(("Pillow loop", level))
        ratio = f"{rate / pillow:6.1f}x the Pillow loop" if pillow else "(no Pillow loop run)"
        kernel = _RATES.get(("bare kernel", level))
        if kernel and path != "bare kernel":
            ratio += f", {rate / kernel:.0%} of the bare kernel"
        terminalreporter.write_line(f"level {level:>3}  {path:<28} {rate:>10,.0f}/s  {ratio}")
