"""Issue 9: does a trained U-Net (or MaskNet) still look at its target?

    python tools/target_dependence.py WEIGHTS [WEIGHTS ...] [--samples 100] [--json OUT]

For each checkpoint, on the first ``--samples`` val-train samples of its level: how much its
foreground probabilities move when each scene gets another sample's target (a network blind to
its target: under 1e-4), and the between-sample spread of its matching step's normalised output
(``reference_models.diagnostics``). The paper-size U-Net trained on a CPU at level 4 went blind
within its first 20 steps (README, *Reproducing the paper's rows*); a GPU window's U-Net weights
should pass this before more time goes into them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from oneshotbench.datasets import load_split
from oneshotbench.errors import OneshotbenchError
from reference_models.checkpoint import load_checkpoint
from reference_models.diagnostics import target_dependence
from reference_models.objectives import batch_from_samples
from reference_models.siamese_unet import SiameseUNet


def measure(weights: Path, samples: int, omniglot: str | None) -> dict:
    model, info = load_checkpoint(weights)
    if not isinstance(model, SiameseUNet):
        raise OneshotbenchError(f"{weights}: a {info.model} has no target matching to measure")
    batch = batch_from_samples(
        load_split("val-train", info.level, omniglot=omniglot).get(0, samples), info.level, "cpu"
    )
    result = target_dependence(model.float(), batch.target, batch.scene)
    return {"weights": str(weights), "level": info.level, "step": info.step,
            **dataclasses.asdict(result), "blind": result.blind}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--omniglot", default=None)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        results = [measure(path, args.samples, args.omniglot) for path in args.weights]
    except OneshotbenchError as err:  # a missing or foreign checkpoint, no Omniglot: no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in results:
        verdict = "BLIND to its target" if r["blind"] else "uses its target"
        figures = (
            f"output change {r['output_change']:.2e}, matching spread {r['matched_spread']:.4f}"
        )
        print(f"{r['weights']} (level {r['level']}, step {r['step']}): {figures}: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
