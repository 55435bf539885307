"""Result records: one schema-versioned JSON per evaluation plus a compressed per-sample side file.

The JSON holds everything needed to read, compare and trust a result (submission hash, dataset
fingerprints, metric specs, bootstrap settings, environment); ``<stem>.samples.npz`` beside it
holds the per-sample scores that confidence intervals, the leaderboard's paired tests and error
analysis are computed from. The key-by-key schema is documented in ``docs/record-schema.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import subprocess
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy
import torch

from oneshotbench import __version__
from oneshotbench.cache import atomic_path, file_sha256
from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import IOU_PAPER, LOC_PAPER, LOC_STRICT, PerSampleScores
from oneshotbench.stats import bootstrap_cis

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # every schema this version can load (older ones get defaults)
SANDBOXES = ("bubblewrap", "unshare", "none")
FOLDER_FILE_LIMIT = 64 * 2**20  # bytes; larger files in the submission's folder are not hashed
FOLDER_FILE_COUNT = 256  # files of the submission's folder hashed at most
CONFIDENCE = 0.95


@dataclass
class LevelResult:
    """Scores of one clutter level; all scores and interval bounds are percentages."""

    level: int
    n: int
    iou: float
    iou_ci: tuple[float, float]
    loc: float
    loc_ci: tuple[float, float]
    loc_strict: float
    loc_strict_ci: tuple[float, float]
    samples_per_s: float
    wall_s: float

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def summarize_level(
    level: int,
    scores: PerSampleScores,
    *,
    bootstrap_seed: int,
    wall_s: float,
    n_resamples: int = 10_000,
) -> LevelResult:
    """Per-sample means (in %) and percentile bootstrap CIs of one level's scores.

    Every interval is drawn from a generator seeded with ``bootstrap_seed`` alone, so a record can
    be re-derived from its side file and the seed it stores.
    """
    columns = (scores.iou, scores.hit, scores.hit_strict)
    means = [100.0 * float(np.mean(column)) for column in columns]
    cis = [
        (100.0 * low, 100.0 * high)
        for low, high in bootstrap_cis(columns, bootstrap_seed, n_resamples, CONFIDENCE)
    ]
    return LevelResult(
        level=level,
        n=len(scores),
        iou=means[0],
        iou_ci=cis[0],
        loc=means[1],
        loc_ci=cis[1],
        loc_strict=means[2],
        loc_strict_ci=cis[2],
        samples_per_s=len(scores) / wall_s if wall_s > 0 else 0.0,
        wall_s=wall_s,
    )


def _git(*args: str) -> str | None:
    """Output of a git command in the project's checkout, or None when that is not possible."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment_info(device: torch.device) -> dict:
    """Software and hardware the evaluation ran on; the git fields are None outside a checkout."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "oneshotbench": __version__,
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "device": str(device),
        "device_name": _device_name(device),
        "cpu_count": os.cpu_count(),
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def _file_entry(path: Path) -> dict:
    return {"path": str(path), "sha256": file_sha256(path), "bytes": path.stat().st_size}


def submission_identity(
    submission: Path,
    *,
    name: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    artifacts: list[Path] | tuple[Path, ...] = (),
    env: dict[str, str] | None = None,
    exclude: tuple[Path, ...] = (),
) -> dict:
    """What identifies the scored model: name, the file's SHA-256, tags, the artefacts it declares
    (SHA-256 and size), the SHA-256 of each file of its folder (``None`` above
    :data:`FOLDER_FILE_LIMIT`), its parameter count and the environment variable names it got
    (values only for ``ONESHOTBENCH_*``, never anything that may be a secret). ``exclude``
    leaves out files of the folder that are not the submission's (the run's own outputs)."""
    submission = Path(submission)
    files: dict[str, str | None] = {}
    skip = {Path(p).resolve() for p in exclude}  # the run's own record and journal
    folder = sorted(
        p for p in submission.resolve().parent.iterdir() if p.is_file() and p.resolve() not in skip
    )
    for path in folder[:FOLDER_FILE_COUNT]:
        with contextlib.suppress(OSError):
            small = path.stat().st_size <= FOLDER_FILE_LIMIT
            files[path.name] = file_sha256(path) if small else None
    return {
        "name": name or submission.stem,
        "sha256": file_sha256(submission),
        "tags": list(dict.fromkeys(tags)),
        "artifacts": [_file_entry(Path(p)) for p in dict.fromkeys(artifacts)],
        "files": files,
        "parameters": None,  # the worker's count, filled in when the run ends
        "env": {
            k: (v if k.startswith("ONESHOTBENCH_") else None)
            for k, v in sorted((env or {}).items())
        },
    }


def _relative_to_cwd(value: str | None) -> str | None:
    """An absolute path below the working directory, relative to it; anything else unchanged."""
    if value and os.path.isabs(value):
        with contextlib.suppress(ValueError):
            return str(Path(value).relative_to(Path.cwd()))
    return value


def portable_identity(identity: dict) -> dict:
    """``identity`` as a record stores it: paths below the working directory relative to it, so
    a record shared or committed names no one's folders (the SHA-256 identify the files)."""
    artifacts = [{**a, "path": _relative_to_cwd(a["path"])} for a in identity.get("artifacts", [])]
    env = {k: _relative_to_cwd(v) for k, v in (identity.get("env") or {}).items()}
    return {**identity, "artifacts": artifacts, "env": env}


