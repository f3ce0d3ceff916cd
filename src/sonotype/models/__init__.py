"""Models: SwishNet, SNN and GMM baselines, MobileNet teachers.

Torch models take float32 features ``(batch, channels, time)`` and offer
``frame_logits(x) -> (B, K, T)``, ``forward(x) -> (B, K)``, ``clip_rule``
("mean" or "vote"), ``receptive_field`` and ``config`` (constructor kwargs).
"""
from .gmm import GMMClassifier
from .mobilenet import MobileNetV1, MobileNetV2
from .pretrained import find_imagenet_weights, load_imagenet
from .registry import MODELS, SPECS, TRAINABLE, ModelSpec, build_model, count_parameters, features_for, spec_of
from .snn import SNN
from .swishnet import SwishNet

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
