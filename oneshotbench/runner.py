"""``evaluate``: score one submission file on benchmark splits — isolated, limited, resumable.

A thin shell around four parts: the data seam (:data:`OpenSplit`, by default the dataset registry),
the plan (which batches of which levels, and which process owns each under ``torchrun``), the
journal (every finished batch's per-sample scores on disk, so a failure loses nothing and
``resume=True`` continues), and the worker process (:mod:`oneshotbench.worker`) that runs the
submission and sees nothing but pixels. Ground truth stays in this process. The per-batch work
(prefetch, predict, score, analyse, journal; the invariance re-run) is
:mod:`oneshotbench.pipeline`, the process group :mod:`oneshotbench.distributed`, the validated
options and defaults :mod:`oneshotbench.run_settings`, the merged shares and the written record
:mod:`oneshotbench.run_record`; scores come from :mod:`oneshotbench.metrics`, the record format
from :mod:`oneshotbench.records`.
"""

from __future__ import annotations

import functools
import glob
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from oneshotbench import protocol
from oneshotbench import sandbox as sandboxing
from oneshotbench.cache import cache_root
from oneshotbench.distributed import Group, resolve_device
from oneshotbench.errors import OneshotbenchError
from oneshotbench.journal import JOURNAL_FORMAT, Journal, journal_path
from oneshotbench.metrics import PAPER_THRESHOLD
from oneshotbench.pipeline import (
    LevelPlan,
    LevelRunner,
    ProgressBars,
    SplitSource,
    batches_of,
    failure,
    probe_subset,
)
from oneshotbench.private import read_private_secret
from oneshotbench.protocol import SubmissionError, SubmissionWarning, missing_version_warning
from oneshotbench.records import (
    samples_path,
)
from oneshotbench.run_record import (
    run_provenance,
    summarise_level_parts,
    write_run_record,
)
from oneshotbench.run_settings import (
    CHECKPOINT_ENV,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_TIMEOUT,
    DEFAULT_SPLIT,
    DEFAULT_TIMEOUT,
    OMNIGLOT_ENV,
    PAPER_LEVELS,
    OpenSplit,
    RunSettings,
    check_count,
    check_levels,
    check_writable,
    default_memory_limit,
    default_out_path,
)
from oneshotbench.worker_handle import Limits, WorkerFault, WorkerHandle

# --------------------------------------------------------------------------- data seam


def open_registered_split(
    split: str, level: int, omniglot: Path | None, master_seed: int | None, *, version: int = 1
) -> SplitSource:
    """The registry's split (imported lazily: the dataset layer is heavy to import)."""
    from oneshotbench.datasets import load_split

    return load_split(split, level, omniglot=omniglot, master_seed=master_seed, version=version)


# --------------------------------------------------------------------------- evaluate


