"""Named, versioned datasets: the registry, splits with random access, torch datasets.

``TrainingStream``, ``ClutteredOmniglot`` and ``TrainingStreamDataset`` need torch and are
imported lazily, so data commands start without it.
"""

from oneshotbench.datasets.cluttered_omniglot import (
    LEVELS,
    SPLIT_NAMES,
    DatasetDef,
    SplitDef,
    get_dataset,
    list_datasets,
)
from oneshotbench.datasets.samples import Samples
from oneshotbench.datasets.split import Split, load_split

_TORCH_EXPORTS = {"TrainingStream", "ClutteredOmniglot", "TrainingStreamDataset"}

__all__ = [
    "LEVELS",
    "SPLIT_NAMES",
    "DatasetDef",
    "Samples",
    "Split",
    "SplitDef",
    "get_dataset",
    "list_datasets",
    "load_split",
    *sorted(_TORCH_EXPORTS),
]


def __getattr__(name: str):
    if name in _TORCH_EXPORTS:
        from oneshotbench.datasets import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
