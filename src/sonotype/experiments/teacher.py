"""Teacher logits for knowledge distillation, aligned with a student's training clips.

The teacher may use other features than the student (log-mel for MobileNet, MFCC for
SwishNet). Both share the 10 ms hop, so a student clip ``(file, start frame)`` maps to the
teacher clip of the same file, the same start frame and the same number of frames. The
teacher's features are computed with the *student's* preprocessing so the frames line up
(silence removal shifts time), and standardised with the teacher's own statistics.

Logits are computed once and cached on disk as ``.npy`` under
``$SONOTYPE_CACHE/teacher/``, keyed by the SHA-1 of the teacher checkpoint file, the
digests of the audio files, the preprocessing and the clip layout.

Augmented training copies (``Job.variant > 0``) are remade for the teacher from the same
augmentation parameters, noise files and seed: augmentation is seeded per (seed, copy,
file), so the teacher hears exactly the audio the student's copy was made from.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from ..atomic import write_npy
from ..data import FeatureCache, Job, featurize
from ..data.cache import default_cache_dir, file_digest
from ..data.clips import fit_length
from ..infer.classify import Classifier
from ..models.predict import clip_proba


CHUNK = 4096  # clips per teacher forward pass batch group


def _sha1_file(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@torch.no_grad()
def clip_logits(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Clip logits of standardised clips ``X`` (n, channels, frames).

    Clip models give their logits; frame-voting torch models (SNN) the mean of their frame
    logits; a GMM the log of its clip probabilities (equal to logits up to a constant,
    which a softmax ignores).
    """
    if not isinstance(model, torch.nn.Module):
        return np.log(np.clip(clip_proba(model, X), 1e-7, 1.0)).astype(np.float32)
    model.eval()
    dev = next(model.parameters()).device
    out = []
    x = torch.as_tensor(np.asarray(X, np.float32))
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        if getattr(model, "clip_rule", "mean") == "vote":
            out.append(model.frame_logits(xb).mean(-1).cpu().numpy())
        else:
            out.append(model(xb).cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def teacher_logits(teacher_ckpt, jobs, index, length: int, prep, cache_dir=None, workers: int | None = None,
                   log=print, aug=None, noise_paths=(), seed: int = 0) -> np.ndarray:
    """Teacher logits ``(len(index), teacher classes)`` for a student's clips.

    Parameters
    ----------
    teacher_ckpt : path
        Teacher checkpoint.
    jobs : list of Job or str
        The student's training files, in the order of its ``ClipDataset`` (``data.files["train"]``).
    index : list of (int, int)
        The student's clip index: (position in ``jobs``, start frame), ``ClipDataset.index``.
    length : int
        Clip length in frames (10 ms hop, same for teacher and student).
    prep : PreprocessParams
        The student's preprocessing, applied to the teacher's audio too.
    cache_dir : path or None
        Feature cache (default ``$SONOTYPE_CACHE/features``); the logits are cached in
        ``$SONOTYPE_CACHE/teacher`` whatever it is.
    aug, noise_paths, seed
        How the student's augmented copies (``variant > 0``) were made (``ClipData.aug``,
        ``.noise``, ``.seed``).

    Raises
    ------
    ValueError
        For augmented jobs without ``aug``, or a clip start past a teacher feature matrix.
    """
    jobs = [j if isinstance(j, Job) else Job(str(j), "") for j in jobs]
    if any(j.variant for j in jobs) and aug is None:
        raise ValueError("augmented training copies need their augmentation parameters for the teacher")
    index = [(int(i), int(s)) for i, s in index]
    blob = json.dumps({"teacher": _sha1_file(teacher_ckpt), "files": [file_digest(j.path) for j in jobs],
                       "index": hashlib.sha1(np.asarray(index, np.int64).tobytes()).hexdigest(),
                       "length": int(length), "prep": prep.to_dict(), "variants": [j.variant for j in jobs],
                       "aug": None if aug is None else aug.to_dict(), "noise": len(noise_paths), "seed": seed},
                      sort_keys=True, default=str)
    key = hashlib.sha1(blob.encode()).hexdigest()
    path = default_cache_dir() / "teacher" / f"{key}.npy"
    if path.is_file():
        try:
            cached = np.load(path)
            if cached.shape[0] == len(index):
                return cached
        except (OSError, ValueError):
            pass
    clf = Classifier(teacher_ckpt)
    log(f"teacher {teacher_ckpt}: logits for {len(index)} clips of {len(jobs)} files")
    used = sorted({i for i, _ in index})
    feats = featurize([jobs[i] for i in used], clf.params, prep, FeatureCache(cache_dir), aug, noise_paths, seed,
                      workers=workers, desc="teacher features")
    F = {i: None if f is None else fit_length(f, length) for i, f in zip(used, feats)}
    out = []
    for c0 in range(0, len(index), CHUNK):  # clips are built a chunk at a time: memory stays bounded
        out.append(clip_logits(clf.model, _teacher_clips(clf, F, jobs, index[c0:c0 + CHUNK], length)))
    logits = np.concatenate(out) if out else np.zeros((0, len(clf.classes)), np.float32)
    write_npy(path, logits)
    return logits


def _teacher_clips(clf, F: dict, jobs, part, length: int) -> np.ndarray:
    """The teacher's standardised clips for ``part`` of the student's clip index."""
    X = np.zeros((len(part), clf.params.n_channels, length), np.float32)
    for k, (i, s) in enumerate(part):
        if F[i] is None:
            raise ValueError(f"{jobs[i].path}: teacher features failed")
        s = min(s, F[i].shape[1] - length)  # teacher frames may end a frame or two earlier
        if s < 0:
            raise ValueError(f"{jobs[i].path}: clip starts past the teacher's {F[i].shape[1]} frames")
        X[k] = clf.standardise(F[i][:, s:s + length])
    return X


def teacher_logits_for(teacher_ckpt, data, cache_dir=None, workers: int | None = None, log=print) -> np.ndarray:
    """:func:`teacher_logits` for the training set of a :class:`~sonotype.train.data.ClipData`."""
    # the Jobs carry the augmentation variant; ClipData says how the copies were made
    jobs = data.jobs["train"] if data.jobs else data.files["train"]
    return teacher_logits(teacher_ckpt, jobs, data.train.index, data.train.length, data.prep,
                          cache_dir, workers, log, aug=data.aug, noise_paths=data.noise, seed=data.seed)
