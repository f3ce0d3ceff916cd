"""Keras ImageNet MobileNet (v1) weights → :class:`~sonotype.models.MobileNetV1` state dict.

The paper's teacher is Keras's ``MobileNet(alpha=0.25)``. Its ImageNet file,
``mobilenet_2_5_224_tf_no_top.h5`` (also ``_128_``, ``_160_``, ``_192_``: same weights
shapes), is what ``keras.applications.MobileNet(alpha=0.25, include_top=False,
weights="imagenet")`` saves under ``~/.keras/models/``; it is published in the
``keras-applications/mobilenet/`` folder of Google's TensorFlow storage bucket. Both
Keras 2 files (``save_weights`` HDF5: one group per layer, datasets ``kernel:0``,
``gamma:0``…) and Keras 3 ``.weights.h5`` files (``layers/<name>/vars/<k>``) are read,
with h5py (optional extra ``sonotype[keras]``).

Layer names map as ``conv1`` / ``conv1_bn`` → ``features.0``, ``conv_dw_i`` / ``conv_dw_i_bn``
→ ``features.i.dw``, ``conv_pw_i`` / ``conv_pw_i_bn`` → ``features.i.pw`` (i = 1..13); conv
kernels are transposed from ``(h, w, in, out)`` to ``(out, in, h, w)``. Two differences remain
and only matter before fine-tuning: Keras BatchNorm uses ε = 1e-3 (ours 1e-5), and Keras pads
strided convs bottom/right only.
"""
from __future__ import annotations

import numpy as np
import torch

BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
BN_ORDER = ["gamma", "beta", "moving_mean", "moving_variance"]  # Keras 3 vars/0..3
N_BLOCKS = 13


def is_keras_file(path) -> bool:
    """True for an HDF5 file (by its signature), whatever its suffix."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def _read_layers(path) -> dict:
    """``{layer name: {weight name: array}}`` from a Keras 2 or Keras 3 weights file."""
    try:
        import h5py
    except ImportError:
        raise ValueError("reading Keras .h5 weights needs h5py: pip install 'sonotype[keras]'") from None
    layers: dict = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layers" in root and "vars" not in root:  # Keras 3: layers/<name>/vars/<k>
            for name, group in root["layers"].items():
                if "vars" in group and len(group["vars"]):
                    arrays = [np.asarray(group["vars"][k]) for k in sorted(group["vars"], key=int)]
                    names = BN_ORDER if name.endswith("_bn") else ["depthwise_kernel" if "_dw_" in name
                                                                    else "kernel"]
                    layers[name] = dict(zip(names, arrays))
            return layers

        def visit(key, obj):
            if isinstance(obj, h5py.Dataset):
                parts = key.split("/")
                layers.setdefault(parts[0], {})[parts[-1].split(":")[0]] = np.asarray(obj)
        root.visititems(visit)
    return layers


def _conv(w: np.ndarray, depthwise: bool) -> torch.Tensor:
    # (h, w, in, out) -> (out, in, h, w); depthwise (h, w, c, 1) -> (c, 1, h, w)
    return torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1) if depthwise else w.transpose(3, 2, 0, 1)))


def keras_mobilenet_state(path) -> dict:
    """State dict of ``MobileNetV1.features`` (keys ``features.*``) from a Keras MobileNet file.

    Raises
    ------
    ValueError
        Not readable as HDF5, or a layer or weight of MobileNet v1 is missing (named).
    """
    try:
        layers = _read_layers(path)
    except (OSError, KeyError) as err:
        raise ValueError(f"cannot read Keras weights: {str(err).splitlines()[0][:200]}") from None
    state = {}

    def take(layer, weight):
        if layer not in layers or weight not in layers[layer]:
            raise ValueError(f"Keras layer '{layer}' has no weight '{weight}': not a Keras MobileNet (v1) file "
                             f"(layers found: {', '.join(sorted(layers)[:6]) or 'none'}…)")
        return layers[layer][weight]

    def put(prefix, conv, bn, depthwise=False):
        state[f"{prefix}.0.weight"] = _conv(take(conv, "depthwise_kernel" if depthwise else "kernel"), depthwise)
        for k, ours in BN.items():
            state[f"{prefix}.1.{ours}"] = torch.from_numpy(np.ascontiguousarray(take(bn, k)).astype(np.float32))
        state[f"{prefix}.1.num_batches_tracked"] = torch.tensor(0)

    put("features.0", "conv1", "conv1_bn")
    for i in range(1, N_BLOCKS + 1):
        put(f"features.{i}.dw", f"conv_dw_{i}", f"conv_dw_{i}_bn", depthwise=True)
        put(f"features.{i}.pw", f"conv_pw_{i}", f"conv_pw_{i}_bn")
    return state
