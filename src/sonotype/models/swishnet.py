"""SwishNet: a small causal 1D CNN on MFCC frames (Hussain & Haque, 2018).

The network runs at the full 10 ms frame rate: the strides of the paper are
replaced by dilations, so one pass over a whole recording gives one logit
vector per input frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Depthwise channel multiplier of the separable branch (see SwishNet docstring).
SEPARABLE_DEPTH_MULTIPLIER = 2


class CausalConv1d(nn.Module):
    """Conv1d that only looks at the past (left zero padding).

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_size : int
        Kernel length in frames.
    dilation : int, optional
        Dilation of the kernel.
    groups : int, optional
        Convolution groups (``in_channels`` for a depthwise conv).
    bias : bool, optional
        Whether the conv has a bias.

    Notes
    -----
    The output has the same length as the input; output frame ``t`` depends
    on input frames ``t - context .. t`` with ``context = (k - 1) * dilation``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 dilation: int = 1, groups: int = 1, bias: bool = True):
        super().__init__()
        self.context = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size,
                              dilation=dilation, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.context, 0)))


class SeparableCausalConv1d(nn.Module):
    """Causal depthwise conv followed by a pointwise (1x1) conv.

    Like Keras ``SeparableConv1D``: the depthwise conv has no bias, the
    pointwise conv has one.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    kernel_size : int
        Depthwise kernel length in frames.
    depth_multiplier : int, optional
        Depthwise output channels per input channel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 depth_multiplier: int = 1):
        super().__init__()
        mid = in_channels * depth_multiplier
        self.depthwise = CausalConv1d(in_channels, mid, kernel_size,
                                      groups=in_channels, bias=False)
        self.pointwise = nn.Conv1d(mid, out_channels, 1)
        self.context = self.depthwise.context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class GatedConv(nn.Module):
    """A conv with ``filters`` outputs followed by a gated activation.

    The conv output is split in two halves ``a`` and ``b``; the result is
    ``sigmoid(a) * tanh(b)`` with ``filters // 2`` channels (WaveNet gate).

    Parameters
    ----------
    in_channels : int
        Input channels.
    filters : int
        Conv outputs (even); the block returns ``filters // 2`` channels.
    kernel_size : int
        Kernel length in frames.
    dilation : int, optional
        Dilation (plain conv only).
    separable : bool, optional
        Use a depthwise-separable conv instead of a plain one.
    """

    def __init__(self, in_channels: int, filters: int, kernel_size: int,
                 dilation: int = 1, separable: bool = False):
        super().__init__()
        if filters % 2:
            raise ValueError(f"filters must be even, got {filters}")
        self.half = filters // 2
        if separable:
            self.conv = SeparableCausalConv1d(in_channels, filters, kernel_size,
                                              SEPARABLE_DEPTH_MULTIPLIER)
        else:
            self.conv = CausalConv1d(in_channels, filters, kernel_size, dilation)
        self.context = self.conv.context
        self.out_channels = self.half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return torch.sigmoid(h[:, :self.half]) * torch.tanh(h[:, self.half:])


class TwoBranchBlock(nn.Module):
    """Blocks 1-3: gated causal conv k=3 and gated separable conv k=6, concatenated.

    Parameters
    ----------
    in_channels : int
        Input channels.
    filters : int
        Filters of each branch; the block returns ``filters`` channels
        (``filters // 2`` per branch).
    """

    def __init__(self, in_channels: int, filters: int):
        super().__init__()
        self.plain = GatedConv(in_channels, filters, 3)
        self.separable = GatedConv(in_channels, filters, 6, separable=True)
        self.context = max(self.plain.context, self.separable.context)
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.plain(x), self.separable(x)], dim=1)


class SwishNet(nn.Module):
    """SwishNet-slim (``width=1``) and SwishNet-wide (``width=2``).

    Input: MFCC frames ``(batch, n_in, time)``, float32, 10 ms hop.
    Output of :meth:`frame_logits`: ``(batch, n_classes, time)``, one logit
    vector per input frame; :meth:`forward` gives clip logits
    ``(batch, n_classes)``, the time-mean of the frame logits.

    Parameters
    ----------
    n_in : int, optional
        Input channels (20 MFCCs).
    n_classes : int, optional
        Number of classes (speech, music, noise).
    width : int, optional
        Width multiplier: 1 for slim, 2 for wide (every filter count doubled).
    dilation : int, optional
        Multiplier of the dilations of blocks 4-8 (2: ``wide-rf2``, a receptive field of 199
        frames instead of 107, same parameters).

    Attributes
    ----------
    clip_rule : str
        ``"mean"``: the clip decision is the softmax of :meth:`forward`.
    receptive_field : int
        Past frames the output at frame ``t`` depends on (107 frames, i.e.
        frames ``t - 107 .. t``).
    config : dict
        Constructor keyword arguments (JSON-serialisable).

    Notes
    -----
    Layout follows Fig. 1 of the paper: blocks 1-3 are two parallel gated
    branches (causal conv k=3, causal depthwise-separable conv k=6) with
    16/16, 8/8, 8/8 filters, concatenated, block 3 with a residual from
    block 2; blocks 4-6 are gated causal convs k=3 with 16 filters and a
    residual each; block 7 (16 filters) and block 8 (32 filters) are gated
    convs without residual; the head concatenates the gated outputs of
    blocks 5, 6, 7, 8 and applies a 1x1 conv to ``n_classes``. "Filters=16"
    means 16 conv outputs, halved to 8 channels by the gate.

    Differences from the figure:

    * **Dilations instead of strides.** Blocks 4-8 have strides 3, 2, 2, 2, 2
      in the paper; here all strides are 1 and the dilations are the product
      of the earlier strides: 1, 3, 6, 12, 24. Every layer keeps the 10 ms
      frame rate, the head inputs stay time-aligned, any input length works,
      and a whole recording is segmented in one causal pass.
    * **Global average pooling of the logits** (as in public ports) turns
      frame logits into clip logits instead of a softmax over time.
    * **Separable branch.** The paper does not say how its separable conv is
      built. Variants and their sizes (slim / wide, paper 5,483 / 18,267):
      one separable conv, depth multiplier 1: 4,899 / 15,819;
      one separable conv per gate half (Keras-port style): 5,163 / 16,227;
      one separable conv, depth multiplier 2: **5,675 / 17,635**
      (+3.5 % / -3.5 %). The last is used: the depthwise conv has
      ``2 * in_channels`` outputs and no bias, the pointwise conv a bias.

    Parameter counts with ``n_in=20, n_classes=3``: slim 5,675, wide 17,635.

    The model is TorchScript/ONNX friendly: only ``F.pad`` + ``Conv1d``,
    slicing, ``cat`` and elementwise ops, no data-dependent control flow.
    """

    clip_rule = "mean"

    def __init__(self, n_in: int = 20, n_classes: int = 3, width: int = 1, dilation: int = 1):
        super().__init__()
        n_in, n_classes, width, dilation = int(n_in), int(n_classes), int(width), int(dilation)
        if n_in < 1 or n_classes < 1 or width < 1 or dilation < 1:
            raise ValueError("n_in, n_classes, width and dilation must be >= 1")
        self.config = {"n_in": n_in, "n_classes": n_classes, "width": width}
        if dilation != 1:  # absent at 1, so the configs (and digests) of earlier checkpoints are unchanged
            self.config["dilation"] = dilation
        w, d = width, dilation
        self.block1 = TwoBranchBlock(n_in, 16 * w)
        self.block2 = TwoBranchBlock(16 * w, 8 * w)
        self.block3 = TwoBranchBlock(8 * w, 8 * w)
        self.block4 = GatedConv(8 * w, 16 * w, 3, dilation=1 * d)
        self.block5 = GatedConv(8 * w, 16 * w, 3, dilation=3 * d)
        self.block6 = GatedConv(8 * w, 16 * w, 3, dilation=6 * d)
        self.block7 = GatedConv(8 * w, 16 * w, 3, dilation=12 * d)
        self.block8 = GatedConv(8 * w, 32 * w, 3, dilation=24 * d)
        head_in = 3 * (8 * w) + 16 * w
        self.head = nn.Conv1d(head_in, n_classes, 1)
        # Longest causal path: block 1 -> ... -> block 8 (block 8 follows block 7).
        blocks = [self.block1, self.block2, self.block3, self.block4,
                  self.block5, self.block6, self.block7, self.block8]
        self.receptive_field = int(sum(b.context for b in blocks))

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame class logits.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, n_in, time)`` features.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes, time)`` logits; frame ``t`` depends only on
            input frames ``<= t``.
        """
        h = self.block1(x)
        h2 = self.block2(h)
        h = h2 + self.block3(h2)
        h = h + self.block4(h)
        g5 = self.block5(h)
        h = h + g5
        g6 = self.block6(h)
        h = h + g6
        g7 = self.block7(h)
        g8 = self.block8(g7)
        return self.head(torch.cat([g5, g6, g7, g8], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits ``(batch, n_classes)``: time-mean of :meth:`frame_logits`."""
        return self.frame_logits(x).mean(dim=2)


def swishnet_slim(**kwargs) -> SwishNet:
    """SwishNet-slim (``width=1`` unless given)."""
    kwargs.setdefault("width", 1)
    return SwishNet(**kwargs)


def swishnet_wide(**kwargs) -> SwishNet:
    """SwishNet-wide (``width=2`` unless given)."""
    kwargs.setdefault("width", 2)
    return SwishNet(**kwargs)


def swishnet_wide_rf2(**kwargs) -> SwishNet:
    """SwishNet-wide with its dilations doubled (``width=2, dilation=2`` unless given)."""
    kwargs.setdefault("width", 2)
    kwargs.setdefault("dilation", 2)
    return SwishNet(**kwargs)