def changed_since(identity: dict, submission: Path) -> list[Path]:
    """The submission file and declared artefacts whose bytes no longer match ``identity``."""
    files = [(Path(submission), identity["sha256"])]
    files += [(Path(entry["path"]), entry["sha256"]) for entry in identity["artifacts"]]
    return [path for path, digest in files if path.is_file() and file_sha256(path) != digest]


def make_record(
    *,
    submission_path: Path,
    dataset: dict,
    levels: list[LevelResult],
    oracle: bool,
    threshold: float,
    bootstrap_seed: int,
    n_resamples: int,
    wall_s: float,
    device: torch.device,
    stages: dict[str, float] | None = None,
    invariance: dict | None = None,
    extra: dict | None = None,
    submission_name: str | None = None,
    identity: dict | None = None,
    environment: dict | None = None,
    sandbox: str = "none",
) -> dict:
    """Assemble a result record (see docs/record-schema.md).

    ``identity`` (from :func:`submission_identity`) fills the ``submission`` entry and
    ``environment`` (from :func:`environment_info`) the ``environment`` one; a run takes both when
    it starts, so a file edited or a commit made while it runs is not mistaken for what ran.
    Without them both are taken now, and only the name (``submission_name``, default the file's
    stem) is known of the submission. ``sandbox`` says how
    the submission was isolated. Fingerprint keys become strings so that the record survives a
    JSON round trip unchanged.
    """
    submission_path = Path(submission_path)
    data = dict(dataset)
    if "fingerprints" in data:
        data["fingerprints"] = {str(k): v for k, v in data["fingerprints"].items()}
    total = sum(lv.n for lv in levels)
    if sandbox not in SANDBOXES:
        raise ValueError(f"unknown sandbox {sandbox!r}")
    identity = portable_identity(
        identity or submission_identity(submission_path, name=submission_name)
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sandbox": sandbox,
        "submission": {
            "name": identity["name"],
            "file": submission_path.name,
            **{k: v for k, v in identity.items() if k != "name"},
        },
        "dataset": data,
        "metrics": {
            "iou": IOU_PAPER.to_dict(),
            "localization": LOC_PAPER.to_dict(),
            "localization_strict": LOC_STRICT.to_dict(),
            "threshold": threshold,
        },
        "oracle": oracle,
        "bootstrap": {
            "method": "percentile",
            "n_resamples": n_resamples,
            "confidence": CONFIDENCE,
            "seed": bootstrap_seed,
        },
        "levels": [lv.to_dict() for lv in levels],
        "mean_iou": float(np.mean([lv.iou for lv in levels])) if levels else None,
        "invariance": invariance,
        "timing": {
            "wall_s": wall_s,
            "samples_per_s": total / wall_s if wall_s > 0 else 0.0,
            **({"stages": stages} if stages is not None else {}),
        },
        "environment": environment or environment_info(device),
        "extra": extra,
    }


