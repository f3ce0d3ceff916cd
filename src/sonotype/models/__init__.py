"""Models: SwishNet, SNN and GMM baselines, MobileNet teachers.

Torch models take float32 features ``(batch, channels, time)`` and offer
``frame_logits(x) -> (B, K, T)``, ``forward(x) -> (B, K)``, ``clip_rule``
("mean" or "vote"), ``receptive_field`` and ``config`` (constructor kwargs).

The facts per architecture (:mod:`.specs`) import without torch; everything else here is
loaded on first use (it needs the ``sonotype[train]`` extra: torch, scikit-learn).
"""
from .specs import SPECS, TRAINABLE, ModelSpec, features_for, spec_of

__all__ = [
    "GMMClassifier",
    "MODELS",
    "ModelSpec",
    "MobileNetV1",
    "MobileNetV2",
    "SNN",
    "SPECS",
    "SwishNet",
    "TRAINABLE",
    "build_model",
    "count_parameters",
    "features_for",
    "find_imagenet_weights",
    "load_imagenet",
    "spec_of",
]


def __getattr__(name):
    """The torch / sklearn names, imported when first asked for (PEP 562)."""
    if name == "GMMClassifier":
        from .gmm import GMMClassifier
        return GMMClassifier
    if name in ("MobileNetV1", "MobileNetV2"):
        from . import mobilenet
        return getattr(mobilenet, name)
    if name in ("find_imagenet_weights", "load_imagenet"):
        from . import pretrained
        return getattr(pretrained, name)
    if name in ("MODELS", "build_model", "count_parameters"):
        from . import registry
        return getattr(registry, name)
    if name == "SNN":
        from .snn import SNN
        return SNN
    if name == "SwishNet":
        from .swishnet import SwishNet
        return SwishNet
    raise AttributeError(f"module 'sonotype.models' has no attribute {name!r}")
