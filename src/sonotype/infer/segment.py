"""Segment a recording into speech / music / noise / silence every 10 ms.

:class:`Segmenter` reads a file in blocks (bounded memory, any length) and runs
them through :class:`~sonotype.infer.stream.StreamingSegmenter`, which holds
the frame math (context window, Viterbi decoding or median filter, silence); see
:mod:`sonotype.infer.stream` for exactly what ``window`` and ``median`` mean and
:mod:`sonotype.infer.decode` for the decoder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..audio import info, prefetch, resample, stream
from .formats import Segment, segments_from_codes
from .stream import SILENCE, StreamingSegmenter


@dataclass
class SegmentationResult:
    """Frame labels and segments of one recording.

    Attributes
    ----------
    segments : list of Segment
        Cover ``[0, duration]`` without gaps or overlaps; confidence is the
        mean probability of the label (1 for silence).
    frame_labels : numpy.ndarray
        int8 codes into :attr:`classes`, one per 10 ms frame (frame ``t``
        centred at ``t * hop_s``).
    classes : list of str
        The model's classes followed by ``"silence"``.
    probs : numpy.ndarray
        (n_frames, n_model_classes) float32, window-averaged (and median-filtered
        per class with ``smoothing="median"``, so a row need not sum to 1).
    confidence : numpy.ndarray
        Per-frame winning-class probability (1 for silence).
    hop_s : float
        Frame hop in seconds.
    duration : float
        Recording length in seconds.
    path : str
        File name, or ``"<array>"``.
    """

    segments: list
    frame_labels: np.ndarray
    classes: list
    probs: np.ndarray = field(repr=False)
    confidence: np.ndarray = field(repr=False)
    hop_s: float = 0.01
    duration: float = 0.0
    path: str = "<array>"

    @property
    def labels(self) -> np.ndarray:
        """Frame labels as an object array of class names."""
        return np.asarray(self.classes, dtype=object)[self.frame_labels]

    @property
    def model_classes(self) -> list:
        """Classes of the model (without ``"silence"``), the columns of :attr:`probs`."""
        return [c for c in self.classes if c != SILENCE]

    def totals(self) -> dict:
        """Seconds per label."""
        out = {c: 0.0 for c in self.classes}
        for s in self.segments:
            out[s.label] = out.get(s.label, 0.0) + s.duration
        return out


class Segmenter:
    """Label every 10 ms of a recording with a trained classifier.

    Parameters
    ----------
    classifier_or_checkpoint : Classifier or str or Path or dict
        A loaded classifier, a bundled model name (``"wide"``, ``"slim"``) or a checkpoint.
    window : float, optional
        Context window in seconds: frame ``t``'s probabilities are the mean of
        the model's per-frame outputs over ``round(100 * window)`` frames
        centred on ``t`` (frames ``t + h - w + 1 .. t + h``, ``h = w // 2``),
        silent frames left out of the mean. Default ``decoder.window``.
    median : int, optional
        Median filter length in frames over the averaged probabilities
        (``smoothing="median"``; default ``decoder.median``).
    silence_db : float
        Frames whose 25 ms RMS (of the original signal) is below this many dBFS
        for at least ``min_silence`` seconds are labelled ``"silence"``.
    block_seconds : float
        Seconds read from the file at a time.
    min_silence : float
        Shortest silence in seconds.
    smoothing : str, optional
        ``"viterbi"`` (switch penalty and minimum durations, no segment shorter than its
        class's minimum) or ``"median"`` (the paper's); default ``decoder.smoothing``.
    decoder : DecoderConfig, optional
        Smoothing settings (default :data:`sonotype.infer.decode.DEFAULT`).
    prefetch : bool, optional
        Decode the next blocks of a file in a background thread while this one is labelled
        (:func:`sonotype.audio.prefetch`; the same result). Default: when this process may run on
        more than one core and the classifier was not limited to one thread
        (:attr:`Classifier.decode_ahead <sonotype.infer.classify.Classifier.decode_ahead>`).

    Raises
    ------
    NotImplementedError
        For models without frame-level output (MobileNet).

    Examples
    --------
    >>> seg = Segmenter("wide", window=1.0)                 # doctest: +SKIP
    >>> result = seg.segment("radio.ogg")                  # doctest: +SKIP
    >>> result.segments[0]                                 # doctest: +SKIP
    Segment(start=0.0, end=12.34, label='speech', confidence=0.93)
    """

    def __init__(self, classifier_or_checkpoint=None, window: float | None = None, median: int | None = None,
                 silence_db: float = -50.0, block_seconds: float = 60.0, min_silence: float = 0.2,
                 smoothing: str | None = None, decoder=None, prefetch: bool | None = None):
        # eager=False: the network waits for complete blocks (same output, no repeated work)
        self.engine = StreamingSegmenter(classifier_or_checkpoint, window=window, median=median,
                                         silence_db=silence_db, min_silence=min_silence, eager=False,
                                         smoothing=smoothing, decoder=decoder)
        self.classifier = self.engine.classifier
        self.block_seconds = float(block_seconds)
        self.prefetch = self.classifier.decode_ahead if prefetch is None else bool(prefetch)

    @property
    def classes(self) -> list:
        return self.engine.classes

    @property
    def sr(self) -> int:
        return self.engine.sr

    def streaming(self) -> StreamingSegmenter:
        """A fresh :class:`StreamingSegmenter` with the same model and settings."""
        e = self.engine
        return StreamingSegmenter(self.classifier, silence_db=e.silence_db, min_silence=e.min_silence,
                                  decoder=e.decoder)

    def _run(self, blocks, total_s: float | None, name: str) -> SegmentationResult:
        e = self.engine
        e.reset()
        k = len(e.classes) - 1
        guess = int((total_s or 0) / e.hop_s) + 16  # frames expected: filled in place, grown if short
        codes, conf = _Column(guess, (), np.int8), _Column(guess, (), np.float32)
        probs = _Column(guess, (k,), np.float32)
        with tqdm(total=total_s, unit="s", desc=f"segment {name}", disable=None, leave=False,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]") as bar:
            for y in blocks:
                _keep(e.push_arrays(y), codes, conf, probs)
                bar.update(len(y) / e.sr)
            _keep(e.flush_arrays(), codes, conf, probs)
        codes, conf, probs = codes.array(), conf.array(), probs.array()
        duration = e.n_samples / e.sr
        segments = _segments(codes, conf, e.classes, e.hop_s, duration)
        return SegmentationResult(segments, codes, list(e.classes), probs, conf, e.hop_s, duration, name)

    def segment(self, path) -> SegmentationResult:
        """Segment an audio file, reading it in ``block_seconds`` blocks.

        Raises
        ------
        AudioError
            Missing, corrupt or unsupported file.
        """
        return self._run(self.file_blocks(path), info(path).duration, str(path))

    def file_blocks(self, path):
        """The file's samples in ``block_seconds`` blocks at the model's rate, decoded ahead in a
        background thread when :attr:`prefetch` says so (what :meth:`segment` reads)."""
        blocks = stream(path, sr=self.sr, block_seconds=self.block_seconds)
        return prefetch(blocks) if self.prefetch else blocks

    def segment_array(self, y, sr: int | None = None, name: str = "<array>") -> SegmentationResult:
        """Segment mono samples ``y`` at ``sr`` Hz (resampled to the model's rate)."""
        y = np.asarray(y, np.float32).reshape(-1)
        if sr is not None and sr != self.sr:
            y = resample(y, sr, self.sr)
        step = max(1, int(self.block_seconds * self.sr))
        blocks = (y[i:i + step] for i in range(0, len(y), step))
        return self._run(blocks, len(y) / self.sr, name)


class _Column:
    """A growing array of rows of shape ``row`` filled in place (one copy of the data, not two)."""

    def __init__(self, capacity: int, row: tuple, dtype):
        self.data, self.n = np.empty((max(1, capacity),) + row, dtype), 0

    def add(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self.data):
            bigger = np.empty((max(need, 2 * len(self.data)),) + self.data.shape[1:], self.data.dtype)
            bigger[:self.n] = self.data[:self.n]
            self.data = bigger
        self.data[self.n:need] = rows
        self.n = need

    def array(self) -> np.ndarray:
        """The rows so far (a copy only when the guess was too large by more than a few frames)."""
        out = self.data[:self.n]
        return out.copy() if len(self.data) - self.n > 64 else out


def _keep(part, codes: _Column, conf: _Column, probs: _Column) -> None:
    """Append one block's frame codes, confidences and probabilities (see ``push_arrays``)."""
    if len(part[1]):
        codes.add(part[1])
        conf.add(part[2])
        probs.add(part[3])


def _segments(codes, conf, classes, hop_s, duration) -> list:
    """Merge runs of equal frame codes into segments covering ``[0, duration]``."""
    if len(codes) == 0:
        return [Segment(0.0, float(duration), SILENCE, 1.0)] if duration > 0 else []
    return segments_from_codes(codes, conf, classes, hop_s, duration)


def segment_file(path, model=None, window: float | None = None, median: int | None = None,
                 silence_db: float = -50.0, smoothing: str | None = None) -> SegmentationResult:
    """One-call segmentation of a file (what ``sonotype segment`` needs)."""
    return Segmenter(model, window=window, median=median, silence_db=silence_db, smoothing=smoothing).segment(path)
