"""Deconvolution (Zeiler & Fergus 2014, as used by Choi et al. 2015-16) and a saliency fallback.

:func:`deconvolve` projects one feature map of one layer back to the input:

1. forward to layer ``d`` recording every max-pooling switch;
2. keep only feature map ``k`` of layer ``d``'s output and zero the others. The starting
   point is the layer's **post-ReLU, post-pool** output (the map the next layer reads),
   so the deconvolved region is the pooled receptive field of
   :func:`sonotype.models.genre_cnn.receptive_fields`;
3. going down, for each layer: unpool with the recorded switches (``F.max_unpool2d``:
   every value goes back to the position its max came from, the rest is 0), ReLU,
   then the transposed conv with the layer's own filters (``F.conv_transpose2d`` with the
   same weights = the filters flipped and channel-transposed); biases are not used;
4. the result has the shape of the model's input.

For a :class:`~sonotype.models.GenreCNN` the result lives in the model's compressed
input domain, ``log(1 + |X|)`` over ``(bins, frames)``: the network sees the standardised
``(log(1 + |X|) - in_mean) / in_std``, so the projection, made in that domain, is
multiplied by ``in_std`` (the mean is a constant offset that, like the biases, the linear
way down drops). With ``batchnorm=True`` each BatchNorm (eval statistics) is folded into
its conv: the filters are scaled by ``gamma / sqrt(running_var + eps)`` and the shift is
dropped, exactly as for MobileNet below.

MobileNet v1 (``features.0 .. features.13``, layer ``d`` = ``features[d - 1]``, a
depthwise block counting as one layer) has no pooling: the strided convs go back with
``conv_transpose2d(stride=2)``, the depthwise ones with ``groups``, each BatchNorm's scale
``gamma / sqrt(var + eps)`` is folded into its conv's filters (its shift, like biases, is
dropped), ReLU6 goes back as ReLU, and the 3 identical input channels are summed. The map
is over the log-mel input ``(n_mels, frames)``. MobileNetV2 (residual blocks) is not supported.

SwishNet's gated activations ``sigmoid(a) * tanh(b)`` have no deconvolution counterpart
(no switch, the gate multiplies two conv paths), so :func:`swishnet_saliency` gives a
gradient x input map of a block's gated output over the MFCC frames instead.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.genre_cnn import GenreCNN
from ..models.mobilenet import ConvBNReLU, MobileNetV1, MobileNetV2, _to_image
from ..models.swishnet import SwishNet


class DeconvError(ValueError):
    """A model, layer or feature that cannot be deconvolved."""


def _as_batch(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    return x.unsqueeze(0) if x.ndim == 2 else x


def n_layers(model) -> int:
    """Number of layers :func:`deconvolve` accepts for ``model`` (1-based layer numbers)."""
    if isinstance(model, GenreCNN):
        return model.n_layers
    if isinstance(model, MobileNetV1):
        return len(model.features)
    if isinstance(model, SwishNet):
        return 8
    raise DeconvError(f"deconvolution supports GenreCNN, MobileNetV1 and SwishNet, not {type(model).__name__}")


def n_features(model, layer: int) -> int:
    """Feature maps of ``layer``."""
    _check_layer(model, layer)
    if isinstance(model, GenreCNN):
        return model.convs[layer - 1].out_channels
    if isinstance(model, MobileNetV1):
        return model.channels[layer - 1]
    return getattr(model, f"block{layer}").out_channels


def _check_layer(model, layer: int) -> None:
    if isinstance(model, MobileNetV2):
        raise DeconvError("MobileNetV2 (residual blocks) is not supported by deconvolution")
    n = n_layers(model)
    if not 1 <= int(layer) <= n:
        raise DeconvError(f"layer must be 1..{n} for {type(model).__name__}, got {layer}")


# ----------------------------------------------------------------------------- forward records
def _bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    return (bn.weight if bn.affine else 1.0) / torch.sqrt(bn.running_var + bn.eps)


def _conv_op(conv: nn.Conv2d, x_shape, scale=None) -> tuple:
    w = conv.weight if scale is None else conv.weight * scale.view(-1, 1, 1, 1)
    return ("conv", w, conv.stride, conv.padding, conv.groups, tuple(x_shape[-2:]))


def _forward_record(model, x: torch.Tensor, layer: int):
    """Run to ``layer`` and return (output of that layer, list of ops to undo, input shape)."""
    ops = []
    if isinstance(model, GenreCNN):
        h = model.prepare(x)
        in_shape = h.shape
        for d in range(1, layer + 1):
            conv, bn = model.convs[d - 1], model.bns[d - 1]
            ops.append(_conv_op(conv, h.shape, _bn_scale(bn) if isinstance(bn, nn.BatchNorm2d) else None))
            a = model.block(d, h)
            ops.append(("relu",))
            h, idx = F.max_pool2d(a, model.pool, model.pool, return_indices=True)
            ops.append(("pool", idx, model.pool, tuple(a.shape[-2:])))
        return h, ops, in_shape, "genre"
    if isinstance(model, MobileNetV1):
        if x.ndim != 3:
            raise DeconvError(f"MobileNet input must be (batch, n_mels, frames), got {tuple(x.shape)}")
        h = _to_image(x)
        in_shape = h.shape
        for block in model.features[:layer]:
            units = [block] if isinstance(block, ConvBNReLU) else [block.dw, block.pw]
            for u in units:
                conv, bn = u[0], u[1]
                ops.append(_conv_op(conv, h.shape, _bn_scale(bn)))
                h = u(h)
                ops.append(("relu",))
        return h, ops, in_shape, "mobilenet"
    raise DeconvError(f"deconvolution supports GenreCNN and MobileNetV1, not {type(model).__name__}"
                      " (use swishnet_saliency for SwishNet)")


def _undo(h: torch.Tensor, ops: list) -> torch.Tensor:
    for op in reversed(ops):
        if op[0] == "pool":
            _, idx, k, size = op
            h = F.max_unpool2d(h, idx, k, k, output_size=size)
        elif op[0] == "relu":
            h = F.relu(h)
        else:
            _, w, stride, padding, groups, in_size = op
            out = [(h.shape[-2 + i] - 1) * stride[i] - 2 * padding[i] + w.shape[-2 + i] for i in range(2)]
            extra = tuple(in_size[i] - out[i] for i in range(2))
            h = F.conv_transpose2d(h, w, stride=stride, padding=padding, groups=groups, output_padding=extra)
    return h


# ----------------------------------------------------------------------------- public API
@torch.no_grad()
def layer_output(model, x, layer: int) -> torch.Tensor:
    """Post-ReLU (post-pool for GenreCNN) output of ``layer`` for input ``x``, ``(B, C, H, W)``."""
    model.eval()
    _check_layer(model, layer)
    if isinstance(model, SwishNet):
        return _swish_block_output(model, _as_batch(x), layer)
    h, _, _, _ = _forward_record(model, _as_batch(x), int(layer))
    return h


@torch.no_grad()
def top_features(model, x, layer: int, k: int = 8) -> list:
    """Indices of the ``k`` feature maps of ``layer`` most active on input ``x``.

    "Active" is the mean of the layer's output map (post-ReLU, post-pool) over positions
    and over the batch; the indices are sorted from most to least active.
    """
    h = layer_output(model, x, layer)
    dims = [d for d in range(h.ndim) if d != 1]
    score = h.mean(dim=dims)
    k = max(1, min(int(k), score.numel()))
    return [int(i) for i in torch.argsort(score, descending=True)[:k]]


@torch.no_grad()
def deconvolve(model, x, layer: int, feature: int) -> torch.Tensor:
    """Project feature map ``feature`` of ``layer`` back to the input (see module docstring).

    Parameters
    ----------
    model : GenreCNN or MobileNetV1
        Torch model (put in eval mode here).
    x : array or torch.Tensor
        Input features: STFT magnitude ``(B, 257, T)`` for a GenreCNN (any ``T``: only the
        conv layers are used), log-mel ``(B, n_mels, T)`` for a MobileNet; a 2-D array is
        one item.
    layer : int
        1-based layer number.
    feature : int
        0-based feature map index of that layer.

    Returns
    -------
    torch.Tensor
        ``(B, F, T)``, the input's shape. For a GenreCNN the map is in the log1p domain.
    """
    model.eval()
    x = _as_batch(x)
    _check_layer(model, layer)
    if isinstance(model, SwishNet):
        return swishnet_saliency(model, x, layer, feature)
    h, ops, in_shape, kind = _forward_record(model, x, int(layer))
    if not 0 <= int(feature) < h.shape[1]:
        raise DeconvError(f"feature must be 0..{h.shape[1] - 1} at layer {layer}, got {feature}")
    keep = torch.zeros_like(h)
    keep[:, int(feature)] = h[:, int(feature)]
    r = _undo(keep, ops)
    if tuple(r.shape) != tuple(in_shape):  # pragma: no cover - guarded by output_padding
        raise DeconvError(f"deconvolution gave {tuple(r.shape)}, expected {tuple(in_shape)}")
    return r.sum(1) if kind == "mobilenet" else r[:, 0] * model.in_std


# ----------------------------------------------------------------------------- SwishNet
def _swish_block_output(model: SwishNet, x: torch.Tensor, block: int) -> torch.Tensor:
    """Gated output of ``model.block<block>`` (hooked), ``(B, C, T)``."""
    got = {}
    handle = getattr(model, f"block{block}").register_forward_hook(lambda m, i, o: got.setdefault("o", o))
    try:
        model.frame_logits(x)
    finally:
        handle.remove()
    return got["o"]


def swishnet_saliency(model: SwishNet, x, block: int, feature: int) -> torch.Tensor:
    """Gradient x input of one gated channel of a SwishNet block, over the MFCC frames.

    The objective is the time-sum of channel ``feature`` of ``block<block>``'s gated output
    (blocks 1-3: the two branches' channels concatenated, plain first). Its gradient with
    respect to the MFCC input, times the input, says how much each coefficient of each
    frame adds to that channel; causality means frame ``t`` only gets credit from outputs
    at frames ``>= t``. This is a saliency map, not an exact deconvolution: the gates
    ``sigmoid(a) * tanh(b)`` have no switch to invert.

    Returns
    -------
    torch.Tensor
        ``(B, n_in, T)`` (signed).
    """
    model.eval()
    x = _as_batch(x).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = _swish_block_output(model, x, int(block))
        if not 0 <= int(feature) < out.shape[1]:
            raise DeconvError(f"feature must be 0..{out.shape[1] - 1} at block {block}, got {feature}")
        (g,) = torch.autograd.grad(out[:, int(feature)].sum(), x)
    return (g * x).detach()
