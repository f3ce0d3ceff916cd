"""Frame-wise audio features: MFCC (+Δ, ΔΔ), log-mel, STFT magnitude.

Importing costs numpy only: the extraction functions import librosa and scipy (the
``sonotype[train]`` extra) on first call. The inference core computes features inside the
raw-audio ONNX model instead (:mod:`sonotype.export.frontend`).
"""
from .extract import FeatureStream, add_deltas, cepstra, extract, log_mel, mfcc, power_spectrogram, stft_magnitude
from .params import KINDS, LOGMEL, MFCC, MFCC_DELTAS, STFT, FeatureParams

__all__ = ["FeatureParams", "FeatureStream", "KINDS", "LOGMEL", "MFCC", "MFCC_DELTAS", "STFT",
           "add_deltas", "cepstra", "extract", "log_mel", "mfcc", "power_spectrogram", "stft_magnitude"]
