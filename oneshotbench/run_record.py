"""What a finished run leaves: every process's share merged, each level summarised, the record.

Split from :mod:`oneshotbench.runner` so that the run's control flow and its result read apart.
The record names what was loaded when the run started (:func:`run_provenance`), whatever
changes on disk while it lasts (:func:`warn_if_changed` says so).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass

from oneshotbench.glyph_analysis import GlyphAnalysis
from oneshotbench.journal import journal_path
from oneshotbench.metrics import PerSampleScores
from oneshotbench.pipeline import Stages, combine_invariance
from oneshotbench.protocol import SubmissionWarning
from oneshotbench.records import (
    LevelResult,
    changed_since,
    environment_info,
    make_record,
    samples_path,
    submission_identity,
    summarize_level,
    write_record,
)
from oneshotbench.run_settings import N_RESAMPLES, RunSettings


@dataclass(frozen=True)
class LevelSummary:
    scores: PerSampleScores
    level: LevelResult
    busy_s: float


def summarise_level_parts(
    s: RunSettings, level: int, parts: list[PerSampleScores], wall_s: float
) -> LevelSummary:
    """One level's merged per-sample scores and its means with bootstrap intervals."""
    clock = time.perf_counter()
    scores = PerSampleScores.merge(parts)
    result = summarize_level(
        level, scores, bootstrap_seed=s.bootstrap_seed, n_resamples=N_RESAMPLES, wall_s=wall_s
    )
    return LevelSummary(scores, result, time.perf_counter() - clock)


def run_provenance(s: RunSettings) -> tuple[dict, dict]:
    """The submission's identity (its files' and artefacts' SHA-256) and the environment (git
    commit included), as the run starts."""
    identity = submission_identity(
        s.submission,
        name=s.name,
        tags=list(s.tags),
        artifacts=list(s.artifacts),
        env={k: v for k, v in s.env.items() if k in os.environ},
        exclude=(s.out, samples_path(s.out), journal_path(s.out)),
    )
    return identity, environment_info(s.device)


def warn_if_changed(s: RunSettings, identity: dict) -> None:
    """Say so when the submission or an artefact changed on disk during the run: the record
    names the versions read when it started."""
    changed = changed_since(identity, s.submission)
    if changed:
        warnings.warn(
            f"{', '.join(map(str, changed))} changed on disk while the run lasted; the record "
            "identifies the versions read when it started (their SHA-256 in its submission entry)",
            SubmissionWarning,
            stacklevel=2,
        )


def write_run_record(
    s: RunSettings,
    dataset: dict,
    gathered: list,
    *,
    oracle: bool,
    provenance: tuple[dict, dict],
    parameters: int | None,
    processes: int,
    started: float,
    early: dict[int, LevelSummary],
) -> dict:
    """Merge every process's share, summarise each level (unless ``early`` holds it already),
    write the record; return it as read."""
    summarising = time.perf_counter()
    identity, environment = provenance
    done = {
        level: early.get(level)
        or summarise_level_parts(
            s,
            level,
            [p for shares, *_ in gathered for p in shares[level][0]],
            max(shares[level][1] for shares, *_ in gathered),  # processes ran side by side
        )
        for level in s.levels
    }
    per_sample = {level: summary.scores for level, summary in done.items()}
    summaries = [summary.level for summary in done.values()]
    invariance = None
    if s.check_invariance:
        per_rank = [stats for _, stats, _ in gathered]
        invariance = combine_invariance(per_rank, s.levels, s.probe_batch, s.bootstrap_seed)
    stages = Stages.total([part for *_, part in gathered])
    stages.summary = time.perf_counter() - summarising + sum(e.busy_s for e in early.values())
    record = make_record(
        submission_path=s.submission,
        dataset=dataset,
        levels=summaries,
        oracle=oracle,
        threshold=s.threshold,
        bootstrap_seed=s.bootstrap_seed,
        n_resamples=N_RESAMPLES,
        wall_s=time.perf_counter() - started,
        stages=stages.to_dict(),
        device=s.device,
        invariance=invariance,
        extra={"batch_size": s.batch_size, "processes": processes, "protocol_version": 1},
        identity={**identity, "parameters": parameters},
        environment=environment,
        sandbox=s.sandbox,
    )
    warn_if_changed(s, identity)
    analysed = {
        level: [a for shares, *_ in gathered for a in shares[level][2] if a is not None]
        for level in s.levels
    }
    glyph_arrays = {
        key: array
        for level, parts in analysed.items()
        if parts
        for key, array in GlyphAnalysis.merge(parts).arrays(f"level{level}_glyph_").items()
    }
    json_path, _ = write_record(s.out, record, per_sample, extra_arrays=glyph_arrays)
    return json.loads(json_path.read_text())
