"""Audio input and output."""
from .io import DEFAULT_SR, AudioError, AudioInfo, info, load, resample, stream, to_mono, write_wav

__all__ = ["DEFAULT_SR", "AudioError", "AudioInfo", "info", "load", "resample", "stream", "to_mono", "write_wav"]
