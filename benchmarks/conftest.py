"""Benchmarks share the test fixtures (real Omniglot decoded once, synthetic glyphs)."""

from tests.conftest import real_glyphs, synthetic  # noqa: F401
