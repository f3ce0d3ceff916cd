"""Segmentation evaluation on an artificial corpus (the paper's Table V).

Every file of a corpus made by :func:`sonotype.data.synth.synth_segments` is
segmented with each context window and smoothing; frame labels (10 ms) are compared with
the ground truth, silence frames excluded, pooled over all files; beside them the standard
metrics of :mod:`sonotype.evaluate.standard` (pyannote.metrics) over whole files.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import write_text
from ..data.synth import read_index, read_truth
from ..infer.classify import Classifier
from ..infer.segment import Segmenter
from .figures import plot_accuracy_by_window, plot_confusion
from .metrics import frame_metrics
from .standard import StandardMetrics
from .tables import segment_table


def _model_name(clf: Classifier) -> str:
    ck = clf.checkpoint
    return str(ck.get("extra", {}).get("name") or ck.get("arch") or "model")


def score_file(segmenter: Segmenter, audio, truth):
    """True and predicted frame labels of one file (same length, object arrays)."""
    result = segmenter.segment(audio)
    true = read_truth(truth, result.hop_s, result.duration)
    pred = result.labels
    n = min(len(true), len(pred))
    return true[:n], pred[:n], result.duration


def evaluate_segments(model, data_dir, windows=(0.5, 1.0, 2.0), median: int = 200, out=None,
                      silence_db: float = -50.0, name: str | None = None, limit: int | None = None,
                      progress: bool = True, smoothings=("viterbi",), decoder=None) -> list:
    """Frame accuracy of segmentation for several context windows.

    Parameters
    ----------
    model : Classifier or str or Path
        Classifier, bundled model name or checkpoint path.
    data_dir : str or Path
        Folder with ``index.csv``, the WAV files and their truth CSVs.
    windows : sequence of float
        Context windows in seconds.
    median : int
        Median filter length in frames.
    out : str or Path, optional
        Folder for ``metrics.json``, ``table.md``, ``accuracy_by_window.png``
        and ``confusion_<window>s.png``.
    silence_db : float
        Silence threshold of the segmenter (dBFS).
    name : str, optional
        Model name in the table (default: the checkpoint's ``arch``, e.g. ``"slim"``).
    limit : int, optional
        Use only the first ``limit`` files.
    progress : bool
        Show a progress bar (when on a terminal).
    smoothings : sequence of str
        ``"viterbi"`` and / or ``"median"``.
    decoder : DecoderConfig, optional
        Decoder settings (default: the segmenter's).

    Returns
    -------
    list of dict
        One row per (smoothing, window): ``model``, ``smoothing``, ``window``, ``median``, ``files``,
        ``audio_s``, ``wall_s``, ``speed`` (audio seconds per wall second),
        ``metrics`` (:func:`~sonotype.evaluate.metrics.frame_metrics`
        pooled over the files: ``accuracy``, ``speech_accuracy`` (speech vs
        non-speech), per-class ``recall``, ``confusion``, ...), ``standard``
        (:meth:`StandardMetrics.result`) and ``shortest_segment_s`` (shortest non-silence
        segment that is not a whole file).
    """
    clf = model if isinstance(model, Classifier) else Classifier(model)
    name = name or _model_name(clf)
    files = read_index(data_dir)[:limit]
    if not files:
        raise ValueError(f"{data_dir}: index.csv lists no files")
    rows = []
    for smoothing in smoothings:
        for window in windows:
            seg = Segmenter(clf, window=window, median=median, silence_db=silence_db, smoothing=smoothing,
                            decoder=decoder)
            rows.append(_evaluate(seg, files, name, progress))
    if out is not None:
        write_outputs(rows, out)
    return rows


def _evaluate(seg, files, name, progress) -> dict:
    """One row of :func:`evaluate_segments`: ``seg`` over ``files``."""
    e = seg.engine
    trues, preds, audio_s, wall, shortest = [], [], 0.0, 0.0, float("inf")
    standard = StandardMetrics()
    for f in tqdm(files, desc=f"segment {e.smoothing} {e.window:g} s", disable=not progress or None):
        t0 = time.perf_counter()
        result = seg.segment(f["audio"])
        wall += time.perf_counter() - t0
        true = read_truth(f["truth"], result.hop_s, result.duration)
        n = min(len(true), len(result.frame_labels))
        audio_s += result.duration
        trues.append(true[:n])
        preds.append(result.labels[:n])
        standard.add(true[:n], result.labels[:n], result.hop_s)
        inner = [s.duration for s in result.segments if s.label != "silence" and s.duration < result.duration]
        shortest = min([shortest] + inner)
    metrics = frame_metrics(np.concatenate(trues), np.concatenate(preds), seg.classifier.classes)
    return {"model": name, "smoothing": e.smoothing, "window": float(e.window), "median": int(e.median),
            "decoder": e.decoder.to_dict(), "files": len(files), "audio_s": round(audio_s, 3),
            "wall_s": round(wall, 3), "speed": round(audio_s / wall, 1) if wall > 0 else None,
            "metrics": metrics, "standard": standard.result(),
            "shortest_segment_s": round(shortest, 3) if np.isfinite(shortest) else None}


def write_outputs(rows, out) -> Path:
    """Write ``metrics.json``, ``table.md``, ``accuracy_by_window.png`` and confusions to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "metrics.json", json.dumps(rows, indent=1) + "\n")
    write_text(out / "table.md", segment_table(rows) + "\n")
    several = len({r.get("smoothing") for r in rows}) > 1
    plot_accuracy_by_window([{**r, "model": f"{r['model']} {r['smoothing']}"} if several else r for r in rows],
                            out / "accuracy_by_window.png")
    for r in rows:
        m, sm = r["metrics"], r.get("smoothing", "median")
        plot_confusion(m["confusion"], m["classes"], out / f"confusion_{r['model']}_{sm}_{r['window']:g}s.png",
                       title=f"{r['model']}, {sm}, window {r['window']:g} s", columns=m["confusion_columns"])
    return out