def evaluate(
    submission: str | Path,
    *,
    split: str = DEFAULT_SPLIT,
    levels: Sequence[int] = PAPER_LEVELS,
    samples: int | None = None,
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    out: str | Path | None = None,
    resume: bool = False,
    batch_timeout: float | None = DEFAULT_BATCH_TIMEOUT,
    timeout: float | None = DEFAULT_TIMEOUT,
    memory_limit: int | None = default_memory_limit(),
    bootstrap_seed: int = 0,
    private_seed_file: str | Path | None = None,
    check_invariance: bool = False,
    oracle: bool = False,
    omniglot: str | Path | None = None,
    progress: bool = True,
    threshold: float = PAPER_THRESHOLD,
    open_split: OpenSplit | None = None,
    sandbox: str = "auto",
    env: Sequence[str] = (),
    name: str | None = None,
    tags: Sequence[str] = (),
    overwrite: bool = False,
    analysis: bool = True,
    save_masks: bool = False,
    version: int = 1,
) -> dict:
    """Score ``submission`` (a protocol-v1 file) and write its record; returns the record.

    The record goes to ``out`` (default ``out/<name>-<split>.json``) with the per-sample scores
    beside it. Finished batches are journaled in ``<out stem>.partial/`` until the record is
    written; ``resume=True`` continues from them. Under ``torchrun`` every process scores its share
    of the batches, process 0 writes the record, and every process returns it. ``None`` switches
    a limit off; ``open_split`` replaces the dataset registry (tests, benchmarks, own data);
    ``version`` chooses the registry's dataset version (0: the pre-fix data the paper used).

    ``sandbox`` ("auto", "bubblewrap" or "none") chooses the isolation (auto falls back to none
    with a :class:`~oneshotbench.sandbox.SandboxWarning`); the submission's environment is an
    allow-list plus the variables named in ``env``. ``name`` (default: the file's stem) and
    ``tags`` identify the model in the record; an existing record at the default path is
    refused unless ``overwrite`` (or ``resume``). Errors a user can fix raise
    :class:`~oneshotbench.errors.OneshotbenchError`.
    ``analysis`` stores the glyph analysis of every sample (:mod:`oneshotbench.analysis`) and
    ``save_masks`` the bit-packed binarised predictions with it.
    """
    started = time.perf_counter()
    submission = Path(submission)
    if submission.is_dir():
        example = next(iter(sorted(submission.glob("*.py"))), submission / "submission.py")
        raise SubmissionError(
            f"{submission} is a folder; a submission is one Python file, e.g. {example}"
        )
    if not submission.is_file():
        raise SubmissionError(f"submission file {submission} does not exist")
    if (warning := missing_version_warning(submission)) is not None:
        warnings.warn(warning, SubmissionWarning, stacklevel=2)
    check_count("samples", samples)
    check_count("batch size", batch_size, allow_none=False)
    for what, limit in (("batch timeout", batch_timeout), ("timeout", timeout)):
        check_count(what, limit)
    check_count("memory limit", memory_limit)
    secret = read_private_secret(Path(private_seed_file)) if private_seed_file else None
    mode, warning = sandboxing.resolve_mode(sandbox)
    if warning:
        warnings.warn(warning, sandboxing.SandboxWarning, stacklevel=2)
    worker_env = sandboxing.worker_env(env, sandboxed=mode == "bubblewrap")
    missing = [n for n in env if n not in os.environ]
    if missing:
        raise OneshotbenchError(f"--env names variables that are not set: {', '.join(missing)}")
    artifacts = protocol.declared_artifacts(submission)
    checkpoint = worker_env.get(CHECKPOINT_ENV)
    if checkpoint:
        weights = Path(checkpoint).resolve()
        if not weights.is_file():
            raise OneshotbenchError(f"{CHECKPOINT_ENV}={checkpoint}: no such file")
        # the worker starts in the submission's folder: a path relative to here must not move
        worker_env[CHECKPOINT_ENV] = str(weights)
        artifacts.append(weights)
    name = name or submission.stem
    default_out = default_out_path(submission, split, private=bool(secret), name=name)
    if out is None and default_out.exists() and not (resume or overwrite):
        raise OneshotbenchError(
            f"{default_out} already holds a record; choose another path with --out, or pass "
            "--overwrite to replace it"
        )
    settings = RunSettings(
        submission=submission,
        split=split,
        levels=check_levels(levels),
        samples=samples,
        device=resolve_device(device),
        batch_size=batch_size,
        out=Path(out) if out else default_out,
        resume=resume,
        limits=Limits(batch_timeout, timeout, memory_limit),
        bootstrap_seed=bootstrap_seed,
        secret=secret,
        secret_file=Path(private_seed_file) if private_seed_file else None,
        check_invariance=check_invariance,
        oracle=oracle,
        omniglot=None if omniglot is None else Path(omniglot),
        progress=progress,
        threshold=threshold,
        open_split=open_split or functools.partial(open_registered_split, version=version),
        sandbox=mode,
        env=worker_env,
        name=name,
        tags=tuple(tags),
        artifacts=tuple(artifacts),
        analysis=analysis or save_masks,
        save_masks=save_masks,
    )
    check_writable(settings.out)  # the last check, and the first thing written
    group = Group(settings.device)
    threads = torch.get_num_threads()
    # The harness's torch work per batch (scoring) is small; its intra-op threads would only
    # contend with the generator threads and the submission's process for the same cores.
    torch.set_num_threads(1)
    try:
        return _evaluate(settings, group, started)
    finally:
        torch.set_num_threads(threads)
        group.close()


