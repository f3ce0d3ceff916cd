"""Building models by name (torch / sklearn); the facts per architecture are in :mod:`.specs`.

A checkpoint stores ``arch`` + ``kwargs``; :func:`build_model` rebuilds the model from them.
"""
from __future__ import annotations

from torch import nn

from .gmm import GMMClassifier
from .specs import SPECS, TRAINABLE, ModelSpec, features_for, spec_of  # noqa: F401 (re-exported)

MODELS = {name: s.builder for name, s in SPECS.items()}


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
