"""Break each README guarantee on purpose and check that the test suite notices.

Every mutant is one exact code snippet replaced by a deliberately wrong one (anchored by text,
never by line number) in a temporary copy of the repository; the tests that guard that guarantee
then run against the copy and must fail. Before any mutant, the same tests run unmutated in the
copy and must pass, and the copy must be the code that is imported (also by the evaluation
worker, which is a separate interpreter started with the same environment).

    python tools/mutate.py                 # every mutant
    python tools/mutate.py --list          # what would run
    python tools/mutate.py invariance-*    # only mutants whose name matches a glob

Exit status: 0 when every mutant is caught; 1 when one survives, an anchor no longer matches
exactly once, or the unmutated baseline fails. Too slow for CI (several minutes on 2 cores); run it
before landing a change to the harness and paste its output into the change's note.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One deliberate break: in ``file``, ``original`` (must occur exactly once) -> ``broken``."""

    name: str
    guarantee: str
    file: str
    original: str
    broken: str
    tests: tuple[str, ...]  # pytest arguments selecting the tests that must catch it


MUTANTS = (
    # --- exactness: the authors' generator bit for bit ---------------------------------------
    Mutant(
        "exact-double-from-two-words",
        "MT19937 doubles from two words (53 bits) as numpy's random_sample",
        "oneshotbench/generator/mt19937.py",
        "    a = next_word(state) >> 5\n",
        "    a = next_word(state) >> 4\n",
        ("tests/test_generator.py::test_draws_match_numpy_legacy_functions",),
    ),
    Mutant(
        "exact-masked-rejection",
        "masked-rejection integers as numpy's legacy randint",
        "oneshotbench/generator/mt19937.py",
        "        if value <= span:\n",
        "        if value < span:\n",
        ("tests/test_generator.py::test_draws_match_numpy_legacy_functions",),
    ),
    Mutant(
        "exact-job-seeds-sorted",
        "the sorted, de-duplicated job seeds",
        "oneshotbench/generator/jobs.py",
        "    draws = np.sort(np.random.RandomState(master_seed).randint(2**32, size=2 * n_jobs))\n",
        "    draws = np.random.RandomState(master_seed).randint(2**32, size=2 * n_jobs)\n",
        ("tests/test_generator.py::test_job_seeds_are_the_authors",),
    ),
    Mutant(
        "exact-target-position-draws",
        "the order of random draws per sample (the target's x before its y)",
        "oneshotbench/generator/canonical.py",
        "        x = randint(state, 0, SCENE_SIZE - w + 1)\n"
        "        y = randint(state, 0, SCENE_SIZE - h + 1)\n"
        "        _paste_scene(",
        "        y = randint(state, 0, SCENE_SIZE - h + 1)\n"
        "        x = randint(state, 0, SCENE_SIZE - w + 1)\n"
        "        _paste_scene(",
        ("tests/test_generator.py::test_official_md5_digest[test-one-shot-4]",),
    ),
    Mutant(
        "exact-prefix-distractor-count",
        "version 0: the pre-fix distractor count is choice(L - 1), uniform on 0..L-2",
        "oneshotbench/generator/canonical.py",
        "randint(state, 0, level - 1) if pre_fix",
        "randint(state, 1, level) if pre_fix",
        ("tests/test_prefix.py::test_pre_fix_md5_digest[test-one-shot-4]",),
    ),
    Mutant(
        "exact-prefix-skip",
        "version 0: a failed distractor is skipped, not redrawn",
        "oneshotbench/generator/canonical.py",
        "while placed < distractors and (not pre_fix or attempts < distractors):",
        "while placed < distractors:",
        (
            "tests/test_prefix.py::test_pre_fix_kernel_equals_pil_reference_loop[val-train-4-0-60-1-0]",
        ),
    ),
    Mutant(
        "exact-prefix-restart",
        "version 0: a failed scene target restarts the whole scene",
        "oneshotbench/generator/canonical.py",
        "while not ok and not pre_fix:",
        "while not ok:",
        (
            "tests/test_prefix.py::"
            "test_pre_fix_kernel_equals_pil_reference_loop[val-one-shot-4-0-200-0-1]",
        ),
    ),
    Mutant(
        "exact-fingerprint-locates-bad-sample",
        "a single wrong pixel is caught and located by the per-sample CRC-32",
        "oneshotbench/datasets/fingerprints.py",
        "np.flatnonzero(digest.crc32 != expected_crc).tolist()",
        "[]",
        ("tests/test_generator.py::test_a_wrong_pixel_is_caught_and_located",),
    ),
    # --- metric definitions and edge cases ----------------------------------------------------
    Mutant(
        "metric-threshold-strict",
        "foreground = float32(p) > float32(0.3), strict",
        "oneshotbench/metrics.py",
        "    return probs.to(torch.float32) > threshold\n",
        "    return probs.to(torch.float32) >= threshold\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-threshold-float32",
        "the threshold compared in float32, like the authors' TensorFlow code",
        "oneshotbench/metrics.py",
        "    return probs.to(torch.float32) > threshold\n",
        "    return probs.to(torch.float64) > threshold\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-empty-union-scores-1",
        "an empty union scores IoU 1",
        "oneshotbench/metrics.py",
        "    return torch.where(union == 0, torch.ones_like(ratio), ratio)\n",
        "    return ratio\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-centre-floored-float32",
        "centres floored with the authors' float32 (sum + 1e-5) // (count - 1e-5)",
        "oneshotbench/metrics.py",
        "    return torch.floor((moments32[:, 1:] + _COM_NUDGE) / count).to(torch.int64)\n",
        "    return torch.round((moments32[:, 1:] + _COM_NUDGE) / count).to(torch.int64)\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-localization-below-5px",
        "a hit if the distance is < 5 px (strictly)",
        "oneshotbench/metrics.py",
        "    return torch.sqrt((delta * delta).sum(dim=1)) < radius\n",
        "    return torch.sqrt((delta * delta).sum(dim=1)) <= radius\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-strict-x-edge",
        "strict localization: a centre off the image (x edge) never hits",
        "oneshotbench/metrics.py",
        "(x < width)",
        "(x <= width)",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-strict-empty-prediction-misses",
        "strict localization: an empty prediction is always a miss",
        "oneshotbench/metrics.py",
        "    return localization_hits(pred_xy, gt_xy, radius) & inside(pred_xy) & inside(gt_xy)\n",
        "    return localization_hits(pred_xy, gt_xy, radius) & inside(gt_xy)\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-submitted-locations-floored",
        "submitted locations floored like centres",
        "oneshotbench/metrics.py",
        "torch.floor(locations.to(torch.float64)",
        "torch.round(locations.to(torch.float64)",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metric-duplicate-samples-refused",
        "a sample scored twice is refused, never counted twice",
        "oneshotbench/metrics.py",
        "        if duplicated.size:\n",
        "        if False:\n",
        ("tests/test_metrics.py",),
    ),
    # --- statistics ----------------------------------------------------------------------------
    Mutant(
        "metric-cpu-pass-equals-torch",
        "the harness's compiled CPU pass computes the same moments as the torch metrics",
        "oneshotbench/scoring_kernels.py",
        "                g_x += g * x\n",
        "                g_x += g * (x + 1)\n",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "stats-bootstrap-default-10000",
        "bootstrap CIs use 10,000 resamples by default",
        "oneshotbench/stats.py",
        "    values: np.ndarray, seed: int, n_resamples: int = 10_000, confidence: float = 0.95\n",
        "    values: np.ndarray, seed: int, n_resamples: int = 1_000, confidence: float = 0.95\n",
        ("tests/test_records.py",),
    ),
    Mutant(
        "stats-record-10000-resamples",
        "every record's CIs use 10,000 resamples",
        "oneshotbench/run_settings.py",
        "N_RESAMPLES = 10_000\n",
        "N_RESAMPLES = 2_000\n",
        (
            "tests/test_guarantees.py::test_record_intervals_are_scipy_bootstraps_with_10000_resamples",
        ),
    ),
    Mutant(
        "stats-shared-draws-are-scipys",
        "a level's three intervals are scipy's bootstrap, draw for draw",
        "oneshotbench/stats.py",
        "        index = rng.integers(0, n, (size, n), dtype=np.int32)\n",
        "        index = rng.integers(0, n, (size, n), dtype=np.int64)[:, ::-1].copy()\n",
        ("tests/test_stats.py",),
    ),
    Mutant(
        "stats-counted-means-exact",
        "hit rates are resampled as exact counts",
        "oneshotbench/stats.py",
        "            means[c, first : first + size] = counts[row, :size] / n\n",
        "            means[c, first : first + size] = counts[row, :size] / (n + 1)\n",
        ("tests/test_stats.py",),
    ),
    Mutant(
        "stats-percentile-method",
        "95 % percentile bootstrap CI",
        "oneshotbench/stats.py",
        '        method="percentile",\n',
        '        method="basic",\n',
        ("tests/test_records.py",),
    ),
    # --- invariance to batch size, order and processes -----------------------------------------
    Mutant(
        "invariance-rerun-shuffled",
        "the invariance re-run is shuffled",
        "oneshotbench/pipeline.py",
        "np.random.default_rng([seed, plan.level, 1]).permutation(len(reference.index))",
        "np.arange(len(reference.index))",
        (
            "tests/test_guarantees.py",
            "tests/test_evaluate.py::test_invariance_check_flags_batch_dependent_outputs",
        ),
    ),
    Mutant(
        "invariance-128-samples",
        "the invariance check re-runs 128 random samples per level",
        "oneshotbench/pipeline.py",
        "INVARIANCE_SAMPLES = 128  # per level\n",
        "INVARIANCE_SAMPLES = 12  # per level\n",
        (
            "tests/test_guarantees.py::test_invariance_rerun_is_shuffled_and_catches_order_dependence",
        ),
    ),
    Mutant(
        "invariance-half-batch",
        "the invariance re-run uses half the batch size",
        "oneshotbench/run_settings.py",
        "    return batch_size // 2 if batch_size > 1 else 2\n",
        "    return batch_size\n",
        (
            "tests/test_guarantees.py::test_invariance_rerun_is_shuffled_and_catches_order_dependence",
        ),
    ),
    Mutant(
        "invariance-flags-over-tolerance",
        "the submission is flagged when a probability moves by more than 1e-3",
        "oneshotbench/pipeline.py",
        "INVARIANCE_TOLERANCE = 1e-3 ",
        "INVARIANCE_TOLERANCE = 1.0 ",
        ("tests/test_evaluate.py::test_invariance_check_flags_batch_dependent_outputs",),
    ),
    Mutant(
        "invariance-processes-merged",
        "scores do not depend on the number of processes (every process's share is kept)",
        "oneshotbench/run_record.py",
        "[p for shares, *_ in gathered for p in shares[level][0]]",
        "[p for shares, *_ in gathered[:1] for p in shares[level][0]]",
        ("tests/test_evaluate.py::test_two_processes_under_torchrun_match_one",),
    ),
    Mutant(
        "invariance-batch-boundaries",
        "scores do not depend on batch size (every sample of the level is scored once)",
        "oneshotbench/pipeline.py",
        "(s, min(s + size, n))",
        "(s, min(s + size, n - 1))",
        ("tests/test_evaluate.py::test_scores_do_not_depend_on_batch_size",),
    ),
    # --- resume --------------------------------------------------------------------------------
    Mutant(
        "resume-refuses-other-settings",
        "--resume refuses a journal written with other settings",
        "oneshotbench/journal.py",
        "if old.get(k) != new.get(k)]",
        "if False]",
        ("tests/test_evaluate.py::test_resume_after_a_crash_equals_an_uninterrupted_run",),
    ),
    Mutant(
        "resume-record-identical",
        "a resumed record is identical apart from timing (invariance probes are journaled too)",
        "oneshotbench/journal.py",
        "        if self.probe is not None:\n            arrays.update(",
        "        if False:\n            arrays.update(",
        ("tests/test_evaluate.py::test_resume_after_a_crash_equals_an_uninterrupted_run",),
    ),
    # --- private splits ------------------------------------------------------------------------
    Mutant(
        "private-seed-from-secret",
        "private master seeds are derived from the secret",
        "oneshotbench/private.py",
        'int.from_bytes(self._derive("seed", split)[:4], "big")',
        'int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "big")',
        (
            "tests/test_guarantees.py::test_private_splits_differ_per_secret_and_from_the_public_split",
        ),
    ),
    Mutant(
        "private-split-used",
        "a private run generates its splits from the private master seed",
        "oneshotbench/runner.py",
        "        master_seed = s.secret.master_seed(s.split) if s.secret else None\n",
        "        master_seed = None\n",
        (
            "tests/test_guarantees.py::test_private_splits_differ_per_secret_and_from_the_public_split",
        ),
    ),
    # --- isolation and limits ------------------------------------------------------------------
    Mutant(
        "isolation-data-modules-blocked",
        "the data-producing modules cannot be imported in the worker (runs only in the worker)",
        "oneshotbench/worker.py",
        '        if any(fullname == m or fullname.startswith(m + ".") for m in BLOCKED_MODULES):\n',
        "        if False:\n",
        ("tests/test_worker.py::test_submission_cannot_import_the_data_modules",),
    ),
    Mutant(
        "isolation-output-range-checked",
        "every batch is checked for range: a probability above 1 stops the run",
        "oneshotbench/protocol.py",
        "        if not (bool(low >= 0) and bool(high <= 1)):\n",
        "        if not bool(low >= 0):\n",
        ("tests/test_protocol.py",),
    ),
    Mutant(
        "isolation-oracle-needs-flag",
        "an oracle submission runs only with --oracle",
        "oneshotbench/runner.py",
        "    if fields and not s.oracle:\n",
        "    if False:\n",
        ("tests/test_evaluate.py::test_oracle_needs_the_flag_and_is_marked",),
    ),
    Mutant(
        "isolation-oracle-record-marked",
        'a record made with ground truth carries "oracle": true',
        "oneshotbench/runner.py",
        "            oracle=bool(fields),\n",
        "            oracle=False,\n",
        ("tests/test_evaluate.py::test_oracle_needs_the_flag_and_is_marked",),
    ),
    # --- records and their checks --------------------------------------------------------------
    Mutant(
        "records-side-file-hash",
        "a per-sample file that does not match its record is refused",
        "oneshotbench/records.py",
        '    if file_sha256(side) != record["per_sample"]["sha256"]:\n',
        "    if False:\n",
        ("tests/test_records.py",),
    ),
    Mutant(
        "records-threshold-compared",
        "records scored with another threshold are not comparable",
        "oneshotbench/records.py",
        '    if a["metrics"].get("threshold") != b["metrics"].get("threshold"):\n',
        "    if False:\n",
        ("tests/test_records.py", "tests/test_leaderboard.py"),
    ),
    Mutant(
        "records-schema-version-checked",
        "a record of an unknown schema version is refused",
        "oneshotbench/records.py",
        '    if record["schema_version"] not in READABLE_VERSIONS:\n',
        "    if False:\n",
        ("tests/test_records.py",),
    ),
    # --- leaderboard refusals and significance -------------------------------------------------
    Mutant(
        "leaderboard-refuses-other-fingerprints",
        "the leaderboard refuses records of other data (fingerprints)",
        "oneshotbench/records.py",
        "        if prints_a.get(str(level)) != prints_b.get(str(level)):\n",
        "        if False:\n",
        ("tests/test_leaderboard.py",),
    ),
    Mutant(
        "leaderboard-refuses-other-samples",
        "the leaderboard pairs only identical sample indices",
        "oneshotbench/leaderboard.py",
        "            if not np.array_equal(a, b):\n",
        "            if False:\n",
        ("tests/test_leaderboard.py",),
    ),
    Mutant(
        "leaderboard-ranks-best-first",
        "records are ranked by mean IoU, best first",
        "oneshotbench/leaderboard.py",
        "    order = sorted(range(len(rows)), key=lambda i: (-means[i], labels[i]))\n",
        "    order = sorted(range(len(rows)), key=lambda i: (means[i], labels[i]))\n",
        ("tests/test_leaderboard.py",),
    ),
    Mutant(
        "leaderboard-alpha-005",
        '"significant" means p < 0.05',
        "oneshotbench/leaderboard.py",
        "ALPHA = 0.05\n",
        "ALPHA = 0.1\n",
        ("tests/test_leaderboard.py",),
    ),
    Mutant(
        "leaderboard-p-strictly-below",
        '"significant" means p < alpha, strictly',
        "oneshotbench/leaderboard.py",
        "                significant=None if p_value is None else p_value < alpha,\n",
        "                significant=None if p_value is None else p_value <= alpha,\n",
        ("tests/test_leaderboard.py",),
    ),
    Mutant(
        "leaderboard-pvalue-add-one",
        "the paired bootstrap p-value is add-one smoothed (never exactly 0)",
        "oneshotbench/stats.py",
        "    return float(min(1.0, 2.0 * (tail + 1) / (n_resamples + 1)))\n",
        "    return float(min(1.0, 2.0 * tail / n_resamples))\n",
        ("tests/test_leaderboard.py",),
    ),
    # --- checkpoints ---------------------------------------------------------------------------
    Mutant(
        "checkpoint-weights-hash",
        "corrupt checkpoint weights are detected (SHA-256 in the sidecar)",
        "reference_models/checkpoint.py",
        "    if _digest(blob) != expected_sha256:\n",
        "    if False:\n",
        ("tests/test_checkpoint.py",),
    ),
    Mutant(
        "checkpoint-model-checked",
        "a checkpoint of another model is refused",
        "reference_models/checkpoint.py",
        "    if expected is not None and info.model not in expected:\n",
        "    if False:\n",
        ("tests/test_checkpoint.py",),
    ),
    Mutant(
        "checkpoint-level-checked",
        "a checkpoint trained for another clutter level is refused",
        "reference_models/checkpoint.py",
        "    if expect_level is not None and info.level != expect_level:\n",
        "    if False:\n",
        ("tests/test_checkpoint.py",),
    ),
    # --- the sandbox and the journal's integrity -------------------------------------------
    Mutant(
        "sandbox-no-network",
        "the submission has no network (its own network namespace)",
        "oneshotbench/sandbox.py",
        '    "--unshare-net",\n',
        "",
        ("tests/test_sandbox.py::test_snooping_finds_nothing_and_changes_nothing",),
    ),
    Mutant(
        "sandbox-own-variables-bind-nothing",
        "the sandbox's own TMPDIR=/tmp never shows the machine's /tmp",
        "oneshotbench/sandbox.py",
        "        if name in _SET_INSIDE or (name in ENV_ALLOW and name != "
        '"ONESHOTBENCH_CHECKPOINT"):\n',
        "        if False:\n",
        ("tests/test_sandbox.py::test_snooping_finds_nothing_and_changes_nothing",),
    ),
    Mutant(
        "sandbox-environment-scrubbed",
        "the submission gets an allow-list of variables, never the harness's environment",
        "oneshotbench/sandbox.py",
        "    names = dict.fromkeys([*ENV_ALLOW, *passed])\n",
        "    names = dict.fromkeys([*ENV_ALLOW, *passed, *os.environ])\n",
        ("tests/test_sandbox.py::test_environment_is_scrubbed",),
    ),
    Mutant(
        "journal-batches-authenticated",
        "a changed or foreign journal batch file is refused",
        "oneshotbench/journal.py",
        "        if mac is None or not hmac.compare_digest(mac.tobytes(), expected):\n",
        "        if False:\n",
        ("tests/test_sandbox.py::test_changed_or_foreign_batch_files_are_refused",),
    ),
    Mutant(
        "records-identity-at-start",
        "a record names the submission, weights and commit as loaded when the run started",
        "oneshotbench/run_record.py",
        '        identity={**identity, "parameters": parameters},\n',
        '        identity={**run_provenance(s)[0], "parameters": parameters},\n',
        (
            "tests/test_evaluate.py::test_record_names_what_was_loaded_when_files_change_during_the_run",
        ),
    ),
    # --- template matching: the compiled matcher is the matrix product --------------------------
    Mutant(
        "template-shift-offset",
        "the compiled matcher places the crop at the shift the matrix product uses",
        "reference_models/template_kernels.py",
        "                offset = (shift // side) * size + shift % side\n",
        "                offset = (shift % side) * size + shift // side\n",
        ("tests/test_template_kernels.py",),
    ),
    Mutant(
        "template-window-mass",
        "each template's norm is its mass inside the crop's window at that shift",
        "reference_models/template_kernels.py",
        "        for y in range(crop):\n",
        "        for y in range(crop - 1):\n",
        ("tests/test_template_kernels.py",),
    ),
    Mutant(
        "template-rows-remainder",
        "lit pixels beyond the last group of four are still added",
        "reference_models/template_kernels.py",
        "                for rest in range(q, end):\n",
        "                for rest in range(q, end - 1):\n",
        ("tests/test_template_kernels.py",),
    ),
    Mutant(
        "template-warp-rounding",
        "templates are warped with the torch path's float32 nearest-neighbour rounding",
        "reference_models/template_kernels.py",
        "                x = np.int64(np.floor(columns[p, i, a] + cx + half))\n",
        "                x = np.int64(np.floor(columns[p, i, a] + cx))\n",
        ("tests/test_template_kernels.py",),
    ),
    Mutant(
        "template-cosine-rounding",
        "the cosine's square root is correctly rounded, so scores do not depend on the CPU",
        "reference_models/template_matching.py",
        "    norm = (character_mass * template_mass).clamp(min=1.0).double().sqrt().float()\n",
        "    norm = (character_mass * template_mass).clamp(min=1.0).sqrt()\n",
        ("tests/test_template_kernels.py",),
    ),
)


