"""The per-batch pipeline of one evaluating process, and what a failed submission tells the user.

For every level, :class:`LevelRunner` generates the next batch in a thread while the submission's
worker predicts the current one and the harness scores, analyses and journals the previous one;
whatever was predicted is journaled even when a later step fails. It also re-runs the invariance
probe. :class:`Stages` keeps the busy seconds of each step for the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from oneshotbench.errors import OneshotbenchError
from oneshotbench.glyph_analysis import analyze_batch
from oneshotbench.journal import BatchResult, Journal, Probe
from oneshotbench.metrics import PerSampleScores, SegmentationScores, binarize
from oneshotbench.worker_handle import WorkerFault, WorkerHandle

INVARIANCE_SAMPLES = 128  # per level
INVARIANCE_TOLERANCE = 1e-3  # largest allowed |p - p'| between the two batchings


class SplitSource(Protocol):
    """What the runner needs from a split (``oneshotbench.datasets.Split`` is one)."""

    fingerprint: str
    info: dict

    def __len__(self) -> int: ...

    def get(self, start: Any, stop: int | None = None) -> Any: ...


# --------------------------------------------------------------------------- progress


class ProgressBars:
    """The project's rich progress bar with samples/s, on stderr (a no-op when disabled)."""

    def __init__(self, enabled: bool):
        self._bar = None
        if enabled:
            from rich.console import Console

            from oneshotbench.progress import progress_bar

            self._bar = progress_bar(Console(stderr=True))

    def __enter__(self) -> ProgressBars:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def task(self, description: str, total: int, completed: int) -> Callable[[int], None]:
        """Start a bar; returns ``advance(n)``."""
        bar = self._bar
        if bar is None:
            return lambda n: None
        task = bar.add_task(description, total=total, completed=completed)
        return lambda n: bar.advance(task, n)


# --------------------------------------------------------------------------- one run


@dataclass
class LevelPlan:
    level: int
    split: SplitSource
    batch_size: int
    batches: list[tuple[int, int]]  # this process's share
    probe: np.ndarray  # sorted indices of the invariance subset (empty when not checked)

    def where(self, start: int, stop: int) -> str:
        return f"level {self.level}, batch {start // self.batch_size} (samples {start}-{stop - 1})"


def batches_of(n: int, size: int, rank: int, world: int) -> list[tuple[int, int]]:
    """Batches of the first ``n`` samples; batch j belongs to process j mod world.

    Batch boundaries never depend on the number of processes, so scores cannot either.
    """
    starts = range(0, n, size)
    return [(s, min(s + size, n)) for j, s in enumerate(starts) if j % world == rank]


def probe_subset(n: int, seed: int, level: int) -> np.ndarray:
    rng = np.random.default_rng([seed, level])
    return np.sort(rng.choice(n, size=min(n, INVARIANCE_SAMPLES), replace=False)).astype(np.int64)


def oracle_args(samples: Any, fields: tuple[str, ...]) -> dict:
    """The declared ground-truth fields of a batch, for an oracle submission only."""
    args: dict[str, Any] = {}
    if "instance_map" in fields:
        args["instance_map"] = samples.instance_map
    if "instances" in fields:
        table = samples.instances
        groups = dict(iter(table.groupby("sample", sort=False)))
        args["instances"] = [
            groups[i].drop(columns="sample").reset_index(drop=True) for i in samples.index
        ]
    return args


def score_batch(samples: Any, pred: torch.Tensor, locations: np.ndarray | None):
    """Paper scores of a batch from its binarised prediction (bool [B,H,W])."""
    scorer = SegmentationScores()  # a bool mask is already binarised: no threshold applies
    scorer.update(
        torch.from_numpy(np.asarray(samples.index, dtype=np.int64)),
        pred,
        torch.from_numpy(np.asarray(samples.mask, dtype=bool)),
        None if locations is None else torch.from_numpy(locations),
    )
    return scorer.compute()


