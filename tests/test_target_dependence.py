"""Target dependence: the measurement that found the paper-size CPU U-Net blind to its target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from reference_models.diagnostics import BLIND_BELOW, target_dependence
from reference_models.normalization import InputStats
from reference_models.siamese_unet import SiameseUNet
from tests.conftest import require_real_omniglot

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "results" / "checkpoints"


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    targets = (torch.rand(n, 3, 32, 32, generator=generator) > 0.8).float()
    scenes = (torch.rand(n, 3, 96, 96, generator=generator) > 0.8).float()
    return targets, scenes


def test_a_fresh_network_depends_on_its_target() -> None:
    torch.manual_seed(0)
    result = target_dependence(SiameseUNet(4, InputStats(50.0, 100.0)), *_batch())
    assert result.output_change > BLIND_BELOW and not result.blind
    assert result.matched_spread > 0.01 and result.samples == 6


def test_a_network_whose_target_vector_is_constant_is_blind() -> None:
    torch.manual_seed(0)
    model = SiameseUNet(4, InputStats(50.0, 100.0))
    with torch.no_grad():  # the target encoder's last conv outputs zeros for every target
        model.target_encoder.convs[-1].weight.zero_()
    result = target_dependence(model, *_batch())
    assert result.output_change == 0.0 and result.matched_spread == 0.0 and result.blind


def test_the_committed_u_nets_use_their_targets(tmp_path: Path) -> None:
    """The README's finding on the committed weights: the paper-size U-Net trained on a CPU with a
    learning-rate warm-up still uses its target, as the tiny CPU demo does (without the warm-up it
    went blind: the synthetic case above; its weights are in the git history)."""
    paper = CHECKPOINTS / "siamese_unet-paper-L4-warmup-continued" / "checkpoint.safetensors"
    tiny = CHECKPOINTS / "siamese_unet-tiny-L4" / "checkpoint.safetensors"
    out = tmp_path / "dependence.json"
    tool = ROOT / "tools" / "target_dependence.py"
    omniglot = str(require_real_omniglot())
    command = [sys.executable, str(tool), str(paper), str(tiny), "--samples", "20",
               "--omniglot", omniglot, "--json", str(out)]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("uses its target") == 2 and "BLIND" not in run.stdout
    paper_result, tiny_result = json.loads(out.read_text())
    assert not paper_result["blind"] and paper_result["output_change"] > 1e-3
    assert paper_result["matched_spread"] > 0.1
    assert not tiny_result["blind"] and tiny_result["output_change"] > 1e-3


def test_the_tool_names_a_bad_checkpoint_without_a_traceback(tmp_path: Path) -> None:
    tool = ROOT / "tools" / "target_dependence.py"
    missing = tmp_path / "nothing.safetensors"
    run = subprocess.run([sys.executable, str(tool), str(missing)], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(missing) in run.stderr
    oracle = CHECKPOINTS / "cluttered_discriminator-paper-L256-long-2" / "checkpoint.safetensors"
    run = subprocess.run([sys.executable, str(tool), str(oracle)], capture_output=True, text=True)
    assert run.returncode == 2 and "has no target matching" in run.stderr
