"""The feature front end as a torch module, for raw-audio ONNX graphs (training extra: torch, librosa).

:class:`FrontEnd` computes, from 16 kHz float32 samples, exactly what
:func:`sonotype.features.extract` (static features) and :func:`sonotype.features.add_deltas`
compute, with fixed weights so that it exports to plain ONNX (Conv, MatMul, Log, Gather, Pad):

- framing, window and DFT (:mod:`sonotype.export.dft`: folded, direct or factored). The folded
  DFT frames the samples by one reshape into rows of the hop, transposed (:func:`sample_rows`),
  each value of ``d`` then a slice of whole rows (:func:`frame_rows`); power = re² + im²;
- mel: a matmul with librosa's filter bank (its columns in the factored DFT's bin order);
  dB: ``10 log10(max(M, 1e-10))``;
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
from .dft import DFTS, dft_kernels, factored_dft, folded_dft, refolded_dft

DELTA_WIDTH = 9  # librosa.feature.delta's default, as sonotype.features.add_deltas uses


def sample_rows(samples: torch.Tensor, top: int, hop: int, n_frames, n_fft: int) -> tuple:
    """The samples as rows of ``hop``, transposed: ``y`` ``(batch, hop, top + n_frames)`` with
    ``y[j, r]`` sample ``r * hop + j``, and ``y`` flipped along its first axis (see :func:`frame_rows`).

    ``top``: the last row a frame reaches, counted from its first (``offset // hop`` of the frame's
    last sample wanted). Zeros pad the samples only where that row would pass their end.
    """
    x = samples if (top + 1) * hop <= n_fft else F.pad(samples, (0, hop))
    y = x[:, :(top + n_frames) * hop].reshape(x.shape[0], -1, hop).transpose(1, 2)
    return y, torch.flip(y, dims=[1])


def frame_rows(rows: tuple, offsets, hop: int, n_frames) -> torch.Tensor:
    """``x[o + t * hop]`` for the frame offsets ``o`` in ``offsets`` (ascending or descending by one)
    and every frame ``t``: ``(batch, len(offsets), n_frames)``, from :func:`sample_rows`' ``rows``.

    Frame ``t``'s sample ``o`` is ``y[o % hop, o // hop + t]``, so the offsets that share a row of the
    reshape are one slice of ``y``'s rows (ascending) or of the flipped copy's (descending), and the
    pieces are put side by side. Every copy moves whole rows of ``n_frames`` values: reversing short
    rows value by value took 1.0 ns a value in onnxruntime against 0.13-0.23 for these (README, Speed).
    """
    y, y_rev = rows
    out, i = [], 0
    while i < len(offsets):  # one piece: a run of offsets in one row of the reshape, by +1 or by -1
        q, j = divmod(offsets[i], hop)
        step = offsets[i + 1] - offsets[i] if i + 1 < len(offsets) else 1
        n = 1
        while (i + n < len(offsets) and offsets[i + n] // hop == q and abs(step) == 1
               and offsets[i + n] - offsets[i + n - 1] == step):
            n += 1
        src, j = (y_rev, hop - 1 - j) if step < 0 else (y, j)  # rows j, j - 1, .. of y: hop - 1 - j, .. of y_rev
        part = src if (j, n) == (0, hop) else src[:, j:j + n]
        out.append(part[:, :, q:q + n_frames])
        i += n
    return torch.cat(out, dim=1) if len(out) > 1 else out[0]


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
    dft : str
        "direct" (default), "factored" (:func:`factored_dft`; ValueError where the frame
        hop and length do not factor) or "folded" (:func:`folded_dft`; ValueError where the
        window is not symmetric about the frame's centre).
    """

    def __init__(self, params: FeatureParams, dft: str = "direct"):
        super().__init__()
        import librosa

        if params.kind not in ("mfcc", "logmel"):
            raise ValueError(f"no raw-audio front end for {params.kind!r} features (mfcc and logmel only)")
        self.params = params
        self.n_bins = params.n_fft // 2 + 1
        mel = librosa.filters.mel(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels).astype(np.float32)
        if dft not in DFTS:
            raise ValueError(f"dft must be one of {DFTS}, not {dft!r}")
        plan = factored_dft(params) if dft == "factored" else None
        if dft == "factored" and plan is None:
            raise ValueError(f"no factored DFT for n_fft {params.n_fft} and hop {params.hop_length} "
                             "(their gcd is under 8)")
        self.factored = plan is not None
        self.folded = folded_dft(params) if dft == "folded" else None
        if dft == "folded" and self.folded is None:
            raise ValueError("no folded DFT: the window is not symmetric about the frame's centre")
        self.refold = refolded_dft(params) if self.folded is not None else None
        if self.refold is not None:
            for key in ("cos_even", "sin_even", "cos_odd", "sin_odd", "ratio"):
                self.register_buffer(key, torch.from_numpy(self.refold.pop(key)))
        if self.folded is not None:
            self.register_buffer("dft", torch.from_numpy(self.folded.pop("cos")))
            sin = self.folded.pop("sin")  # bins 1 .. N/2 - 1; zero rows for bins 0 and N/2 (exact zeros)
            self.register_buffer("dft2", torch.from_numpy(np.pad(sin, ((1, 1), (0, 0)))))
        elif self.factored:
            self.row, self.groups = plan["row"], plan["groups"]
            self.register_buffer("dft", torch.from_numpy(plan["step1"]))
            self.register_buffer("dft2", torch.from_numpy(plan["step2"]))
            bins = plan["bins"].reshape(-1)
            mel = np.where(bins >= 0, mel[:, np.maximum(bins, 0)], 0.0).astype(np.float32)  # slot order
        else:
            weight, self.offset = dft_kernels(params)
            self.span = weight.shape[2]
            self.register_buffer("dft", torch.from_numpy(weight))
        self.register_buffer("mel", torch.from_numpy(mel))
        if self.refold is not None:  # the mel bank's columns of even and of odd bins
            self.register_buffer("mel_even", self.mel[:, 0::2].contiguous())
            self.register_buffer("mel_odd", self.mel[:, 1::2].contiguous())
        dct = dct_matrix(params.n_mels, params.n_mfcc) if params.kind == "mfcc" else np.zeros((0, 0), np.float32)
        self.register_buffer("dct", torch.from_numpy(dct))
        order = params.deltas if params.kind == "mfcc" else 0
        self.register_buffer("deltas", torch.from_numpy(delta_kernels(order)) if order else torch.zeros(0, 0))
        # add_deltas' depthwise kernels, channel-major: (n_mfcc * order, 1, width)
        self.register_buffer("delta_conv", self.deltas.repeat(params.n_mfcc if order else 0, 1)[:, None, :])

    def power(self, samples: torch.Tensor) -> torch.Tensor:
        """Power spectrum ``(batch, bins, frames)`` of samples ``(batch, n)``; factored: bins in
        slot order (``G * L`` rows, see :func:`factored_dft`), else ``0 .. n_fft / 2``."""
        p = self.params
        if self.refold is not None:  # even and odd bins back in order
            even, odd = self._refolded(samples)
            return torch.cat([torch.stack([even[:, :-1], odd], dim=2).flatten(1, 2), even[:, -1:]], dim=1)
        if self.folded is not None:
            re, im = self._folded(samples)
            return re * re + im * im
        if not self.factored:
            tail = p.n_fft - self.offset - self.span  # zero-weight samples at the end of each frame
            x = samples[:, None, self.offset:samples.shape[1] - tail]
            spec = F.conv1d(x, self.dft, stride=p.hop_length)
            re, im = spec[:, :self.n_bins], spec[:, self.n_bins:]
            return re * re + im * im
        b, L, G = samples.shape[0], self.row, self.groups
        rows = samples[:, :(samples.shape[1] // L) * L].reshape(b, -1, L).transpose(1, 2)  # (b, L, rows)
        y = F.conv1d(rows, self.dft, stride=p.hop_length // L, groups=L)  # (b, L * 2G, frames)
        t = y.shape[2]
        y = y.reshape(b, L, 2, G, t).permute(0, 3, 2, 1, 4).reshape(b, G, 2 * L, t)
        x = torch.matmul(self.dft2, y)  # (b, G, 2L, frames)
        return (x * x).reshape(b, G, 2, L, t).sum(dim=2).reshape(b, G * L, t)

    def mel_power(self, samples: torch.Tensor) -> torch.Tensor:
        """Mel band power ``(batch, n_mels, frames)`` of samples ``(batch, n)``."""
        if self.refold is not None:
            even, odd = self._refolded(samples)
            return torch.matmul(self.mel_even, even) + torch.matmul(self.mel_odd, odd)
        return torch.matmul(self.mel, self.power(samples))

    def static(self, samples: torch.Tensor) -> torch.Tensor:
        """Static features ``(batch, n_mfcc or n_mels, frames)`` of samples ``(batch, n)``."""
        mel = self.mel_power(samples)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        return torch.matmul(self.dct, db) if self.params.kind == "mfcc" else db

    def _folded(self, samples: torch.Tensor) -> tuple:
        """Real and imaginary parts ``(batch, n_bins, frames)`` up to sign, by :func:`folded_dft` (the
        imaginary parts of bins 0 and N/2 are zeros: one mel product on the power costs less than one
        on each part)."""
        p, c, D = self.params, self.folded["centre"], self.folded["half"]
        n_frames = (samples.shape[1] - p.n_fft) // p.hop_length + 1
        rows = sample_rows(samples, (c + D) // p.hop_length, p.hop_length, n_frames, p.n_fft)
        right = frame_rows(rows, [c + d for d in range(D + 1)], p.hop_length, n_frames)
        left = frame_rows(rows, [c - d for d in range(D + 1)], p.hop_length, n_frames)
        return torch.matmul(self.dft, right + left), torch.matmul(self.dft2, right - left)

    def _refolded(self, samples: torch.Tensor) -> tuple:
        """Power of the even bins ``(batch, Q + 1, frames)`` and of the odd bins ``(batch, Q, frames)``
        by :func:`refolded_dft`: ``d = 0 .. Q`` of ``u``, ``v`` and of their partners ``N/2 - d``."""
        p, c, D = self.params, self.folded["centre"], self.folded["half"]
        Q, a, N, hop = self.refold["quarter"], self.refold["first"], p.n_fft, p.hop_length
        n_frames = (samples.shape[1] - N) // hop + 1
        rows = sample_rows(samples, (c + D) // hop, hop, n_frames, N)
        d = range(Q + 1)
        right, left = frame_rows(rows, [c + i for i in d], hop, n_frames), frame_rows(rows, [c - i for i in d], hop, n_frames)
        # partners x[c + N/2 - d] and x[c - N/2 + d] of d = a .. Q; rows d < a have no partner (ratio 0):
        # any samples of the frame do there (the first a), keeping every slice inside the frame
        far = frame_rows(rows, list(range(a)) + [c + N // 2 - i for i in range(a, Q + 1)], hop, n_frames)
        near = frame_rows(rows, [c - N // 2 + i for i in d], hop, n_frames)
        u, v = right + left, right - left
        u2, v2 = self.ratio * (far + near), self.ratio * (far - near)
        re_even, im_even = torch.matmul(self.cos_even, u + u2), torch.matmul(self.sin_even, v - v2)
        re_odd, im_odd = torch.matmul(self.cos_odd, u - u2), torch.matmul(self.sin_odd, v + v2)
        return re_even * re_even + im_even * im_even, re_odd * re_odd + im_odd * im_odd

    def add_deltas(self, c: torch.Tensor) -> torch.Tensor:
        """``c`` stacked with its Δ (and ΔΔ), edge frames repeated (librosa's mode 'nearest').

        One depthwise convolution gives every order of every channel (channel-major), reordered
        to ``[c, Δ c, ΔΔ c]``: one graph node instead of a slice, a product and a sum per tap."""
        if self.deltas.numel() == 0:
            return c
        h, order = DELTA_WIDTH // 2, self.deltas.shape[0]
        b, n = c.shape[0], c.shape[2]
        padded = F.pad(c, (h, h), mode="replicate")
        ch = self.delta_conv.shape[0] // order  # n_mfcc, a constant of the graph (c.shape[1] is traced)
        d = F.conv1d(padded, self.delta_conv, groups=ch)  # (b, ch * order, n)
        d = d.reshape(b, ch, order, n).transpose(1, 2).reshape(b, order * ch, n)
        return torch.cat([c, d], dim=1)

    def forward(self, samples: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        """Features of the frames ``frame_index`` (int64, any order, repeats allowed).

        The frames are selected as rows of the transposed features (a gather of whole rows; along
        the last axis onnxruntime gathers value by value, several times slower)."""
        rows = torch.index_select(self.static(samples).transpose(1, 2), 1, frame_index)
        return self.add_deltas(rows.transpose(1, 2))
