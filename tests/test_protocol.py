"""Predict protocol v1: loading submission files and checking what predict returns (in-process)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from oneshotbench import protocol
from oneshotbench.errors import OneshotbenchError
from oneshotbench.protocol import OutputFault, SubmissionError

CPU = torch.device("cpu")


def write(tmp_path: Path, source: str, name: str = "submission.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def load(tmp_path: Path, source: str):
    path = write(tmp_path, source)
    return protocol.load_submission(path), path


def test_load_valid_submission_and_sibling_imports(tmp_path):
    write(tmp_path, "SCALE = 0.5\n", name="helper_module.py")
    module, path = load(
        tmp_path,
        """
        from helper_module import SCALE
        PROTOCOL_VERSION = 1
        def make_predictor(device):
            return lambda targets, scenes: scenes.mean(1) * SCALE
        """,
    )
    assert protocol.declared_version(module, path) == 1
    assert protocol.oracle_fields(module, path) == ()
    predict = protocol.check_predict(protocol.predictor_factory(module, path)(CPU), path, 2)
    assert predict(None, torch.ones(2, 3, 96, 96)).shape == (2, 96, 96)


def test_missing_file(tmp_path):
    with pytest.raises(SubmissionError, match="does not exist"):
        protocol.load_submission(tmp_path / "nope.py")


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "def make_predictor(device):\n    return (\n\nx = 1\n")
    with pytest.raises(SubmissionError, match=r"submission\.py has a syntax error at line \d"):
        protocol.load_submission(path)


def test_import_error_is_chained(tmp_path):
    path = write(tmp_path, "import no_such_module_anywhere\n")
    with pytest.raises(SubmissionError, match="No module named 'no_such_module_anywhere'") as err:
        protocol.load_submission(path)
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    assert isinstance(err.value, OneshotbenchError)


def test_missing_make_predictor_shows_expected_signature(tmp_path):
    module, path = load(tmp_path, "def predict(targets, scenes):\n    return scenes\n")
    with pytest.raises(SubmissionError) as err:
        protocol.predictor_factory(module, path)
    message = str(err.value)
    assert "defines no function make_predictor(device)" in message
    assert "def make_predictor(device: torch.device):" in message
    assert "def predict(targets, scenes):" in message


@pytest.mark.parametrize(
    ("source", "fault"),
    [
        ("make_predictor = 3\n", "make_predictor must be a function taking one argument"),
        ("def make_predictor():\n    pass\n", "make_predictor must be a function taking one"),
        ("PROTOCOL_VERSION = 2\ndef make_predictor(d):\n    pass\n", "PROTOCOL_VERSION = 2"),
    ],
)
def test_protocol_violations_at_load(tmp_path, source, fault):
    module, path = load(tmp_path, source)
    with pytest.raises(SubmissionError, match=fault):
        protocol.declared_version(module, path)
        protocol.predictor_factory(module, path)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("('instance_map',)", ("instance_map",)),
        ("['instances', 'instance_map', 'instances']", ("instances", "instance_map")),
        ("'instance_map'", "must be a tuple"),
        ("('mask',)", "unknown fields \\['mask'\\]"),
    ],
)
def test_oracle_fields(tmp_path, fields, expected):
    module, path = load(tmp_path, f"ORACLE_FIELDS = {fields}\n")
    if isinstance(expected, tuple):
        assert protocol.oracle_fields(module, path) == expected
    else:
        with pytest.raises(SubmissionError, match=expected):
            protocol.oracle_fields(module, path)


def test_check_predict(tmp_path):
    path = tmp_path / "s.py"
    with pytest.raises(SubmissionError, match="returned int, not a predict function"):
        protocol.check_predict(3, path, 2)
    with pytest.raises(SubmissionError, match=r"predict must accept \(targets, scenes\)"):
        protocol.check_predict(lambda scenes: scenes, path, 2)
    with pytest.raises(SubmissionError, match=r"accept \(targets, scenes, oracle\)"):
        protocol.check_predict(lambda targets, scenes: scenes, path, 3)
    assert protocol.check_predict(lambda *args: None, path, 3) is not None


def test_to_model_input_is_exact_contiguous_float32():
    pixels = torch.arange(2 * 5 * 7 * 3, dtype=torch.int64).remainder(256).to(torch.uint8)
    pixels = pixels.reshape(2, 5, 7, 3)
    out = protocol.to_model_input(pixels, CPU)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 5, 7) and out.is_contiguous()
    expected = pixels.numpy().transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bool])
def test_valid_probabilities(dtype):
    probs = (torch.rand(4, 96, 96) > 0.5).to(dtype)
    out, locations = protocol.check_output(probs, 4, CPU)
    assert out is probs and locations is None


def test_valid_probabilities_with_locations():
    locations = torch.tensor([[1.5, 2.0], [90.0, -3.0]], dtype=torch.float64)
    out, located = protocol.check_output((torch.zeros(2, 96, 96), locations), 2, CPU)
    assert located is locations and out.shape == (2, 96, 96)


def fault_of(out, batch: int = 4) -> OutputFault:
    with pytest.raises(OutputFault) as err:
        protocol.check_output(out, batch, CPU)
    return err.value


@pytest.mark.parametrize(
    ("make", "fault"),
    [
        (lambda: np.zeros((4, 96, 96)), "must be a torch.Tensor, got ndarray"),
        (lambda: torch.zeros(3, 96, 96), "hold 3 samples, the batch has 4"),
        (lambda: torch.tensor(0.5), "hold a scalar"),
        (lambda: torch.zeros(4, 1, 96, 96), r"shape \(4, 1, 96, 96\).*squeeze the channel"),
        (lambda: torch.zeros(4, 96, 95), r"expected \[4, 96, 96\]"),
        (lambda: torch.zeros(4, 96, 96, dtype=torch.uint8), "dtype torch.uint8"),
        (lambda: torch.zeros(4, 96, 96, device="meta"), "are on meta, expected cpu"),
        (lambda: (torch.zeros(4, 96, 96),) * 3, "a tuple of 3 items"),
    ],
)
def test_whole_output_faults(make, fault):
    err = fault_of(make())
    assert err.sample is None
    assert re.search(fault, err.fault), err.fault


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        (float("nan"), "is NaN"),
        (float("inf"), "is Inf"),
        (1.5, "is 1.5, outside"),
        (-0.25, "-0.25"),
    ],
)
def test_bad_probability_names_sample_and_pixel(value, fault):
    probs = torch.rand(4, 96, 96)
    probs[2, 10, 7] = value
    probs[3, 0, 0] = value  # only the first offending sample is reported
    err = fault_of(probs)
    assert err.sample == 2
    assert fault in err.fault and "(x=7, y=10)" in err.fault


@pytest.mark.parametrize(
    ("locations", "fault", "sample"),
    [
        (torch.zeros(4, 3), r"shape \(4, 3\), expected \[4, 2\]", None),
        (torch.zeros(4, 2, dtype=torch.int64), "dtype torch.int64, expected a float", None),
        (torch.tensor([[0.0, 0], [1, float("nan")], [0, 0], [0, 0]]), "not finite", 1),
        ([[0.0, 0.0]] * 4, "locations must be a torch.Tensor", None),
    ],
)
def test_bad_locations(locations, fault, sample):
    err = fault_of((torch.zeros(4, 96, 96), locations))
    assert re.search(fault, err.fault), err.fault
    assert err.sample == sample
