"""The feature front end as a torch module, for raw-audio ONNX graphs (training extra: torch, librosa).

:class:`FrontEnd` computes, from 16 kHz float32 samples, exactly what
:func:`sonotype.features.extract` (static features) and :func:`sonotype.features.add_deltas`
compute, with fixed weights so that it exports to plain ONNX (Conv, MatMul, Log, Gather, Pad):

- framing, window and DFT, one of three ways. ``dft="folded"`` (what :func:`export_raw
  <sonotype.export.raw.export_raw>` uses where it applies, :func:`default_dft`;
  :func:`folded_dft`): each frame's samples folded about its centre (``x[c + d] ± x[c - d]``,
  the window being symmetric), the samples framed by reshapes into rows of the hop
  (:func:`folded_halves`), then two matmuls, for the real and imaginary parts: half the
  multiply-adds of the direct DFT, with sums of the same kind. ``dft="direct"``
  (:func:`dft_kernels`): one strided
  ``conv1d`` whose kernels are the window times cos and sin of each bin (only the window's
  non-zero samples); or (``dft="factored"``, :func:`factored_dft`, when ``L = gcd(hop, n_fft)``
  is at least 8: 512 / 160 gives L = 32) the samples as rows of ``L``, a depthwise strided
  ``conv1d`` over each frame's ``n_fft / L`` rows (window × the short DFT), then one small
  matmul per group of bins (twiddles and the long DFT): about a quarter of the multiply-adds,
  but float32 rounding 2-4 times the direct DFT's in bands far under a frame's peak (see the
  README's Speed section); power = re² + im²;
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

DELTA_WIDTH = 9  # librosa.feature.delta's default, as sonotype.features.add_deltas uses
DFTS = ("direct", "factored", "folded")


def dft_kernels(params: FeatureParams) -> tuple:
    """Window × cos / sin kernels of the non-zero part of the window.

    Returns
    -------
    weight : numpy.ndarray
        ``(2 * n_bins, 1, span)`` float32: rows ``0 .. n_bins - 1`` real part, then imaginary.
    offset : int
        First non-zero sample of the window inside the ``n_fft`` frame.
    """
    n_fft, n_bins = params.n_fft, params.n_fft // 2 + 1
    w = _hann(params)
    nz = np.flatnonzero(w)
    a, b = int(nz[0]), int(nz[-1]) + 1
    n = np.arange(a, b)[None, :]
    k = np.arange(n_bins)[:, None]
    phase = 2 * np.pi * ((k * n) % n_fft) / n_fft  # exact phase before the trigonometry
    weight = np.concatenate([np.cos(phase), -np.sin(phase)]) * w[a:b][None, :]
    return weight[:, None, :].astype(np.float32), a


def _hann(params: FeatureParams) -> np.ndarray:
    import librosa

    w = librosa.filters.get_window("hann", params.win_length, fftbins=True)
    return librosa.util.pad_center(w, size=params.n_fft)


def factored_dft(params: FeatureParams, min_row: int = 8):
    """Weights of the two-step (Cooley-Tukey) DFT of windowed frames, or None.

    A frame of ``N = n_fft`` samples is ``N1 = N / L`` rows of ``L = gcd(hop, N)`` samples, and
    frame ``t`` starts at row ``t * hop / L``. With ``n = L r + j`` and ``k = k1 + N1 k2``:
    ``Y[g, j] = sum_r w[n] x[n] e^{-2 pi i r g / N1}`` for ``g = 0 .. N1 / 2`` (``Y[N1 - g]`` is
    its conjugate: the input is real), then ``X[k] = sum_j e^{-2 pi i j k / N} Y'[j]`` with
    ``Y' = Y[k mod N1]`` or the conjugate of ``Y[N1 - k mod N1]``. Bins sharing ``g`` form a group.

    Returns
    -------
    None when ``L < min_row`` (the direct DFT is used), else a dict:
    ``row`` L; ``rows`` N1; ``groups`` G = N1 // 2 + 1;
    ``step1`` float32 ``(L * 2G, 1, N1)``: depthwise kernels, channel ``j * 2G + q`` (q < G:
    real part of ``Y[q, j]``, else imaginary part of ``Y[q - G, j]``);
    ``step2`` float32 ``(G, 2L, 2L)``: per group, inputs ``(re Y[g, 0..L-1], im ...)`` to outputs
    ``(re of slot 0..L-1, im ...)``; ``bins`` int ``(G, L)``: the bin of each slot, -1 for none.
    """
    import math

    N, L = params.n_fft, math.gcd(params.hop_length, params.n_fft)
    if L < min_row or N // L < 2:
        return None
    N1 = N // L
    G = N1 // 2 + 1
    w, r, g = _hann(params), np.arange(N1), np.arange(G)[:, None]
    phase = 2 * np.pi * ((r * g) % N1) / N1
    step1 = np.zeros((L, 2 * G, N1))
    for j in range(L):
        step1[j, :G], step1[j, G:] = w[L * r + j] * np.cos(phase), -w[L * r + j] * np.sin(phase)
    step2, bins = np.zeros((G, 2 * L, 2 * L)), np.full((G, L), -1)
    j = np.arange(L)
    for q in range(G):
        for slot, k in enumerate(b for b in range(N // 2 + 1) if b % N1 in (q, (N1 - q) % N1)):
            bins[q, slot] = k
            phase = 2 * np.pi * ((j * k) % N) / N
            c, s = np.cos(phase), -np.sin(phase)  # e^{-i phase} = c + i s
            sign = 1.0 if k % N1 == q else -1.0  # -1: the conjugate of Y
            step2[q, slot, :L], step2[q, slot, L:] = c, -sign * s
            step2[q, L + slot, :L], step2[q, L + slot, L:] = s, sign * c
    return {"row": L, "rows": N1, "groups": G, "bins": bins,
            "step1": step1.reshape(L * 2 * G, 1, N1).astype(np.float32), "step2": step2.astype(np.float32)}


def folded_dft(params: FeatureParams):
    """Weights of the DFT of windowed frames folded about the frame's centre, or None.

    With the window symmetric about ``c = n_fft / 2`` (``w[c + d] = w[c - d]``, as librosa's
    centred Hann), ``n = c + d`` gives ``X[k] = (-1)^k sum_d w[c+d] x[c+d] e^{-2 pi i k d / N}``:
    the real part needs only ``u[d] = x[c+d] + x[c-d]`` and the imaginary part only
    ``v[d] = x[c+d] - x[c-d]``, ``d = 0 .. D`` (``D`` the last non-zero weight past ``c``), so
    each bin is two dot products of ``D + 1`` terms instead of one of ``2 D + 1``: half the
    multiply-adds of :func:`dft_kernels` with the same kind of float32 sums (the sign ``(-1)^k``
    is dropped: only the power is used). Bins 0 and ``N / 2`` have no imaginary part.

    Returns
    -------
    None when ``n_fft`` is odd or the window is not symmetric about ``n_fft / 2``, else a dict:
    ``centre`` c; ``half`` D; ``cos`` float32 ``(n_bins, D + 1)``: ``w[c+d] cos(2 pi k d / N)``,
    column 0 halved (it meets ``u[0] = 2 x[c]``); ``sin`` float32 ``(n_bins - 2, D + 1)``:
    ``w[c+d] sin(2 pi k d / N)`` for bins ``k = 1 .. N/2 - 1`` (column 0 is zero).
    """
    N = params.n_fft
    if N % 2:
        return None
    w, c = _hann(params), N // 2
    nz = np.flatnonzero(w)
    D = int(max(nz[-1] - c, c - nz[0]))
    d = np.arange(D + 1)
    if c - D < 0 or c + D >= N or not np.allclose(w[c + d], w[c - d], rtol=0, atol=1e-12):
        return None
    k = np.arange(N // 2 + 1)[:, None]
    phase = 2 * np.pi * ((k * d[None, :]) % N) / N
    cos = np.cos(phase) * w[c + d][None, :]
    cos[:, 0] *= 0.5
    sin = (np.sin(phase) * w[c + d][None, :])[1:-1]
    return {"centre": c, "half": D, "cos": cos.astype(np.float32), "sin": sin.astype(np.float32)}


def folded_halves(samples: torch.Tensor, centre: int, half: int, hop: int, n_frames, n_fft: int) -> tuple:
    """``x[c + d]`` and ``x[c - d]``, ``d = 0 .. half``, of every frame: two ``(batch, n_frames, half + 1)``.

    Frame ``t``'s centre is sample ``c = centre + t * hop``. The values of ``d`` come in pieces of
    at most ``hop``: piece ``i`` (``d = i * hop ..``, ``L`` values) is one slice of the samples
    reshaped into rows of ``hop``, frame ``t`` being row ``t`` (no index tensor), cut to the
    ``L`` samples it needs (no cut for a whole row) and, for ``x[c - d]``, reversed; the pieces
    are put side by side. The slices stay inside ``[0, n)`` for the presets; zeros pad the
    samples where they would not (values that are never used).
    """
    lengths = [min(hop, half + 1 - i * hop) for i in range(half // hop + 1)]
    right = [centre + i * hop + L - hop for i, L in enumerate(lengths)]  # the piece: each row's last L
    left = [centre - i * hop - L + 1 for i, L in enumerate(lengths)]     # its first L, reversed
    front = max(0, -min(right + left))
    back = max(0, max(right + left) + hop - n_fft)  # slices end within hop of the last frame's start
    x = F.pad(samples, (front, back)) if front or back else samples

    def rows(start):
        return x[:, front + start:front + start + n_frames * hop].reshape(x.shape[0], -1, hop)

    r, l_ = [], []
    for L, r0, l0 in zip(lengths, right, left):
        r.append(rows(r0) if L == hop else rows(r0)[:, :, hop - L:])
        l_.append(torch.flip(rows(l0) if L == hop else rows(l0)[:, :, :L], dims=[2]))
    return (torch.cat(r, dim=2), torch.cat(l_, dim=2)) if len(r) > 1 else (r[0], l_[0])


def default_dft(params: FeatureParams) -> str:
    """The front end's DFT unless one is asked for: "folded" where :func:`folded_dft` applies, else "direct"."""
    return "folded" if folded_dft(params) is not None else "direct"


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
        if self.folded is not None:
            self.register_buffer("dft", torch.from_numpy(self.folded.pop("cos")))
            self.register_buffer("dft2", torch.from_numpy(self.folded.pop("sin")))
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
        if self.folded is not None:
            re, im = self._folded(samples)
            return (re * re + F.pad(im * im, (1, 1))).transpose(1, 2)
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
        if self.folded is None:
            return torch.matmul(self.mel, self.power(samples))
        re, im = self._folded(samples)  # the mel bank on the real and imaginary parts apart: no padding
        mel = torch.matmul(re * re, self.mel.T) + torch.matmul(im * im, self.mel[:, 1:-1].T)
        return mel.transpose(1, 2)

    def static(self, samples: torch.Tensor) -> torch.Tensor:
        """Static features ``(batch, n_mfcc or n_mels, frames)`` of samples ``(batch, n)``."""
        mel = self.mel_power(samples)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        return torch.matmul(self.dct, db) if self.params.kind == "mfcc" else db

    def _folded(self, samples: torch.Tensor) -> tuple:
        """Real parts ``(batch, frames, n_bins)`` and imaginary parts ``(batch, frames, n_bins - 2)``
        (bins 1 .. N/2 - 1) up to sign, by :func:`folded_dft`."""
        p, c, D = self.params, self.folded["centre"], self.folded["half"]
        n_frames = (samples.shape[1] - p.n_fft) // p.hop_length + 1
        right, left = folded_halves(samples, c, D, p.hop_length, n_frames, p.n_fft)
        u, v = right + left, right - left
        return torch.matmul(u, self.dft.T), torch.matmul(v, self.dft2.T)

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
        """Features of the frames ``frame_index`` (int64, any order, repeats allowed)."""
        return self.add_deltas(torch.index_select(self.static(samples), 2, frame_index))
