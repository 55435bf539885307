"""Evidence for issue 9 (a): how much less cluttered the pre-fix data (version 0) is.

    python tools/prefix_clutter.py [--split test-one-shot] [--samples 1000]

For every clutter level prints, for version 0 and version 1, the mean number of distractors
pasted into a scene and the mean number still visible (at least one pixel not overdrawn), with
their quartiles, and the share of lit (non-black) scene pixels, as a Markdown table. Reads the
per-glyph tables the generator produces.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from oneshotbench.datasets import get_dataset, load_split
from oneshotbench.generator.spec import T_DRAWER, T_VISIBLE
from oneshotbench.omniglot import load_omniglot


def distractor_counts(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: distractors pasted (drawer > 0) and visible ones, the target row excluded."""
    rows = table[:, :-1]
    return (rows[..., T_DRAWER] > 0).sum(axis=1), (rows[..., T_VISIBLE] > 0).sum(axis=1)


def _summary(values: np.ndarray) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{values.mean():.1f} ({q1:.0f}/{median:.0f}/{q3:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test-one-shot")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--omniglot", default=None)
    args = parser.parse_args()
    glyphs = load_omniglot(args.omniglot)
    print(
        "| level | pasted v0 | visible v0 | pasted v1 | visible v1 | visible v0 / v1 "
        "| lit % v0 | lit % v1 |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for level in get_dataset("cluttered-omniglot", 1).levels:
        cells, visible_means, lit = [], [], []
        for version in (0, 1):
            split = load_split(args.split, level, version=version, glyphs=glyphs)
            samples = split.get(0, args.samples)
            pasted, visible = distractor_counts(samples.table)
            cells += [_summary(pasted), _summary(visible)]
            visible_means.append(visible.mean())
            lit.append(f"{100 * (samples.scene > 0).any(axis=-1).mean():.1f}")
        ratio = visible_means[0] / visible_means[1]
        print(f"| {level} | " + " | ".join(cells) + f" | {ratio:.2f} | " + " | ".join(lit) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