def samples_path(path: Path) -> Path:
    """The per-sample side file that belongs to the record at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.samples.npz")


def _npz_key(level: int, field: str) -> str:
    return f"level{level}_{field}"


def write_record(
    path: Path,
    record: dict,
    per_sample: dict[int, PerSampleScores],
    extra_arrays: dict[str, np.ndarray] | None = None,
) -> tuple[Path, Path]:
    """Write the per-sample side file and the JSON record that names and hashes it.

    Both are written to temporary files and renamed into place only when both are complete, the
    side file first, so a failure never leaves a half-written or mismatched pair (a mismatch
    would also be caught by the hash). The written JSON has a ``per_sample`` key added.
    ``extra_arrays`` are added to the side file as they are (optional keys, e.g. glyph analysis).
    """
    path = Path(path)
    side = samples_path(path)
    buffer = io.BytesIO()
    arrays = {
        _npz_key(level, field): array
        for level, scores in sorted(per_sample.items())
        for field, array in scores.arrays().items()
    }
    arrays.update(extra_arrays or {})
    np.savez_compressed(buffer, **arrays)
    payload = buffer.getvalue()
    full = {
        **record,
        "per_sample": {"file": side.name, "sha256": hashlib.sha256(payload).hexdigest()},
    }
    text = json.dumps(full, indent=2, allow_nan=False) + "\n"
    try:  # both files are complete before either is renamed into place (side file first)
        with atomic_path(path) as tmp_json, atomic_path(side) as tmp_side:
            tmp_side.write_bytes(payload)
            tmp_json.write_text(text, encoding="utf-8")
    except OSError as err:
        raise OneshotbenchError(
            f"cannot write result record {path}: {err.strerror or err}"
        ) from err
    return path, side


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OneshotbenchError(f"result record not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise OneshotbenchError(f"cannot read result record {path}: {err}") from err
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise OneshotbenchError(
            f"result record {path} is not valid JSON (line {err.lineno}, column {err.colno}): "
            f"{err.msg}"
        ) from None
    if not isinstance(record, dict) or "schema_version" not in record:
        raise OneshotbenchError(f"{path} is not a oneshotbench result record (no schema_version)")
    if record["schema_version"] not in READABLE_VERSIONS:
        raise OneshotbenchError(
            f"result record {path} has schema_version {record['schema_version']!r}; this "
            f"oneshotbench {__version__} reads schema_version "
            + ", ".join(map(str, READABLE_VERSIONS))
        )
    for key in ("submission", "dataset", "metrics", "levels", "per_sample"):
        if key not in record:
            raise OneshotbenchError(f"result record {path} lacks the {key!r} entry")
    return _upgrade(record)


def _upgrade(record: dict) -> dict:
    """Fill the keys a schema-1 record lacks with what they meant then (returned as read)."""
    if record["schema_version"] == 1:
        record.setdefault("sandbox", "none")  # version 1 ran submissions without a sandbox
        submission = record["submission"]
        submission.setdefault("name", Path(submission.get("file", "submission")).stem)
        submission.setdefault("tags", [])
    return record


def load_record(path: Path) -> tuple[dict, dict[int, PerSampleScores]]:
    """Read a record and its side file, checking the side file's hash and sample counts."""
    path = Path(path)
    record = _read_json(path)
    side = path.with_name(record["per_sample"]["file"])
    if not side.is_file():
        raise OneshotbenchError(f"per-sample file {side} of result record {path} is missing")
    if file_sha256(side) != record["per_sample"]["sha256"]:
        raise OneshotbenchError(
            f"per-sample file {side} does not match result record {path} (SHA-256 differs)"
        )
    per_sample: dict[int, PerSampleScores] = {}
    try:
        with np.load(side) as npz:
            for entry in record["levels"]:
                level = int(entry["level"])
                arrays = {f: npz[_npz_key(level, f)] for f in PerSampleScores.FIELDS}
                per_sample[level] = PerSampleScores.from_arrays(arrays)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise OneshotbenchError(f"per-sample file {side} is unreadable: {err}") from err
    for entry in record["levels"]:
        got = len(per_sample[int(entry["level"])])
        if got != entry["n"]:
            raise OneshotbenchError(
                f"per-sample file {side} holds {got} samples for level {entry['level']}, "
                f"the record says {entry['n']}"
            )
    return record, per_sample


_DATASET_KEYS = ("name", "version", "split", "private", "seed_commitment")
_METRIC_KEYS = ("iou", "localization", "localization_strict")


def _spec_id(spec: dict | None) -> str | None:
    return None if spec is None else f"{spec.get('name')} v{spec.get('version')}"


def record_differences(a: dict, b: dict, *, same_levels: bool) -> list[tuple[str, object, object]]:
    """What makes two records incomparable, as (field, value in a, value in b); empty if nothing.

    Dataset identity, metric specs (name and version) and threshold must agree, and a level that
    both records scored must have the same fingerprint. With ``same_levels`` the records must also
    cover the same levels with the same number of samples (needed to pair samples).
    """
    diffs: list[tuple[str, object, object]] = []
    for key in _DATASET_KEYS:
        if a["dataset"].get(key) != b["dataset"].get(key):
            diffs.append((f"dataset.{key}", a["dataset"].get(key), b["dataset"].get(key)))
    for key in _METRIC_KEYS:
        spec_a, spec_b = _spec_id(a["metrics"].get(key)), _spec_id(b["metrics"].get(key))
        if spec_a != spec_b:
            diffs.append((f"metrics.{key}", spec_a, spec_b))
    if a["metrics"].get("threshold") != b["metrics"].get("threshold"):
        diffs.append(
            ("metrics.threshold", a["metrics"].get("threshold"), b["metrics"]["threshold"])
        )
    sizes_a = {lv["level"]: lv["n"] for lv in a["levels"]}
    sizes_b = {lv["level"]: lv["n"] for lv in b["levels"]}
    prints_a, prints_b = a["dataset"].get("fingerprints", {}), b["dataset"].get("fingerprints", {})
    for level in sorted(sizes_a.keys() & sizes_b.keys()):
        if prints_a.get(str(level)) != prints_b.get(str(level)):
            diffs.append(
                (
                    f"dataset.fingerprints[{level}]",
                    prints_a.get(str(level)),
                    prints_b.get(str(level)),
                )
            )
    if same_levels and sizes_a != sizes_b:
        diffs.append(("levels (level: samples)", sizes_a, sizes_b))
    return diffs


def check_comparable(records: list[tuple[str, dict]], *, same_levels: bool, purpose: str) -> None:
    """Raise :class:`OneshotbenchError` naming every record and field that differs from the first.

    ``records`` pairs each record with the name it is reported under (usually its path).
    """
    first_name, first = records[0]
    problems = [
        f"{field}: {first_name} has {value_a!r}, {name} has {value_b!r}"
        for name, record in records[1:]
        for field, value_a, value_b in record_differences(first, record, same_levels=same_levels)
    ]
    if problems:
        raise OneshotbenchError(f"cannot {purpose} records that differ — " + "; ".join(problems))
