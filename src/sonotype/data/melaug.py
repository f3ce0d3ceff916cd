"""On-the-fly augmentation in the log-mel domain, fresh for every training step.

Training clips are kept as dB log-mel (the spectrum the MFCCs are the DCT of); each batch
is augmented there and turned into MFCC (+ Δ, ΔΔ) exactly as the inference front end does
(:func:`sonotype.features.cepstra`, :func:`sonotype.features.add_deltas`). Because every
step draws new channels, rooms and backgrounds, a model sees thousands of conditions for
the cost of one feature pass, and nothing augmented is cached.

The operations follow what each does to a power spectrum: a background mix adds mel powers
(independent sources), an equaliser or band limit adds a gain curve in dB, a room adds an
exponentially decaying tail along time in every band, SpecAugment masks bands and frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..features import add_deltas, cepstra

FLOOR_DB = -100.0  # the front end's floor: 10 log10(1e-10)


@dataclass(frozen=True)
class MelAugmentParams:
    """Which log-mel augmentations to draw per training clip, and how strongly.

    Parameters
    ----------
    mix : float
        Probability of adding a background clip from the training split: noise or music
        under speech, noise under music (labels kept; noise stays pure).
    snr_db : tuple
        SNR range of the background mix, dB.
    eq : float
        Probability of a random smooth equaliser curve of at most ``eq_db`` dB.
    band : float
        Probability of a band limit: telephone (300-3400 Hz), AM radio (≤ 4.5 kHz) or a
        random low-pass at 2-7 kHz, 48 dB per octave beyond the edges, at most ``band_db``
        down (120: bands beyond the edge reach the floor, as in audio upsampled from 8 kHz).
    reverb : float
        Probability of a room tail with RT60 in ``rt60`` s and a direct-to-reverberant
        ratio in ``drr_db``.
    gain_db : float
        Largest random level change (uniform in ±``gain_db``, every clip).
    time_masks, time_width : int
        SpecAugment: number of time masks per clip and their largest width in frames.
    freq_masks, freq_width : int
        SpecAugment: number of mel-band masks per clip and their largest width in bands.
    mixup, mixup_snr_db, warp, warp_range
        Within-class mixup (probability, SNR range) and mel-axis warping (probability, factors).
    mixstyle : float
        Probability of Freq-MixStyle (:func:`mix_band_stats`): each band's mean and spread over
        time are mixed with those of another training clip (``mixstyle_pool`` "any" class or the
        "same" class), weight ``Beta(mixstyle_alpha, mixstyle_alpha)``: a real clip's channel.
    noise_mix : float
        Probability of adding another noise clip under a noise clip, at an SNR in
        ``noise_mix_snr_db`` (two sound effects or ambiences together are still noise).
    """

    mix: float = 0.5
    snr_db: tuple = (5.0, 25.0)
    eq: float = 0.5
    eq_db: float = 10.0
    band: float = 0.25
    band_db: float = 60.0
    reverb: float = 0.3
    rt60: tuple = (0.2, 1.2)
    drr_db: tuple = (-3.0, 12.0)
    gain_db: float = 6.0
    time_masks: int = 2
    time_width: int = 20
    freq_masks: int = 1
    freq_width: int = 4
    mixup: float = 0.0
    mixup_snr_db: tuple = (0.0, 10.0)
    warp: float = 0.0
    warp_range: tuple = (0.88, 1.12)
    mixstyle: float = 0.0
    mixstyle_alpha: float = 0.3
    mixstyle_pool: str = "any"
    noise_mix: float = 0.0
    noise_mix_snr_db: tuple = (0.0, 15.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelAugmentParams":
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def mel_centres(n_mels: int, sr: int = 16000) -> np.ndarray:
    """Centre frequencies in Hz of the ``n_mels`` Slaney mel bands up to ``sr / 2``."""
    import librosa
    return librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=sr / 2)[1:-1]


def mix_power(L: np.ndarray, B: np.ndarray, snr_db: float) -> np.ndarray:
    """Add background ``B`` to ``L`` (both dB log-mel ``(bands, frames)``) at ``snr_db`` dB."""
    P, Q = 10.0 ** (L / 10), 10.0 ** (B / 10)
    scale = P.sum() / (max(Q.sum(), 1e-20) * 10.0 ** (snr_db / 10))
    return 10 * np.log10(np.maximum(P + scale * Q, 1e-10))


def eq_curve(n_mels: int, rng: np.random.Generator, max_db: float) -> np.ndarray:
    """A smooth random gain curve over bands: tilt plus three cosines, peak |gain| ≤ ``max_db``."""
    x = (np.arange(n_mels) + 0.5) / n_mels
    g = rng.uniform(-1, 1) * (x - 0.5)
    for k in (1, 2, 3):
        g = g + rng.uniform(-1, 1) / k * np.cos(np.pi * k * x + rng.uniform(0, 2 * np.pi))
    return (g / max(np.abs(g).max(), 1e-6) * rng.uniform(0, max_db)).astype(np.float32)


def band_curve(centres: np.ndarray, rng: np.random.Generator, max_db: float = 60.0) -> np.ndarray:
    """Gain in dB of a random band limit: 48 dB per octave beyond the edges, at most ``max_db`` down."""
    kind = rng.integers(3)
    low, high = [(300.0, 3400.0), (100.0, 4500.0), (0.0, rng.uniform(2000, 7000))][kind]
    octaves = np.maximum(0, np.log2(centres / high))
    if low > 0:
        octaves = octaves + np.maximum(0, np.log2(low / np.maximum(centres, 1.0)))
    return -np.minimum(max_db, 48.0 * octaves).astype(np.float32)


def room_tail(L: np.ndarray, rt60: float, drr_db: float, frame_s: float = 0.01) -> np.ndarray:
    """Add an exponentially decaying tail (RT60 ``rt60`` s) in every band of dB log-mel ``L``.

    The tail's total power is ``drr_db`` below the direct sound; causal, per band.
    """
    a = float(np.exp(-13.8 * frame_s / rt60))  # power falls 60 dB (a factor e^13.8) in rt60
    P = 10.0 ** (L / 10)
    import scipy.signal  # the training extra

    tail = scipy.signal.lfilter([0.0, 1.0], [1.0, -a], P, axis=-1)
    c = (1 - a) / a * 10 ** (-drr_db / 10)
    return 10 * np.log10(np.maximum(P + c * tail, 1e-10))


def spec_masks(L: np.ndarray, rng: np.random.Generator, p: MelAugmentParams) -> np.ndarray:
    """SpecAugment masks on one clip ``(bands, frames)``: masked cells take the clip's mean."""
    L = L.copy()
    m = L.mean()
    for _ in range(p.time_masks):
        w = int(rng.integers(0, p.time_width + 1))
        s = int(rng.integers(0, max(1, L.shape[1] - w)))
        L[:, s:s + w] = m
    for _ in range(p.freq_masks):
        w = int(rng.integers(0, p.freq_width + 1))
        s = int(rng.integers(0, max(1, L.shape[0] - w)))
        L[s:s + w] = m
    return L


