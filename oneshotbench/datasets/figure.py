"""A figure like the paper's Fig. 2: one target, its scenes at every clutter level, the masks."""

from __future__ import annotations

from pathlib import Path

from oneshotbench.datasets.cluttered_omniglot import get_dataset
from oneshotbench.datasets.split import load_split
from oneshotbench.errors import OneshotbenchError
from oneshotbench.generator.spec import T_CHAR, T_DRAWER
from oneshotbench.omniglot import load_omniglot


def write_levels_figure(
    out: Path, *, split: str, index: int, omniglot=None, version: int = 1
) -> Path:
    """Sample ``index`` of ``split`` at every level: its target, its scene and its mask.

    Each level is its own dataset, so sample i has a different target at each level (the same
    character only where every level draws it first, at the start of a job): every column shows
    its own target above its scene, and the title says whether the characters coincide.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = get_dataset("cluttered-omniglot", version)
    glyphs = load_omniglot(omniglot)
    levels = dataset.levels
    samples = [load_split(split, level, version=version, glyphs=glyphs)[index] for level in levels]
    characters = {tuple(s.table[0, -1, [T_CHAR, T_DRAWER]]) for s in samples}
    fig, axes = plt.subplots(3, len(levels), figsize=(1.9 * len(levels), 6.4))
    for column, (level, sample) in enumerate(zip(levels, samples, strict=True)):
        axes[0, column].imshow(sample.target[0], interpolation="nearest")
        axes[0, column].set_title(f"{level} characters")
        axes[1, column].imshow(sample.scene[0], interpolation="nearest")
        axes[2, column].imshow(sample.mask[0], cmap="gray", interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for row, label in enumerate(("target", "scene", "ground truth")):
        axes[row, 0].set_ylabel(label)
    same = (
        "the same character and drawer at every level"
        if len(characters) == 1
        else "each level is its own dataset, with its own target for this index"
    )
    fig.suptitle(f"cluttered Omniglot v{version}, {split}, sample {index}: {same}")
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as err:
        raise OneshotbenchError(f"cannot write {out}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    return out
