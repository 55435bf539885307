"""Reference models of the paper's Tables 1-2, in PyTorch, with a timm-style registry.

``create_model(name, size)`` builds a trainable network: ``size="paper"`` is the authors'
``feature_maps=24``; ``"tiny"`` (F = 4) trains on a 2-core CPU. Template matching has no weights
and lives in :mod:`reference_models.template_matching`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from oneshotbench.errors import LookupFailure
from reference_models.discriminators import DiscriminatorOracle
from reference_models.masknet import MaskNet
from reference_models.normalization import InputStats
from reference_models.siamese_unet import SiameseUNet

SIZES: dict[str, int] = {"paper": 24, "tiny": 4}
"""``--size`` -> encoder/decoder ``feature_maps`` F."""

Builder = Callable[[int, InputStats | None], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A registered network: how to build it and which training stages it has."""

    name: str
    build: Builder
    stages: tuple[str, ...]
    oracle: bool
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, stages: tuple[str, ...], description: str, oracle: bool = False
) -> Callable[[Builder], Builder]:
    """Decorator: register ``build(features, stats) -> nn.Module`` under ``name``."""

    def wrap(build: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, build, stages, oracle, description)
        return build

    return wrap


def list_models() -> list[str]:
    """Names of all registered networks, sorted."""
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name raises a LookupFailure listing all."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupFailure(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def features_for(size: str) -> int:
    """``feature_maps`` of a named size."""
    try:
        return SIZES[size]
    except KeyError:
        raise LookupFailure(f"unknown size {size!r}; known: {', '.join(SIZES)}") from None


def create_model(name: str, size: str = "paper", stats: InputStats | None = None) -> nn.Module:
    """Build a freshly initialised network (``stats``: the training-set input constants)."""
    return model_entry(name).build(features_for(size), stats)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@register_model(
    "siamese_unet", stages=("segmentation",), description="Siamese U-Net baseline (paper §3)"
)
def _siamese_unet(features: int, stats: InputStats | None) -> nn.Module:
    return SiameseUNet(features, stats)


@register_model(
    "masknet",
    stages=("proposals", "discriminator"),
    description="MaskNet, targeted proposals (paper §4)",
)
def _masknet(features: int, stats: InputStats | None) -> nn.Module:
    return MaskNet(features, stats, targeted=True)


@register_model(
    "masknet_untargeted",
    stages=("proposals", "discriminator"),
    description="MaskNet with untargeted proposals (paper §6.6; reimplementation)",
)
def _masknet_untargeted(features: int, stats: InputStats | None) -> nn.Module:
    return MaskNet(features, stats, targeted=False)


@register_model(
    "presegmented_discriminator",
    stages=("oracle",),
    oracle=True,
    description="pre-segmented discriminator oracle (paper §5.1; reimplementation)",
)
def _presegmented(features: int, stats: InputStats | None) -> nn.Module:
    return DiscriminatorOracle(features, stats, segmented=True)


@register_model(
    "cluttered_discriminator",
    stages=("oracle",),
    oracle=True,
    description="cluttered discriminator oracle (paper §5.2; reimplementation)",
)
def _cluttered(features: int, stats: InputStats | None) -> nn.Module:
    return DiscriminatorOracle(features, stats, segmented=False)


__all__ = [
    "SIZES",
    "InputStats",
    "ModelEntry",
    "count_parameters",
    "create_model",
    "features_for",
    "list_models",
    "model_entry",
    "register_model",
]
