"""Training that fits a GPU window: stop on request, clock and fp16 checkpoints, warm starts."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from oneshotbench.errors import OneshotbenchError
from reference_models.checkpoint import export_checkpoint, load_checkpoint, read_info
from reference_models.training import SCHEDULES, train
from tests.test_training import fake_streams, tiny_config

CPU = torch.device("cpu")
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny model; see tests/test_gpu_window.py


def test_stop_saves_the_step_in_flight_and_resuming_matches_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    straight = train(tiny_config(tmp_path / "a", checkpoint_every=100), fake_streams(), CPU)
    config = tiny_config(tmp_path / "b", checkpoint_every=100)
    calls = itertools.count(1)
    events: list[dict] = []
    stopped = train(
        config, fake_streams(), CPU, stop=lambda: next(calls) >= 3, on_event=events.append
    )
    assert read_info(stopped).step == 3  # saved although no checkpoint was due
    assert events[-1] == {"event": "stopped", "step": 3, "total": 4, "path": str(stopped)}
    resumed = train(config, fake_streams(), CPU, resume=True)
    a, _ = load_checkpoint(straight)
    b, _ = load_checkpoint(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_resume_with_nothing_saved_says_so(tmp_path: Path) -> None:
    with pytest.raises(OneshotbenchError, match="no checkpoint was written there yet"):
        train(tiny_config(tmp_path), fake_streams(), CPU, resume=True)


def test_checkpoint_seconds_saves_by_the_clock(tmp_path: Path) -> None:
    events: list[dict] = []
    config = tiny_config(tmp_path, checkpoint_every=100, checkpoint_seconds=0.0)
    train(config, fake_streams(), CPU, on_event=events.append)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [1, 2, 3, 4]


def test_warmup_ramps_the_learning_rate_from_the_start_step() -> None:
    schedule = SCHEDULES["segmentation"]
    lrs = [schedule.lr_at(step, 100, 1.0, (10, 4)) for step in range(10, 16)]
    assert lrs == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert schedule.lr_at(60, 100, 1.0, (10, 4)) == 0.5  # halvings unchanged


def test_warm_start_continues_the_schedule_and_other_levels_get_their_own_stats(
    tmp_path: Path,
) -> None:
    first = train(tiny_config(tmp_path / "a", steps=2), fake_streams(), CPU)
    same = tiny_config(tmp_path / "b", init=first, start_step=2, warmup_steps=2)
    events: list[dict] = []
    again = train(same, fake_streams(), CPU, on_event=events.append)
    assert events[0]["step"] == 2 and read_info(again).step == 4
    assert read_info(again).stats == read_info(first).stats
    other = train(tiny_config(tmp_path / "c", level=8, init=first), fake_streams(8), CPU)
    assert read_info(other).stats != read_info(first).stats  # recomputed on level 8's data


def test_fp16_export_halves_the_file_and_loads_into_fp32(tmp_path: Path) -> None:
    path = train(tiny_config(tmp_path, steps=1, model="masknet", stage="proposals",
                             init=train(tiny_config(tmp_path / "u", steps=1), fake_streams(), CPU)),
                 fake_streams(), CPU)  # fmt: skip
    small = export_checkpoint(path, tmp_path / "out" / "w.safetensors")
    assert small.stat().st_size < 0.55 * path.stat().st_size
    assert not (tmp_path / "out" / "w.optim.safetensors").exists()
    full, _ = load_checkpoint(path)
    half, info = load_checkpoint(small)
    assert info.step == 1
    for (name, x), (_, y) in zip(full.state_dict().items(), half.state_dict().items(), strict=True):
        assert y.dtype == x.dtype
        torch.testing.assert_close(y, x.half().to(x.dtype), rtol=0, atol=0, msg=name)


def _train_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "oneshotbench", "train", "siamese_unet", "--level", "4",
            "--size", "tiny", "--device", "cpu", "--batch-size", "4", "--val-samples", "0",
            *args]  # fmt: skip


def test_cli_interrupt_saves_logs_plainly_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cli = _train_cli("--steps", "100000", "--log-every", "1", "--out", str(out))
    proc = subprocess.Popen(
        cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ONE_THREAD
    )
    lines = []
    for line in proc.stdout:  # not a terminal: one plain line per logged step
        lines.append(line)
        if line.startswith("step 2/100000: loss"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, "".join(lines) + rest
    assert "samples/s" in lines[-1]
    step = read_info(out / "checkpoint.safetensors").step
    assert step >= 2
    assert f"stopped at step {step} of 100000; resume with:" in rest
    assert f"--out {out} --resume" in rest


def test_cli_resume_with_nothing_saved_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        _train_cli("--resume", "--out", str(tmp_path / "empty")),
        capture_output=True,
        text=True,
        env=ONE_THREAD,
    )
    assert done.returncode == 2
    assert "no checkpoint was written there yet" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("native", [False, True])
def test_cli_warns_that_bf16_is_emulated_on_a_cpu_without_bf16_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    from typer.testing import CliRunner

    from oneshotbench.cli.main import app

    monkeypatch.setattr("reference_models.training.cpu_has_native_bf16", lambda: native)
    args = _train_cli("--steps", "1", "--precision", "bf16", "--out", str(tmp_path / "run"))
    result = CliRunner().invoke(app, args[3:])
    assert result.exit_code == 0, result.output
    assert ("runs emulated, about 10x slower than float32" in result.stderr) is not native


def test_native_bf16_probe_asks_torch_for_amx_or_avx512_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reference_models.training import cpu_has_native_bf16

    for amx, avx512 in [(False, False), (True, False), (False, True)]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        monkeypatch.setattr(
            torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512: v, raising=False
        )
        assert cpu_has_native_bf16() is (amx or avx512)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert cpu_has_native_bf16()  # torch cannot tell: no false alarm