@dataclass
class _Answer:
    """A batch the worker has answered and the harness has not yet scored."""

    start: int
    samples: Any
    probs: np.ndarray
    locations: np.ndarray | None
    wall_s: float


@dataclass
class Stages:
    """Busy seconds of each stage of an evaluation, for the record's ``timing.stages``.

    They overlap by design (the next batch is generated in a thread while the worker predicts
    and the harness scores), so they do not add up to the wall time; ``waiting`` is the time
    the harness sat idle for data, the sign of a data-bound run.
    """

    generation: float = 0.0  # Split.get, in the prefetch thread
    waiting: float = 0.0  # harness blocked on generation
    transfer: float = 0.0  # pixels into shared memory and to the device, probabilities back
    predict: float = 0.0  # the submission's predict with the output checks (worker-side)
    scoring: float = 0.0  # paper metrics
    analysis: float = 0.0  # glyph analysis
    journal: float = 0.0  # authenticated batch journal
    summary: float = 0.0  # bootstrap intervals and the record (process 0)

    def to_dict(self) -> dict[str, float]:
        return {f"{name}_s": round(value, 3) for name, value in asdict(self).items()}

    @staticmethod
    def total(parts: Sequence[Stages]) -> Stages:
        """Several processes' stages summed (each ran on its own cores)."""
        return Stages(**{k: sum(getattr(p, k) for p in parts) for k in asdict(Stages())})


