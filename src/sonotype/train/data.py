"""Clip datasets for training and evaluation from corpus items."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import AugmentParams, ClipDataset, FeatureCache, Job, MelAugmentParams, MelClipDataset, clip_length, featurize
from ..features import FeatureParams
from ..models.registry import features_for  # noqa: F401 (the paper's features per architecture, re-exported)
from ..preprocess import PreprocessParams


@dataclass
class ClipData:
    """Datasets for one experiment, standardised with the training statistics."""

    classes: list
    params: FeatureParams
    prep: PreprocessParams
    clip: float
    mean: np.ndarray
    std: np.ndarray
    train: ClipDataset
    val: ClipDataset | None
    test: ClipDataset | None
    files: dict
    jobs: dict | None = None  # split -> the Jobs behind ``files`` (augmented copies have variant > 0)
    aug: AugmentParams | None = None  # how the augmented copies were made (a teacher remakes the same audio)
    noise: tuple = ()
    seed: int = 0
    mel_aug: MelAugmentParams | None = None  # drawn afresh per training batch (train is a MelClipDataset)


def make_datasets(parts: dict, params: FeatureParams, prep: PreprocessParams, clip: float,
                  classes=None, cache: FeatureCache | None = None, aug: AugmentParams | None = None,
                  seed: int = 0, workers: int | None = None, mean=None, std=None,
                  mel_aug: MelAugmentParams | None = None) -> ClipData:
    """Featurize the items of ``parts`` (``{"train": [...], "val": [...], "test": [...]}``)
    and cut clips of ``clip`` seconds with 50 % overlap.

    Augmented copies (``aug.copies`` per file) are added to the training set only, with
    noise taken from the training split's noise files.
    """
    cache = cache or FeatureCache()
    classes = list(classes or sorted({i.label for its in parts.values() for i in its},
                                     key=lambda c: (["speech", "music", "noise"] + [c]).index(c)))
    index = {c: k for k, c in enumerate(classes)}
    length = clip_length(clip, params)
    out, files, all_jobs = {}, {}, {}
    noise = tuple(sorted(i.path for i in parts.get("train", []) if i.label == "noise"))
    for split, items in parts.items():
        items = [i for i in items if i.label in index]
        if not items:
            out[split] = None
            continue
        jobs = [Job(i.path, i.label) for i in items]
        if split == "train" and aug is not None and aug.copies > 0:
            jobs += [Job(i.path, i.label, v) for v in range(1, aug.copies + 1) for i in items]
        sources = [i.source for i in items] * (len(jobs) // len(items))
        labels = [index[j.label] for j in jobs]
        deltas = params.deltas if params.kind == "mfcc" else 0
        if split == "train" and mel_aug is not None:
            mels = featurize(jobs, params.with_(kind="logmel", deltas=0), prep, cache, aug, noise, seed, workers,
                             desc=f"{split} log-mel")
            out[split] = MelClipDataset(mels, labels, length, classes, params.n_mfcc, deltas, mel_aug,
                                        sr=params.sr, sources=sources)
        else:
            feats = featurize(jobs, params, prep, cache, aug, noise, seed, workers, desc=f"{split} features")
            out[split] = ClipDataset(feats, labels, length, deltas=deltas, sources=sources)
        files[split] = [j.path for j in jobs]
        all_jobs[split] = jobs
    if out.get("train") is None:
        raise ValueError("no training files with known classes")
    if mean is None:
        mean, std = out["train"].stats(seed=seed)
    for ds in out.values():
        if ds is not None:
            ds.set_standardisation(mean, std)
    return ClipData(classes, params, prep, clip, np.asarray(mean), np.asarray(std),
                    out["train"], out.get("val"), out.get("test"), files, all_jobs, aug, noise, seed, mel_aug)