def warp_bands(L: np.ndarray, factor: float) -> np.ndarray:
    """Stretch dB log-mel ``L`` ``(bands, frames)`` along the band axis by ``factor``.

    Band ``b`` takes the value at position ``b / factor`` (linear interpolation, edge bands
    repeated): ``factor > 1`` moves energy up in frequency.
    """
    n = L.shape[0]
    pos = np.clip(np.arange(n) / factor, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    return (L[lo] * (1 - w) + L[hi] * w).astype(np.float32)


def mix_band_stats(L: np.ndarray, B: np.ndarray, lam: float) -> np.ndarray:
    """Freq-MixStyle: ``L`` (bands, frames) with each band's mean and standard deviation over time
    replaced by ``lam`` times its own plus ``1 - lam`` times those of ``B`` (bands, any frames).

    After Kim et al. / Schmid et al., DCASE 2022: the per-band statistics of a log-mel clip
    carry its recording channel; mixing them with another clip's draws a new, real channel.
    """
    mu, sd = L.mean(axis=1, keepdims=True), L.std(axis=1, keepdims=True) + 1e-3
    mu_b, sd_b = B.mean(axis=1, keepdims=True), B.std(axis=1, keepdims=True) + 1e-3
    out = (L - mu) / sd * (lam * sd + (1 - lam) * sd_b) + lam * mu + (1 - lam) * mu_b
    return np.maximum(out, FLOOR_DB).astype(np.float32)


def augment_clip(L: np.ndarray, label: str, rng: np.random.Generator, p: MelAugmentParams,
                 background, centres: np.ndarray) -> np.ndarray:
    """One random chain on one dB log-mel clip ``(bands, frames)``.

    ``background(kinds, rng)`` returns a dB log-mel clip of the same shape from one of the
    classes in ``kinds`` (or ``None``).
    """
    if p.mixstyle > 0 and rng.random() < p.mixstyle:
        pool = (label,) if p.mixstyle_pool == "same" else ("speech", "music", "noise")
        B = background(pool, rng)
        if B is not None:
            L = mix_band_stats(L, B, rng.beta(p.mixstyle_alpha, p.mixstyle_alpha))
    if p.mixup > 0 and rng.random() < p.mixup:
        B = background((label,), rng)
        if B is not None:
            L = mix_power(L, B, rng.uniform(*p.mixup_snr_db))
    if p.warp > 0 and rng.random() < p.warp:
        L = warp_bands(L, rng.uniform(*p.warp_range))
    if label == "noise" and p.noise_mix > 0 and rng.random() < p.noise_mix:
        B = background(("noise",), rng)
        if B is not None:
            L = mix_power(L, B, rng.uniform(*p.noise_mix_snr_db))
    kinds = {"speech": ("noise", "music"), "music": ("noise",)}.get(label, ())
    if kinds and rng.random() < p.mix:
        B = background(kinds, rng)
        if B is not None:
            L = mix_power(L, B, rng.uniform(*p.snr_db))
    if rng.random() < p.reverb:
        L = room_tail(L, rng.uniform(*p.rt60), rng.uniform(*p.drr_db))
    g = np.zeros(L.shape[0], np.float32)
    if rng.random() < p.eq:
        g += eq_curve(L.shape[0], rng, p.eq_db)
    if rng.random() < p.band:
        g += band_curve(centres, rng, p.band_db)
    L = np.maximum(L + g[:, None] + rng.uniform(-p.gain_db, p.gain_db), FLOOR_DB)
    return spec_masks(L, rng, p).astype(np.float32)


def mel_to_mfcc(L: np.ndarray, n_mfcc: int, deltas: int) -> np.ndarray:
    """MFCC (+ Δ, ΔΔ) of one dB log-mel clip, exactly as the inference front end computes them."""
    return add_deltas(cepstra(np.asarray(L, np.float32), n_mfcc), deltas)
