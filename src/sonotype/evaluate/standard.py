"""Standard segmentation metrics from ``pyannote.metrics``, pooled over files.

- **detection error rate** (speech vs the rest): (missed speech + false alarm) / speech time,
  over the whole file (silence counts as non-speech), no collar;
- **segmentation coverage / purity** (tolerance 0.5 s: gaps shorter than it inside a reference
  label are filled first);
- **boundary precision / recall** at ±0.5 s: a boundary is a change of label.

Frame labels (10 ms) are turned into label runs; the reference and the hypothesis are built the
same way, so the metrics see the same grid as the frame accuracy.
"""
from __future__ import annotations

import numpy as np

TOLERANCE = 0.5
SPEECH = "speech"


def annotation(labels, hop_s: float, keep=None):
    """A ``pyannote.core.Annotation`` of the runs of equal labels (frame ``i`` covers
    ``[i * hop_s, (i + 1) * hop_s)``); only labels in ``keep`` when given."""
    from pyannote.core import Annotation, Segment
    labels = np.asarray(labels, dtype=object)
    ann = Annotation()
    if len(labels) == 0:
        return ann
    cut = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts, ends = np.r_[0, cut], np.r_[cut, len(labels)]
    for i, (a, b) in enumerate(zip(starts, ends)):
        if keep is None or labels[a] in keep:
            ann[Segment(round(a * hop_s, 6), round(b * hop_s, 6)), i] = str(labels[a])
    return ann


class StandardMetrics:
    """Accumulate the module's metrics over files; :meth:`result` pools them."""

    def __init__(self, tolerance: float = TOLERANCE, speech: str = SPEECH):
        from pyannote.metrics.detection import DetectionErrorRate
        from pyannote.metrics.segmentation import (SegmentationCoverage, SegmentationPrecision,
                                                   SegmentationPurity, SegmentationRecall)
        self.speech = speech
        self.der = DetectionErrorRate(collar=0.0, skip_overlap=False)
        self.coverage = SegmentationCoverage(tolerance=tolerance)
        self.purity = SegmentationPurity(tolerance=tolerance)
        self.precision = SegmentationPrecision(tolerance=tolerance)
        self.recall = SegmentationRecall(tolerance=tolerance)

    def add(self, true_labels, pred_labels, hop_s: float = 0.01) -> None:
        """Score one file: true and predicted labels per frame (cut to the shorter)."""
        from pyannote.core import Segment, Timeline
        n = min(len(true_labels), len(pred_labels))
        if n == 0:
            return
        t, p = np.asarray(true_labels, object)[:n], np.asarray(pred_labels, object)[:n]
        uem = Timeline([Segment(0, round(n * hop_s, 6))])
        self.der(annotation(t, hop_s, {self.speech}), annotation(p, hop_s, {self.speech}), uem=uem)
        ref, hyp = annotation(t, hop_s), annotation(p, hop_s)
        for metric in (self.coverage, self.purity, self.precision, self.recall):
            metric(ref, hyp)

    def result(self) -> dict:
        """``detection_error_rate``, ``coverage``, ``purity``, ``boundary_precision``,
        ``boundary_recall``, ``boundary_f1`` (fractions) and ``tolerance_s``."""
        prec, rec = abs(self.precision), abs(self.recall)
        return {"detection_error_rate": float(abs(self.der)), "coverage": float(abs(self.coverage)),
                "purity": float(abs(self.purity)), "boundary_precision": float(prec),
                "boundary_recall": float(rec),
                "boundary_f1": float(2 * prec * rec / (prec + rec)) if prec + rec > 0 else 0.0,
                "tolerance_s": self.precision.tolerance}
