"""The facts of each architecture, importable without torch.

One :class:`ModelSpec` per architecture (name, input features, output-layer prefix, clip
rule). The builder is named by its import path and imported only when a model is built
(:mod:`sonotype.models.registry`), so the command line and the torch-free inference core can
read the names, features and clip rules without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from ..features.params import LOGMEL, MFCC, MFCC_DELTAS, FeatureParams


@dataclass(frozen=True)
class ModelSpec:
    """The facts of one architecture.

    Attributes
    ----------
    name : str
        Registry name, stored in checkpoints as ``arch``.
    builder_path : str
        ``"module:attribute"`` of the constructor taking the checkpoint's ``kwargs``,
        relative to ``sonotype.models`` (imported on first use: it needs torch or sklearn).
    features : FeatureParams or None
        The paper's input features (None: not trained by ``sonotype train``).
    head : str or None
        Parameter-name prefix of the output layer, replaced when fine-tuning to other
        classes (None: fine-tuning not supported).
    clip_rule : {"mean", "vote"}
        How frame outputs become a clip's: mean logits, or frames voting.
    takes_n_in : bool
        Whether the builder takes ``n_in``, the number of feature channels.
    """

    name: str
    builder_path: str
    features: FeatureParams | None = None
    head: str | None = None
    clip_rule: str = "mean"
    takes_n_in: bool = False

    @property
    def builder(self):
        """The constructor (imports its module, and so torch or sklearn)."""
        module, attr = self.builder_path.split(":")
        return getattr(import_module(f"sonotype.models.{module}"), attr)

    @property
    def clip_logits(self) -> bool:
        """Whether the model gives clip logits (so it can learn from a teacher's soft targets)."""
        return self.clip_rule == "mean"


SPECS = {s.name: s for s in (
    ModelSpec("slim", "swishnet:swishnet_slim", MFCC, head="head.", takes_n_in=True),
    ModelSpec("wide", "swishnet:swishnet_wide", MFCC, head="head.", takes_n_in=True),
    ModelSpec("wide-rf2", "swishnet:swishnet_wide_rf2", MFCC, head="head.", takes_n_in=True),
    ModelSpec("snn", "snn:SNN", MFCC_DELTAS, head="out.", clip_rule="vote", takes_n_in=True),
    ModelSpec("gmm", "gmm:GMMClassifier", MFCC_DELTAS, clip_rule="vote"),
    ModelSpec("mobilenet", "mobilenet:MobileNetV1", LOGMEL, head="head.2."),
    ModelSpec("mobilenetv2", "mobilenet:MobileNetV2", LOGMEL, head="head.2."),
    ModelSpec("genre_cnn", "genre_cnn:GenreCNN"),
)}
# the architectures `sonotype train` offers, in registry order
TRAINABLE = tuple(name for name, s in SPECS.items() if s.features is not None)


def spec_of(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of architecture ``name`` (:class:`ValueError` when unknown)."""
    if name not in SPECS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def features_for(arch: str) -> FeatureParams:
    """The paper's input features for a model name."""
    if arch not in TRAINABLE:
        raise ValueError(f"unknown model {arch!r}; choose one of {sorted(TRAINABLE)}")
    return SPECS[arch].features
