"""Models: SwishNet, SNN and GMM baselines, MobileNet teachers.

Torch models take float32 features ``(batch, channels, time)`` and offer
``frame_logits(x) -> (B, K, T)``, ``forward(x) -> (B, K)``, ``clip_rule``
("mean" or "vote"), ``receptive_field`` and ``config`` (constructor kwargs).
"""
from .gmm import GMMClassifier
from .mobilenet import MobileNetV1, MobileNetV2
from .pretrained import find_imagenet_weights, load_imagenet
from .registry import MODELS, build_model, count_parameters
from .snn import SNN
from .swishnet import SwishNet

__all__ = [
    "GMMClassifier",
    "MODELS",
    "MobileNetV1",
    "MobileNetV2",
    "SNN",
    "SwishNet",
    "build_model",
    "count_parameters",
    "find_imagenet_weights",
    "load_imagenet",
]
