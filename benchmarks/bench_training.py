"""Training and decoding throughput of the reference models on the CPU.

Run: ``pytest benchmarks/bench_training.py --benchmark-columns=median,rounds``. Extra info per
case: ``samples_per_s`` and the achieved ``gflop_per_s`` (FLOPs counted by torch's
FlopCounterMode; on a GPU divide by the card's peak for an MFU estimate).

* One Adam step (forward, backward, update) of the Siamese U-Net on a fixed batch of 8, paper size
  (F = 24) vs tiny (F = 4); data generation is not included (the stream is measured elsewhere).
* The paper-size Siamese U-Net and the pre-segmented discriminator oracle in float32 and under
  bf16 autocast (the CPU's AMX units where it has them), batch 50: ``paper_schedule_days`` is
  the time the paper's 40 M training samples per level (160,000 steps of 250) would take at that
  rate, which is why the trained rows of Tables 1-2 wait for GPU windows.
* MaskNet's 144 proposals of one sample: batched decoder passes with the skips convolved once
  and broadcast (ours; tiles of 8 proposals on a CPU) vs the authors' loop of 144 decoder calls
  (naive reference).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reference_models import create_model
from reference_models.layers import layer_norm
from reference_models.masknet import NUM_PROPOSALS
from reference_models.normalization import InputStats
from reference_models.objectives import Objective, batch_from_stream
from reference_models.training import autocast_for

STATS = InputStats(mean=25.0, std=55.0)
BATCH = 8


def fake_batch(n: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    imap = torch.randint(0, 5, (n, 96, 96), generator=gen, dtype=torch.int16)
    return {
        "scene": torch.randint(0, 256, (n, 3, 96, 96), generator=gen, dtype=torch.uint8),
        "target": torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8),
        "mask": imap == 4,
        "instance_map": imap,
        "centers": torch.zeros(n, 4, 2),
        "target_com": torch.full((n, 2), 40),
    }


def report(benchmark, samples: int, flops: int) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["samples_per_s"] = round(samples / median, 1)
    benchmark.extra_info["gflop_per_s"] = round(flops / median / 1e9, 2)


@pytest.mark.parametrize("size", ["tiny", "paper"])
def test_siamese_unet_train_step(benchmark, size: str) -> None:
    torch.manual_seed(0)
    model = create_model("siamese_unet", size, STATS)
    objective = Objective(model, "segmentation")
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    batch = batch_from_stream(fake_batch(BATCH))
    gen = torch.Generator()

    def step() -> float:
        loss, _ = objective(batch, gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    with FlopCounterMode(display=False) as counter:
        step()
    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    report(benchmark, BATCH, counter.get_total_flops())


PAPER_SAMPLES_PER_LEVEL = 160_000 * 250


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize(
    ("model_name", "stage"),
    [("siamese_unet", "segmentation"), ("presegmented_discriminator", "oracle")],
)
def test_paper_train_step_precision(benchmark, model_name: str, stage: str, precision: str) -> None:
    torch.manual_seed(0)
    model = create_model(model_name, "paper", STATS)
    objective = Objective(model, stage)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    batch = batch_from_stream(fake_batch(50))
    gen = torch.Generator()
    autocast = autocast_for(precision, torch.device("cpu"))  # as `train --precision` runs it

    def step() -> None:
        with autocast:
            loss, _ = objective(batch, gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    report(benchmark, 50, counter.get_total_flops())
    rate = benchmark.extra_info["samples_per_s"]
    benchmark.extra_info["paper_schedule_days"] = round(PAPER_SAMPLES_PER_LEVEL / rate / 86400, 1)


def _proposal_seeds(model, targets, scenes):
    vector, skips, matched = model.encode(targets, scenes)
    eye = torch.eye(NUM_PROPOSALS).view(NUM_PROPOSALS, 1, 12, 12)
    return skips, layer_norm(matched * eye)  # [144, C, 12, 12] for one sample


@pytest.mark.parametrize("how", ["batched", "naive-loop"])
def test_masknet_decode_144_proposals(benchmark, how: str) -> None:
    torch.manual_seed(0)
    model = create_model("masknet", "paper", STATS).eval()
    targets, scenes = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 96, 96)

    @torch.no_grad()
    def decode() -> torch.Tensor:
        if how == "batched":
            return model.decode(targets, scenes)[0][0]
        skips, seeds = _proposal_seeds(model, targets, scenes)
        return torch.cat([model.decoder(seed[None, None], skips)[0] for seed in seeds])

    with FlopCounterMode(display=False) as counter:
        reference = decode()
    benchmark.pedantic(decode, rounds=1, warmup_rounds=0)
    assert reference.shape == (NUM_PROPOSALS, 2, 96, 96)
    report(benchmark, 1, counter.get_total_flops())
