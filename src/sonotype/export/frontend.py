"""The feature front end as a torch module, for raw-audio ONNX graphs (training extra: torch, librosa).

:class:`FrontEnd` computes, from 16 kHz float32 samples, exactly what
:func:`sonotype.features.extract` (static features) and :func:`sonotype.features.add_deltas`
compute, with fixed weights so that it exports to plain ONNX (Conv, MatMul, Log, Gather, Pad):

- framing, window and DFT: one strided ``conv1d`` whose kernels are the window times cos and
  sin of each bin (only the window's non-zero samples), power = re² + im²;
- mel: a matmul with librosa's filter bank; dB: ``10 log10(max(M, 1e-10))``;
- MFCC: a matmul with the orthonormal DCT-II (MFCC models);
- frame selection: ``frame_index`` picks and orders frames (clips shorter than the model's
  clip are looped; the end of a stream is held at its last frame), then Δ / ΔΔ: librosa's
  9-frame Savitzky-Golay filters with the edge frame repeated ('nearest').

Frames are not centred: frame ``t`` covers samples ``[t * hop, t * hop + n_fft)``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..features.params import FeatureParams

DELTA_WIDTH = 9  # librosa.feature.delta's default, as sonotype.features.add_deltas uses


def dft_kernels(params: FeatureParams) -> tuple:
    """Window × cos / sin kernels of the non-zero part of the window.

    Returns
    -------
    weight : numpy.ndarray
        ``(2 * n_bins, 1, span)`` float32: rows ``0 .. n_bins - 1`` real part, then imaginary.
    offset : int
        First non-zero sample of the window inside the ``n_fft`` frame.
    """
    import librosa

    n_fft, n_bins = params.n_fft, params.n_fft // 2 + 1
    w = librosa.util.pad_center(librosa.filters.get_window("hann", params.win_length, fftbins=True), size=n_fft)
    nz = np.flatnonzero(w)
    a, b = int(nz[0]), int(nz[-1]) + 1
    n = np.arange(a, b)[None, :]
    k = np.arange(n_bins)[:, None]
    phase = 2 * np.pi * ((k * n) % n_fft) / n_fft  # exact phase before the trigonometry
    weight = np.concatenate([np.cos(phase), -np.sin(phase)]) * w[a:b][None, :]
    return weight[:, None, :].astype(np.float32), a


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II rows ``(n_mfcc, n_mels)`` (``scipy.fft.dct(..., norm="ortho")``)."""
    import scipy.fft

    return scipy.fft.dct(np.eye(n_mels), axis=0, type=2, norm="ortho")[:n_mfcc].astype(np.float32)


def delta_kernels(order: int) -> np.ndarray:
    """``(order, DELTA_WIDTH)`` Savitzky-Golay kernels of ``librosa.feature.delta`` for orders 1..order."""
    import scipy.signal

    rows = [scipy.signal.savgol_coeffs(DELTA_WIDTH, polyorder=o, deriv=o, use="dot") for o in range(1, order + 1)]
    return np.asarray(rows, np.float32).reshape(order, DELTA_WIDTH)


class FrontEnd(nn.Module):
    """Samples ``(batch, n)`` → features ``(batch, channels, len(frame_index))``, as sonotype.features.

    Parameters
    ----------
    params : FeatureParams
        ``kind`` "mfcc" or "logmel" (the STFT feature of the genre CNN is not supported).
    """

    def __init__(self, params: FeatureParams):
        super().__init__()
        import librosa

        if params.kind not in ("mfcc", "logmel"):
            raise ValueError(f"no raw-audio front end for {params.kind!r} features (mfcc and logmel only)")
        self.params = params
        weight, self.offset = dft_kernels(params)
        self.span = weight.shape[2]
        self.n_bins = params.n_fft // 2 + 1
        self.register_buffer("dft", torch.from_numpy(weight))
        mel = librosa.filters.mel(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels).astype(np.float32)
        self.register_buffer("mel", torch.from_numpy(mel))
        dct = dct_matrix(params.n_mels, params.n_mfcc) if params.kind == "mfcc" else np.zeros((0, 0), np.float32)
        self.register_buffer("dct", torch.from_numpy(dct))
        order = params.deltas if params.kind == "mfcc" else 0
        self.register_buffer("deltas", torch.from_numpy(delta_kernels(order)) if order else torch.zeros(0, 0))

    def static(self, samples: torch.Tensor) -> torch.Tensor:
        """Static features ``(batch, n_mfcc or n_mels, frames)`` of samples ``(batch, n)``."""
        p = self.params
        tail = p.n_fft - self.offset - self.span  # zero-weight samples at the end of each frame
        x = samples[:, None, self.offset:samples.shape[1] - tail]
        spec = F.conv1d(x, self.dft, stride=p.hop_length)
        re, im = spec[:, :self.n_bins], spec[:, self.n_bins:]
        power = re * re + im * im
        mel = torch.matmul(self.mel, power)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        return torch.matmul(self.dct, db) if self.params.kind == "mfcc" else db

    def add_deltas(self, c: torch.Tensor) -> torch.Tensor:
        """``c`` stacked with its Δ (and ΔΔ), edge frames repeated (librosa's mode 'nearest')."""
        if self.deltas.numel() == 0:
            return c
        h = DELTA_WIDTH // 2
        padded = F.pad(c, (h, h), mode="replicate")
        n = c.shape[2]
        parts = [c]
        for row in self.deltas:
            parts.append(sum(row[j] * padded[:, :, j:j + n] for j in range(DELTA_WIDTH)))
        return torch.cat(parts, dim=1)

    def forward(self, samples: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        """Features of the frames ``frame_index`` (int64, any order, repeats allowed)."""
        return self.add_deltas(torch.index_select(self.static(samples), 2, frame_index))
