"""oneshotbench: exact, fast, hard-to-cheat benchmarking of one-shot segmentation in clutter."""

__version__ = "0.1.0"
