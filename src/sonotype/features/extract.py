"""Frame-wise features as pure functions of samples (librosa underneath)."""
from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

from .params import FeatureParams


@lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def _check(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("samples contain NaN or Inf")
    return y


def power_spectrogram(y: np.ndarray, n_fft: int = 512, hop_length: int = 160,
                      win_length: int = 400) -> np.ndarray:
    """|STFT|^2 with a Hann window, frames not centred; shape (1 + n_fft // 2, n_frames)."""
    y = _check(y)
    n = 0 if len(y) < n_fft else 1 + (len(y) - n_fft) // hop_length
    if n == 0:
        return np.zeros((1 + n_fft // 2, 0), np.float32)
    S = librosa.stft(y[: n_fft + (n - 1) * hop_length], n_fft=n_fft, hop_length=hop_length,
                     win_length=win_length, center=False)
    return (S.real**2 + S.imag**2).astype(np.float32)


def log_mel(y: np.ndarray, sr: int = 16000, n_mels: int = 64, n_fft: int = 512,
            hop_length: int = 160, win_length: int = 400) -> np.ndarray:
    """Log-mel power in dB (``librosa.power_to_db`` without ``top_db`` clipping), (n_mels, n_frames)."""
    P = power_spectrogram(y, n_fft, hop_length, win_length)
    # float64 product: a float32 BLAS product depends on a frame's column position,
    # which would make block-wise extraction differ from whole-file extraction
    M = (_mel_basis(sr, n_fft, n_mels).astype(np.float64) @ P.astype(np.float64)).astype(np.float32)
    return librosa.power_to_db(M, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)


def mfcc(y: np.ndarray, sr: int = 16000, n_mfcc: int = 20, n_mels: int = 32, n_fft: int = 512,
         hop_length: int = 160, win_length: int = 400, deltas: int = 0) -> np.ndarray:
    """MFCCs (DCT-II, orthonormal, of the dB log-mel), optionally stacked with Δ and ΔΔ.

    Equals ``librosa.feature.mfcc(S=log_mel(...), n_mfcc=n_mfcc)``. Returns
    ``(n_mfcc * (1 + deltas), n_frames)`` float32.
    """
    L = log_mel(y, sr, n_mels, n_fft, hop_length, win_length)
    C = scipy.fft.dct(L, axis=0, type=2, norm="ortho")[:n_mfcc].astype(np.float32)
    return add_deltas(C, deltas)


def add_deltas(C: np.ndarray, deltas: int) -> np.ndarray:
    """Stack Δ (and ΔΔ) below ``C`` using ``librosa.feature.delta`` (width 9, edge mode 'nearest')."""
    if deltas == 0:
        return C
    if C.shape[1] == 0:
        return np.zeros((C.shape[0] * (1 + deltas), 0), np.float32)
    parts = [C] + [librosa.feature.delta(C, width=9, order=o, mode="nearest") for o in range(1, deltas + 1)]
    return np.concatenate(parts, axis=0).astype(np.float32)


def stft_magnitude(y: np.ndarray, n_fft: int = 512, hop_length: int = 256,
                   win_length: int | None = None) -> np.ndarray:
    """|STFT| magnitude (not power), frames not centred; (1 + n_fft // 2, n_frames)."""
    return np.sqrt(power_spectrogram(y, n_fft, hop_length, win_length or n_fft))


def extract(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Features of mono samples ``y`` (already at ``params.sr``) as (channels, frames) float32."""
    p = params
    if p.kind == "mfcc":
        return mfcc(y, p.sr, p.n_mfcc, p.n_mels, p.n_fft, p.hop_length, p.win_length, p.deltas)
    if p.kind == "logmel":
        return log_mel(y, p.sr, p.n_mels, p.n_fft, p.hop_length, p.win_length)
    return stft_magnitude(y, p.n_fft, p.hop_length, p.win_length)


class FeatureStream:
    """Block-wise feature extraction: ``push`` samples of any length, get the new frames.

    Concatenating what ``push`` returns equals :func:`extract` on the whole signal
    (static features only: deltas look ahead and are not streamed).
    """

    def __init__(self, params: FeatureParams):
        if params.deltas:
            raise ValueError("streaming supports static features only (deltas=0)")
        self.params = params
        self._buf = np.zeros(0, np.float32)
        self.frames_out = 0

    def push(self, y: np.ndarray) -> np.ndarray:
        p = self.params
        self._buf = np.concatenate([self._buf, _check(y)])
        n = p.n_frames(len(self._buf))
        F = extract(self._buf[: p.n_fft + (n - 1) * p.hop_length] if n else self._buf[:0], p)
        if n == 0:
            return np.zeros((p.n_channels, 0), np.float32)
        self._buf = self._buf[n * p.hop_length:]
        self.frames_out += n
        return F
