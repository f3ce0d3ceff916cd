"""Frame-wise audio features: MFCC (+Δ, ΔΔ), log-mel, STFT magnitude."""
from .extract import FeatureStream, add_deltas, cepstra, extract, log_mel, mfcc, power_spectrogram, stft_magnitude
from .params import KINDS, LOGMEL, MFCC, MFCC_DELTAS, STFT, FeatureParams

__all__ = ["FeatureParams", "FeatureStream", "KINDS", "LOGMEL", "MFCC", "MFCC_DELTAS", "STFT",
           "add_deltas", "cepstra", "extract", "log_mel", "mfcc", "power_spectrogram", "stft_magnitude"]
