"""MobileNet teachers on log-mel frames (v1 as in the paper, v2 torchvision layout).

Both take ``(batch, n_mels, time)`` log-mel features, view them as a
one-channel image (mel = height, time = width) copied to 3 channels, run
the conv layers, global-average-pool, then Dense(16, ReLU) and Dense(K).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

# Keras MobileNet v1 depthwise-separable blocks: (filters at alpha=1, stride).
V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

# torchvision MobileNetV2 settings: expand ratio t, channels c, repeats n, stride s.
V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, not below 90 % of it (torchvision rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + ReLU6; keys ``0.weight``, ``1.*``.

    Same layout as torchvision's ``Conv2dNormActivation``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride, (kernel_size - 1) // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = c_out


def _to_image(x: torch.Tensor) -> torch.Tensor:
    """(B, n_mels, T) -> (B, 3, n_mels, T), the same map in all 3 channels."""
    return x.unsqueeze(1).expand(-1, 3, -1, -1)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


class _ClipModel(nn.Module):
    """Shared head and frame/clip interface of the MobileNets."""

    clip_rule = "mean"
    receptive_field = None  # no frame notion: one decision per clip

    def _build_head(self, n_features: int, dense: int, n_classes: int) -> None:
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(n_features, dense), nn.ReLU(inplace=True),
                                  nn.Linear(dense, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, n_mels, time)`` log-mel features.

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)`` logits.
        """
        h = self.pool(self.features(_to_image(x))).flatten(1)
        return self.head(h)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits repeated over the input frames, ``(batch, n_classes, time)``.

        The MobileNets see the whole clip at once, so every frame of a clip
        gets the clip's logits; segmentation slides clips over a recording.
        """
        logits = self.forward(x)
        return logits.unsqueeze(2).expand(-1, -1, x.shape[2])


class MobileNetV1(_ClipModel):
    """Keras-style MobileNet v1 conv layers + GAP + Dense(16, ReLU) + Dense(K).

    Parameters
    ----------
    n_classes : int, optional
        Number of classes.
    alpha : float, optional
        Width multiplier (0.25 in the paper).
    n_mels : int, optional
        Mel bands of the input (64); kept in ``config``, any height works.
    dense : int, optional
        Units of the hidden dense layer.

    Attributes
    ----------
    features : nn.Sequential
        ``features.0``: 3x3 stride-2 conv, ``features.1..13``: depthwise
        separable blocks (``dw``, ``pw``), each conv followed by BatchNorm
        and ReLU6. At ``alpha=0.25`` the channels are 8, then
        16, 32, 32, 64, 64, 128 x 6, 256, 256.
    channels : list of int
        Output channels of ``features.0 .. features.13``.

    Notes
    -----
    Parameters at ``alpha=0.25``, 3 classes: 217,235, the paper's figure
    exactly (BatchNorm scales and shifts included, running statistics not;
    with those, ``count_parameters(..., keras_style=True)``, 222,707).
    Strided convs pad symmetrically (PyTorch style), Keras pads
    bottom/right only.
    """

    def __init__(self, n_classes: int = 3, alpha: float = 0.25, n_mels: int = 64,
                 dense: int = 16):
        super().__init__()
        n_classes, alpha, n_mels, dense = int(n_classes), float(alpha), int(n_mels), int(dense)
        if alpha <= 0 or min(n_classes, n_mels, dense) < 1:
            raise ValueError("alpha must be > 0 and n_classes, n_mels, dense >= 1")
        self.config = {"n_classes": n_classes, "alpha": alpha, "n_mels": n_mels,
                       "dense": dense}
        c = int(32 * alpha)
        layers = [ConvBNReLU(3, c, 3, stride=2)]
        self.channels = [c]
        for filters, stride in V1_BLOCKS:
            out = int(filters * alpha)
            layers.append(nn.Sequential(OrderedDict(
                dw=ConvBNReLU(c, c, 3, stride=stride, groups=c),
                pw=ConvBNReLU(c, out, 1))))
            self.channels.append(out)
            c = out
        self.features = nn.Sequential(*layers)
        self._build_head(c, dense, n_classes)
        _init_weights(self)


class InvertedResidual(nn.Module):
    """torchvision-layout MobileNetV2 block (``conv`` Sequential, optional skip)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(c_in * expand_ratio))
        self.use_res_connect = stride == 1 and c_in == c_out
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(c_in, hidden, 1))
        layers += [ConvBNReLU(hidden, hidden, 3, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False),
                   nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(_ClipModel):
    """MobileNetV2 conv layers (torchvision layout) + GAP + Dense(16, ReLU) + Dense(K).

    ``features`` has the same module names, keys and shapes as
    ``torchvision.models.mobilenet_v2(width_mult=width).features``, so the
    ImageNet file ``mobilenet_v2-b0353104.pth`` loads strictly into it
    (see :func:`sonotype.models.load_imagenet`).

    Parameters
    ----------
    n_classes : int, optional
        Number of classes.
    width : float, optional
        Width multiplier (1.0 for the ImageNet weights).
    dense : int, optional
        Units of the hidden dense layer.

    Notes
    -----
    Trainable parameters at ``width=1.0``, 3 classes: 2,244,419
    (2,223,872 in ``features``).
    """

    def __init__(self, n_classes: int = 3, width: float = 1.0, dense: int = 16):
        super().__init__()
        n_classes, width, dense = int(n_classes), float(width), int(dense)
        if width <= 0 or min(n_classes, dense) < 1:
            raise ValueError("width must be > 0 and n_classes, dense >= 1")
        self.config = {"n_classes": n_classes, "width": width, "dense": dense}
        c = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers = [ConvBNReLU(3, c, 3, stride=2)]
        for t, channels, n, s in V2_SETTINGS:
            out = make_divisible(channels * width)
            for i in range(n):
                layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                c = out
        layers.append(ConvBNReLU(c, last, 1))
        self.features = nn.Sequential(*layers)
        self._build_head(last, dense, n_classes)
        _init_weights(self)
