"""The paper's Tables 1 and 2 beside ours, cell by cell: ``results/REPRODUCTION.md``.

The reproduction has 60 cells (Table 1: six rows of IoU, the untargeted MaskNet from level 32;
Table 2: three rows of localisation accuracy). Each cell takes the record of the matching
submission that scored the most test-one-shot samples of the public split at that level, and the
checkpoint it used, as :mod:`oneshotbench.catalog` links them; records made with the CPU demo
size of a network (``tiny``) never stand for a paper row. A cell counts as reproduced when ours
is within :data:`TOLERANCE` points of the paper; the others say how far off they are, and cells
without a record say so. The text is a pure function of the records and checkpoints, so CI can
check that the committed file is current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from oneshotbench.catalog import Checkpoint
from oneshotbench.published import LEVELS, PUBLISHED, PublishedRow

TOLERANCE = 3.0
"""Points of difference within which a cell counts as reproduced (issue 9's criterion)."""

SUBMISSIONS = {
    "pattern matching": "template_matching",
    "p-seg. discriminator": "oracle_presegmented",
    "best seg. proposal": "oracle_best_proposal",
    "siamese u-net": "siamese_unet",
    "masknet": "masknet",
    "masknet untargeted": "masknet_untargeted",
    "clutt. discriminator": "oracle_cluttered",
}
"""Paper row -> the file stem of our submission that reproduces it (``submissions/``)."""

NOTES = {
    "pattern matching": "(c) the known gap of the reimplementation, not a training matter: scored "
    "by cosine similarity it finds the target far more often than the paper's row, scored by raw "
    "correlation far less (`template_matching_raw.json`); the paper does not say how it scored "
    "matches (README, *Reproducing the paper's rows*). The pre-fix data does not explain it: with "
    "less clutter the matcher only does better there (v0).",
    "p-seg. discriminator": "levels 4 to 128 so far, trained on 2 CPU cores (bf16 autocast, level "
    "128 in float32) on short schedules: level 4 from scratch for 3,000 steps of 250 (0.75 M "
    "samples, 1.9 % of the paper's 40 M per level), still gaining 0.6 points of val-train accuracy "
    "over its last 20 % (evidence b not met); then each level warm-started from the one before: "
    "level 8 for 1,500 steps (0.375 M more), level 16 for 1,000 (0.25 M), levels 32 and 64 for 800 "
    "each (0.2 M), their val-train accuracy flat or nearly so at the end (98.6 then 98.5 %; 98.1 "
    "then 98.3 %; 98.8 then 99.1 %; 98.6 then 98.4 %). That accuracy, on the training pairs (the "
    "target against 3 random visible glyphs), says little about the test task (against every glyph "
    "of the scene): level 16, continued from step 1,000 to 3,000 of its schedule "
    "(`presegmented_discriminator-paper-L16-continued`) and validated on the test decision over "
    "the val-train scenes, went from 93.6 % there (the first run's weights) to 94.0, 95.1 and 95.0 "
    "% at steps 2,500, 2,750 and 3,000 (1.0 point over the last 20 %: evidence b not met), and "
    "from 89.9 to 92.6 % on test-one-shot (94.3 to 95.8 % on the pre-fix data, 3.1 points short of "
    "the paper); continued again from step 3,000 to 5,000 "
    "(`presegmented_discriminator-paper-L16-continued-2`), it went to 94.3, 89.3, 95.4, 95.1, "
    "95.9, 96.2, 96.3 and 96.7 % at steps 3,250 to 5,000 (0.5 points over the last 20 %: evidence "
    "b not met), and from 92.6 to 93.8 % on test-one-shot (95.8 to 96.6 % on the pre-fix data, 2.3 "
    "points short of the paper: (a)). Level 4, continued from step 3,000 to 4,200 of a 4,200-step "
    "schedule (learning rate 1.25e-4, then 6.25e-5), stayed flat on the same measure (96.1 % for "
    "the first run's weights, 96.1 to 97.2 % between steps 3,200 and 4,200, 96.4 % at the end: "
    "within the noise of 1,000 scenes) and gained 0.5 points on test-one-shot (95.8 to 96.3 %; "
    "98.5 % on the pre-fix data both times): 1,200 steps at the low learning rate of a schedule's "
    "end bought little. Level 32, continued from step 800 to 2,800 of its schedule "
    "(`presegmented_discriminator-paper-L32-continued`), went on the same measure from 91.6 % (the "
    "first run's weights) to 91.6, 91.7, 93.9, 93.9, 94.4 and 94.6 % at steps 1,750, 2,000, 2,250, "
    "2,500, 2,750 and 2,800 (0.7 points over the last 20 %: evidence b not met), and from 85.0 to "
    "89.7 % on test-one-shot (90.4 to 93.8 % on the pre-fix data, 4.4 points short of the paper); "
    "continued again from step 2,800 to 5,000 "
    "(`presegmented_discriminator-paper-L32-continued-2`), it went to 89.5, 93.1, 94.0, 94.2, "
    "95.2, 95.4, 95.5, 95.2 and 95.7 % at steps 3,025 to 5,000 (0.3 points over the last 20 %: "
    "evidence b met by the letter, but not counted: 1,000 scenes measure it to about ±1.3 points, "
    "and after the first continuation's nearly flat end (0.7 points) this one still moved "
    "test-one-shot by 1.1), and from 89.7 to 90.8 % on test-one-shot (93.8 to 94.3 % on the "
    "pre-fix data, 3.9 points short of the paper); a third time from step 5,000 to 7,000 "
    "(`presegmented_discriminator-paper-L32-continued-3`; the learning rate at 2.5e-4 only until "
    "step 5,250, then 1.25e-4, from step 5,950 6.25e-5): 93.7, 95.0, 94.6, 96.5, 96.1, 96.0, 96.9 "
    "and 96.2 % at steps 5,250 to 7,000 (0.2 points over the last 20 %, again not counted as b: "
    "the run still moved test-one-shot by 0.7), and from 90.8 to 91.5 % on test-one-shot (94.3 to "
    "94.8 % on the pre-fix data, 3.4 points short of the paper). Instead of a fourth, level 32 was "
    "continued once more from the first continuation's weights (step 2,800, restored from the git "
    "history) in one longer schedule to step 8,000 "
    "(`presegmented_discriminator-paper-L32-continued-long`; the learning rate back at 5e-4 until "
    "step 4,000, halved at steps 4,000, 6,000 and 6,800): 92.0, 91.8, 92.6, 93.0, 94.6, 94.4, "
    "94.4, 95.9, 95.1, 94.7, 96.2, 96.8, 96.7, 96.4, 97.6, 97.7 and 96.9 % at steps 2,925 to 8,000 "
    "(0.2 points over the last 20 %, within the noise and not counted as b), and 93.3 % on "
    "test-one-shot (the chain of second and third continuations: 91.5 % after 7,000 steps) and "
    "95.8 % on the pre-fix data, 2.4 points short of the paper: (a). As decided before it was "
    "scored, the longer-trained run stands for the cell and the third continuation's records join "
    "the superseded ones. Level 64, continued from step 800 to 2,000 "
    "(`presegmented_discriminator-paper-L64-continued`), went from 85.3 % (the first run's "
    "weights) to 84.7, 85.3, 83.9, 88.8 and 88.9 % at steps 900, 1,200, 1,500, 1,800 and 2,000 "
    "(the jump at the learning rate's last halving, so not counted as b), and from 82.4 to 86.6 % "
    "on test-one-shot (87.1 to 90.1 % on the pre-fix data, 7.7 points short of the paper). Level "
    "64 was then trained again, warm-started from the long-continued level-32 weights, on a "
    "4,800-step schedule (`presegmented_discriminator-paper-L64-long`; 1.2 M samples, the learning "
    "rate at 5e-4 after a 200-step warm-up, halved at steps 2,400, 3,600 and 4,080): 91.2, 90.2, "
    "91.5, 89.8, 90.8, 93.0, 92.9, 93.0, 93.3, 94.0, 95.4 and 94.8 % at steps 400 to 4,800 (0.8 "
    "points over the last 20 %: evidence b not met), and 93.4 % on test-one-shot (the continued "
    "run: 86.6 %) and 95.7 % on the pre-fix data, 2.1 points short of the paper: (a). As decided "
    "before it was scored, it stands for the cell and the continued run's records join the "
    "superseded ones. Level 128, warm-started from that run's weights, for 800 steps "
    "(`presegmented_discriminator-paper-L128`; 0.2 M samples, float32 with channels-last memory, "
    "since bf16 is emulated on this AVX2-only CPU; the learning rate at 5e-4 after a 100-step "
    "warm-up, halved at steps 400, 600 and 680): 90.2, 90.0, 92.5 and 94.9 % at steps 200 to 800 "
    "(2.4 points over the last 25 %: still learning, evidence b not met), and 91.9 % on "
    "test-one-shot and 93.2 % on the pre-fix data, 3.7 points short of the paper. Continued from "
    "step 800 to 2,000 (`presegmented_discriminator-paper-L128-continued`; 0.3 M samples more, the "
    "learning rate back at 5e-4 after a 200-step warm-up, halved at steps 1,000, 1,500 and 1,700), "
    "it went to 93.6, 95.3 and 95.6 % at steps 1,200, 1,600 and 2,000 (0.3 points over the last "
    "400 steps, a third of the run, the nearest measure of its last 20 %: not counted as evidence "
    "b, as in the other rows: 1,000 scenes measure it to about ±1.4 points, and the compressed "
    "halvings flatten any curve), and to 91.7 % on test-one-shot and 93.2 % on the pre-fix data: "
    "neither score moved beyond the noise, still 3.7 points short of the paper, not explained yet. "
    "As decided before it was scored, the continued run stands for the cell and the first run's "
    "records join the superseded ones. The first runs' records of levels 4, 16, 32, 64 and 128, "
    "and those of the earlier continuations of levels 16 and 32 and of the continued level 64, are "
    "in `results/superseded/`. So the short training is the main suspect (though at level 128 more "
    "of the same short schedule did not help), as the template-matching oracle (no training) on "
    "the same pre-segmented glyphs also suggests: 99.2, 97.8, 96.5, 93.8, 89.4 and 83.8 % at these "
    "levels (the longer-trained level 64 beats it by 3.9 points, level 128 by 7.9). The (a) marks "
    "follow the rule (level 16 earned its mark with the second continuation, levels 32 and 64 with "
    "the longer runs). The weights of the first runs of levels 4, 16, 32 and 64, of level 8, of "
    "the continued level 4, of level 16's two continuations (the second's in the git history), of "
    "level 32's first three continuations and its longer continuation (in the git history) of the "
    "continued level 64 and of the first run of level 128 (in the git history) are not committed "
    "(tree size); their SHA-256 is in the provenance table or their sidecar.",
    "clutt. discriminator": "levels 4 to 128 so far, trained on 2 CPU cores (bf16 autocast, the "
    "longer level-128 run and its continuations in float32) on short schedules, each warm-started "
    "(the paper trains every model from scratch): level 4 from the pre-segmented level-4 weights "
    "(the same network; its crops now keep their clutter) for 2,500 steps (0.625 M samples), "
    "val-train accuracy (target against 3 random visible glyphs) 93.4 / 94.1 / 94.6 % at steps "
    "1,750 / 2,000 / 2,500 (0.5 points over the last 20 %: evidence b not quite met); then each "
    "level from the one before: level 8 for 1,500 steps (0.375 M), still learning (88.7 / 90.5 / "
    "91.2 % at steps 900 / 1,200 / 1,500); level 16 for 1,000 (0.25 M), still learning (79.6 / "
    "79.6 / 81.3 % at steps 600 / 800 / 1,000); level 32 for 1,000 (0.25 M), still learning (71.2 "
    "/ 71.2 / 73.3 %), then continued from step 1,000 to 2,000 "
    "(`cluttered_discriminator-paper-L32-continued`) and validated on the test decision (target "
    "against every visible glyph of the val-train scenes): 35.8 / 36.2 / 37.7 / 40.1 % at steps "
    "1,250 / 1,500 / 1,750 / 2,000, still learning; it went from 35.3 to 37.7 % on test-one-shot "
    "and from 63.0 to 64.8 % on the pre-fix data, the first run's records now in "
    "`results/superseded/`; level 64 for 1,000 (0.25 M), 66.9 / 66.9 / 67.3 % (0.4 points over the "
    "last 20 %: evidence b met by the letter, but on a schedule 160 times shorter than the "
    "paper's, whose compressed learning-rate halvings flatten any curve, so not counted), then "
    "continued from step 1,000 to 2,000 (`cluttered_discriminator-paper-L64-continued`): on the "
    "test decision 21.8 % for the first run's weights, 19.4 / 20.4 / 23.1 / 23.2 % at steps 1,250 "
    "/ 1,500 / 1,750 / 2,000, and from 19.9 to 21.6 % on test-one-shot (44.8 to 46.0 % on the "
    "pre-fix data); level 64 was then trained again, warm-started from the continued level-32 "
    "weights, on a 4,800-step schedule (`cluttered_discriminator-paper-L64-long`; 1.2 M samples, "
    "the learning rate at 5e-4 after a 200-step warm-up, halved at steps 2,400, 3,600 and 4,080): "
    "on the test decision 19.6 / 17.5 / 20.5 / 22.5 / 23.6 / 25.1 / 27.6 / 28.0 / 29.5 / 30.5 / "
    "31.9 / 29.8 % at steps 400 to 4,800 (0.7 points lost over the last 20 %: evidence b met by "
    "the letter, but not counted: the curve rose 10 points over the run and 1,000 scenes measure "
    "it to about ±2.8 points), and 29.5 % on test-one-shot (the continued run: 21.6 %) and 53.4 % "
    "on the pre-fix data, 1.3 points short of the paper: (a). As decided before it was scored, it "
    "stands for the cell; the records of the first and the continued run are in "
    "`results/superseded/`; level 128 for 800 (0.2 M), still learning (58.6 / 60.7 / 64.1 % at "
    "steps 400 / 600 / 800), then trained again, warm-started from the longer level-64 run, on a "
    "1,600-step schedule (`cluttered_discriminator-paper-L128-long`; 0.4 M samples, float32 with "
    "channels-last memory at 72 to 84 samples/s, since bf16 is emulated on this AVX2-only CPU; the "
    "learning rate at 5e-4 after a 200-step warm-up, halved at steps 800, 1,200 and 1,360): on the "
    "test decision 15.7 / 15.6 / 17.0 / 17.9 % at steps 400 / 800 / 1,200 / 1,600, still learning "
    "(evidence b not met), and 21.3 % on test-one-shot (the first run: 13.0 %) and 38.5 % on the "
    "pre-fix data (the first run: 29.7 %); then continued from step 1,600 to 2,800 "
    "(`cluttered_discriminator-paper-L128-continued`; 0.3 M samples more at 112 to 158 samples/s, "
    "39 minutes; `--start-step 1600 --steps 2800 --warmup-steps 200`: the learning rate warmed to "
    "2.5e-4, halved at steps 2,100 and 2,380): on the test decision 17.9 / 19.0 / 18.7 % at steps "
    "2,000 / 2,400 / 2,800 (0.3 points lost over the last 400 steps: evidence b met by the letter, "
    "but not counted: 1,000 scenes measure it to about ±2.4 points), and 22.9 % on test-one-shot "
    "and 40.1 % on the pre-fix data (1.6 points more on each), still 4.1 points short; then "
    "continued again from step 2,800 to 3,600 (`cluttered_discriminator-paper-L128-continued-2`; "
    "0.2 M samples more, 28 minutes; `--start-step 2800 --steps 3600 --warmup-steps 200`: the "
    "learning rate warmed to 1.25e-4, halved at step 3,060): on the test decision 19.0 / 19.1 % at "
    "steps 3,200 / 3,600 (0.1 points over the last 400 steps, within the noise), and 23.1 % on "
    "test-one-shot and 40.5 % on the pre-fix data (0.2 and 0.4 points more). As decided before it "
    "was scored, it stands for the cell; the records of the first, the longer and the first "
    "continued run are in `results/superseded/`. All four runs were scored on test-one-shot, so "
    "the cell has had four looks at the test set (each later run chosen to stand for the cell "
    "before it was scored); the gains came with more training, 13.0 → 21.3 → 22.9 → 23.1 %, and "
    "the last two continuations together (0.5 M samples) bought 1.8 points on test-one-shot and "
    "2.0 on the pre-fix data. On the pre-fix data the same weights score 97.8, 92.2, 80.3, 64.8, "
    "53.4 and 40.5 % against the paper's 97.0, 92.1, 82.2, 67.1, 54.7 and 44.2: this row is the "
    "clearest case of (a); the fixed release's extra clutter costs it 5.7, 13.2, 22.0, 27.0, 23.9 "
    "and 17.4 points. At level 128 the pre-fix score falls short too (3.7 points after the second "
    "continuation; 4.1 after the first, 5.7 after the longer run, 14.5 after the first run), after "
    "the shortest training relative to the task: not explained yet (level 64 fell short by 8.7 "
    "points after 2,000 steps, by 1.3 after the 4,800-step run; level 128's 3,600 steps took 161 "
    "minutes here, the learning rate at its last value, 6.25e-5, for 960 of the last 1,220 steps). "
    "Floor: a random visible glyph scores 25.3, 13.4, 6.9, 4.0, 2.5 and 1.6 % "
    "(`oracle_random_glyph.json`). The weights of levels 8 and 16, of the first three runs of "
    "level 128, of the first two runs of level 64 and of both runs of level 32 are not committed "
    "(tree size; those of level 16, of the continued level 32 and of the longer and the first "
    "continued level 128 are in the git history); their SHA-256 is in the provenance table or "
    "their sidecar.",
}
"""What is known of each row that differs from the paper: its evidence, or why it is still open."""

REIMPLEMENTATION_GAPS = frozenset({"pattern matching"})
"""Rows whose note explains every cell as a known gap of the reimplementation (evidence c); the
other notes say what was measured, which explains nothing by itself."""

TABLES = ((1, "iou", "IoU"), (2, "loc", "localization accuracy"))


@dataclass(frozen=True)
class Cell:
    """One published number and ours (None where nothing was measured yet)."""

    table: int
    model: str
    level: int
    paper: float
    ours: float | None = None
    half_ci: float | None = None
    n: int | None = None
    record: str | None = None
    checkpoint: Checkpoint | None = None
    pre_fix: float | None = None  # ours on the pre-fix data (dataset version 0), if scored

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.paper

    @property
    def reproduced(self) -> bool:
        return self.difference is not None and abs(self.difference) <= TOLERANCE

    @property
    def explained_by_data(self) -> bool:
        """Off by more than the tolerance on the fixed release, within it on the pre-fix data the
        paper's numbers come from: the data difference explains the gap (issue 9, evidence a)."""
        near = self.pre_fix is not None and abs(self.pre_fix - self.paper) <= TOLERANCE
        return near and self.difference is not None and not self.reproduced


def _eligible(record: dict, stem: str, version: int) -> bool:
    dataset = record.get("dataset", {})
    return (
        Path(str(record.get("submission", {}).get("file", ""))).stem == stem
        and dataset.get("name") == "cluttered-omniglot"
        and dataset.get("version") == version
        and dataset.get("split") == "test-one-shot"
        and not dataset.get("private", False)
    )


def _checkpoint_of(source: str, level: int, checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    path = Path(source).resolve()
    for checkpoint in checkpoints:
        if any(Path(s.record).resolve() == path and s.level == level for s in checkpoint.scores):
            return checkpoint
    return None


def _candidates(row: PublishedRow, level: int, records, checkpoints, version: int) -> list[tuple]:
    """(key, source, level entry, checkpoint) of every record that may stand for the cell; the
    key orders them by samples scored, then by creation time (the newer of two equal runs)."""
    found = []
    for source, record in records:
        if not _eligible(record, SUBMISSIONS[row.model], version):
            continue
        for entry in record.get("levels", []):
            if int(entry["level"]) != level:
                continue
            checkpoint = _checkpoint_of(source, level, checkpoints)
            if checkpoint is not None and checkpoint.size != "paper":
                continue  # a CPU demo network does not stand for the paper's
            key = (int(entry["n"]), str(record.get("created", "")))
            found.append((key, source, entry, checkpoint))
    return found


def _same_weights(a: Checkpoint | None, b: Checkpoint | None) -> bool:
    return a is b or (a is not None and b is not None and a.sha256 == b.sha256)


def _cell(table: int, row: PublishedRow, level: int, paper: float, records, checkpoints) -> Cell:
    candidates = _candidates(row, level, records, checkpoints, version=1)
    if not candidates:
        return Cell(table, row.model, level, paper)
    _, source, entry, checkpoint = max(candidates, key=lambda c: c[0])
    low, high = entry[f"{row.metric}_ci"]
    # evidence (a) holds only for the same model on the pre-fix data, not for another checkpoint
    pre_fix = [c for c in _candidates(row, level, records, checkpoints, version=0)
               if _same_weights(c[3], checkpoint)]  # fmt: skip
    return Cell(
        table, row.model, level, paper, entry[row.metric], (high - low) / 2, int(entry["n"]),
        source, checkpoint, max(pre_fix, key=lambda c: c[0])[2][row.metric] if pre_fix else None,
    )  # fmt: skip


def reproduction_cells(
    records: Sequence[tuple[str, dict]], checkpoints: Sequence[Checkpoint]
) -> list[Cell]:
    """Every published cell of Tables 1 and 2 with ours beside it, in table and row order."""
    cells = []
    for table, metric, _ in TABLES:
        for row in PUBLISHED:
            if row.metric != metric:
                continue
            for level, paper in zip(LEVELS, row.values, strict=True):
                if paper is not None:
                    cells.append(_cell(table, row, level, paper, records, checkpoints))
    return cells


def _text(cell: Cell) -> str:
    if cell.ours is None:
        return f"{cell.paper:.1f} · —"
    mark = " ✓" if cell.reproduced else " (a)" if cell.explained_by_data else ""
    text = f"{cell.paper:.1f} · {cell.ours:.1f} ± {cell.half_ci:.1f} ({cell.difference:+.1f}){mark}"
    return text if cell.pre_fix is None else f"{text}; v0 {cell.pre_fix:.1f}"


def _provenance(cell: Cell) -> str:
    where = f"`{Path(cell.record).name}`, n = {cell.n:,}" if cell.record else "—"
    checkpoint = cell.checkpoint
    if checkpoint is None:
        trained = "no checkpoint (no training)" if cell.record else "—"
    else:
        step = "?" if checkpoint.step is None else f"{checkpoint.step:,} steps"
        if (samples := checkpoint.samples_trained) is not None:
            step += f" of {checkpoint.batch_size:,}, {samples / 1e6:.2f} M samples"
        if (origin := checkpoint.origin("`")) is not None:
            step += f", {origin}"
        if not checkpoint.committed:
            step += f"; weights not committed, SHA-256 {checkpoint.sha256[:12]}…"
        trained = f"`{checkpoint.path.parent.name}` ({checkpoint.size}, {step})"
    return f"| {cell.table} | {cell.model} | {cell.level} | {where} | {trained} |"


def tally(cells: Sequence[Cell]) -> str:
    """How far the reproduction is: cells measured, within the tolerance, explained."""
    measured = [c for c in cells if c.ours is not None]
    within = sum(c.reproduced for c in measured)
    explained = sum(c.explained_by_data for c in measured)
    gaps = sum(
        c.model in REIMPLEMENTATION_GAPS and not (c.reproduced or c.explained_by_data)
        for c in measured
    )
    unexplained = len(measured) - within - explained - gaps
    return (
        f"{len(measured)} of {len(cells)} cells measured, {within} within {TOLERANCE:.0f} points, "
        f"{explained} explained by the data difference (a), {gaps} by a documented difference "
        f"of the reimplementation (c, notes), {unexplained} not explained yet"
    )


def reproduction_markdown(cells: Sequence[Cell]) -> str:
    """The committed ``REPRODUCTION.md``: both tables, the provenance of every measured cell."""
    measured = [c for c in cells if c.ours is not None]
    lines = [
        "# Reproducing Tables 1 and 2",
        "",
        "Generated by `oneshotbench reproduction results` from the records and checkpoints in "
        "`results/`; CI checks that this file is current.",
        "",
        f"Each cell: paper · ours ± half the 95 % bootstrap interval (ours − paper); ✓ within "
        f"{TOLERANCE:.0f} points. Test-one-shot split of the fixed (September 2018) release; the "
        "paper's numbers come from the data before that fix (less clutter): where the same model "
        "was also scored on that data (dataset version 0) the cell adds `v0` and its score, and "
        f"(a) marks a cell off by more than {TOLERANCE:.0f} points here but within them there. "
        "Cells with — have no record yet.",
        "",
        f"**{tally(cells)}.**",
    ]
    for table, _, title in TABLES:
        lines += ["", f"## Table {table}: {title}, %", ""]
        lines.append("| model | " + " | ".join(str(level) for level in LEVELS) + " |")
        lines.append("| --- |" + " --- |" * len(LEVELS))
        rows = dict.fromkeys(c.model for c in cells if c.table == table)
        for model in rows:
            by_level = {c.level: c for c in cells if c.table == table and c.model == model}
            texts = [_text(by_level[level]) if level in by_level else "" for level in LEVELS]
            lines.append(f"| {model} (`{SUBMISSIONS[model]}`) | " + " | ".join(texts) + " |")
    notes = [f"- **{model}**: {NOTES[model]}" for model in dict.fromkeys(c.model for c in measured)
             if model in NOTES]  # fmt: skip
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += [
        "",
        "## Where each measured cell comes from",
        "",
        "| table | model | level | record | checkpoint |",
        "| --- | --- | --- | --- | --- |",
        *(_provenance(c) for c in measured),
    ]
    return "\n".join(lines) + "\n"
