"""Clip arithmetic over frames, with numpy alone (inference and training both cut clips so)."""
from __future__ import annotations

import numpy as np

from ..features.params import FeatureParams


def clip_length(seconds: float, params: FeatureParams) -> int:
    """Frames in a clip of ``seconds`` (100 per second at a 10 ms hop)."""
    if seconds <= 0:
        raise ValueError(f"clip length must be positive, got {seconds}")
    return max(1, int(round(seconds * params.frame_rate)))


def clip_starts(n_frames: int, length: int, hop: int, min_fraction: float = 0.25) -> list:
    """Start frames of clips of ``length`` every ``hop`` frames.

    A file shorter than one clip but at least ``min_fraction`` of it gives one clip
    (looped to length, see :func:`fit_length`); shorter ones give none.
    """
    if n_frames >= length:
        return list(range(0, n_frames - length + 1, hop))
    return [0] if n_frames >= max(1, min_fraction * length) else []


def fit_length(F: np.ndarray, length: int) -> np.ndarray:
    """Loop ``F`` along time until it has at least ``length`` frames."""
    if F.shape[1] >= length or F.shape[1] == 0:
        return F
    return np.tile(F, (1, -(-length // F.shape[1])))
