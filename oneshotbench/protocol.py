"""Predict protocol v1: what a submission file must define, and the checks on what it returns.

A submission is one Python file. The worker process (:mod:`oneshotbench.worker`) imports it, calls
``make_predictor(device)`` once and then ``predict(targets, scenes)`` per batch; every answer is
checked here before a single pixel is scored, so a broken submission fails loudly with the exact
sample and fault instead of silently scoring zero. This module runs inside the worker: it must
never import anything that can produce ground truth (generator, datasets, metrics, omniglot).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from oneshotbench.errors import OneshotbenchError

PROTOCOL_VERSION = 1
SCENE_SIZE = 96
TARGET_SIZE = 32
ORACLE_FIELD_NAMES = ("instance_map", "instances")
PROBABILITY_DTYPES = (torch.float16, torch.float32, torch.float64, torch.bool)

EXPECTED_SIGNATURE = """\
    PROTOCOL_VERSION = 1                       # optional
    def make_predictor(device: torch.device):  # called once, in the worker process
        model = ...                            # build, load weights, .to(device).eval()
        def predict(targets, scenes):          # float32 [B,3,32,32] and [B,3,96,96] in [0,1]
            return probabilities               # [B,96,96] in [0,1] (float or bool), or
                                               # (probabilities, locations [B,2] as (x, y))
        return predict"""

Predict = Callable[..., object]


class SubmissionError(OneshotbenchError):
    """The submission file is missing, does not import, or does not follow the protocol."""


class SubmissionWarning(UserWarning):
    """Something a submission should fix but that does not stop its evaluation."""


def missing_version_warning(path: Path) -> str | None:
    """A one-line warning when the file declares no top-level ``PROTOCOL_VERSION``, else None.

    Read from the source without running it (this runs in the harness, not the worker); a file
    that does not parse is left to the worker, which reports the syntax error.
    """
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (SyntaxError, ValueError, OSError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "PROTOCOL_VERSION" for t in targets):
            return None
    return (
        f"{path} does not declare PROTOCOL_VERSION; it is evaluated as predict protocol "
        f"v{PROTOCOL_VERSION} (add PROTOCOL_VERSION = {PROTOCOL_VERSION} to silence this)"
    )


class OutputFault(ValueError):
    """``predict`` returned something the protocol does not allow.

    ``sample`` is the position inside the batch of the first offending sample (None when the fault
    concerns the whole output); the harness turns it into the split index for the message.
    """

    def __init__(self, fault: str, sample: int | None = None):
        super().__init__(fault)
        self.fault = fault
        self.sample = sample


def _protocol_error(path: Path, what: str) -> SubmissionError:
    return SubmissionError(
        f"{path} does not follow predict protocol v{PROTOCOL_VERSION}: {what}. "
        f"Expected:\n{EXPECTED_SIGNATURE}"
    )


def load_submission(path: Path) -> ModuleType:
    """Import the submission file as module ``submission`` (its folder first on ``sys.path``).

    Syntax and import errors become :class:`SubmissionError` naming the file; the original
    exception is chained so the worker can print the submission's own traceback.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission file {path} does not exist")
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{path} cannot be imported as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise SubmissionError(f"{path} has a syntax error at line {err.lineno}: {err.msg}") from err
    except Exception as err:
        raise SubmissionError(f"{path} could not be imported: {type(err).__name__}: {err}") from err
    return module


