"""Feature parameters: one frozen dataclass that travels with every model."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

KINDS = ("mfcc", "logmel", "stft")


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of a frame-wise feature.

    Defaults are the SwishNet paper's: 16 kHz, 25 ms Hann window (400 samples) in a
    512-point FFT, 10 ms hop, 32 mel bands, 20 MFCCs. Frames are not centred: frame
    ``i`` covers samples ``[i * hop_length, i * hop_length + n_fft)``, so block-wise
    extraction equals whole-file extraction exactly.

    Parameters
    ----------
    kind : {"mfcc", "logmel", "stft"}
    sr : int
        Sample rate the audio is read at.
    n_fft, win_length, hop_length : int
        FFT size, window length and hop in samples.
    n_mels : int
        Mel bands (32 for MFCC, 64 for the MobileNet log-mel).
    n_mfcc : int
        Cepstral coefficients kept (MFCC only).
    deltas : int
        0: static only; 1: + delta; 2: + delta and delta-delta (MFCC only).
    """

    kind: str = "mfcc"
    sr: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 32
    n_mfcc: int = 20
    deltas: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r}; choose one of {KINDS}")
        if self.win_length > self.n_fft:
            raise ValueError("win_length must not exceed n_fft")
        if self.deltas not in (0, 1, 2):
            raise ValueError("deltas must be 0, 1 or 2")
        if min(self.sr, self.n_fft, self.win_length, self.hop_length, self.n_mels, self.n_mfcc) <= 0:
            raise ValueError("feature sizes must be positive")

    @property
    def n_channels(self) -> int:
        """Rows of the feature matrix."""
        if self.kind == "mfcc":
            return self.n_mfcc * (1 + self.deltas)
        if self.kind == "logmel":
            return self.n_mels
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sr / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames produced from ``n_samples`` samples."""
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop_length

    def with_(self, **changes) -> "FeatureParams":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureParams":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key(self) -> str:
        """Short stable hash used in cache keys."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


MFCC = FeatureParams()
MFCC_DELTAS = FeatureParams(deltas=2)
LOGMEL = FeatureParams(kind="logmel", n_mels=64)
STFT = FeatureParams(kind="stft", sr=11025, n_fft=512, win_length=512, hop_length=256)
