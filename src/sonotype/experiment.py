"""Experiments as importable functions: train, evaluate, reproduce the paper's clip table.

The CLI commands ``train``, ``evaluate`` and ``reproduce clips`` are thin layers over these.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from pathlib import Path

import numpy as np

from .data import (AugmentParams, ClipDataset, FeatureCache, Job, MelAugmentParams, clip_length, exclude, featurize,
                   make_split, open_corpus, read_split, write_split)
from .evaluate.figures import plot_confusion
from .evaluate.metrics import clip_metrics
from .evaluate.tables import clip_table, results_grid, source_table
from .infer.classify import Classifier
from .models import count_parameters
from .models.pretrained import resolve_init
from .preprocess import PreprocessParams
from .atomic import write_json, write_npy, write_text  # noqa: F401 (part of this module's API)
from .train import TrainConfig, features_for, fit, load_checkpoint, make_datasets
from .train.teacher import teacher_logits_for

TEMPERATURES = (1, 2, 4, 8, 10)  # the grid of temperature="auto"


def load_parts(corpus: str, split: str | None = None, seed: int = 0, holdout_source: str | None = None,
               exclude_list=None, log=None):
    """Corpus spec → (corpus, {"train", "val", "test": items}), from a split CSV when given.

    Files named in ``exclude_list`` (:func:`~sonotype.data.read_exclusions`) are left out
    of every split, and ``log`` says how many.
    """
    c = open_corpus(corpus)
    if exclude_list:
        c, n = exclude(c, exclude_list)
        if log:
            log(f"left out {n} files listed in {exclude_list}")
    if split:
        keep = {i.path for i in c.items}
        return c, {s: [i for i in its if i.path in keep] for s, its in read_split(split).items()}
    parts, _ = make_split(c, seed=seed, holdout_source=holdout_source)
    return c, parts


def train_model(corpus: str, model: str = "slim", clip: float = 1.0, out="runs/model", split: str | None = None,
                seed: int = 0, augment: AugmentParams | None = None, holdout_source: str | None = None,
                resume: bool = True, cache_dir=None, workers: int | None = None, log=print,
                evaluate: bool = True, deltas: int | None = None, teacher=None, temperature=1.0,
                alpha: float = 0.9, init: str = "random", sweep_epochs: int | None = None,
                mel_augment: MelAugmentParams | None = None, exclude_list=None, **config) -> dict:
    """Train ``model`` on the train split of ``corpus`` (val for early stopping), then
    evaluate on its test split.

    Writes ``out/split.csv``, ``out/model.pt`` (the best checkpoint), ``out/train.json``
    and, with ``evaluate``, the files of :func:`evaluate_model` under ``out/test``.
    ``deltas`` (0, 1, 2) overrides the model's default MFCC deltas (SwishNet: 0, GMM/SNN: 2).

    Distillation: with ``teacher`` (a checkpoint with the same classes) the loss is
    ``alpha`` × soft-target loss at ``temperature`` + (1 − ``alpha``) × label loss; the
    teacher's logits are computed once (:mod:`sonotype.train.teacher`, cached).
    ``temperature="auto"`` first trains one short run of ``sweep_epochs`` epochs (default
    ``max(1, epochs // 5)``) per T in :data:`TEMPERATURES` under ``out/tsweep/T<T>`` and keeps
    the T with the best validation accuracy, so it costs about ``len(TEMPERATURES) ×
    sweep_epochs`` extra epochs. The chosen T and the sweep are in ``train.json`` and in the
    checkpoint's config (``distill``). With ``augment`` the teacher hears the same augmented
    copies as the student (they are remade from the same seeds).

    ``init`` ("random", "imagenet", "imagenet:PATH") initialises a MobileNet's conv layers.
    ``mel_augment`` draws log-mel augmentation afresh for every training batch
    (:mod:`sonotype.data.melaug`; MFCC models, not with a teacher). ``balance="source"``
    (in ``config``) samples every source of a class equally often. ``exclude_list`` (a CSV
    ``path,reason``, paths relative to the corpus root) leaves those files out of every split.
    """
    out = Path(out)
    resolve_init(init, model)
    if teacher is not None:
        if model in ("gmm", "snn"):
            raise ValueError(f"distillation needs a clip-logit student (slim, wide, mobilenet...), not {model}")
        if mel_augment is not None:
            raise ValueError("distillation uses cached teacher logits; it cannot be combined with log-mel augmentation")
        if not (temperature == "auto" or float(temperature) > 0):
            raise ValueError(f"temperature must be positive or 'auto', got {temperature!r}")
    c, parts = load_parts(corpus, split, seed, holdout_source, exclude_list, log)
    assign = {i.path: s for s, its in parts.items() for i in its}
    write_split(out / "split.csv", type(c)(c.kind, c.root, [i for its in parts.values() for i in its]), assign)
    cfg = TrainConfig(model=model, clip=clip, seed=seed, init=init,
                      mel_augment=None if mel_augment is None else mel_augment.to_dict(), **config)
    t0 = time.time()
    params = features_for(model)
    if deltas is not None:
        if params.kind != "mfcc":
            raise ValueError(f"--deltas applies to MFCC models, not {model}")
        params = params.with_(deltas=deltas)
    data = make_datasets({"train": parts["train"], "val": parts["val"]}, params, PreprocessParams(),
                         clip, cache=FeatureCache(cache_dir), aug=augment, seed=seed, workers=workers,
                         mel_aug=mel_augment)
    feat_s = time.time() - t0
    log(f"{model}: {len(data.train)} training clips, {len(data.val) if data.val else 0} validation clips "
        f"of {clip:g} s ({feat_s:.1f} s for features)")
    logits = None
    if teacher is not None:
        t_classes = load_checkpoint(teacher)["classes"]
        if list(t_classes) != list(data.classes):
            raise ValueError(f"{teacher}: teacher classes {list(t_classes)} differ from the student's {data.classes}")
        logits = teacher_logits_for(teacher, data, cache_dir, workers, log)
        sweep = {}
        if temperature == "auto":
            short = dataclasses.replace(cfg, epochs=sweep_epochs or max(1, cfg.epochs // 5))
            for T in TEMPERATURES:
                r = fit(data, short, out / "tsweep" / f"T{T:g}", resume=resume, log=log, teacher_logits=logits,
                        temperature=T, alpha=alpha)
                sweep[str(T)] = r["best_val_accuracy"]
                log(f"temperature {T:g}: val acc {r['best_val_accuracy']:.4f} after {short.epochs} epochs")
            temperature = max(TEMPERATURES, key=lambda T: sweep[str(T)])  # ties: the lowest T
            log(f"chose temperature {temperature:g}")
        cfg.distill = {"teacher": str(teacher), "temperature": float(temperature), "alpha": alpha,
                       "sweep": sweep or None}
    result = fit(data, cfg, out, resume=resume, log=log, teacher_logits=logits,
                 temperature=float(temperature) if teacher is not None else 1.0, alpha=alpha)
    if teacher is not None:
        result["distill"] = cfg.distill
    result["init"] = init
    result.update(corpus=corpus, holdout_source=holdout_source, exclude_list=exclude_list and str(exclude_list), augment=None if augment is None else augment.to_dict(),
                  feature_seconds=feat_s, train_clips=len(data.train))
    if evaluate and parts["test"]:
        result["test"] = evaluate_model(out / "model.pt", parts["test"], out=out / "test", clip=clip,
                                        cache_dir=cache_dir, workers=workers)
    write_json(out / "train.json", result)
    return result


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


def reproduce_clips(corpus: str, out, models=("gmm", "snn", "slim", "wide"), clips=(0.5, 1.0, 2.0),
                    seed: int = 0, log=print, **config) -> str:
    """Train and test every model at every clip length; write ``results.md`` and ``results.json``."""
    out = Path(out)
    rows = []
    for model in models:
        for clip in clips:
            r = train_model(corpus, model, clip, out / f"{model}-{clip:g}s", seed=seed, log=log, **config)
            rows.append({"model": model, "params": r["test"]["params"], "clip": clip, "metrics": r["test"],
                         "train_seconds": r["seconds"]})
    text = "## Clip classification (test split)\n\n" + clip_table(rows) + "\n## Accuracy beside the paper\n\n" \
        + results_grid(rows)
    write_json(out / "results.json", rows)
    write_text(out / "results.md", text)
    return text


def reproduce_holdout(corpus: str, out, sources, model: str = "slim", clip: float = 2.0, copies: int = 1,
                      seed: int = 0, log=print, **config) -> str:
    """Leave-one-source-out: for each source, train without it (with and without augmentation)
    and test on all of its files. Writes ``holdout.md`` and ``holdout.json``."""
    out = Path(out)
    items = open_corpus(corpus).items
    rows = []
    for src in sources:
        labels = sorted({i.label for i in items if i.source == src})
        row = {"source": src, "label": "/".join(labels)}
        for tag, aug in (("clean", None), ("augmented", AugmentParams(copies=copies))):
            r = train_model(corpus, model, clip, out / f"{src}-{tag}", seed=seed, augment=aug, holdout_source=src,
                            log=log, **config)
            row[tag] = r["test"]
        row["clips"] = row["clean"]["n"]
        rows.append(row)
    lines = [f"Leave-one-source-out, {model}, {clip:g} s clips: train without the source, test on all of it.\n",
             "| held-out source | class | test clips | acc without augmentation % | acc with augmentation % |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['source']} | {r['label']} | {r['clips']} | {100 * r['clean']['accuracy']:.2f} | "
              f"{100 * r['augmented']['accuracy']:.2f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    write_json(out / "holdout.json", rows)
    write_text(out / "holdout.md", text)
    return text
