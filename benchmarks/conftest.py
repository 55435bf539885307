"""Benchmarks share the test fixtures (real Omniglot decoded once, synthetic glyphs)."""

from collections.abc import Iterator

import pytest
import torch

from tests.conftest import real_glyphs, synthetic  # noqa: F401


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread, for per-core figures (``pytestmark = usefixtures("one_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
