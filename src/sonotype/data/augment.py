"""Training-time augmentation of waveforms, each part switchable.

Augmented copies of a training file are made deterministically from ``(file, variant,
seed)``, so their features can be cached like the clean ones.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, fields

import numpy as np
import soundfile as sf

from ..audio import resample


@dataclass(frozen=True)
class AugmentParams:
    """Which augmentations to use and how strongly.

    Parameters
    ----------
    noise : float
        Probability of mixing a noise recording into speech and music (label kept).
    snr_db : tuple
        SNR range for the noise mix.
    gain : float
        Probability of a random gain in ``gain_db``.
    telephone : float
        Probability of band-limiting through 8 kHz resampling and a 300-3400 Hz band-pass.
    codec : float
        Probability of lossy re-encoding (OGG Vorbis at a low quality).
    reverb : float
        Probability of convolving with a synthetic exponentially decaying noise response.
    copies : int
        Augmented copies made per training file (0 turns augmentation off).
    """

    noise: float = 0.5
    snr_db: tuple = (0.0, 20.0)
    gain: float = 0.5
    gain_db: tuple = (-20.0, 6.0)
    telephone: float = 0.25
    codec: float = 0.25
    reverb: float = 0.25
    rt60: tuple = (0.15, 0.8)
    copies: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentParams":
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def mix_at_snr(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` (looped or cut to length) to ``y`` at ``snr_db`` dB."""
    if len(noise) == 0:
        return y
    reps = -(-len(y) // len(noise))
    n = np.tile(noise, reps)[: len(y)]
    py, pn = np.mean(y.astype(np.float64) ** 2), np.mean(n.astype(np.float64) ** 2)
    if py <= 0 or pn <= 0:
        return y
    scale = np.sqrt(py / (pn * 10 ** (snr_db / 10)))
    return (y + scale * n).astype(np.float32)


def telephone(y: np.ndarray, sr: int) -> np.ndarray:
    """Through 8 kHz and a 300-3400 Hz band-pass, back at ``sr``."""
    z = resample(y, sr, 8000)
    import scipy.signal  # the training extra

    sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    z = scipy.signal.sosfilt(sos, z).astype(np.float32)
    out = resample(z, 8000, sr)
    return np.pad(out, (0, max(0, len(y) - len(out))))[: len(y)]


def reencode(y: np.ndarray, sr: int, quality: float = 0.1) -> np.ndarray:
    """Lossy OGG Vorbis round trip at low ``quality`` (0..1), written in blocks."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", sr, 1, format="OGG", subtype="VORBIS", compression_level=1.0 - quality) as f:
        for i in range(0, len(y), 65536):
            f.write(y[i:i + 65536])
    buf.seek(0)
    z, _ = sf.read(buf, dtype="float32")
    return np.pad(z, (0, max(0, len(y) - len(z))))[: len(y)]


def reverb(y: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with exponentially decaying white noise (a crude room), keep the level."""
    n = max(1, int(rt60 * sr))
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    import scipy.signal  # the training extra

    z = scipy.signal.fftconvolve(y, ir.astype(np.float32))[: len(y)]
    py, pz = np.sqrt(np.mean(y**2)), np.sqrt(np.mean(z**2))
    return (z * (py / pz if pz > 0 else 1.0)).astype(np.float32)


def augment(y: np.ndarray, sr: int, label: str, params: AugmentParams, rng: np.random.Generator,
            noise_pool=None) -> np.ndarray:
    """One random augmentation chain.

    ``noise_pool`` is a callable ``rng -> samples`` giving a noise recording; noise is
    only mixed into speech and music (mixing noise into noise changes nothing useful).
    """
    y = np.asarray(y, np.float32)
    if noise_pool is not None and label in ("speech", "music") and rng.random() < params.noise:
        y = mix_at_snr(y, noise_pool(rng), rng.uniform(*params.snr_db))
    if rng.random() < params.reverb:
        y = reverb(y, sr, rng.uniform(*params.rt60), rng)
    if rng.random() < params.telephone:
        y = telephone(y, sr)
    if rng.random() < params.codec:
        y = reencode(y, sr, quality=rng.uniform(0.0, 0.3))
    if rng.random() < params.gain:
        y = y * np.float32(10 ** (rng.uniform(*params.gain_db) / 20))
    return np.clip(y, -1, 1).astype(np.float32)