@dataclass
class LevelRunner:
    """Everything one process needs while it drives its worker."""

    submission: Path
    worker: WorkerHandle
    journal: Journal
    threshold: float
    oracle_fields: tuple[str, ...]
    progress: ProgressBars
    executor: ThreadPoolExecutor
    analysis: bool = True  # glyph analysis of every batch (oneshotbench.analysis)
    save_masks: bool = False
    stages: Stages = field(default_factory=Stages)
    ahead: dict[tuple[int, int], Future] = field(default_factory=dict)  # (level, start) -> batch

    def fail(self, fault: WorkerFault, where: str, index: np.ndarray | None = None) -> Exception:
        return failure(
            fault,
            where,
            submission=self.submission,
            log_path=self.worker.log_path,
            journal=self.journal,
            index=index,
        )

    def submit(self, samples: Any) -> None:
        clock = time.perf_counter()
        self.worker.submit(
            samples.scene, samples.target, **oracle_args(samples, self.oracle_fields)
        )
        self.stages.transfer += time.perf_counter() - clock

    def collect(self) -> tuple[np.ndarray, np.ndarray | None]:
        probs, locations = self.worker.collect()
        times = self.worker.times
        self.stages.transfer += times["input_s"] + times["output_s"]
        self.stages.predict += times["predict_s"]
        return probs, locations

    def fetch(self, split: SplitSource, start: int, stop: int) -> Any:
        """``split.get`` timed (runs in the prefetch thread, the only writer of ``generation``)."""
        clock = time.perf_counter()
        samples = split.get(start, stop)
        self.stages.generation += time.perf_counter() - clock
        return samples

    def prefetch(self, plan: LevelPlan) -> None:
        """Start generating the first unfinished batch of ``plan`` now: while the worker starts,
        or while the previous level's last batch is predicted and scored."""
        todo = self._todo(plan, self.journal.finished(plan.level, [s for s, _ in plan.batches]))
        if todo and (plan.level, todo[0][0]) not in self.ahead:
            self.ahead[plan.level, todo[0][0]] = self.executor.submit(
                self.fetch, plan.split, *todo[0]
            )

    @staticmethod
    def _todo(plan: LevelPlan, done: Container[int]) -> list[tuple[int, int]]:
        return [b for b in plan.batches if b[0] not in done]

    def level(
        self, plan: LevelPlan, following: LevelPlan | None = None
    ) -> tuple[list[BatchResult], float]:
        """Score this process's batches of one level; returns the results and their wall time.

        Pipelined: while the worker predicts batch k, the next batch is generated in a thread and
        batch k-1 is scored and journaled here; after this level's last batch, the first of the
        ``following`` level. Whatever was predicted is journaled even when a later step fails.
        """
        starts = [start for start, _ in plan.batches]
        done = self.journal.load(plan.level, starts)
        todo = self._todo(plan, done)
        advance = self.progress.task(
            f"level {plan.level}",
            sum(stop - start for start, stop in plan.batches),
            sum(len(r.scores) for r in done.values()),
        )
        fetch = None
        if todo:
            fetch = self.ahead.pop((plan.level, todo[0][0]), None) or self.executor.submit(
                self.fetch, plan.split, *todo[0]
            )
        answer: _Answer | None = None
        clock = time.perf_counter()
        try:
            for k, (start, stop) in enumerate(todo):
                waited = time.perf_counter()
                samples = fetch.result()
                self.stages.waiting += time.perf_counter() - waited
                if k + 1 < len(todo):
                    fetch = self.executor.submit(self.fetch, plan.split, *todo[k + 1])
                elif following is not None:
                    self.prefetch(following)
                self.submit(samples)
                if answer is not None:  # score the previous batch while the worker computes
                    done[answer.start] = self._finish(plan, answer, advance)
                    answer = None
                try:
                    probs, locations = self.collect()
                except WorkerFault as fault:
                    raise self.fail(fault, plan.where(start, stop), samples.index) from None
                now = time.perf_counter()
                answer, clock = _Answer(start, samples, probs, locations, now - clock), now
        finally:
            if answer is not None:
                done[answer.start] = self._finish(plan, answer, advance)
        results = [done[start] for start in starts]
        return results, sum(r.wall_s for r in results)

    def _finish(self, plan: LevelPlan, answer: _Answer, advance: Callable[[int], None]):
        """Score one answered batch and journal it (with its invariance-probe outputs)."""
        probe = None
        if plan.probe.size:
            chosen = np.isin(answer.samples.index, plan.probe)
            probe = Probe(
                np.asarray(answer.samples.index)[chosen],
                answer.probs[chosen],
                None if answer.locations is None else answer.locations[chosen],
            )
        clock = time.perf_counter()
        pred = binarize(torch.from_numpy(answer.probs), self.threshold)  # once, for both
        scores = score_batch(answer.samples, pred, answer.locations)
        scored = time.perf_counter()
        analysis = None
        if self.analysis:
            analysis = analyze_batch(answer.samples, pred.numpy(), masks=self.save_masks)
        analysed = time.perf_counter()
        result = BatchResult(scores, answer.wall_s, probe, analysis)
        self.journal.save(plan.level, answer.start, result)
        self.stages.scoring += scored - clock
        self.stages.analysis += analysed - scored
        self.stages.journal += time.perf_counter() - analysed
        advance(len(scores))
        return result

    def invariance(
        self, plan: LevelPlan, batches: list[BatchResult], batch_size: int, seed: int
    ) -> dict | None:
        """Re-run this process's probe samples shuffled, in batches of ``batch_size``; compare
        outputs and scores with the main run's. None when this process holds no probe sample."""
        probes = [b.probe for b in batches if b.probe is not None and len(b.probe.index)]
        if not probes:
            return None
        reference = Probe.concat(probes)
        main = PerSampleScores.merge([b.scores for b in batches])
        order = np.random.default_rng([seed, plan.level, 1]).permutation(len(reference.index))
        prob_dev, loc_dev, parts = 0.0, None, []
        advance = self.progress.task(f"invariance {plan.level}", len(order), 0)
        for first in range(0, len(order), batch_size):
            chosen = order[first : first + batch_size]
            samples = plan.split.get(reference.index[chosen])
            self.submit(samples)
            try:
                probs, locations = self.collect()
            except WorkerFault as fault:
                where = f"invariance check, level {plan.level}"
                raise self.fail(fault, where, samples.index) from None
            prob_dev = max(prob_dev, float(np.abs(probs - reference.probs[chosen]).max()))
            if locations is not None and reference.locations is not None:
                step = float(np.abs(locations - reference.locations[chosen]).max())
                loc_dev = step if loc_dev is None else max(loc_dev, step)
            pred = binarize(torch.from_numpy(probs), self.threshold)
            parts.append(score_batch(samples, pred, locations))
            advance(len(chosen))
        rerun = PerSampleScores.merge(parts)
        position = np.searchsorted(main.index, rerun.index)
        fed = reference.index[order]  # the order the re-run actually used
        return {
            "samples": len(order),
            "shuffled": bool(np.any(fed[1:] < fed[:-1])),
            "max_prob_deviation": prob_dev,
            "max_location_deviation": loc_dev,
            "max_iou_deviation": float(np.abs(rerun.iou - main.iou[position]).max()),
            "changed_hits": int((rerun.hit != main.hit[position]).sum()),
        }


