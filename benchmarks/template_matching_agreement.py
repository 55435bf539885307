"""Does the fast template search pick the same glyph as the full convolution? And at what cost?

The paper's template matching (footnote 2) correlates 9,317 transformed targets with every
segmented character. ``TemplateMatcher.exhaustive_scores`` does that at every relative shift
(by FFT); ``TemplateMatcher.scores`` only at shifts within +-r of the centres of mass. This
script scores the first samples of test-one-shot both ways and prints, per level, how often the
choices agree, each one's accuracy and seconds per scene, for r = 0..3.

Run: ``python benchmarks/template_matching_agreement.py --levels 4,32 --samples 40``
(minutes per level: the exhaustive search takes seconds per glyph). Not a test.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from oneshotbench.datasets import load_split
from reference_models.template_matching import TemplateMatcher

RADII = (0, 1, 2, 3)


def compare(level: int, start: int, samples: int) -> dict:
    """Choices, accuracies and timings of the fast (per radius) and exhaustive searches."""
    data = load_split("test-one-shot", level).get(start, start + samples)
    targets = torch.from_numpy(data.target).permute(0, 3, 1, 2).float() / 255
    maps = torch.from_numpy(data.instance_map.astype("int64"))
    truth = level - 1  # the target is pasted last
    fast = {r: TemplateMatcher(shift_radius=r) for r in RADII}
    exhaustive = TemplateMatcher()
    chosen: dict[str, list[int]] = {f"r{r}": [] for r in RADII} | {"exhaustive": []}
    seconds: dict[str, float] = dict.fromkeys(chosen, 0.0)
    for target, imap in zip(targets, maps, strict=True):
        runs = [(f"r{r}", m.scores) for r, m in fast.items()]
        for name, score in [*runs, ("exhaustive", exhaustive.exhaustive_scores)]:
            begin = time.perf_counter()
            chosen[name].append(int(score(target, imap, level).argmax()))
            seconds[name] += time.perf_counter() - begin
    reference = chosen["exhaustive"]
    return {
        "level": level,
        "samples": samples,
        "start": start,
        "agreement": {
            k: sum(a == b for a, b in zip(v, reference, strict=True)) / samples
            for k, v in chosen.items()
        },
        "accuracy": {k: sum(c == truth for c in v) / samples for k, v in chosen.items()},
        "seconds_per_scene": {k: v / samples for k, v in seconds.items()},
        "chosen": chosen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="4,32")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", help="JSON file for the per-level results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for level in (int(v) for v in args.levels.split(",")):
        result = compare(level, args.start, args.samples)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "chosen"}), flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
