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
from oneshotbench.training_runs import METRICS_LOG, TrainingRun, read_log, runs_markdown

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
    "p-seg. discriminator": "every level (level 128 last), trained on 2 CPU cores on short "
    "schedules: 0.375 to 2 M samples per level, 1 to 5 % of the paper's 40 M (bf16 autocast; "
    "levels 128 and 256 in float32, since bf16 is emulated on the AVX2-only CPU they ran on). "
    "Level 4 was trained from scratch and every later level warm-started from the one below, level "
    "128's standing run from the one above (the paper trains each from scratch); a level that fell "
    "short was continued on its schedule or trained again on a longer one. *Every training run* "
    "below lists each run with its curve and scores. The first runs validated on the training "
    "decision (*pairs*), which sat near 98 % at every level and said little about the test task; "
    "the later ones validate on the test decision over the val-train scenes (*scene*). Evidence "
    "(b) is not counted for any run, even where its last 20 % gained less than 0.5 points: 1,000 "
    "val-train scenes measure a point to about ±1.4 points, a compressed schedule halves its "
    "learning rate three times within its last half, which flattens any curve, and level 32, whose "
    "second continuation ended 0.3 points up, still gained 0.7 on test-one-shot in a third. What "
    "moved the scores was a long phase at the full learning rate: level 32's longer schedule from "
    "step 2,800 (5e-4 until step 4,000) reached 93.3 % where the chain of two short continuations "
    "had reached 91.5 % at step 7,000, and level 64, trained again from it for 4,800 steps, 93.3 % "
    "where its continued run had reached 86.5 %. With that, levels 4 to 64 come within 3 points of "
    "the paper on the pre-fix data: (a). Level 128 came last: a first run and a continuation to "
    "step 2,000 (91.9, then 91.7 % on test-one-shot; 3.7 points short on the pre-fix data) never "
    "trained long at 5e-4, as the continuation's warm-up ended where its schedule first halved the "
    "learning rate; trained again from those weights on a 2,400-step schedule at 5e-4 until step "
    "1,200 (seed 1, a fresh stream), it reached 92.2 % and, on the pre-fix data, 93.80 % IoU and "
    "93.86 % localization. The same schedule once more from those weights (seed 2; like every run "
    "here chosen to stand for the cell before it was scored) changed nothing: 92.2 % again, and "
    "93.76 % IoU and 93.80 % localization on the pre-fix data, 3.14 and 3.10 points short, just "
    "outside the 3 (val-train ended at 95.8 against 96.0): more of this training from level 128's "
    "own weights no longer moved the cell. Level 256 had two runs, each with its rule written "
    "before training (it stands whatever it scores, and each cell is (a) only at 93.2 % or more on "
    "the pre-fix data): 1,600 steps warm-started from level 128's standing weights reached 94.7 % "
    "scene accuracy on val-train (92.2 at step 400, still rising), 91.3 % IoU and 91.3 % "
    "localization on test-one-shot and 92.80 % IoU and 92.82 % localization on the pre-fix data, "
    "3.40 and 3.38 points short; trained again from those weights on a 2,000-step schedule at 5e-4 "
    "until step 1,000 (seed 1, a fresh stream), it reached 96.1 % on val-train, 92.1 % IoU and "
    "92.1 % localization on test-one-shot and 93.45 % IoU and 93.46 % localization on the pre-fix "
    "data, 2.75 and 2.74 points short of the paper's 96.2: (a), as at levels 4 to 64, again after "
    "a long phase at the full learning rate. Two looks at its test set. Level 128 was then trained "
    "once more on its 2,400-step schedule, from level 256's standing weights, one level up, which "
    "had trained 3,600 steps more (seed 3; its rule written before training: it stands whatever it "
    "scores, and each cell is (a) only at 93.9 % or more on the pre-fix data): val-train 95.4, "
    "93.1, 96.3 and 96.9 % at steps 600 to 2,400, 93.5 % IoU and 93.6 % localization on "
    "test-one-shot, and 94.64 % IoU and 94.68 % localization on the pre-fix data, 2.26 and 2.22 "
    "points short of the paper's 96.9: (a). Five looks at level 128's test set. The "
    "template-matching oracle (no training) on the same pre-segmented glyphs localizes 99.2, 97.8, "
    "96.5, 93.8, 89.4, 83.8 and 78.2 % at levels 4 to 256: the longer-trained level 64 beats it by "
    "3.9 points, level 128 by 9.8 and level 256 by 13.9, the lower levels stay below it, which "
    "also points at the short training. Weights left out of the tree (size) are identified by "
    "their SHA-256; those of level 16's second continuation, level 32's longer continuation, "
    "level 64's longer run and level 128's first, continued and both long runs are in the git "
    "history; neither level-256 run's ever were.",
    "siamese u-net": "level 4 only, trained on 2 CPU cores (bf16 autocast on AMX units, 77 "
    "samples/s) from scratch for 1,200 steps of 250 after a 200-step learning-rate warm-up that "
    "the paper did not use (5e-4 until step 600, its halvings scaled to the run), then continued "
    "for 1,000 steps (a fresh scaled schedule, warm-up again, new batches): 0.55 M samples, 1.4 % "
    "of the paper's 40 M. Each run's rule was written before any score of it: it stands whatever "
    "it scores, and the cell is (a) only at 94.1 % or more on the pre-fix data. Val-train IoU "
    "rose all along (14.5, 17.5, 19.6 and 21.7 % at steps 600 to 1,200, then 36.0, 46.7, 61.7 and "
    "66.3 %: not converged); 64.9 % on test-one-shot and 84.3 % on the pre-fix data, above the "
    "all-lit floor on test-one-shot (25.6 %, `all_lit.json`; 61.2 % on the pre-fix data, "
    "`v0/all_lit_v0.json`), far from the paper: not explained. It picks the target in 73.8 % of "
    "scenes, a random visible glyph in 25.3 % (`oneshotbench analyze`). The first 1,200 steps "
    "alone scored 22.3 and 54.0 % (`superseded/siamese_unet_L4_warmup.json`); the same 1,200 "
    "steps without the warm-up, the paper's recipe (`superseded/siamese_unet_L4.json`), 11.3 and "
    "42.7 %: its matching step collapsed within the first 20 steps, in float32 as in bf16, and "
    "left it blind to its target (another sample's target moves its output by less than 10⁻⁵, "
    "`tools/target_dependence.py`; detection at chance). README, *Reproducing the paper's rows*. "
    "Three looks at the test set.",
    "clutt. discriminator": "every level (256 last), trained on 2 CPU cores on short schedules: "
    "0.25 to 1.2 M samples per level (bf16 autocast; level 128's later runs and level 256 in "
    "float32), each warm-started, where the paper trains from scratch: level 4 from the "
    "pre-segmented level-4 weights (the same network; its crops now keep their clutter), each "
    "later level from the one below. *Every training run* below lists each run. Evidence (b) is "
    "not counted, for the reasons in the row above; on the test decision (*scene*) most curves "
    "were still rising. On the pre-fix data the same weights score 97.8, 92.2, 80.3, 64.8, 53.4, "
    "42.4 and 34.3 % against the paper's 97.0, 92.1, 82.2, 67.1, 54.7, 44.2 and 41.3, while the "
    "fixed release's extra clutter costs them 5.7, 13.2, 22.0, 27.0, 23.9, 16.6 and 9.2 points: "
    "this row is the clearest case of (a). Level 64 earned its mark only with a 4,800-step "
    "schedule (1.3 points short on the pre-fix data; 8.7 after 2,000 steps in two runs), level "
    "128 only at its fifth run: an 800-step first run (13.0 % on test-one-shot), then a chain of "
    "three to step 3,600 (21.3, 22.9 and 23.1 %; 3.7 points short on the pre-fix data), the "
    "learning rate at its last value, 6.25e-5, for 960 of the chain's last 1,220 steps; trained "
    "again from those weights on a 2,400-step schedule at 5e-4 until step 1,200, it reached 25.8 "
    "%, and on the pre-fix data 1.8 points short. Five looks at the test set, each later run "
    "chosen to stand for the cell before it was scored. Level 256, three runs, each with the "
    "rule, written before training, that it stands whatever it scores and the cell is (a) only at "
    "38.3 % or more on the pre-fix data: 1,600 steps from level 128's standing weights reached "
    "17.1 % scene accuracy on val-train (13.9 at step 400, still rising), 23.1 % on test-one-shot "
    "and 33.1 % on the pre-fix data; its weights were never committed, so the second run, 2,000 "
    "steps at 5e-4 until step 1,000, started again from level 128: 18.0 % on val-train (16.6 at "
    "step 1,500), 23.3 % on test-one-shot and 34.1 % on the pre-fix data, 7.2 points short; "
    "trained again from those weights on the same schedule (seed 2, a fresh stream): 19.9 % on "
    "val-train (15.8 at step 1,000), 25.0 % on test-one-shot and 34.3 % on the pre-fix data, 7.0 "
    "points short, so that cell stays not explained; three looks at the test set. Floor: a random "
    "visible glyph scores 25.3, 13.4, 6.9, 4.0, 2.5, 1.6 and 1.2 % (`oracle_random_glyph.json`). "
    "Weights left out of the tree (size) are identified by their SHA-256; those of levels 4 and "
    "16, of the continued level 32, of level 64's longer run, of level 128's two longer and both "
    "continued runs and of level 256's second run are in the git history; level 256's first "
    "run's never were.",
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


