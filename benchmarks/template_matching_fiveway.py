"""Template matching on standard 5-way one-shot Omniglot (the paper's footnote 3: 84 %).

A calibration for the scoring choices the paper leaves open: the same ``TemplateMatcher`` that
scores cluttered scenes picks, for a drawing of one evaluation-alphabet character, the match
among 5 characters of that alphabet drawn by another drawer. Drawings are brought to the
generator's scale (105 px -> 32 px, nearest neighbour) and laid out apart on a 96 x 96 instance
map, so the matcher sees exactly what it sees in a scene: segmented, binarised characters.

Run: ``python benchmarks/template_matching_fiveway.py --trials 400`` (a few minutes). Not a test.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from oneshotbench.omniglot import SIZE, load_omniglot
from reference_models.template_matching import TemplateMatcher

WAYS = 5
SCALE = 32  # the generator's 105 -> 32 px frame


def small(bitmap: np.ndarray) -> torch.Tensor:
    """A 105 x 105 drawing at the generator's scale: bool [32, 32], nearest neighbour."""
    source = (np.arange(SCALE) + 0.5) * SIZE / SCALE
    index = source.astype(int)
    return torch.from_numpy(bitmap[np.ix_(index, index)])


def trial(glyphs, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One 5-way problem: target image [3, 32, 32] and an instance map whose glyph 1 matches."""
    evaluation = np.arange(glyphs.n_background, len(glyphs.char_alphabet))
    alphabet = rng.choice(np.unique(glyphs.char_alphabet[evaluation]))
    members = evaluation[glyphs.char_alphabet[evaluation] == alphabet]
    chars = rng.choice(members, WAYS, replace=False)
    query, other = rng.choice(20, 2, replace=False)
    target = small(glyphs.bitmap(chars[0], query)).float().expand(3, -1, -1)
    instance_map = torch.zeros(96, 96, dtype=torch.int64)
    for k, char in enumerate(chars):
        row, col = divmod(k, 3)
        cell = instance_map[row * 48 : row * 48 + 32, col * 32 : col * 32 + 32]
        cell[small(glyphs.bitmap(char, other))] = k + 1
    return target, instance_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    glyphs = load_omniglot(progress=False)
    rng = np.random.default_rng(args.seed)
    matchers = {
        "normalized": TemplateMatcher(),
        "raw": TemplateMatcher(normalized=False),
    }
    correct = dict.fromkeys(matchers, 0)
    for _ in range(args.trials):
        target, instance_map = trial(glyphs, rng)
        for name, matcher in matchers.items():
            correct[name] += int(matcher.scores(target, instance_map, WAYS).argmax() == 0)
    accuracy = {name: round(100 * n / args.trials, 1) for name, n in correct.items()}
    print(json.dumps({"trials": args.trials, "seed": args.seed, "accuracy_percent": accuracy}))


if __name__ == "__main__":
    main()
