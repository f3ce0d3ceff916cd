"""Model names -> constructors, so a checkpoint can store ``arch`` + ``kwargs``."""
from __future__ import annotations

from torch import nn

from .genre_cnn import GenreCNN
from .gmm import GMMClassifier
from .mobilenet import MobileNetV1, MobileNetV2
from .snn import SNN
from .swishnet import swishnet_slim, swishnet_wide

MODELS = {
    "slim": swishnet_slim,
    "wide": swishnet_wide,
    "snn": SNN,
    "gmm": GMMClassifier,
    "mobilenet": MobileNetV1,
    "mobilenetv2": MobileNetV2,
    "genre_cnn": GenreCNN,
}


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