def declared_version(module: ModuleType, path: Path) -> int:
    """The file's ``PROTOCOL_VERSION`` (1 when absent); other versions are refused."""
    version = getattr(module, "PROTOCOL_VERSION", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise _protocol_error(
            path, f"it declares PROTOCOL_VERSION = {version!r}, this harness speaks version 1"
        )
    return version


def oracle_fields(module: ModuleType, path: Path) -> tuple[str, ...]:
    """The ground-truth fields the file asks for via ``ORACLE_FIELDS`` (empty when absent)."""
    fields = getattr(module, "ORACLE_FIELDS", ())
    if isinstance(fields, str) or not isinstance(fields, tuple | list):
        raise _protocol_error(
            path, f"ORACLE_FIELDS must be a tuple of field names, got {type(fields).__name__}"
        )
    unknown = [f for f in fields if f not in ORACLE_FIELD_NAMES]
    if unknown:
        raise _protocol_error(
            path, f"ORACLE_FIELDS names unknown fields {unknown}; allowed: {ORACLE_FIELD_NAMES}"
        )
    return tuple(dict.fromkeys(fields))


def declared_artifacts(path: Path) -> list[Path]:
    """The files the submission declares in a literal module-level ``ARTIFACTS`` list.

    Read from the source, never by running it: the harness must know them before the sandbox
    starts (they are made readable inside it and hashed into the record). Relative paths are
    taken from the submission's folder; a missing file is an error naming it.
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as err:
        raise SubmissionError(
            f"{path} has a syntax error at line {err.lineno}: {err.msg}"
        ) from None
    value = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "ARTIFACTS" for t in targets):
            value = node.value
    if value is None:
        return []
    try:
        names = ast.literal_eval(value)
    except ValueError:
        names = None
    if isinstance(names, str) or not isinstance(names, list | tuple):
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise _protocol_error(path, "ARTIFACTS must be a literal list of file paths (strings)")
    files = [path.resolve().parent / name for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SubmissionError(f"{path} declares ARTIFACTS that are not files: {missing}")
    return files


def _accepts(func: Callable[..., object], n_args: int) -> bool:
    try:
        inspect.signature(func).bind(*range(n_args))
    except TypeError:
        return False
    except ValueError:  # no introspectable signature (some builtins): let the call decide
        return True
    return True


def predictor_factory(module: ModuleType, path: Path) -> Callable[[torch.device], Predict]:
    """``make_predictor`` of the file, checked to be callable with one argument (the device)."""
    factory = getattr(module, "make_predictor", None)
    if factory is None:
        raise _protocol_error(path, "it defines no function make_predictor(device)")
    if not callable(factory) or not _accepts(factory, 1):
        raise _protocol_error(path, "make_predictor must be a function taking one argument, device")
    return factory


def check_predict(predict: object, path: Path, n_args: int) -> Predict:
    """The object returned by ``make_predictor``, checked to take ``n_args`` positional args."""
    if not callable(predict):
        raise _protocol_error(
            path, f"make_predictor returned {type(predict).__name__}, not a predict function"
        )
    if not _accepts(predict, n_args):
        args = "targets, scenes" + (", oracle" if n_args == 3 else "")
        raise _protocol_error(path, f"predict must accept ({args})")
    return predict


def to_model_input(images: Tensor, device: torch.device) -> Tensor:
    """uint8 images [B,H,W,3] -> float32 [B,3,H,W] = value / 255, contiguous, on ``device``.

    The bytes travel as uint8 (4x less to move) and are widened on the target device.
    """
    pixels = images.to(device, non_blocking=True)
    out = torch.empty(
        (pixels.shape[0], 3, pixels.shape[1], pixels.shape[2]), dtype=torch.float32, device=device
    )
    out.copy_(pixels.permute(0, 3, 1, 2))
    return out.div_(255.0)


def _same_device(actual: torch.device, expected: torch.device) -> bool:
    if actual.type != expected.type:
        return False
    return actual.index is None or expected.index is None or actual.index == expected.index


def _check_tensor(value: object, name: str, batch: int, device: torch.device) -> Tensor:
    if not isinstance(value, Tensor):
        raise OutputFault(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not _same_device(value.device, device):
        raise OutputFault(
            f"{name} are on {value.device}, expected {device} (given to make_predictor)"
        )
    if value.dim() == 0 or value.shape[0] != batch:
        got = "a scalar" if value.dim() == 0 else f"{value.shape[0]} samples"
        raise OutputFault(f"{name} hold {got}, the batch has {batch}")
    return value


def _first_bad(bad: Tensor) -> int:
    return int(bad.flatten(1).any(dim=1).nonzero()[0, 0])


def _describe(value: float) -> str:
    if value != value:
        return "NaN"
    return "Inf" if abs(value) == float("inf") else f"{value:g}, outside [0, 1]"


def check_probabilities(value: object, batch: int, device: torch.device) -> Tensor:
    """Foreground probabilities [B,96,96] (float16/32/64 in [0,1], or bool), on ``device``."""
    probs = _check_tensor(value, "probabilities", batch, device)
    expected = (batch, SCENE_SIZE, SCENE_SIZE)
    if tuple(probs.shape) != expected:
        hint = " (squeeze the channel axis)" if probs.dim() == 4 and probs.shape[1] == 1 else ""
        raise OutputFault(
            f"probabilities have shape {tuple(probs.shape)}, expected {list(expected)}{hint}"
        )
    if probs.dtype not in PROBABILITY_DTYPES:
        raise OutputFault(f"probabilities have dtype {probs.dtype}; allowed: float16/32/64, bool")
    if probs.dtype != torch.bool:
        low, high = torch.aminmax(probs)  # one pass; NaN propagates and fails both tests
        if not (bool(low >= 0) and bool(high <= 1)):
            bad = ~((probs >= 0) & (probs <= 1))
            sample = _first_bad(bad)
            y, x = (int(v) for v in bad[sample].nonzero()[0])
            value = float(probs[sample, y, x])
            raise OutputFault(f"probability at pixel (x={x}, y={y}) is {_describe(value)}", sample)
    return probs


def check_locations(value: object, batch: int, device: torch.device) -> Tensor:
    """Submitted (x, y) locations: finite floats [B,2] on ``device``."""
    locations = _check_tensor(value, "locations", batch, device)
    if tuple(locations.shape) != (batch, 2):
        raise OutputFault(f"locations have shape {tuple(locations.shape)}, expected [{batch}, 2]")
    if not locations.is_floating_point():
        raise OutputFault(f"locations have dtype {locations.dtype}, expected a float dtype")
    bad = ~torch.isfinite(locations)
    if bool(bad.any()):
        sample = int(bad.any(dim=1).nonzero()[0, 0])
        raise OutputFault(f"location {locations[sample].tolist()} is not finite", sample)
    return locations


def check_output(out: object, batch: int, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Split and check what ``predict`` returned: probabilities, or (probabilities, locations)."""
    if isinstance(out, tuple):
        if len(out) != 2:
            raise OutputFault(
                f"predict returned a tuple of {len(out)} items; expected probabilities "
                "or (probabilities, locations)"
            )
        probs, locations = out
        return (
            check_probabilities(probs, batch, device),
            check_locations(locations, batch, device),
        )
    return check_probabilities(out, batch, device), None
