"""Genre CNN of Choi, Fazekas & Sandler (2016) on log-compressed STFT magnitudes.

Input: STFT magnitude frames ``(batch, 257, 173)`` (or ``(batch, 1, 257, 173)``) as
:func:`sonotype.features.extract` gives them with the ``STFT`` preset (11,025 Hz,
n_fft = win = 512, hop 256, frames not centred). The model compresses them itself with
``log(1 + |X|)`` (``compress="log1p"``) and then standardises them with one fixed mean and
standard deviation (``in_mean``, ``in_std``: of ``log(1 + |X|)`` over the training clips,
measured by :func:`sonotype.experiments.genre.train_genre` and stored in the checkpoint's model
arguments). So a checkpoint's feature parameters are the plain STFT ones, and a
deconvolution, computed in the standardised domain, goes back to the log1p domain by a
multiplication with ``in_std`` (the mean is a constant offset, dropped like the biases).

``batchnorm=True`` puts a BatchNorm after every conv (before the ReLU); without it (the
paper's plain stack) the 5-layer net with dropout 0.5 on every layer barely moves in
the few hundred updates a CPU demo affords. Deconvolution folds each BatchNorm's scale
``gamma / sqrt(running_var + eps)`` into its conv's filters and drops its shift (like the
conv biases), see :mod:`sonotype.explain.deconv`.

173 non-centred frames need ``512 + 172 * 256 = 44,544`` samples (4.04 s), see
:data:`GENRE_CLIP_SAMPLES`; librosa's centred frames give 173 frames for exactly 4 s.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GENRE_SR = 11025
GENRE_N_FFT = 512
GENRE_HOP = 256
GENRE_FRAMES = 173
GENRE_CLIP_SAMPLES = GENRE_N_FFT + (GENRE_FRAMES - 1) * GENRE_HOP  # 44,544 samples = 4.04 s


class GenreCNN(nn.Module):
    """Five 3x3 conv layers of 64 maps, each ReLU + 2x2 max pooling, then two FC layers.

    Parameters
    ----------
    n_classes : int
        Genres (10 for GTZAN).
    n_bins, n_frames : int
        Input height (257 frequency bins) and width (173 frames); the FC layer size
        depends on them. The conv layers (and so deconvolution) work on any size.
    channels : int
        Feature maps per conv layer (64).
    n_layers : int
        Conv layers (5).
    kernel : int
        Square kernel size (3, "same" zero padding).
    pool : int
        Square max-pooling size and stride after each conv (2; 1 disables pooling,
        which the tests use to build a network whose deconvolution is the identity).
    dropout : float
        Dropout after every pooled conv layer and after the first FC layer (0.5).
    fc : int
        Units of the first (hidden) FC layer; the second has ``n_classes``.
    compress : {"log1p", "none"}
        Input compression applied inside the model: ``log(1 + |X|)`` or nothing.
    in_mean, in_std : float
        Fixed input standardisation after compression: ``(c - in_mean) / in_std``.
    batchnorm : bool
        BatchNorm after every conv (before ReLU and pooling).

    Attributes
    ----------
    convs : nn.ModuleList
        ``Conv2d`` layers ``convs[0] .. convs[n_layers - 1]`` (layer ``d`` is ``convs[d-1]``).
    bns : nn.ModuleList
        The matching ``BatchNorm2d`` layers, or ``nn.Identity`` without ``batchnorm``.
    clip_rule : str
        ``"mean"``: the clip decision is the softmax of :meth:`forward`.
    receptive_field : None
        No frame-wise output (one decision per clip); see :func:`receptive_fields`.
    config : dict
        Constructor keyword arguments.
    """

    clip_rule = "mean"
    receptive_field = None

    def __init__(self, n_classes: int = 10, n_bins: int = 257, n_frames: int = GENRE_FRAMES,
                 channels: int = 64, n_layers: int = 5, kernel: int = 3, pool: int = 2,
                 dropout: float = 0.5, fc: int = 256, compress: str = "log1p", in_mean: float = 0.0,
                 in_std: float = 1.0, batchnorm: bool = False):
        super().__init__()
        if compress not in ("log1p", "none"):
            raise ValueError(f"compress must be 'log1p' or 'none', got {compress!r}")
        if kernel % 2 == 0:
            raise ValueError("kernel must be odd ('same' padding)")
        if min(n_classes, n_bins, n_frames, channels, n_layers, kernel, pool, fc) < 1:
            raise ValueError("sizes must be >= 1")
        if not float(in_std) > 0:
            raise ValueError(f"in_std must be > 0, got {in_std}")
        self.config = {"n_classes": int(n_classes), "n_bins": int(n_bins), "n_frames": int(n_frames),
                       "channels": int(channels), "n_layers": int(n_layers), "kernel": int(kernel),
                       "pool": int(pool), "dropout": float(dropout), "fc": int(fc), "compress": compress,
                       "in_mean": float(in_mean), "in_std": float(in_std), "batchnorm": bool(batchnorm)}
        self.n_layers, self.pool, self.compress = int(n_layers), int(pool), compress
        self.in_mean, self.in_std, self.batchnorm = float(in_mean), float(in_std), bool(batchnorm)
        c_in = 1
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        h, w = int(n_bins), int(n_frames)
        for _ in range(n_layers):
            self.convs.append(nn.Conv2d(c_in, channels, kernel, padding=kernel // 2))
            self.bns.append(nn.BatchNorm2d(channels) if batchnorm else nn.Identity())
            c_in = channels
            h, w = h // pool, w // pool
        if h < 1 or w < 1:
            raise ValueError(f"input {n_bins}x{n_frames} is too small for {n_layers} poolings of {pool}")
        self.drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(channels * h * w, fc)
        self.fc2 = nn.Linear(fc, n_classes)
        for conv in self.convs:  # He initialisation: activations keep their scale through the ReLUs
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.fc2.weight, std=0.01)  # start at uniform class probabilities (loss ln K)
        nn.init.zeros_(self.fc2.bias)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        h = h.flatten(1)
        if h.shape[1] != self.fc1.in_features:
            c = self.config
            raise ValueError(f"the FC layers need {c['n_bins']} x {c['n_frames']} inputs (bins x frames); "
                             "the conv layers alone (forward_with_switches(x, upto=...)) take any size")
        return self.fc2(self.drop(F.relu(self.fc1(h))))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """STFT magnitude ``(B, F, T)`` or ``(B, 1, F, T)`` -> compressed, standardised ``(B, 1, F, T)``."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (batch, bins, frames) or (batch, 1, bins, frames), got {tuple(x.shape)}")
        c = torch.log1p(x.clamp_min(0)) if self.compress == "log1p" else x
        return (c - self.in_mean) / self.in_std

    def block(self, d: int, h: torch.Tensor) -> torch.Tensor:
        """Post-ReLU, pre-pool activation of conv layer ``d`` (1-based) for its input ``h``."""
        return F.relu(self.bns[d - 1](self.convs[d - 1](h)))

    def forward_with_switches(self, x: torch.Tensor, upto: int | None = None):
        """Forward pass keeping what deconvolution needs.

        Parameters
        ----------
        x : torch.Tensor
            STFT magnitude ``(B, F, T)`` or ``(B, 1, F, T)``.
        upto : int, optional
            Stop after conv layer ``upto`` (1-based) and return ``logits=None``.

        Returns
        -------
        logits : torch.Tensor or None
            ``(B, n_classes)`` (``None`` when ``upto`` is given).
        acts : list of torch.Tensor
            Per layer, the post-ReLU, pre-pool activations ``(B, C, H, W)``.
        switches : list of torch.Tensor
            Per layer, the max-pooling indices (as ``F.max_pool2d(..., return_indices=True)``).
        pooled : list of torch.Tensor
            Per layer, the pooled output (before dropout).
        """
        h = self.prepare(x)
        acts, switches, pooled = [], [], []
        n = self.n_layers if upto is None else int(upto)
        for d in range(1, n + 1):
            a = self.block(d, h)
            p, idx = F.max_pool2d(a, self.pool, self.pool, return_indices=True)
            acts.append(a)
            switches.append(idx)
            pooled.append(p)
            h = self.drop(p)
        if upto is not None:
            return None, acts, switches, pooled
        return self._head(h), acts, switches, pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits ``(B, n_classes)``."""
        h = self.prepare(x)
        for d in range(1, self.n_layers + 1):
            h = self.drop(F.max_pool2d(self.block(d, h), self.pool, self.pool))
        return self._head(h)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Clip logits repeated over the input frames, ``(B, n_classes, T)``."""
        logits = self.forward(x)
        return logits.unsqueeze(2).expand(-1, -1, x.shape[-1])