def tracked_files(root: Path) -> list[str]:
    """Tracked files plus untracked ones git does not ignore (work in progress is mutated too)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listing.split("\0") if name and (root / name).is_file()]


def copy_tree(root: Path, dest: Path) -> None:
    for name in tracked_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def check_anchors(mutants: list[Mutant], root: Path) -> list[str]:
    """Every anchor must occur exactly once; return the problems (empty when all match)."""
    problems = []
    for m in mutants:
        path = root / m.file
        if not path.is_file():
            problems.append(f"{m.name}: {m.file} does not exist")
            continue
        count = path.read_text().count(m.original)
        if count != 1:
            problems.append(f"{m.name}: anchor occurs {count} times in {m.file}: {m.original!r}")
    return problems


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no stale .pyc of a mutant can outlive it
    return env


def check_imports_copy(copy: Path, env: dict[str, str]) -> None:
    """The copy, not the installed checkout, is what the tests and the worker import."""
    probe = "import oneshotbench.worker as w, reference_models as r; print(w.__file__, r.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=copy, env=env, capture_output=True, text=True
    )
    files = done.stdout.split()
    if done.returncode or not files or not all(Path(f).is_relative_to(copy) for f in files):
        raise SystemExit(f"the copy is not what gets imported: {done.stdout}{done.stderr}")


def pytest(copy: Path, env: dict[str, str], tests: tuple[str, ...]) -> tuple[int, float, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    tail = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, time.perf_counter() - started, tail[-1] if tail else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patterns", nargs="*", help="run only mutants whose name matches a glob")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args()
    chosen = [
        m
        for m in MUTANTS
        if not args.patterns or any(fnmatch.fnmatch(m.name, p) for p in args.patterns)
    ]
    if args.list:
        for m in chosen:
            print(f"{m.name:42} {m.file:38} {m.guarantee}")
        return 0
    stale = check_anchors(chosen, ROOT)
    if stale:
        print("stale anchors (re-anchor these mutants):", *stale, sep="\n  ")
        return 1
    with tempfile.TemporaryDirectory(prefix="oneshotbench-mutate-") as tmp:
        copy = Path(tmp) / "repo"
        copy_tree(ROOT, copy)
        env = environment(copy)
        check_imports_copy(copy, env)
        selection = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        code, seconds, summary = pytest(copy, env, selection)
        print(f"baseline (unmutated copy): rc={code} in {seconds:.0f} s: {summary}")
        if code != 0:
            print("the unmutated tests fail in the copy; fix that first")
            return 1
        survived = []
        for m in chosen:
            path = copy / m.file
            original = path.read_text()
            path.write_text(original.replace(m.original, m.broken, 1))
            try:
                code, seconds, summary = pytest(copy, env, m.tests)
            finally:
                path.write_text(original)
            verdict = {0: "SURVIVED", 1: "caught"}.get(code, f"ERROR rc={code}")
            if code != 1:
                survived.append(m.name)
            print(f"{verdict:9} {m.name:42} {seconds:5.0f} s  {summary}", flush=True)
    print(f"\n{len(chosen) - len(survived)} of {len(chosen)} mutants caught")
    if survived:
        print("not caught:", ", ".join(survived))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
