"""Audio input and output."""
from .guard import AudioWarning, max_hours
from .io import (DEFAULT_SR, AudioError, AudioInfo, info, load, prefetch, resample, stream, to_mono, usable_cores,
                 write_wav)

__all__ = ["DEFAULT_SR", "AudioError", "AudioInfo", "AudioWarning", "info", "load", "max_hours", "prefetch",
           "resample", "stream", "to_mono", "usable_cores", "write_wav"]
