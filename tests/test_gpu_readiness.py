"""What a GPU window relies on, checked on CPU: no missing packages, fp32 heads, exact padding."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from reference_models.discriminators import SiameseScorer
from reference_models.layers import ConvLN, paper_bce, tf_same_padding


def test_package_imports_without_pooch_and_platformdirs(tmp_path) -> None:
    """The GPU image has neither; nothing on the training or evaluation path may need them."""
    code = (
        "import sys; sys.modules['pooch'] = None; sys.modules['platformdirs'] = None\n"
        "import oneshotbench.omniglot, oneshotbench.cache, oneshotbench.cli.main\n"
        "import reference_models.training, oneshotbench.datasets\n"
        "from oneshotbench.cache import cache_root; print(cache_root())\n"
    )
    env = {"ONESHOTBENCH_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path)


def test_scorer_head_is_fp32_and_does_not_saturate_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    scorer = SiameseScorer(features=4)
    crops = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        embedding = scorer.encoder(crops)[-1].flatten(1)
        distance = embedding.abs()  # target vectors of zero
        # weights that put the logit at exactly 7 for every sample
        scorer.weighted_sum.weight.copy_(7.0 / distance.sum(1).mean() * torch.ones(1, 64))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            scores = scorer(crops, torch.zeros_like(embedding))
    assert scores.dtype == torch.float32
    assert (scores < 1.0).all()  # bf16 rounds sigmoid(7) = 0.99909 to 1.0
    assert scores.min() > 0.99


def test_paper_bce_runs_in_fp32_under_autocast() -> None:
    prob = torch.tensor([0.999, 0.5], dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = paper_bce(prob, torch.tensor([1.0, 0.0]))
    assert loss.dtype == torch.float32


@pytest.mark.parametrize(("kernel", "dilation"), [(3, 1), (3, 2), (5, 1), (2, 1), (2, 2), (1, 1)])
def test_conv_padding_equals_tf_same(kernel: int, dilation: int) -> None:
    """The conv's own symmetric padding (odd kernels) equals the explicit TF-SAME pad."""
    torch.manual_seed(kernel * 10 + dilation)
    layer = ConvLN(5, 6, kernel, dilation=dilation, relu=False)
    x = torch.randn(2, 5, 12, 12)
    reference = F.conv2d(
        F.pad(x, tf_same_padding(kernel, dilation)), layer.weight, dilation=dilation
    )
    torch.testing.assert_close(layer._conv(x, layer.weight), reference, rtol=1e-6, atol=1e-6)
    assert tf_same_padding(2, 1) == (0, 1, 0, 1)  # the even kernel keeps TF's asymmetric pad


def test_training_stream_on_a_missing_cuda_device_is_a_clear_error() -> None:
    from oneshotbench.datasets.stream import TrainingStream
    from oneshotbench.errors import OneshotbenchError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # CI has none: there the check always runs
    with pytest.raises(OneshotbenchError, match="no CUDA device"):
        TrainingStream(4, device="cuda")