def training_runs(cells: Sequence[Cell], checkpoints: Sequence[Checkpoint]) -> list[TrainingRun]:
    """Every paper-size checkpoint of a model that stands for a row, by row in table order, then
    by level, steps trained and when it finished (a later run may start from an earlier one of
    the same length); each run's log is read from beside its checkpoint."""
    rows: dict[str, tuple[str, str, str]] = {}  # checkpoint model -> (paper row, metric, title)
    tables = {table: (metric, f"Table {table}, {title}") for table, metric, title in TABLES}
    for cell in cells:  # in table order: a row's first table names its metric
        if cell.checkpoint is not None:
            rows.setdefault(cell.checkpoint.model, (cell.model, *tables[cell.table]))
    standing = {cell.checkpoint.sha256 for cell in cells if cell.checkpoint is not None}
    order = list(dict.fromkeys(row for row, _, _ in rows.values()))
    runs = [
        TrainingRun(checkpoint, *rows[checkpoint.model],
                    read_log(checkpoint.path.parent / METRICS_LOG, checkpoint.start_step,
                             checkpoint.batch_size or 0),
                    checkpoint.sha256 in standing)
        for checkpoint in checkpoints
        if checkpoint.size == "paper" and checkpoint.model in rows
    ]  # fmt: skip
    return sorted(
        runs,
        key=lambda r: (
            order.index(r.row),
            r.checkpoint.level or 0,
            r.checkpoint.step or 0,
            r.log.finished or 0.0,
            r.name,
        ),
    )


def reproduction_markdown(cells: Sequence[Cell], runs: Sequence[TrainingRun] = ()) -> str:
    """The committed ``REPRODUCTION.md``: both tables, the provenance of every measured cell and,
    given the ``runs`` (:func:`training_runs`), every training run behind the rows."""
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
    if runs:
        lines += ["", *runs_markdown(runs)]
    return "\n".join(lines) + "\n"
