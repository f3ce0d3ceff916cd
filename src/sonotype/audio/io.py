"""Read any audio file to mono float32 at a chosen rate, whole or in blocks; write WAV.

Every failure is an :class:`AudioError` whose message names the file and the problem
in one line, so batch commands can report it and go on.
"""
from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from ..atomic import atomic_path
from .guard import CancelCheck, check_length, check_regular

DEFAULT_SR = 16000


class AudioError(Exception):
    """A file that cannot be read as audio; ``str(err)`` is ``"<path>: <problem>"``."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    path: str
    sample_rate: int
    frames: int
    channels: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_path(path) -> Path:
    check_regular(path, AudioError)
    return Path(path)


def _decode_error(path, err: Exception) -> AudioError:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "Error opening" in msg and ":" in msg:
        msg = msg.rsplit(":", 1)[-1].strip()
    return AudioError(path, f"cannot decode audio: corrupt or unsupported format ({msg})")


def info(path) -> AudioInfo:
    """Header information of ``path``.

    Raises
    ------
    AudioError
        Missing, empty, not a regular file (directory, FIFO, device), link loop, corrupt or unsupported file.
    """
    p = _check_path(path)
    try:
        i = sf.info(str(p))
    except Exception as err:  # libsndfile raises several types
        raise _decode_error(p, err) from None
    if i.samplerate <= 0:
        raise AudioError(p, f"invalid sample rate {i.samplerate}")
    return AudioInfo(str(p), int(i.samplerate), int(i.frames), int(i.channels), i.format, i.subtype)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels of a (frames, channels) array to float32 mono."""
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    return x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0].astype(np.float32, copy=False)


def _finite(path, y: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(y)):
        raise AudioError(path, "contains NaN or Inf samples")
    return y


def resample(y: np.ndarray, orig_sr: int, sr: int) -> np.ndarray:
    """Resample mono float32 audio with soxr (high quality)."""
    if orig_sr == sr or y.size == 0:
        return y.astype(np.float32, copy=False)
    return soxr.resample(y, orig_sr, sr, quality="HQ").astype(np.float32, copy=False)


def load(path, sr: int | None = DEFAULT_SR, offset: float = 0.0,
         duration: float | None = None) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sr`` Hz (``None`` keeps the file's rate).

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads (wav, flac, ogg, mp3, au, aiff...).
    sr : int or None
        Target sample rate.
    offset, duration : float
        Seconds to skip and to read (``None``: to the end).

    Returns
    -------
    numpy.ndarray
        1-D float32 samples.

    Raises
    ------
    AudioError
        Missing, empty, not a regular file, corrupt, unsupported, longer than :func:`~sonotype.audio.guard.max_hours`,
        no samples, NaN/Inf samples.
    """
    i = info(path)
    if i.frames == 0:
        raise AudioError(path, "contains no audio samples (0 frames)")
    check_length(path, i.frames if duration is None else min(i.frames, duration * i.sample_rate),
                 i.sample_rate, AudioError)
    start = int(round(offset * i.sample_rate))
    stop = None if duration is None else start + int(round(duration * i.sample_rate))
    try:
        x, file_sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as err:
        raise _decode_error(path, err) from None
    if x.shape[0] == 0:
        raise AudioError(path, "contains no audio samples")
    y = _finite(path, to_mono(x))
    cancel = CancelCheck(path)
    cancel.add(x, y)
    cancel.done()
    if sr is None:
        return y
    y = resample(y, file_sr, sr)
    if y.size == 0:
        raise AudioError(path, _too_short(x.shape[0], file_sr, sr))
    return y


def _too_short(frames: int, file_sr: int, sr: int) -> str:
    return f"too short: {frames} frame(s) at {file_sr} Hz is less than one sample at {sr} Hz"


def stream(path, sr: int = DEFAULT_SR, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks of ``path`` at ``sr`` Hz in bounded memory.

    Concatenating the blocks gives the same samples as :func:`load` up to the
    resampler's edge effects (none when no resampling is needed).
    """
    i = info(path)
    if i.frames == 0:
        raise AudioError(path, "contains no audio samples (0 frames)")
    check_length(path, i.frames, i.sample_rate, AudioError)
    cancel = CancelCheck(path)
    blocksize = max(1024, int(block_seconds * i.sample_rate))
    rs = None if i.sample_rate == sr else soxr.ResampleStream(i.sample_rate, sr, 1, dtype="float32", quality="HQ")
    got = out = 0
    try:
        blocks = sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True)
        for x in blocks:
            got += len(x)
            y = _finite(path, to_mono(x))
            cancel.add(x, y)
            if rs is not None:
                y = rs.resample_chunk(y, last=False)
            if y.size:
                out += y.size
                yield y
    except AudioError:
        raise
    except Exception as err:
        raise _decode_error(path, err) from None
    if got == 0:
        raise AudioError(path, "contains no audio samples")
    cancel.done()
    if rs is not None:
        tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
        if tail.size:
            yield tail
        elif out == 0:
            raise AudioError(path, _too_short(got, i.sample_rate, sr))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def prefetch(blocks: Iterator, depth: int = 2) -> Iterator:
    """Iterate ``blocks`` (e.g. :func:`stream`) in a background thread, up to ``depth`` items ahead.

    Decoding a file (libsndfile, soxr and numpy release the GIL) then overlaps with the work done
    on each block on another core; the items and their order are those of ``blocks``. An
    exception of ``blocks`` is raised here, where the item would have come; when the consumer
    stops early, the thread closes ``blocks`` after the item it is reading.
    """
    q, stop, end = queue.Queue(maxsize=max(1, int(depth))), threading.Event(), object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in blocks:
                if not put((item, None)):
                    break
            else:
                put((end, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put((end, err))
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="sonotype-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def write_wav(path, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write mono or (frames, channels) audio as WAV atomically (temp file + rename)."""
    with atomic_path(path, ".wav") as tmp:
        sf.write(tmp, np.asarray(y), sr, subtype=subtype, format="WAV")
    return Path(path)
