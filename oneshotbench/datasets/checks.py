"""Plan and run ``data verify``: which splits and levels, which kind of check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from oneshotbench.datasets.cluttered_omniglot import get_dataset
from oneshotbench.datasets.fingerprints import VerifyResult, verify_fingerprint, verify_official
from oneshotbench.datasets.split import load_split
from oneshotbench.errors import LookupFailure, OneshotbenchError
from oneshotbench.generator.spec import JOB_LENGTH
from oneshotbench.omniglot import load_omniglot


@dataclass(frozen=True)
class Check:
    kind: str  # "fingerprint" or "official"
    split: str
    level: int
    samples: int  # how many samples the check regenerates
    version: int


def _parse(text: str | None, known: list, convert, what: str) -> list:
    if text is None:
        return list(known)
    chosen = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            value = convert(item)
        except ValueError:
            value = None
        if value not in known:
            raise LookupFailure(f"unknown {what} {item!r}; known: {', '.join(map(str, known))}")
        chosen.append(value)
    if not chosen:
        raise OneshotbenchError(f"no {what} given")
    return chosen


def plan_checks(
    *,
    version: int = 1,
    official: bool = False,
    everything: bool = False,
    levels: str | None = None,
    splits: str | None = None,
) -> list[Check]:
    """The checks ``data verify`` runs (see its --help)."""
    dataset = get_dataset("cluttered-omniglot", version)
    chosen_levels = _parse(levels, list(dataset.levels), int, "level")
    chosen_splits = _parse(splits, list(dataset.splits), str, "split")
    checks = []
    for name in chosen_splits:
        definition = dataset.splits[name]
        for level in chosen_levels:
            if definition.official_md5 and (official or everything):
                checks.append(Check("official", name, level, JOB_LENGTH, version))
            committed = dataset.registry.entry(name, level)
            wants_fingerprint = everything or (not official and name != "train")
            if wants_fingerprint and committed is not None:
                checks.append(Check("fingerprint", name, level, committed["samples"], version))
    if not checks:
        raise OneshotbenchError("nothing to verify for this choice of splits, levels and flags")
    return checks


def run_checks(
    checks: list[Check],
    *,
    omniglot: str | Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[VerifyResult]:
    glyphs = load_omniglot(omniglot, rehash=True)  # re-hash even files whose stamps match
    task = None
    if progress is not None:
        task = progress.add_task("regenerating", total=sum(c.samples for c in checks))

    def advance(n: int) -> None:
        if progress is not None:
            progress.advance(task, n)

    results = []
    for check in checks:
        split = load_split(check.split, check.level, version=check.version, glyphs=glyphs)
        if progress is not None:
            progress.update(task, description=f"{check.kind} {check.split} L={check.level}")
        if check.kind == "official":
            results.append(verify_official(split, on_done=advance))
        else:
            results.append(verify_fingerprint(split, workers=workers, on_done=advance))
    return results
