"""Segments of a live stream of raw 16-bit PCM, as they are decided (``sonotype segment --stream``)."""
from __future__ import annotations

from typing import BinaryIO, Iterator

import numpy as np
import soxr

from .stream import StreamingSegmenter

BLOCK_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono per read


def pcm_blocks(stream: BinaryIO, rate: int, sr: int) -> Iterator[np.ndarray]:
    """Float32 blocks at ``sr`` from raw 16-bit little-endian mono PCM at ``rate`` read from ``stream``.

    A trailing odd byte is carried to the next read; with a resampler, its tail is flushed at
    the end of the stream.
    """
    rs = None if rate == sr else soxr.ResampleStream(rate, sr, 1, dtype="float32")
    carry = b""
    while True:
        chunk = stream.read(BLOCK_BYTES)
        if not chunk:
            break
        data = carry + chunk
        n = len(data) // 2 * 2
        carry = data[n:]
        y = np.frombuffer(data[:n], dtype="<i2").astype(np.float32) / 32768.0
        yield y if rs is None else rs.resample_chunk(y)
    if rs is not None:
        yield rs.resample_chunk(np.zeros(0, np.float32), last=True)


def stream_segments(st: StreamingSegmenter, stream: BinaryIO, rate: int) -> Iterator[tuple]:
    """``(start_s, end_s, label, mean confidence)`` of each segment of ``stream``, yielded as soon as
    the frame after it is decided: consecutive frame decisions of one label are merged."""
    hop = st.hop_s
    current = None  # [start_frame, end_frame, label, confidence sum]

    def finished(decisions):
        nonlocal current
        for t, label, conf in decisions:
            if current is not None and current[2] == label and current[1] == t:
                current[1], current[3] = t + 1, current[3] + conf
                continue
            if current is not None:
                yield _segment(current, hop)
            current = [t, t + 1, label, conf]

    for y in pcm_blocks(stream, rate, st.sr):
        yield from finished(st.push(y))
    yield from finished(st.flush())
    if current is not None:
        yield _segment(current, hop)


def _segment(cur: list, hop: float) -> tuple:
    start, end, label, conf = cur
    return start * hop, end * hop, label, conf / (end - start)
