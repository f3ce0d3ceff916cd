"""Segment lists and the file formats they are written in.

A segmentation is a list of :class:`Segment` covering a recording from 0 to
its duration. It can be written as

- ``csv``: header ``start,end,label,confidence``, seconds to 3 decimals;
- ``audacity``: an Audacity label track, ``start<TAB>end<TAB>label``;
- ``rttm``: NIST RTTM ``SPEAKER`` lines, the label in the speaker field;
- ``json``: ``{"uri", "duration", "segments": [...]}``;
- ``textgrid``: a Praat long-format TextGrid with one interval tier
  ``labels`` (written by praatio).

Every segment is written, silence included, in every format (an RTTM
reader that wants only speech can filter on the label field).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

FORMATS = ("csv", "audacity", "rttm", "json", "textgrid")
SUFFIX = {
    "csv": ".csv",
    "audacity": ".txt",
    "rttm": ".rttm",
    "json": ".json",
    "textgrid": ".TextGrid",
}
TIER_NAME = "labels"


@dataclass(frozen=True)
class Segment:
    """One labelled stretch of audio.

    Attributes
    ----------
    start, end : float
        Bounds in seconds, ``start < end``.
    label : str
        Class name, e.g. ``"speech"`` or ``"silence"``.
    confidence : float
        Mean probability of the label over the segment; NaN when unknown
        (formats that do not store it, such as Audacity labels).
    """

    start: float
    end: float
    label: str
    confidence: float = float("nan")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


def segments_from_frames(labels, confidences, hop_s, duration=None):
    """Merge runs of equal frame labels into segments.

    Frame ``i`` covers ``[i * hop_s, (i + 1) * hop_s)``. The segments cover
    ``[0, duration]`` without gaps or overlaps: the last one is stretched or
    cut to end at ``duration``, and frames starting at or after it are
    dropped.

    Parameters
    ----------
    labels : sequence of str
        One label per frame.
    confidences : sequence of float
        One confidence per frame (e.g. the winning class probability).
    hop_s : float
        Frame hop in seconds.
    duration : float, optional
        Length of the recording in seconds; ``len(labels) * hop_s`` if None.

    Returns
    -------
    list of Segment
        Confidence of a segment is the mean of its frame confidences.
    """
    labels = np.asarray(labels, dtype=object)
    conf = np.asarray(confidences, dtype=float)
    if labels.shape != conf.shape or labels.ndim != 1:
        raise ValueError("labels and confidences must be 1-D and of equal length")
    names, codes = np.unique(labels.astype(str), return_inverse=True) if len(labels) else ([], labels)
    return segments_from_codes(np.asarray(codes).reshape(-1), conf, list(names), hop_s, duration)


def segments_from_codes(codes, confidences, classes, hop_s, duration=None):
    """:func:`segments_from_frames` on integer frame codes into ``classes`` (no per-frame strings).

    The same segments as ``segments_from_frames(numpy.asarray(classes, object)[codes], ...)``
    for a fraction of the memory: a 10-hour file has 3.6 M frames.
    """
    codes = np.asarray(codes)
    conf = np.asarray(confidences)
    if codes.shape != conf.shape or codes.ndim != 1:
        raise ValueError("codes and confidences must be 1-D and of equal length")
    if hop_s <= 0:
        raise ValueError("hop_s must be positive")
    if duration is None:
        duration = len(codes) * hop_s
    n = min(len(codes), int(math.ceil(duration / hop_s - 1e-9)))
    if n <= 0 or duration <= 0:
        return []
    codes = codes[:n]  # keep only frames that start inside the recording
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    segments = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        end = duration if i == len(starts) - 1 else b * hop_s
        mean = float(conf[a:b].astype(float).mean())  # as segments_from_frames: float64, pairwise
        segments.append(Segment(float(a * hop_s), float(end), str(classes[codes[a]]), mean))
    return segments


def _conf_text(value):
    return "" if value is None or math.isnan(value) else f"{value:.3f}"


def _write_csv(segments, out):
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "end", "label", "confidence"])
    for s in segments:
        writer.writerow([f"{s.start:.3f}", f"{s.end:.3f}", s.label, _conf_text(s.confidence)])


def _write_audacity(segments, out):
    for s in segments:
        out.write(f"{s.start:.6f}\t{s.end:.6f}\t{s.label}\n")


def _write_rttm(segments, out, uri):
    # type file channel onset duration ortho stype name conf slat
    uri = uri.replace(" ", "_")
    for s in segments:
        label = s.label.replace(" ", "_")
        out.write(f"SPEAKER {uri} 1 {s.start:.3f} {s.duration:.3f} <NA> <NA> {label} <NA> <NA>\n")


def _write_json(segments, out, uri, duration):
    items = []
    for s in segments:
        item = asdict(s)
        if math.isnan(s.confidence):
            item["confidence"] = None  # NaN is not valid JSON
        items.append(item)
    json.dump({"uri": uri, "duration": duration, "segments": items}, out, indent=1)
    out.write("\n")


def _write_textgrid(segments, out, duration):
    from praatio import textgrid

    entries = [(s.start, s.end, s.label) for s in segments if s.end > s.start]
    tier = textgrid.IntervalTier(TIER_NAME, entries, 0.0, duration)
    tg = textgrid.Textgrid(0.0, duration)
    tg.addTier(tier)
    # praatio only saves to a path: go through a temporary file
    fd, tmp = tempfile.mkstemp(suffix=".TextGrid")
    os.close(fd)
    try:
        tg.save(tmp, format="long_textgrid", includeBlankSpaces=True)
        with open(tmp, encoding="utf-8") as f:
            out.write(f.read())
    finally:
        os.remove(tmp)


def write_segments(segments, fmt, out, uri="audio", duration=None):
    """Write segments to a text file object.

    Parameters
    ----------
    segments : sequence of Segment
        Sorted, non-overlapping segments.
    fmt : str
        One of :data:`FORMATS`.
    out : file object
        Opened in text mode.
    uri : str
        Recording name (RTTM file field, JSON ``uri``).
    duration : float, optional
        Recording length in seconds; the end of the last segment if None.
        Used by JSON and TextGrid.
    """
    segments = list(segments)
    if duration is None:
        duration = segments[-1].end if segments else 0.0
    if fmt == "csv":
        _write_csv(segments, out)
    elif fmt == "audacity":
        _write_audacity(segments, out)
    elif fmt == "rttm":
        _write_rttm(segments, out, uri)
    elif fmt == "json":
        _write_json(segments, out, uri, float(duration))
    elif fmt == "textgrid":
        _write_textgrid(segments, out, float(duration))
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def _read_text(path_or_file):
    if hasattr(path_or_file, "read"):
        return path_or_file.read()
    with open(path_or_file, encoding="utf-8") as f:
        return f.read()


def _float_or_nan(value):
    return float("nan") if value in (None, "") else float(value)


def read_segments(path_or_file, fmt):
    """Read segments written by :func:`write_segments`.

    Parameters
    ----------
    path_or_file : str, path-like or file object
        Where to read from.
    fmt : {"csv", "audacity", "json"}
        File format.

    Returns
    -------
    list of Segment
        Confidence is NaN for Audacity labels.
    """
    text = _read_text(path_or_file)
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(text))
        return [Segment(float(r["start"]), float(r["end"]), r["label"],
                        _float_or_nan(r.get("confidence"))) for r in rows]
    if fmt == "audacity":
        segments = []
        for line in text.splitlines():
            # lines starting with a backslash hold spectral selections
            if not line.strip() or line.startswith("\\"):
                continue
            start, end, *label = line.split("\t")
            segments.append(Segment(float(start), float(end), label[0] if label else ""))
        return segments
    if fmt == "json":
        data = json.loads(text)
        return [Segment(float(s["start"]), float(s["end"]), s["label"],
                        _float_or_nan(s.get("confidence"))) for s in data["segments"]]
    raise ValueError(f"cannot read format {fmt!r}; expected csv, audacity or json")
