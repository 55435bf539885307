"""A figure like the paper's Fig. 2: one target, its scenes at every clutter level, the masks."""

from __future__ import annotations

from pathlib import Path

from oneshotbench.datasets.cluttered_omniglot import get_dataset
from oneshotbench.datasets.split import load_split
from oneshotbench.errors import OneshotbenchError
from oneshotbench.omniglot import load_omniglot


def write_levels_figure(
    out: Path, *, split: str, index: int, omniglot=None, version: int = 1
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = get_dataset("cluttered-omniglot", version)
    glyphs = load_omniglot(omniglot)
    levels = dataset.levels
    fig, axes = plt.subplots(2, len(levels) + 1, figsize=(2 * (len(levels) + 1), 4.3))
    for column, level in enumerate(levels, start=1):
        sample = load_split(split, level, version=version, glyphs=glyphs).get(index)
        if column == 1:
            axes[0, 0].imshow(sample.target[0], interpolation="nearest")
            axes[0, 0].set_title("target")
        axes[0, column].imshow(sample.scene[0], interpolation="nearest")
        axes[0, column].set_title(f"{level} characters")
        axes[1, column].imshow(sample.mask[0], cmap="gray", interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].axis("off")
    axes[1, 1].set_ylabel("ground truth")
    fig.suptitle(f"cluttered Omniglot v{version}, {split}, sample {index}")
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as err:
        raise OneshotbenchError(f"cannot write {out}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    return out
