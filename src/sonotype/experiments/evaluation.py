"""Clip metrics of a checkpoint on a corpus split: the function behind ``sonotype evaluate``."""
from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import numpy as np

from ..atomic import write_json, write_text
from ..data import ClipDataset, FeatureCache, Job, clip_length, featurize
from ..evaluate.figures import plot_confusion
from ..evaluate.metrics import clip_metrics
from ..evaluate.tables import clip_table, source_table
from ..infer.classify import Classifier
from ..models import count_parameters
from .parts import load_parts


def clip_dataset(clf: Classifier, items, clip: float, cache_dir=None, workers=None) -> ClipDataset:
    """Standardised clips of ``items`` as the classifier's checkpoint wants them."""
    index = {c: k for k, c in enumerate(clf.classes)}
    items = [i for i in items if i.label in index]
    feats = featurize([Job(i.path, i.label) for i in items], clf.params, clf.prep, FeatureCache(cache_dir),
                      workers=workers, desc="test features")
    return ClipDataset(feats, [index[i.label] for i in items], clip_length(clip, clf.params),
                       sources=[i.source for i in items],
                       deltas=clf.params.deltas if clf.params.kind == "mfcc" else 0,
                       mean=clf.mean.ravel() if clf.mean is not None else None,
                       std=clf.std.ravel() if clf.std is not None else None)


def source_recall(ds: ClipDataset, y, pred, classes) -> dict:
    """``{source: {"label", "files", "n", "accuracy"}}`` over the clips of ``ds`` (sorted by accuracy)."""
    src = np.array([ds.sources[ds.file_of(k)] for k in range(len(ds))], dtype=object)
    rows = {}
    for s in sorted(set(src)):
        m = src == s
        files = {ds.file_of(k) for k in np.flatnonzero(m)}
        rows[s] = {"label": "/".join(sorted({classes[c] for c in np.unique(y[m])})), "files": len(files),
                   "n": int(m.sum()), "accuracy": float(np.mean(pred[m] == y[m]))}
    return dict(sorted(rows.items(), key=lambda kv: (kv[1]["accuracy"], kv[0])))


def write_file_predictions(path, ds: ClipDataset, items, P, classes) -> None:
    """One CSV row per file of ``ds``: path, label, source, clips and its clips' mean probabilities."""
    files = np.array([ds.file_of(k) for k in range(len(ds))])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "source", "clips"] + [f"p_{c}" for c in classes])
    for i, it in enumerate(items):
        m = files == i
        if m.any():
            w.writerow([it.path, it.label, it.source, int(m.sum())] + [f"{v:.6f}" for v in P[m].mean(0)])
    write_text(path, buf.getvalue())


def evaluate_model(checkpoint, items_or_corpus, out=None, clip: float | None = None, split: str | None = None,
                   subset: str = "test", seed: int = 0, holdout_source: str | None = None,
                   cache_dir=None, workers: int | None = None) -> dict:
    """Clip metrics of a checkpoint on a list of items or a corpus's ``subset`` split.

    With ``out``, writes ``metrics.json``, ``table.md`` (the paper's form) and
    ``confusion.png``.
    """
    clf = Classifier(checkpoint)
    clip = clip or clf.clip
    items = items_or_corpus
    if isinstance(items_or_corpus, (str, os.PathLike)):
        items = load_parts(str(items_or_corpus), split, seed, holdout_source)[1][subset]
    t0 = time.time()
    ds = clip_dataset(clf, items, clip, cache_dir, workers)
    X, y = ds.arrays()
    t1 = time.time()
    P = clf.predict_clips(X)
    names = np.array(clf.classes)
    m = clip_metrics(list(names[y]), list(names[P.argmax(1)]), clf.classes)
    m.update(model=clf.checkpoint["arch"], checkpoint=str(checkpoint), clip=clip, files=len(items),
             params=count_parameters(clf.model), predict_seconds=time.time() - t1, feature_seconds=t1 - t0,
             sources=source_recall(ds, y, P.argmax(1), clf.classes))
    if out is not None:
        out = Path(out)
        write_json(out / "metrics.json", m)
        write_file_predictions(out / "predictions.csv", ds, [i for i in items if i.label in clf.classes], P,
                               clf.classes)
        write_text(out / "table.md", clip_table([{"model": m["model"], "params": m["params"], "clip": clip,
                                                  "metrics": m}]) + "\n### Accuracy by source\n\n"
                   + source_table(m["sources"]))
        plot_confusion(m["confusion"], clf.classes, out / "confusion.png",
                       title=f"{m['model']} · {clip:g} s clips · acc {100 * m['accuracy']:.2f} %")
    return m
