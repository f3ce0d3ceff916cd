"""One :class:`ModelSpec` per architecture: everything else reads its facts from here.

A checkpoint stores ``arch`` + ``kwargs``; :func:`build_model` rebuilds the model from them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..features import LOGMEL, MFCC, MFCC_DELTAS, FeatureParams

from .genre_cnn import GenreCNN
from .gmm import GMMClassifier
from .mobilenet import MobileNetV1, MobileNetV2
from .snn import SNN
from .swishnet import swishnet_slim, swishnet_wide



@dataclass(frozen=True)
class ModelSpec:
    """The facts of one architecture.

    Attributes
    ----------
    name : str
        Registry name, stored in checkpoints as ``arch``.
    builder : callable
        Constructor taking the checkpoint's ``kwargs``.
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
    builder: Callable
    features: FeatureParams | None = None
    head: str | None = None
    clip_rule: str = "mean"
    takes_n_in: bool = False

    @property
    def clip_logits(self) -> bool:
        """Whether the model gives clip logits (so it can learn from a teacher's soft targets)."""
        return self.clip_rule == "mean"


SPECS = {s.name: s for s in (
    ModelSpec("slim", swishnet_slim, MFCC, head="head.", takes_n_in=True),
    ModelSpec("wide", swishnet_wide, MFCC, head="head.", takes_n_in=True),
    ModelSpec("snn", SNN, MFCC_DELTAS, head="out.", clip_rule="vote", takes_n_in=True),
    ModelSpec("gmm", GMMClassifier, MFCC_DELTAS, clip_rule="vote"),
    ModelSpec("mobilenet", MobileNetV1, LOGMEL, head="head.2."),
    ModelSpec("mobilenetv2", MobileNetV2, LOGMEL, head="head.2."),
    ModelSpec("genre_cnn", GenreCNN),
)}
MODELS = {name: s.builder for name, s in SPECS.items()}
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


def build_model(name: str, **kwargs):
    """Build a model by registry name.

    Parameters
    ----------
    name : str
        One of ``MODELS``: "slim", "wide", "snn", "gmm", "mobilenet",
        "mobilenetv2".
    **kwargs
        Constructor keyword arguments (JSON-serialisable).

    Returns
    -------
    nn.Module or GMMClassifier
        The new, untrained model.

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def count_parameters(model, keras_style: bool = False) -> int:
    """Number of parameters of a model.

    Parameters
    ----------
    model : nn.Module or GMMClassifier
        A torch model, or a fitted GMM (its ``n_parameters``).
    keras_style : bool, optional
        Also count BatchNorm running means and variances, as Keras's
        ``model.count_params()`` does (the papers' figures).

    Returns
    -------
    int
    """
    if isinstance(model, GMMClassifier):
        return model.n_parameters
    total = sum(p.numel() for p in model.parameters())
    if keras_style:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                total += m.running_mean.numel() + m.running_var.numel()
    return int(total)