@torch.no_grad()
def recalibrate_batchnorm(model: GenreCNN, X, batch_size: int = 16) -> None:
    """Re-estimate every BatchNorm's running mean / variance on ``X`` with dropout off.

    Dropout 0.5 before each BatchNorm makes the batch statistics seen in training wider
    than the ones of the dropout-free network used for prediction (the "variance shift"),
    and a few dozen updates leave the running averages behind the moving weights; the
    eval-mode network then predicts near chance even when training works. One pass over
    the training clips in train mode with dropout disabled (cumulative averages) fixes both.
    A no-op without BatchNorm.
    """
    bns = [b for b in model.bns if isinstance(b, nn.BatchNorm2d)]
    if not bns or len(X) == 0:
        return
    was_training = model.training
    moms = [b.momentum for b in bns]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None
    model.train()
    model.drop.eval()
    for i in range(0, len(X), batch_size):
        xb = X[i:i + batch_size]
        h = model.prepare(torch.as_tensor(xb))
        for d in range(1, model.n_layers + 1):
            h = F.max_pool2d(model.block(d, h), model.pool, model.pool)
    for b, m in zip(bns, moms):
        b.momentum = m
    model.train(was_training)


def receptive_fields(config: dict | None = None, sr: int = GENRE_SR, n_fft: int = GENRE_N_FFT,
                     hop: int = GENRE_HOP) -> list:
    """Effective kernel size of every conv layer of a :class:`GenreCNN`, in input units.

    For each layer ``d`` two sizes are given: of a unit of the conv output (before the
    layer's pooling) and of a unit of the pooled output (what :func:`deconvolve` starts
    from). A size of ``r`` frames spans ``(r - 1) * hop + n_fft`` samples (the analysis
    window included) -> milliseconds; ``r`` bins span ``r * sr / n_fft`` Hz.

    Parameters
    ----------
    config : dict, optional
        ``GenreCNN.config`` (defaults: 5 layers, 3x3 kernels, 2x2 pooling).
    sr, n_fft, hop : int
        STFT parameters of the input.

    Returns
    -------
    list of dict
        Keys ``layer``, ``kernel``, ``jump`` (input frames between neighbouring units
        before pooling), ``conv_frames``, ``conv_bins``, ``conv_ms``, ``conv_hz``,
        ``pool_frames``, ``pool_bins``, ``pool_ms``, ``pool_hz``.
    """
    cfg = {"n_layers": 5, "kernel": 3, "pool": 2}
    cfg.update({k: v for k, v in (config or {}).items() if k in cfg})
    k, p = int(cfg["kernel"]), int(cfg["pool"])
    r, jump, rows = 1, 1, []

    def ms(f):
        return 1000.0 * ((f - 1) * hop + n_fft) / sr

    def hz(b):
        return b * sr / n_fft

    for d in range(1, int(cfg["n_layers"]) + 1):
        r_conv = r + (k - 1) * jump
        r_pool = r_conv + (p - 1) * jump
        rows.append({"layer": d, "kernel": f"{k}x{k}", "jump": jump,
                     "conv_frames": r_conv, "conv_bins": r_conv, "conv_ms": ms(r_conv), "conv_hz": hz(r_conv),
                     "pool_frames": r_pool, "pool_bins": r_pool, "pool_ms": ms(r_pool), "pool_hz": hz(r_pool)})
        r, jump = r_pool, jump * p
    return rows


def format_receptive_fields(rows: list) -> str:
    """Markdown table of :func:`receptive_fields` rows (what ``sonotype genre receptive-field`` prints)."""
    out = ["| layer | kernel | conv RF (frames x bins) | width (ms) | height (Hz) "
           "| pooled RF (frames x bins) | width (ms) | height (Hz) |",
           "|---:|:---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['layer']} | {r['kernel']} | {r['conv_frames']} x {r['conv_bins']} | {r['conv_ms']:.0f} "
                   f"| {r['conv_hz']:.0f} | {r['pool_frames']} x {r['pool_bins']} | {r['pool_ms']:.0f} "
                   f"| {r['pool_hz']:.0f} |")
    return "\n".join(out)
