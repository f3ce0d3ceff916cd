"""Checks made before audio is decoded: what kind of file a path is, how long its header says
it lasts, and whether its channels cancel when mixed to mono.

Each check raises :class:`~sonotype.audio.io.AudioError` (or warns) with the real cause in one line.
"""
from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path

import numpy as np

MAX_HOURS_ENV = "SONOTYPE_MAX_AUDIO_HOURS"
DEFAULT_MAX_HOURS = 24.0
# mono quieter than the channels by this much (and they are not silent): they cancel out
CANCEL_DB = 30.0

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class AudioWarning(UserWarning):
    """Audio that is read, but probably not as the user meant (e.g. channels that cancel)."""


def stat_error(err: OSError) -> str:
    """The cause of a failed ``stat``/``open`` of an input, in words."""
    if err.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if err.errno == errno.ENOENT:
        return "no such file"
    if err.errno == errno.ENOTDIR:
        return "no such file (a part of the path is not a folder)"
    if err.errno == errno.EACCES:
        return "permission denied"
    return f"cannot open ({err.strerror or err})"


def _cause(p: Path, err: OSError) -> str:
    if err.errno == errno.ENOENT and os.path.islink(p):
        return f"broken symbolic link (to {os.readlink(p)})"
    return stat_error(err)


def file_kind(mode: int) -> str | None:
    """``None`` for a regular file, else what it is (``"a FIFO (named pipe)"``...)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path, error) -> os.stat_result:
    """``os.stat`` of ``path`` (following links), or ``error(path, cause)`` raised when it is not
    a readable, non-empty regular file: missing, broken link, link loop, directory, FIFO, device."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as err:
        raise error(p, _cause(p, err)) from None
    kind = file_kind(st.st_mode)
    if kind == "a directory":
        raise error(p, "is a directory, not an audio file")
    if kind is not None:
        raise error(p, f"is {kind}, not a regular file; only regular files are read as audio")
    if st.st_size == 0:
        raise error(p, "empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise error(p, "permission denied")
    return st


def open_regular(path, error):
    """Open ``path`` for binary reading, without blocking on a FIFO; ``error(path, cause)`` unless it
    is a regular file (what :func:`check_regular` refuses, checked on the open file itself)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise error(Path(path), _cause(Path(path), err)) from None
    kind = file_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise error(Path(path), "is a directory, not an audio file" if kind == "a directory"
                    else f"is {kind}, not a regular file; only regular files are read as audio")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def max_hours() -> float:
    """The decoded-length limit in hours: ``$SONOTYPE_MAX_AUDIO_HOURS`` or 24 (``0`` or ``inf``: none)."""
    text = os.environ.get(MAX_HOURS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_HOURS
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{MAX_HOURS_ENV}={text!r}: expected a number of hours") from None
    return float("inf") if v == 0 or v != v else v


def check_length(path, frames: int, rate: int, error, limit_hours: float | None = None) -> None:
    """Refuse, before decoding, a file whose header claims more than ``limit_hours`` of audio
    (a small file claiming a tiny sample rate expands to hours of samples)."""
    limit = max_hours() if limit_hours is None else limit_hours
    hours = frames / rate / 3600
    if hours > limit:
        raise error(path, f"header claims {hours:.1f} h of audio ({frames} frames at {rate} Hz), more than "
                          f"the limit of {limit:g} h; set {MAX_HOURS_ENV} to raise it")


class CancelCheck:
    """Sums the energy of the channels and of their mono mix over blocks; warns once at the end
    when the mix is :data:`CANCEL_DB` quieter than the channels (anti-phase stereo)."""

    def __init__(self, path):
        self.path, self.chan, self.mono = str(path), 0.0, 0.0

    def add(self, x: np.ndarray, mono: np.ndarray) -> None:
        if x.ndim == 2 and x.shape[1] > 1:
            self.chan += float(np.mean(x.astype(np.float64) ** 2, axis=1).sum())
            self.mono += float(np.sum(mono.astype(np.float64) ** 2))

    def done(self) -> None:
        if self.chan > 1e-12 and self.mono < self.chan * 10 ** (-CANCEL_DB / 10):
            warnings.warn(f"{self.path}: its channels cancel out when mixed to mono (anti-phase stereo?); "
                          "it will sound like silence", AudioWarning, stacklevel=3)