def _dataset_entry(s: RunSettings, splits: dict[int, SplitSource]) -> dict:
    """The record's ``dataset``: what was scored, with private splits reduced to a commitment."""
    info = splits[s.levels[0]].info
    name, version = info["dataset"], info["version"]
    return {
        "name": name,
        "version": version,
        "split": s.split,
        "levels": list(s.levels),
        "fingerprints": {
            level: s.secret.fingerprint(name, version, s.split, level)
            if s.secret
            else split.fingerprint
            for level, split in splits.items()
        },
        "private": s.secret is not None,
        "seed_commitment": s.secret.commitment if s.secret else None,
    }


def _manifest(s: RunSettings, dataset: dict, sizes: dict[int, int], *, identity: dict) -> dict:
    """Everything that determines the scores; a journal is resumed only when it matches. The
    hashes are the run's own (``identity``, taken once as it starts)."""
    return {
        "format": JOURNAL_FORMAT,
        "submission_sha256": identity["sha256"],
        "artifacts": {entry["path"]: entry["sha256"] for entry in identity["artifacts"]},
        "sandbox": s.sandbox,
        "dataset": {
            **dataset,
            "fingerprints": {str(k): v for k, v in dataset["fingerprints"].items()},
        },
        "samples": {str(level): n for level, n in sizes.items()},
        "batch_size": s.batch_size,
        "threshold": s.threshold,
        "oracle": s.oracle,
        "invariance_seed": s.bootstrap_seed if s.check_invariance else None,
        "analysis": [s.analysis, s.save_masks],
    }


def _layout(s: RunSettings, journal: Path) -> sandboxing.Layout:
    """What the submission sees: Python, its folder, its artefacts and the files passed variables
    name; never the journal, the record, the secret, the cache or the Omniglot files."""
    folder = s.submission.resolve().parent
    out_folder = s.out.resolve().parent
    hidden = [journal, s.out, samples_path(s.out), cache_root()]
    if out_folder != folder and out_folder not in folder.parents:
        hidden.append(out_folder)  # the output folder, unless the submission lives in it
    for path in (s.secret_file, s.omniglot, os.environ.get(OMNIGLOT_ENV)):
        if path:
            hidden.append(Path(path))
    readable = [
        *sandboxing.python_paths(),
        folder,
        *s.artifacts,
        *sandboxing.env_paths(s.env, s.env),
    ]
    checkpoint = s.env.get(CHECKPOINT_ENV)
    if checkpoint and Path(checkpoint).is_file():  # with its sidecar files beside it
        weights = Path(checkpoint).resolve()
        # the folder, and by name the files of the same stem: they stay readable even where the
        # folder itself is hidden (a checkpoint written into the output folder)
        readable += [weights.parent, *weights.parent.glob(f"{glob.escape(weights.stem)}.*")]
    return sandboxing.Layout(
        tuple(readable),
        tuple(p for p in hidden if p.exists()),
        gpu=s.device.type == "cuda",
        workdir=folder,
    )


