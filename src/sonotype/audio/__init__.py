"""Audio input and output."""
from .guard import AudioWarning, max_hours
from .io import DEFAULT_SR, AudioError, AudioInfo, info, load, resample, stream, to_mono, write_wav

__all__ = ["DEFAULT_SR", "AudioError", "AudioInfo", "AudioWarning", "info", "load", "max_hours", "resample", "stream",
           "to_mono", "write_wav"]
