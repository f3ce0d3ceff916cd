"""Fine-tuning a trained checkpoint on another corpus (the paper's GTZAN experiment).

:func:`finetune_model` splits the corpus's files per class into a fine-tuning part
(``fraction``; 10 % of it for validation when a class has enough files) and a test part
(the rest), seeded; it starts from the checkpoint's weights, with the checkpoint's features,
preprocessing and input standardisation, and trains at a low learning rate. When the
corpus's classes are a subset of the checkpoint's (GTZAN music/speech after MUSAN), the
output layer keeps the rows of those classes; when they differ otherwise, the output layer
is replaced by a new one for the new classes (SwishNet: ``head``; MobileNet: the last
Linear, ``head.2``; SNN: ``out``) and the rest of the network is kept. With the same
classes or a subset, the starting point (``start.pt``: the checkpoint's weights and output
rows for the corpus's classes, before any step) is scored on the same test files too, so
the gain of fine-tuning is measured.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..checkpoint import features_of, load_checkpoint, load_weights, prep_of
from ..data import Corpus, FeatureCache, open_corpus, write_split
from ..models import SPECS, build_model
from ..train import TrainConfig, fit, make_datasets, save_model
from .evaluation import evaluate_model


def finetune_split(items, fraction: float, seed: int = 0, val_fraction: float = 0.1) -> dict:
    """Per class, seeded: ``fraction`` of the files to fine-tune (``val_fraction`` of those to
    validation when that leaves at least one training file), the rest to test."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for label in sorted({i.label for i in items}):
        its = [i for i in items if i.label == label]
        its = [its[k] for k in rng.permutation(len(its))]
        n_ft = min(len(its), max(1, round(fraction * len(its))))
        n_val = round(val_fraction * n_ft)
        n_val = max(1, n_val) if n_ft >= 2 else 0
        parts["val"] += its[:n_val]
        parts["train"] += its[n_val:n_ft]
        parts["test"] += its[n_ft:]
    return parts


def finetune_model(checkpoint, corpus: str, out, fraction: float = 0.25, epochs: int = 50, lr: float = 1e-4,
                   denoise: str | None = None, clip: float | None = None, seed: int = 0, cache_dir=None,
                   workers: int | None = None, resume: bool = True, log=print, evaluate: bool = True,
                   **config) -> dict:
    """Fine-tune ``checkpoint`` on ``fraction`` of ``corpus``'s files, test on the rest.

    Writes ``out/split.csv``, ``out/model.pt``, ``out/train.json`` and ``out/test/``
    (as :func:`sonotype.experiments.training.train_model`). ``denoise="logmmse"`` turns on
    log-MMSE denoising in the preprocessing.
    """
    out = Path(out)
    ck = load_checkpoint(checkpoint)
    arch = ck["arch"]
    if arch not in SPECS or SPECS[arch].head is None:
        raise ValueError(f"{checkpoint}: fine-tuning is not supported for {arch}")
    if denoise not in (None, "none", "logmmse"):
        raise ValueError(f"unknown --denoise {denoise!r}; choose logmmse")
    prep = prep_of(ck)
    if denoise == "logmmse":
        prep = dataclasses.replace(prep, denoise=True)
    clip = clip or float(ck["clip"])
    c = open_corpus(corpus)
    parts = finetune_split(c.items, fraction, seed)
    assign = {i.path: s for s, its in parts.items() for i in its}
    write_split(out / "split.csv", Corpus(c.kind, c.root, [i for its in parts.values() for i in its]), assign)
    old = list(ck["classes"])
    classes, same, subset = target_classes(old, c.items)
    kwargs = {k: v for k, v in ck["kwargs"].items() if k != "n_classes"}
    cfg = TrainConfig(model=arch, clip=clip, seed=seed, epochs=epochs, lr=lr, lr_min=min(lr, 1e-6),
                      model_kwargs=kwargs, init_checkpoint=str(checkpoint), **config)
    t0 = time.time()
    mean, std = ck.get("mean"), ck.get("std")
    data = make_datasets({"train": parts["train"], "val": parts["val"]}, features_of(ck), prep, clip,
                         classes=classes, cache=FeatureCache(cache_dir), seed=seed, workers=workers,
                         mean=None if mean is None else np.asarray(mean), std=None if std is None else np.asarray(std))
    log(f"fine-tuning {arch} from {checkpoint} on {len(data.train)} clips "
        f"({len(parts['train'])} files; {len(parts['val'])} validation, {len(parts['test'])} test files)")
    if subset:
        log(f"classes {classes} are a subset of {old}: their output rows are kept")
    elif not same:
        log(f"classes differ ({old} -> {classes}): the output layer is replaced")
    score_start = bool(evaluate and parts["test"] and (same or subset))  # scored on the test files below
    if score_start:
        start = build_model(arch, n_classes=len(classes), **kwargs)
        load_weights(start, checkpoint, arch, classes)
        save_model(out / "start.pt", start, cfg, data, {"n_classes": len(classes), **kwargs}, {"epoch": 0}, 0.0)
    result = fit(data, cfg, out, resume=resume, log=log)
    result.update(corpus=corpus, checkpoint_from=str(checkpoint), fraction=fraction, denoise=denoise,
                  classes=classes, head_replaced=not (same or subset), feature_seconds=time.time() - t0,
                  train_clips=len(data.train),
                  files={s: len(v) for s, v in parts.items()})
    if evaluate and parts["test"]:
        result.update(score_test(out, parts["test"], clip, score_start, cache_dir, workers, log))
    write_json(out / "train.json", result)
    return result


def score_test(out: Path, items, clip: float, score_start: bool, cache_dir, workers, log) -> dict:
    """``{"test": ...}`` of ``out/model.pt`` on ``items`` (and ``"test_before"``, of ``out/start.pt``,
    with ``score_start``), as :func:`~sonotype.experiments.evaluation.evaluate_model` gives them."""
    res = {"test": evaluate_model(out / "model.pt", items, out=out / "test", clip=clip, cache_dir=cache_dir,
                                  workers=workers)}
    if score_start:
        before = evaluate_model(out / "start.pt", items, out=out / "test-before", clip=clip, cache_dir=cache_dir,
                                workers=workers)
        res["test_before"] = before
        log(f"test accuracy {before['accuracy']:.4f} before fine-tuning, {res['test']['accuracy']:.4f} after")
    return res


def target_classes(old: list, items) -> tuple:
    """The classes to fine-tune on: (classes, same as ``old``, a strict subset of ``old``).

    With the same classes, the checkpoint's order; otherwise the corpus's classes, those of
    the checkpoint first in its order, then new ones by name.
    """
    new = sorted({i.label for i in items}, key=lambda x: (old.index(x) if x in old else len(old), x))
    same = sorted(new) == sorted(old)
    return (old if same else new), same, set(new) < set(old)

