"""What models there are: the reference networks, the checkpoints committed beside the results,
and the scores of the records that used each checkpoint (``oneshotbench models``).

Parameter counts come from networks built on PyTorch's ``meta`` device (shapes only: no memory,
no initialisation, milliseconds even at paper size) and, for a checkpoint, from its safetensors
header. A record used a checkpoint when it lists the checkpoint's SHA-256 among its artefacts
(schema v2) or its ``ONESHOTBENCH_CHECKPOINT`` names the file; older records, which hash no
artefacts, are matched by model name and level and the link is reported as unverified.

Weights too large for the repository stay out of it, but their checkpoint folder keeps the
sidecar (``checkpoint.json``, which holds the weights' SHA-256) and the training log: the
checkpoint is then listed as not committed, its records still link to it by hash, and anyone who
has the weights can prove them the ones scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from oneshotbench.cache import file_sha256
from oneshotbench.errors import OneshotbenchError
from oneshotbench.rows import submission_name
from reference_models.checkpoint import FORMAT as CHECKPOINT_FORMAT

CHECKPOINT_ENV = "ONESHOTBENCH_CHECKPOINT"
PRE_FIX_FOLDER = "v0"
"""Sub-folder of a results folder for records on the pre-fix data (dataset version 0): kept apart
so that ``results/*.json``, all on the fixed release, can be reported and ranked together."""
SUPERSEDED_FOLDER = "superseded"
"""Sub-folder for the records (both data versions) of checkpoints that a longer-trained run of the
same model and level replaced: they keep the old weights' evidence but stand for no cell, and
``results/*.json`` stays one current record per model and level."""


@dataclass(frozen=True)
class ReferenceModel:
    """A registered network and its trainable parameter count per size."""

    name: str
    description: str
    oracle: bool
    stages: tuple[str, ...]
    parameters: dict[str, int]  # size -> trainable parameters


@dataclass(frozen=True)
class Score:
    """A record's scores at one level, as linked to a checkpoint, and the data they came from."""

    record: str
    level: int
    iou: float
    iou_ci: tuple[float, float]
    n: int
    link: str  # "sha256", "path" or "unverified (name and level)"
    loc: float | None = None
    split: str | None = None
    version: int | None = None  # of the dataset: 1 the fixed release, 0 the pre-fix draws
    private: bool = False


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint under a results folder: what it is, its hash, and the scores recorded with it.

    ``committed`` is False where only the sidecar is there (weights left out of the repository):
    then ``path`` is where the weights were scored from, and their size is unknown (None).
    """

    path: Path
    model: str
    size: str
    level: int | None
    step: int | None
    parameters: int | None
    bytes: int | None
    sha256: str
    scores: list[Score]
    batch_size: int | None = None  # of the training run, where the sidecar says it
    warm_start: str | None = None  # the run folder of the --init weights, if any
    committed: bool = True
    start_step: int = 0  # > 0: the run continued the --init weights' schedule at this step

    @property
    def samples_trained(self) -> int | None:
        """Training samples behind the weights (a shortened schedule shows here)."""
        if self.step is None or self.batch_size is None:
            return None
        return self.step * self.batch_size

    def origin(self, quote: str = "") -> str | None:
        """Where the weights started, where not from scratch: "warm-started from RUN" (another
        level or stage), or "continued from RUN at step N" (the same schedule, resumed)."""
        if self.warm_start is None:
            return None
        run = f"{quote}{self.warm_start}{quote}"
        if self.start_step:
            return f"continued from {run} at step {self.start_step:,}"
        return f"warm-started from {run}"


def reference_models() -> list[ReferenceModel]:
    """Every registered reference network with its parameter count at each size."""
    import reference_models as registry

    models = []
    for name in registry.list_models():
        entry = registry.model_entry(name)
        counts = {}
        for size in registry.SIZES:
            with torch.device("meta"):  # shapes only: no allocation, no initialisation
                counts[size] = registry.count_parameters(registry.create_model(name, size))
        models.append(ReferenceModel(name, entry.description, entry.oracle, entry.stages, counts))
    return models


def _tensor_count(path: Path) -> int:
    """Number of values stored in a safetensors file (read from its header only)."""
    with safe_open(str(path), "pt") as handle:
        return sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())  # noqa: SIM118


def _record_scores(record: dict, source: str, link: str, level: int | None) -> list[Score]:
    data = record.get("dataset", {})
    return [
        Score(source, int(e["level"]), e["iou"], tuple(e["iou_ci"]), int(e["n"]), link,
              e.get("loc"), data.get("split"), data.get("version"), bool(data.get("private")))
        for e in record.get("levels", [])
        if level is None or int(e["level"]) == level
    ]  # fmt: skip


def _link(record: dict, path: Path, sha256: str, meta: dict) -> str | None:
    """How ``record`` is known to have used the checkpoint at ``path``, or None."""
    submission = record.get("submission", {})
    if any(a.get("sha256") == sha256 for a in submission.get("artifacts", [])):
        return "sha256"
    env = submission.get("env") or {}
    named = env.get(CHECKPOINT_ENV) if isinstance(env, dict) else None
    if named and Path(named).resolve() == path.resolve():
        return "path"
    if "artifacts" in submission:  # hashes were recorded, and this checkpoint is not among them
        return None
    levels = {int(e["level"]) for e in record.get("levels", [])}
    if submission_name(record) == meta.get("model") and meta.get("level") in levels:
        return "unverified (name and level)"
    return None


def _batch_size(meta: dict) -> int | None:
    batch = (meta.get("config") or {}).get("batch_size")
    return batch if isinstance(batch, int) else None


def _start_step(meta: dict) -> int:
    start = (meta.get("config") or {}).get("start_step")
    return start if isinstance(start, int) else 0


def _warm_start(meta: dict) -> str | None:
    """The run the weights were warm-started from (a departure from the paper's fresh starts)."""
    init = (meta.get("config") or {}).get("init")
    return Path(init).parent.name if isinstance(init, str) and init else None


def record_paths(results: Path, *, superseded: bool = True) -> list[Path]:
    """The records of a results folder: its ``*.json``, those of its pre-fix sub-folder, and
    (unless ``superseded=False``) those of checkpoints a longer-trained one replaced, kept in
    their own sub-folder as the evidence for weights that are no longer committed."""
    results = Path(results)
    folders = [results, results / PRE_FIX_FOLDER]
    folders += [results / SUPERSEDED_FOLDER] if superseded else []
    return [path for folder in folders for path in sorted(folder.glob("*.json"))]


def checkpoints(results: Path) -> list[Checkpoint]:
    """The checkpoints under ``results`` and the scores of the records in ``results`` using them."""
    results = Path(results)
    if not results.is_dir():
        raise OneshotbenchError(f"results directory {results} does not exist")
    paths = record_paths(results)
    records = []
    for path in paths:
        try:
            records.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise OneshotbenchError(f"cannot read result record {path}: {err}") from err
    found = []
    for weights, meta in _sidecars(results, {path.resolve() for path in paths}):
        sidecar = weights.with_suffix(".json")
        committed = weights.is_file()
        digest = file_sha256(weights) if committed else meta.get("weights_sha256")
        if not isinstance(digest, str):
            raise OneshotbenchError(
                f"checkpoint metadata {sidecar} has neither its weights ({weights.name}) beside it "
                "nor their SHA-256 (weights_sha256): the records that used them cannot be linked"
            )
        scores = []
        for source, record in records:
            link = _link(record, weights, digest, meta)
            if link:
                only = meta.get("level") if link.startswith("unverified") else None
                scores += _record_scores(record, source, link, only)
        found.append(
            Checkpoint(
                path=weights,
                model=meta.get("model", "?"),
                size=meta.get("size", "?"),
                level=meta.get("level"),
                step=meta.get("step"),
                parameters=_tensor_count(weights) if committed else None,
                bytes=weights.stat().st_size if committed else None,
                sha256=digest,
                scores=scores,
                batch_size=_batch_size(meta),
                warm_start=_warm_start(meta),
                committed=committed,
                start_step=_start_step(meta),
            )
        )
    return found


def _read_sidecar(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OneshotbenchError(f"cannot read checkpoint metadata {path}: {err}") from err


def _sidecars(results: Path, records: set[Path]) -> list[tuple[Path, dict]]:
    """Every checkpoint's weights path with its sidecar (``{}`` if none): the ``*.safetensors``
    files, and where a sidecar stands without its weights (left out of the repository), the path
    they were scored from. Each sidecar is read once."""
    found = {}
    for weights in results.rglob("*.safetensors"):
        sidecar = weights.with_suffix(".json")
        found[weights] = _read_sidecar(sidecar) if sidecar.is_file() else {}
    for sidecar in results.rglob("*.json"):
        weights = sidecar.with_suffix(".safetensors")
        if weights in found or sidecar.resolve() in records:
            continue
        meta = _read_sidecar(sidecar)
        if meta.get("format") == CHECKPOINT_FORMAT:
            found[weights] = meta
    return sorted(found.items())
