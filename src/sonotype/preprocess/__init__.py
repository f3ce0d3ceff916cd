"""Preprocessing: silence removal, loudness equalisation, Log-MMSE denoising."""
from .core import (PreprocessParams, apply, block_rms_db, equalise_loudness, frame_rms_db,
                   logmmse_denoise, remove_silence, row_sums, silence_mask)

__all__ = ["PreprocessParams", "apply", "block_rms_db", "equalise_loudness", "frame_rms_db",
           "logmmse_denoise", "remove_silence", "row_sums", "silence_mask"]
