"""Frame-wise features as pure functions of samples (librosa and scipy underneath).

librosa and scipy (the ``sonotype[train]`` extra) are imported on first use, so importing this
module (and :mod:`sonotype.features`) costs numpy only.
"""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from .params import FeatureParams


@lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@lru_cache(maxsize=16)
def _mel_sparse(sr: int, n_fft: int, n_mels: int):
    import scipy.sparse
    return scipy.sparse.csr_matrix(_mel_basis(sr, n_fft, n_mels))


def _check(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("samples contain NaN or Inf")
    return y


_STFT_BLOCK = 256  # frames per FFT call
# how power_spectrogram computes (part of every feature cache key: features cached by another
# front end are recomputed); "fft64": float64 FFT, float32 power
FRONT_END = "fft64"


@lru_cache(maxsize=16)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """librosa's periodic Hann window of ``win_length`` centred in ``n_fft``, as a float64 column."""
    import librosa

    w = librosa.util.pad_center(librosa.filters.get_window("hann", win_length, fftbins=True), size=n_fft)
    return np.asarray(w, np.float64)[:, None]


def power_spectrogram(y: np.ndarray, n_fft: int = 512, hop_length: int = 160,
                      win_length: int = 400) -> np.ndarray:
    """|STFT|^2 with a Hann window, frames not centred; shape (1 + n_fft // 2, n_frames), float32.

    Same as ``librosa.stft(..., center=False)`` squared, computed on a strided view of the
    frames (frame ``t`` = column ``t``) with scipy's FFT in float64 (:data:`FRONT_END`): a float32
    FFT's rounding, relative to the frame's energy, reaches the dB of bins ~80 dB under the
    frame's peak (up to 0.006 on an MFCC). Every frame is transformed on its own: a frame's value
    does not depend on where it is in ``y`` (block-wise extraction equals whole-file extraction).
    """
    y = _check(y)
    n = 0 if len(y) < n_fft else 1 + (len(y) - n_fft) // hop_length
    if n == 0:
        return np.zeros((1 + n_fft // 2, 0), np.float32)
    y = np.ascontiguousarray(y)
    w = _window(n_fft, win_length)
    nz = np.flatnonzero(w[:, 0])
    a, b = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
    import scipy.fft

    P = np.empty((1 + n_fft // 2, n), np.float32)
    x = np.zeros((n_fft, min(n, _STFT_BLOCK)), np.float64)  # rows outside [a, b) stay 0
    step = hop_length * y.strides[0]
    for s in range(0, n, _STFT_BLOCK):  # blocks of frames that stay in cache
        k = min(_STFT_BLOCK, n - s)
        if k < x.shape[1]:
            x = np.zeros((n_fft, k), np.float64)
        frames = np.lib.stride_tricks.as_strided(y[s * hop_length + a:], (b - a, k), (y.strides[0], step),
                                                 writeable=False)
        np.multiply(frames, w[a:b], out=x[a:b])
        S = scipy.fft.rfft(x, axis=0, workers=1)
        P[:, s:s + k] = S.real * S.real + S.imag * S.imag
    return P


def log_mel(y: np.ndarray, sr: int = 16000, n_mels: int = 64, n_fft: int = 512,
            hop_length: int = 160, win_length: int = 400) -> np.ndarray:
    """Log-mel power in dB (``librosa.power_to_db`` without ``top_db`` clipping), (n_mels, n_frames)."""
    return mel_db(power_spectrogram(y, n_fft, hop_length, win_length), sr, n_mels)


def mel_db(P: np.ndarray, sr: int = 16000, n_mels: int = 64) -> np.ndarray:
    """Log-mel power in dB of a power spectrogram ``P`` (1 + n_fft // 2, n_frames)."""
    n_fft = 2 * (P.shape[0] - 1)
    # The mel filters are sparse (~2 non-zero weights per FFT bin): a CSR product in float32
    # sums each band's bins in a fixed order for every frame, so a frame's value does not
    # depend on its column position (a float32 BLAS product does, which would make
    # block-wise extraction differ from whole-file extraction), and it is ~30x faster.
    M = np.asarray(_mel_sparse(sr, n_fft, n_mels) @ np.ascontiguousarray(P, np.float32), np.float32)
    # librosa.power_to_db(M, ref=1.0, amin=1e-10, top_db=None), in place
    np.maximum(M, np.float32(1e-10), out=M)
    np.log10(M, out=M)
    M *= np.float32(10.0)
    return M


def cepstra(L: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    """MFCCs of a dB log-mel spectrogram: orthonormal DCT-II over bands, first ``n_mfcc``."""
    import scipy.fft

    return scipy.fft.dct(L, axis=0, type=2, norm="ortho")[:n_mfcc].astype(np.float32)


def mfcc(y: np.ndarray, sr: int = 16000, n_mfcc: int = 20, n_mels: int = 32, n_fft: int = 512,
         hop_length: int = 160, win_length: int = 400, deltas: int = 0) -> np.ndarray:
    """MFCCs (DCT-II, orthonormal, of the dB log-mel), optionally stacked with Δ and ΔΔ.

    Equals ``librosa.feature.mfcc(S=log_mel(...), n_mfcc=n_mfcc)``. Returns
    ``(n_mfcc * (1 + deltas), n_frames)`` float32.
    """
    C = cepstra(log_mel(y, sr, n_mels, n_fft, hop_length, win_length), n_mfcc)
    return add_deltas(C, deltas)


def add_deltas(C: np.ndarray, deltas: int) -> np.ndarray:
    """Stack Δ (and ΔΔ) below ``C`` using ``librosa.feature.delta`` (width 9, edge mode 'nearest')."""
    if deltas == 0:
        return C
    if C.shape[1] == 0:
        return np.zeros((C.shape[0] * (1 + deltas), 0), np.float32)
    import librosa

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


def extract_timed(y: np.ndarray, params: FeatureParams, timings: dict | None = None,
                  clock=time.perf_counter) -> np.ndarray:
    """:func:`extract`, adding the seconds (of ``clock``) spent in ``"stft"`` and ``"mel_dct"``
    to ``timings``."""
    if timings is None or params.kind == "stft":
        return extract(y, params)
    p = params
    t0 = clock()
    P = power_spectrogram(y, p.n_fft, p.hop_length, p.win_length)
    t1 = clock()
    F = mel_db(P, p.sr, p.n_mels)
    if p.kind == "mfcc":
        F = add_deltas(cepstra(F, p.n_mfcc), p.deltas)
    t2 = clock()
    timings["stft"] = timings.get("stft", 0.0) + (t1 - t0)
    timings["mel_dct"] = timings.get("mel_dct", 0.0) + (t2 - t1)
    return F


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