def _start(worker: WorkerHandle, s: RunSettings, journal: Journal) -> tuple[str, ...]:
    """Load the submission, refuse an oracle without ``--oracle``, call make_predictor.

    Returns the ground-truth fields predict will receive (none unless an oracle is allowed).
    """
    context = {"submission": s.submission, "log_path": worker.log_path, "journal": journal}
    try:
        fields = worker.load()
    except WorkerFault as fault:
        raise failure(fault, "loading", **context) from None
    if fields and not s.oracle:
        raise OneshotbenchError(
            f"{s.submission} declares ORACLE_FIELDS = {fields}: it reads ground truth, so it is "
            "evaluated only with --oracle (and its record is then marked as an oracle result)"
        )
    try:
        worker.start(str(s.device), s.oracle)
    except WorkerFault as fault:
        raise failure(fault, "make_predictor", **context) from None
    return fields if s.oracle else ()


def _evaluate(s: RunSettings, group: Group, started: float) -> dict:
    directory = journal_path(s.out)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"worker-{group.rank}.log"
    capacity = max(s.batch_size, s.probe_batch)
    # spawned first: its start-up (interpreter, torch, the submission) overlaps opening the data
    with WorkerHandle(
        s.submission,
        capacity=capacity,
        limits=s.limits,
        log_path=log_path,
        mode=s.sandbox,
        layout=_layout(s, directory),
        env=s.env,
    ) as worker:
        master_seed = s.secret.master_seed(s.split) if s.secret else None
        splits = {
            level: s.open_split(s.split, level, s.omniglot, master_seed) for level in s.levels
        }
        wanted = s.samples or 0
        short = [f"level {lv}: {len(sp):,}" for lv, sp in splits.items() if wanted > len(sp)]
        if short:
            raise OneshotbenchError(
                f"cannot score {wanted:,} samples per level: {s.split} holds fewer "
                f"({'; '.join(short)}); ask for fewer, or leave the sample count out to score all"
            )
        sizes = {level: min(len(split), s.samples or len(split)) for level, split in splits.items()}
        dataset = _dataset_entry(s, splits)
        provenance = run_provenance(s)  # what runs now, whatever changes on disk while it runs
        manifest = _manifest(s, dataset, sizes, identity=provenance[0])
        journal = Journal(directory, manifest, resume=s.resume)
        group.barrier()  # nobody writes batches before every process has checked the journal
        plans = [
            LevelPlan(
                level,
                splits[level],
                s.batch_size,
                batches_of(sizes[level], s.batch_size, group.rank, group.world),
                probe_subset(sizes[level], s.bootstrap_seed, level)
                if s.check_invariance
                else np.empty(0, np.int64),
            )
            for level in s.levels
        ]
        with (
            ProgressBars(s.progress and group.rank == 0) as bars,
            ThreadPoolExecutor(1) as pool,
            ThreadPoolExecutor(1) as summariser,
        ):
            run = LevelRunner(s.submission, worker, journal, s.threshold, (), bars, pool)
            run.analysis, run.save_masks = s.analysis, s.save_masks  # the glyph-analysis hook
            run.prefetch(plans[0])  # the first batch is generated while the worker starts
            run.oracle_fields = fields = _start(worker, s, journal)
            scored, early = {}, {}
            for plan, following in zip(plans, [*plans[1:], None], strict=True):
                scored[plan.level] = batches, wall = run.level(plan, following)
                if group.world == 1:  # all scores are here: summarise while the next level runs
                    parts = [b.scores for b in batches]
                    early[plan.level] = summariser.submit(
                        summarise_level_parts, s, plan.level, parts, wall
                    )
            invariance = {
                plan.level: run.invariance(
                    plan, scored[plan.level][0], s.probe_batch, s.bootstrap_seed
                )
                for plan in plans
                if s.check_invariance
            }
    shares = {
        level: ([b.scores for b in batches], wall, [b.analysis for b in batches])
        for level, (batches, wall) in scored.items()
    }
    gathered = group.gather((shares, invariance, run.stages))
    record = None
    if group.rank == 0:
        record = write_run_record(
            s,
            dataset,
            gathered,
            oracle=bool(fields),
            provenance=provenance,
            parameters=worker.parameters,
            processes=group.world,
            started=started,
            early={level: future.result() for level, future in early.items()},
        )
        journal.remove()
    return group.gather(record)[0]
