"""The tree reads like the data flow, and the submission side cannot make ground truth.

Imports are read from the source (every ``import``, lazy ones inside functions included), so a
module that reaches up a layer fails here before anyone has to notice it in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("oneshotbench", "reference_models")

LAYERS: tuple[tuple[str, ...], ...] = (
    # foundations: no knowledge of data, models or runs
    ("oneshotbench", "oneshotbench.errors", "oneshotbench.cache", "oneshotbench.progress",
     "oneshotbench.figures", "oneshotbench.published", "oneshotbench.rows"),
    ("oneshotbench.omniglot",),  # the glyph source
    ("oneshotbench.generator",),  # scenes from glyphs
    ("oneshotbench.datasets",),  # named, verified splits
    ("oneshotbench.protocol", "oneshotbench.sandbox", "oneshotbench.channel", "oneshotbench.worker",
     "oneshotbench.worker_handle",
     "oneshotbench.private", "oneshotbench.distributed"),  # running a submission
    ("oneshotbench.scoring_kernels", "oneshotbench.metrics", "oneshotbench.stats",
     "oneshotbench.glyph_analysis"),  # scoring
    ("oneshotbench.records", "oneshotbench.catalog"),  # the record format: what a run leaves
    ("oneshotbench.journal", "oneshotbench.pipeline", "oneshotbench.run_settings",
     "oneshotbench.run_record",
     "oneshotbench.runner"),  # a run
    ("oneshotbench.reports", "oneshotbench.leaderboard", "oneshotbench.leaderboard_page",
     "oneshotbench.reproduction", "oneshotbench.training_runs",
     "oneshotbench.analysis"),  # what readers see
    ("oneshotbench.cli", "oneshotbench.__main__"),  # the shell over all of it
)  # fmt: skip
"""oneshotbench's modules from the bottom up; a module may import its own layer and those below."""

GROUND_TRUTH = (
    "oneshotbench.omniglot",
    "oneshotbench.datasets",
    "oneshotbench.generator.canonical",
    "oneshotbench.generator.jobs",
    "oneshotbench.generator.aot",
    "oneshotbench.generator.reference",
)
"""Modules that read glyphs or draw scenes: nothing a submission imports may reach them."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def known_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in the file (``from a import b`` counts ``a.b`` when
    that is a module, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def layer_of(module: str) -> int:
    best = None
    for rank, members in enumerate(LAYERS):
        for member in members:
            inside = module == member or module.startswith(member + ".")
            if inside and (best is None or len(member) > len(best[1])):
                best = (rank, member)
    assert best is not None, f"{module} is in no layer of LAYERS: place it"
    return best[0]


def test_every_module_has_a_layer() -> None:
    for module in known_modules():
        if module.startswith("oneshotbench"):
            layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    modules = known_modules()
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, path in modules.items()
        if module.startswith("oneshotbench")
        for target in sorted(imports_of(path, modules))
        if target.startswith("oneshotbench") and layer_of(target) > layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def closure(start: Path, modules: dict[str, Path]) -> dict[str, str]:
    """Every project module reachable from ``start`` -> the module that first imported it."""
    reached: dict[str, str] = {}
    todo = [(start, str(start.relative_to(ROOT)))]
    while todo:
        path, name = todo.pop()
        for target in imports_of(path, modules):
            parents = [target.rsplit(".", k)[0] for k in range(target.count(".") + 1)]
            for module in parents:  # importing a.b.c runs a and a.b first
                if module in modules and module not in reached:
                    reached[module] = name
                    todo.append((modules[module], module))
    return reached


@pytest.mark.parametrize("submission", sorted((ROOT / "submissions").glob("*.py")), ids=str)
def test_submissions_cannot_reach_the_generator_or_the_glyphs(submission: Path) -> None:
    reached = closure(submission, known_modules())
    leaks = {m: by for m, by in reached.items() if m.startswith(GROUND_TRUTH)}
    assert not leaks, f"{submission.name} reaches {leaks} (module: imported by)"


def test_the_walk_sees_lazy_and_transitive_imports() -> None:
    modules = known_modules()
    feed = imports_of(ROOT / "reference_models" / "feed.py", modules)
    assert "oneshotbench.datasets" in feed  # imported inside a function
    assert "oneshotbench.generator.canonical" in feed
    assert layer_of("oneshotbench.generator.jit") == layer_of("oneshotbench.generator")
    reached = closure(ROOT / "submissions" / "masknet.py", modules)
    assert reached["oneshotbench.metrics"] == "reference_models.masknet"  # followed transitively
    assert "oneshotbench.generator.jit" in reached  # metrics' compiled passes: numba, no data