def failure(
    fault: WorkerFault,
    where: str,
    *,
    submission: Path,
    log_path: Path,
    journal: Journal,
    index: np.ndarray | None = None,
) -> OneshotbenchError:
    """A user-facing error for a failed submission: what, where, its own output, what is kept."""
    if fault.kind in ("load", "protocol"):
        text = fault.detail  # already names the file and, for protocol faults, shows the signature
    else:
        sample = ""
        if fault.sample is not None and index is not None:
            sample = f", sample {int(index[fault.sample])}"
        invalid = "invalid output: " if fault.kind == "output" else ""
        text = f"{submission}: {where}{sample}: {invalid}{fault.detail}"
    if fault.log_tail.strip():
        tail = "\n".join("  | " + line for line in fault.log_tail.splitlines())
        text += f"\nLast output of the submission ({log_path}):\n{tail}"
    kept = len(journal.batch_files())
    if kept:
        text += (
            f"\n{kept} finished batches are kept in {journal.directory}; fix the cause and rerun "
            "the same command with --resume to continue (if the fix changes the submission or "
            "its files, delete that folder and start over instead)"
        )
    return OneshotbenchError(text)


def combine_invariance(
    per_rank: list[dict], levels: Sequence[int], batch_size: int, seed: int
) -> dict:
    """Merge the processes' invariance statistics into the record's ``invariance`` entry."""
    per_level = {}
    for level in levels:
        parts = [stats[level] for stats in per_rank if stats.get(level)]
        locations = [
            p["max_location_deviation"] for p in parts if p["max_location_deviation"] is not None
        ]  # noqa: E501
        per_level[str(level)] = {
            "samples": sum(p["samples"] for p in parts),
            "shuffled": any(p["shuffled"] for p in parts),
            "max_prob_deviation": max((p["max_prob_deviation"] for p in parts), default=0.0),
            "max_location_deviation": max(locations, default=None),
            "max_iou_deviation": max((p["max_iou_deviation"] for p in parts), default=0.0),
            "changed_hits": sum(p["changed_hits"] for p in parts),
        }
    worst = max(v["max_prob_deviation"] for v in per_level.values())
    located = [v["max_location_deviation"] for v in per_level.values()]
    worst_location = max((d for d in located if d is not None), default=None)
    return {
        "samples": sum(v["samples"] for v in per_level.values()),
        "batch_size": batch_size,
        "order": "shuffled" if all(v["shuffled"] for v in per_level.values()) else "sorted",
        "seed": seed,
        "tolerance": INVARIANCE_TOLERANCE,
        "max_prob_deviation": worst,
        "max_location_deviation": worst_location,
        "flagged": max(worst, worst_location or 0.0) > INVARIANCE_TOLERANCE,
        "levels": per_level,
    }
