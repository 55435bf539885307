"""Training loop: paper schedules, stage objectives, exact resume, loss decreases (tiny, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from oneshotbench.errors import OneshotbenchError
from reference_models import create_model
from reference_models.checkpoint import load_checkpoint, read_info
from reference_models.normalization import InputStats
from reference_models.objectives import (
    Objective,
    background_cells,
    batch_from_stream,
    foreground_cells,
    oracle_pairs,
)
from reference_models.training import SCHEDULES, TrainConfig, autocast_for, train, validate

SIZE = 96


class FakeStream:
    """Same shape as ``TrainingStream``: L coloured rectangles per scene, the target drawn last.

    Deterministic in (seed, step); the target image shows the target's rectangle in a new colour.
    """

    def __init__(self, level: int, batch_size: int, seed: int) -> None:
        self.level, self.batch_size, self.seed = level, batch_size, seed

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        b, n = self.batch_size, self.level
        scene = torch.zeros(b, 3, SIZE, SIZE, dtype=torch.uint8)
        imap = torch.zeros(b, SIZE, SIZE, dtype=torch.int16)
        target = torch.zeros(b, 3, 32, 32, dtype=torch.uint8)
        wh = torch.randint(6, 20, (b, n, 2), generator=gen)
        xy = (torch.rand(b, n, 2, generator=gen) * (SIZE - wh)).long()
        colour = torch.randint(60, 255, (b, n + 1, 3), generator=gen, dtype=torch.uint8)
        for i in range(b):
            for k in range(n):
                (x, y), (w, h) = xy[i, k].tolist(), wh[i, k].tolist()
                scene[i, :, y : y + h, x : x + w] = colour[i, k, :, None, None]
                imap[i, y : y + h, x : x + w] = k + 1
            w, h = wh[i, -1].tolist()
            x0, y0 = (32 - w) // 2, (32 - h) // 2
            target[i, :, y0 : y0 + h, x0 : x0 + w] = colour[i, n, :, None, None]
        mask = imap == n
        ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        count = mask.sum((1, 2))
        com = torch.stack([(mask * xs).sum((1, 2)), (mask * ys).sum((1, 2))], 1)
        target_com = torch.where(count[:, None] > 0, com // count.clamp(min=1)[:, None], -1)
        centers = torch.full((b, n, 2), float("nan"))
        return {
            "scene": scene,
            "target": target,
            "mask": mask,
            "instance_map": imap,
            "centers": centers,
            "target_com": target_com,
        }


def fake_streams(level: int = 4):
    return lambda seed, batch_size: FakeStream(level, batch_size, seed)


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    base = dict(
        model="siamese_unet",
        level=4,
        out_dir=tmp_path / "run",
        size="tiny",
        steps=4,
        batch_size=4,
        lr=1e-3,
        log_every=1,
        val_every=2,
        checkpoint_every=2,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_paper_schedules() -> None:
    unet = SCHEDULES["segmentation"]
    assert (unet.lr, unet.batch_size, unet.total_steps) == (5e-4, 250, 160_000)
    lrs = [unet.lr_at(e * 8000, unet.total_steps, unet.lr) for e in (0, 9, 10, 14, 15, 17, 19)]
    assert lrs == [5e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4, 6.25e-5, 6.25e-5]
    assert SCHEDULES["proposals"].total_steps == 200_000
    assert SCHEDULES["discriminator"].lr == 2.5e-4
    # --steps keeps the halvings at the same fractions of the run
    assert unet.lr_at(49, 100, 1.0) == 1.0 and unet.lr_at(50, 100, 1.0) == 0.5


def test_foreground_and_background_cells() -> None:
    com = torch.tensor([[20, 35], [95, 95], [-1, -1], [16, 8]])
    fg = foreground_cells(com)
    assert fg[0].tolist() == [2 + 12 * 4, 3 + 12 * 4, 2 + 12 * 5, 3 + 12 * 5]
    assert fg[1].tolist() == [11 + 12 * 11] * 4  # ceil clamped to the grid (spec 5.16)
    assert fg[2].tolist() == [0] * 4  # empty mask: clamped, not a negative index
    assert fg[3].tolist() == [2 + 12 * 1] * 4  # exact grid point: floor == ceil
    bg = background_cells(fg, 4, torch.Generator().manual_seed(0))
    for row_fg, row_bg in zip(fg.tolist(), bg.tolist(), strict=True):
        assert len(set(row_bg)) == 4 and not set(row_bg) & set(row_fg)


def test_oracle_pairs_weights_missing_candidates() -> None:
    visible = torch.tensor(
        [[True, True, False, True], [False, False, False, True], [True, False, True, False]]
    )
    ids, weight = oracle_pairs(visible, torch.Generator().manual_seed(0))
    assert ids[:, 0].tolist() == [4, 4, 4]
    assert set(ids[0, 1:].tolist()) <= {1, 2}
    assert weight.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 1]]
    assert set(ids[2, 1:].tolist()) <= {1, 3}


def test_one_step_lowers_loss_on_fixed_batch() -> None:
    torch.manual_seed(0)
    stats = InputStats(mean=30.0, std=60.0)
    model = create_model("siamese_unet", "tiny", stats)
    objective = Objective(model, "segmentation")
    batch = batch_from_stream(FakeStream(4, 8, seed=1).batch(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator()
    before, _ = objective(batch, gen)
    for _ in range(3):
        opt.zero_grad()
        loss, _ = objective(batch, gen)
        loss.backward()
        opt.step()
    after, _ = objective(batch, gen)
    assert float(after.detach()) < float(before.detach())


@pytest.mark.parametrize("model", ["presegmented_discriminator", "cluttered_discriminator"])
def test_oracle_training_step(model: str) -> None:
    """Every weight gets a gradient, and a few Adam steps on one fixed batch (same proposals:
    the generator is re-seeded) lower the discriminator's loss."""
    torch.manual_seed(0)
    net = create_model(model, "tiny", InputStats(30.0, 60.0))
    objective = Objective(net, "oracle")
    batch = batch_from_stream(FakeStream(4, 4, seed=2).batch(0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for step in range(4):
        opt.zero_grad()
        loss, metrics = objective(batch, torch.Generator().manual_seed(0))
        loss.backward()
        if step == 0:
            assert all(p.grad is not None for p in net.parameters())
        assert 0 <= float(metrics["accuracy"]) <= 1
        losses.append(float(loss.detach()))
        opt.step()
    assert losses[-1] < losses[0], losses


def test_oracles_validate_on_the_decision_over_every_glyph(monkeypatch) -> None:
    """The oracles' val-train metric is the test task (target against every visible glyph), not
    the training pairs (target against 3 random glyphs)."""
    net = create_model("presegmented_discriminator", "tiny", InputStats(30.0, 60.0))
    batches = [
        batch_from_stream(FakeStream(4, n, seed=n).batch(0)) for n in (60, 16)
    ]  # 60: 2 chunks
    prefer = {}  # glyph id -> score; the target is glyph 4

    def rigged(targets, scenes, instance_map, sample, ids, centers):
        return torch.tensor([prefer.get(int(i), 0.0) for i in ids])

    monkeypatch.setattr(net, "pair_scores", rigged)
    objective = Objective(net, "oracle")
    prefer.update({4: 1.0})
    assert validate(objective, batches, seed=0)[1:] == ("scene_accuracy", 1.0)
    prefer.update({1: 2.0})  # glyph 1 beats the target wherever it is visible
    _, name, value = validate(objective, batches, seed=0)
    hidden = [float((b.instance_map == 1).flatten(1).any(1).logical_not().float().mean())
              for b in batches]  # fmt: skip
    assert name == "scene_accuracy" and value == pytest.approx(sum(hidden) / len(hidden))
    pairs = objective(batches[0], torch.Generator().manual_seed(0))[1]["accuracy"]
    assert float(pairs) > value + 0.1  # the 3 random rivals often miss glyph 1
    assert validate(Objective(create_model("siamese_unet", "tiny", InputStats(30.0, 60.0)),
                              "segmentation"), batches[:1], seed=0)[1] == "iou"  # fmt: skip


def test_masknet_stage_2_validates_on_its_output_over_all_proposals(monkeypatch) -> None:
    net = create_model("masknet", "tiny", InputStats(30.0, 60.0))
    batch = batch_from_stream(FakeStream(4, 12, seed=5).batch(0))  # 2 chunks of at most 10
    objective = Objective(net, "discriminator")
    assert validate(objective, [batch], seed=0)[1] == "iou"
    perfect = torch.stack([~batch.mask, batch.mask], dim=1).float() * 10  # 2-class logits
    for logits, expected in ((perfect, 1.0), (perfect.flip(1), 0.0)):
        parts = iter(logits.split(10))
        monkeypatch.setattr(net, "forward", lambda targets, scenes, parts=parts: next(parts))
        assert validate(objective, [batch], seed=0)[1:] == ("iou", expected)


def test_train_writes_checkpoint_metrics_and_resumes_exactly(tmp_path: Path) -> None:
    events: list[dict] = []
    val = [batch_from_stream(FakeStream(4, 4, seed=99).batch(0))]
    straight = train(
        tiny_config(tmp_path / "a"),
        fake_streams(),
        torch.device("cpu"),
        val_batches=val,
        on_event=events.append,
    )
    info = read_info(straight)
    assert (info.step, info.total_steps, info.model, info.level, info.size) == (
        4,
        4,
        "siamese_unet",
        4,
        "tiny",
    )
    assert info.stats.std > 0
    lines = (straight.parent / "metrics.jsonl").read_text().splitlines()
    splits = [json.loads(line)["split"] for line in lines]
    assert splits.count("train") == 4 and splits.count("val-train") == 2
    assert {"train", "val", "checkpoint", "start"} <= {e["event"] for e in events}

    half = tiny_config(tmp_path / "b", steps=4, checkpoint_every=2)
    # interrupted after 2 steps: emulate by training a 2-step prefix with the same total
    interrupted = train_prefix(half, stop_after=2)
    assert read_info(interrupted).step == 2
    resumed = train(half, fake_streams(), torch.device("cpu"), resume=True)
    a, _ = load_checkpoint(straight)
    b, _ = load_checkpoint(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


class _Interrupt(Exception):
    pass


def train_prefix(config: TrainConfig, stop_after: int) -> Path:
    """Run ``config`` and kill it right after the checkpoint of step ``stop_after``."""

    def on_event(event: dict) -> None:
        if event["event"] == "checkpoint" and event["step"] == stop_after:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(config, fake_streams(), torch.device("cpu"), on_event=on_event)
    return config.out_dir / "checkpoint.safetensors"


def test_resume_refuses_other_settings_and_fresh_run_refuses_overwrite(tmp_path: Path) -> None:
    config = tiny_config(tmp_path, steps=2)
    train(config, fake_streams(), torch.device("cpu"))
    with pytest.raises(OneshotbenchError, match="exists; pass --resume"):
        train(config, fake_streams(), torch.device("cpu"))
    with pytest.raises(OneshotbenchError, match="level 4"):
        train(
            tiny_config(tmp_path, steps=2, level=8),
            fake_streams(8),
            torch.device("cpu"),
            resume=True,
        )


def test_masknet_stages_start_from_previous_checkpoints(tmp_path: Path) -> None:
    unet = train(tiny_config(tmp_path / "unet", steps=1), fake_streams(), torch.device("cpu"))
    with pytest.raises(OneshotbenchError, match="pass --init"):
        tiny_config(tmp_path / "x", model="masknet", steps=1).resolved()
    stage1 = train(
        tiny_config(tmp_path / "s1", model="masknet", stage="proposals", steps=1, init=unet),
        fake_streams(),
        torch.device("cpu"),
    )
    base, _ = load_checkpoint(unet)
    after1, info1 = load_checkpoint(stage1)
    assert info1.stats == read_info(unet).stats  # constants travel with the weights
    # stage 1 trains encoders and decoder, leaves the discriminator untouched
    assert not torch.equal(base.decoder.convs[0].weight, after1.decoder.convs[0].weight)
    stage2 = train(
        tiny_config(tmp_path / "s2", model="masknet", stage="discriminator", steps=1, init=stage1),
        fake_streams(),
        torch.device("cpu"),
    )
    after2, _ = load_checkpoint(stage2)
    for name, tensor in after1.state_dict().items():
        if not name.startswith("discriminator."):
            assert torch.equal(tensor, after2.state_dict()[name]), name
    # the discriminator encoder started as a copy of the target encoder and then moved
    first = "discriminator.encoder.convs.0.weight"
    assert not torch.equal(after2.state_dict()[first], after1.state_dict()[first])


def test_resume_defaults_to_the_checkpoints_settings(tmp_path: Path) -> None:
    first = tiny_config(tmp_path, steps=2, batch_size=4, lr=3e-3)
    ckpt = train(first, fake_streams(), torch.device("cpu"))
    again = TrainConfig(model="siamese_unet", level=4, out_dir=first.out_dir, size="tiny")
    resumed = again.continuing(read_info(ckpt)).resolved()
    assert (resumed.steps, resumed.batch_size, resumed.lr, resumed.stage) == (
        2,
        4,
        3e-3,
        "segmentation",
    )


def test_precision_bf16_runs_on_cpu_and_is_recorded(tmp_path: Path) -> None:
    x, w = torch.ones(2, 3), torch.ones(4, 3)
    with autocast_for("bf16", torch.device("cpu")):
        assert torch.nn.functional.linear(x, w).dtype == torch.bfloat16
    with autocast_for("auto", torch.device("cpu")):  # CPUs keep float32 unless asked
        assert torch.nn.functional.linear(x, w).dtype == torch.float32
    runs = {
        precision: train(
            tiny_config(tmp_path / precision, steps=2, precision=precision),
            fake_streams(),
            torch.device("cpu"),
        )
        for precision in ("fp32", "bf16")
    }
    assert read_info(runs["bf16"]).config["precision"] == "bf16"
    again = TrainConfig(model="siamese_unet", level=4, out_dir=tmp_path / "bf16", size="tiny")
    assert again.continuing(read_info(runs["bf16"])).precision == "bf16"  # --resume keeps it
    fp32, _ = load_checkpoint(runs["fp32"])
    bf16, _ = load_checkpoint(runs["bf16"])
    weights = [(a, b) for a, b in zip(fp32.parameters(), bf16.parameters(), strict=True)]
    assert all(torch.isfinite(b).all() for _, b in weights)
    assert any(not torch.equal(a, b) for a, b in weights)  # the steps did run in bf16
    with pytest.raises(OneshotbenchError, match="--precision must be one of auto, bf16, fp32"):
        train(tiny_config(tmp_path / "bad", precision="fp8"), fake_streams(), torch.device("cpu"))
