"""Silence removal by a power threshold, loudness equalisation, Log-MMSE denoising.

All functions take mono float32 samples and return new arrays.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

_EPS = 1e-10


def row_sums(x: np.ndarray, squares: bool = False) -> np.ndarray:
    """float64 sums (of squares) of the rows of a float32 ``(n, m)`` array, without a float64 copy of it."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64) if squares else np.einsum("ij->i", x, dtype=np.float64)


@dataclass(frozen=True)
class PreprocessParams:
    """What is done to audio before features.

    Parameters
    ----------
    remove_silence : bool
        Drop windows whose RMS is below ``silence_db`` dBFS (training clips only).
    silence_db : float
        Power threshold in dBFS (RMS of full-scale sine is -3 dBFS).
    equalise : bool
        Equalise loudness over ``window`` second windows to ``target_db`` dBFS.
    window : float
        Loudness window in seconds (paper: 250 ms).
    target_db, max_gain_db : float
        Target RMS and the largest boost, so near-silence is not blown up.
    denoise : bool
        Log-MMSE denoising first (the paper does it for GTZAN music/speech).
    silence_rel_db : float or None
        Also drop windows more than this many dB below the signal's loud level (the 95th
        percentile of its window levels), so that the floor between isolated words is not
        equalised up to the words' loudness. ``None`` (default): the absolute threshold only.
    """

    remove_silence: bool = True
    silence_db: float = -50.0
    equalise: bool = True
    window: float = 0.25
    target_db: float = -20.0
    max_gain_db: float = 30.0
    denoise: bool = False
    silence_rel_db: float | None = None

    def __post_init__(self):
        rel = self.silence_rel_db
        if rel is not None and not (np.isfinite(rel) and rel > 0):
            raise ValueError(f"silence_rel_db must be a finite number of dB > 0 or None, got {rel!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["silence_rel_db"] is None:  # absent as before it existed: cache keys and checkpoints unchanged
            del d["silence_rel_db"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessParams":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def frame_rms_db(y: np.ndarray, frame_length: int, hop_length: int, remove_dc: bool = False) -> np.ndarray:
    """RMS level in dBFS of frames ``[i * hop, i * hop + frame_length)`` (``remove_dc``: less each frame's mean)."""
    y = np.asarray(y, np.float32)
    n = 0 if len(y) < frame_length else 1 + (len(y) - frame_length) // hop_length
    if n == 0:
        return np.zeros(0, np.float32)
    c = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    starts = np.arange(n) * hop_length
    power = (c[starts + frame_length] - c[starts]) / frame_length
    if remove_dc:
        c1 = np.concatenate([[0.0], np.cumsum(y.astype(np.float64))])
        power = power - ((c1[starts + frame_length] - c1[starts]) / frame_length) ** 2
    return (10 * np.log10(np.maximum(power, _EPS))).astype(np.float32)


def block_rms_db(y: np.ndarray, block: int, remove_dc: bool = False) -> np.ndarray:
    """RMS in dBFS of consecutive non-overlapping blocks (the last may be short).

    ``remove_dc``: of each block less its mean (a DC offset is not sound: the silence test).
    """
    y = np.asarray(y, np.float32)
    n = -(-len(y) // block)
    if n == 0:
        return np.zeros(0, np.float32)
    counts = np.full(n, block, np.float64)
    counts[-1] = len(y) - (n - 1) * block
    if n * block > len(y):  # zeros add nothing to the sums
        y = np.concatenate([y, np.zeros(n * block - len(y), np.float32)])
    x = y.reshape(n, block)
    power = row_sums(x, squares=True) / counts
    if remove_dc:
        power = power - (row_sums(x) / counts) ** 2
    return (10 * np.log10(np.maximum(power, _EPS))).astype(np.float32)


def silence_mask(y: np.ndarray, sr: int = 16000, threshold_db: float = -50.0,
                 frame_length: int = 400, hop_length: int = 160) -> np.ndarray:
    """True for frames whose RMS, DC offset removed, is below ``threshold_db`` dBFS."""
    return frame_rms_db(y, frame_length, hop_length, remove_dc=True) < threshold_db


def remove_silence(y: np.ndarray, sr: int = 16000, threshold_db: float = -50.0,
                   window: float = 0.05, relative_db: float | None = None) -> np.ndarray:
    """Drop the ``window``-second blocks whose RMS, DC offset removed, is below ``threshold_db`` dBFS,
    or, with ``relative_db``, more than ``relative_db`` dB below the 95th percentile of the blocks' levels."""
    block = max(1, int(round(window * sr)))
    level = block_rms_db(y, block, remove_dc=True)
    if relative_db is not None and len(level):
        threshold_db = max(threshold_db, float(np.percentile(level, 95)) - relative_db)
    keep = level >= threshold_db
    if keep.all():
        return np.asarray(y, np.float32)
    idx = np.repeat(keep, block)[: len(y)]
    return np.asarray(y, np.float32)[idx]


def equalise_loudness(y: np.ndarray, sr: int = 16000, window: float = 0.25,
                      target_db: float = -20.0, max_gain_db: float = 30.0) -> np.ndarray:
    """Scale each ``window``-second block (aligned to sample 0) to ``target_db`` dBFS RMS.

    The gain of a block is ``target_db - rms_db``, limited to ``±max_gain_db``. Blocks
    are aligned to the start of the signal, so block-wise streaming gives the same
    result as the whole file when chunks are multiples of the block. Output is clipped
    to [-1, 1]. (Loudness per BS.1770, e.g. pyloudnorm, needs 400 ms gating blocks and
    so cannot measure 250 ms windows; plain RMS is what the paper describes.)
    """
    block = max(1, int(round(window * sr)))
    gain_db = np.clip(target_db - block_rms_db(y, block), -max_gain_db, max_gain_db)
    gain = (10 ** (gain_db / 20)).astype(np.float32)
    y = np.asarray(y, np.float32)
    out = np.empty_like(y)
    whole = (len(y) // block) * block  # whole blocks scaled in place by row, the short last one apart
    np.multiply(y[:whole].reshape(-1, block), gain[:whole // block, None], out=out[:whole].reshape(-1, block))
    if whole < len(y):
        np.multiply(y[whole:], gain[-1], out=out[whole:])
    return np.clip(out, -1.0, 1.0, out=out)


def logmmse_denoise(y: np.ndarray, sr: int = 16000, initial_noise: int = 6,
                    noise_threshold: float = 0.15) -> np.ndarray:
    """Log-MMSE speech enhancement (Ephraim & Malah 1985) via the ``logmmse`` package.

    The noise spectrum is first estimated from the first ``initial_noise`` frames and
    updated where speech is absent.
    """
    y = np.asarray(y, np.float32)
    # the package sets numpy's global error mode to 'raise' on import: undo that
    old = np.geterr()
    try:
        from logmmse import logmmse
    finally:
        np.seterr(**old)
    with np.errstate(all="ignore"):
        # float32 in (the package mishandles float64 and adds eps in place)
        out = logmmse(y.copy(), sr, initial_noise=initial_noise,
                      noise_threshold=noise_threshold)
    out = np.asarray(out, np.float32).reshape(-1)
    if len(out) < len(y):
        out = np.concatenate([out, np.zeros(len(y) - len(out), np.float32)])
    return out[: len(y)]


def apply(y: np.ndarray, sr: int, params: PreprocessParams, keep_silence: bool = False) -> np.ndarray:
    """Run the preprocessing chain: denoise → remove silence → equalise loudness."""
    if params.denoise:
        y = logmmse_denoise(y, sr)
    if params.remove_silence and not keep_silence:
        y = remove_silence(y, sr, params.silence_db, relative_db=params.silence_rel_db)
    if params.equalise:
        y = equalise_loudness(y, sr, params.window, params.target_db, params.max_gain_db)
    return np.asarray(y, np.float32)
