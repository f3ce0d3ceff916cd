"""Clip and file classification with a trained checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..audio import DEFAULT_SR, load, resample
from ..data.clips import clip_length, clip_starts, fit_length
from ..features import add_deltas, extract
from ..models.predict import clip_proba
from ..preprocess import apply
# the bundled names live with the checkpoint format; re-exported here, where users look for them
from ..checkpoint import (BUNDLED, DEFAULT_MODEL, build_from_checkpoint, bundled_path,  # noqa: F401
                          features_of, load_checkpoint, prep_of, resolve_model)


@dataclass
class Result:
    """Classification of one file or signal."""

    path: str
    label: str
    probs: dict
    duration: float
    n_clips: int
    clip_probs: np.ndarray = field(default=None, repr=False)

    def row(self) -> dict:
        return {"path": self.path, "label": self.label, **{k: round(float(v), 4) for k, v in self.probs.items()},
                "duration": round(self.duration, 3), "clips": self.n_clips}


class Classifier:
    """Speech / music / noise classifier from a checkpoint (everything it needs is inside).

    Parameters
    ----------
    checkpoint : str or Path or dict
        Bundled name (``"wide"``, ``"slim"``), checkpoint path, or a loaded checkpoint.
    device : str
        Torch device (``backend="torch"`` only).
    backend : {"torch", "onnx"}
        ``"onnx"`` runs the model with onnxruntime (CPU): the checkpoint is exported once to
        ``$SONOTYPE_CACHE/onnx/<hash>.onnx`` (see :func:`sonotype.export.onnx_model_for`).
        GMM checkpoints have no ONNX backend (:class:`ValueError`).
    threads : int or None
        onnxruntime intra-op threads (``backend="onnx"`` only; None: onnxruntime's default).

    Examples
    --------
    >>> clf = Classifier("wide")                       # doctest: +SKIP
    >>> clf.classify("talk.wav").label                 # doctest: +SKIP
    'speech'
    """

    def __init__(self, checkpoint=None, device: str = "cpu", backend: str = "torch", threads: int | None = None):
        ck = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(resolve_model(checkpoint))
        self.checkpoint = ck
        if backend not in ("torch", "onnx"):
            raise ValueError(f"unknown backend {backend!r}; choose 'torch' or 'onnx'")
        self.backend = backend
        if backend == "onnx":
            # the exported graph takes standardised clips, as the torch model does
            from ..export.onnx import onnx_model_for
            self.model = onnx_model_for(ck, threads=threads)
        else:
            self.model = build_from_checkpoint(ck)
        if isinstance(self.model, torch.nn.Module):
            self.model.to(device)
        self.params = features_of(ck)
        self.prep = prep_of(ck)
        self.classes = list(ck["classes"])
        self.clip = float(ck["clip"])
        self.mean = None if ck.get("mean") is None else np.asarray(ck["mean"], np.float32)[:, None]
        self.std = None if ck.get("std") is None else np.asarray(ck["std"], np.float32)[:, None]
        self.name = ck.get("path", "<memory>")

    @property
    def sr(self) -> int:
        return self.params.sr

    def static_features(self, y: np.ndarray) -> np.ndarray:
        """Preprocess (silence removal, loudness) and extract static features of ``y`` at ``self.sr``."""
        return extract(apply(y, self.sr, self.prep), self.params.with_(deltas=0) if self.params.kind == "mfcc" else self.params)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        x = add_deltas(x, self.params.deltas) if self.params.kind == "mfcc" else x
        return x if self.mean is None else (x - self.mean) / self.std

    def clips(self, F: np.ndarray, clip: float | None = None) -> np.ndarray:
        """Standardised clips (n, channels, frames) of ``clip`` seconds, 50 % overlap."""
        length = clip_length(clip or self.clip, self.params)
        starts = clip_starts(F.shape[1], length, max(1, length // 2), min_fraction=0.0)
        F = fit_length(F, length)
        return np.stack([self.standardise(F[:, s:s + length]) for s in starts]).astype(np.float32) if starts \
            else np.zeros((0, self.params.n_channels, length), np.float32)

    def predict_clips(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of standardised clips."""
        return clip_proba(self.model, X)

    def classify_array(self, y: np.ndarray, sr: int = DEFAULT_SR, clip: float | None = None,
                       name: str = "<array>") -> Result:
        """Classify a whole signal: the mean of its clips' probabilities.

        A signal with nothing above the silence threshold is labelled ``"silence"`` with
        all probabilities 0.
        """
        y = resample(np.asarray(y, np.float32), sr, self.sr)
        F = self.static_features(y)
        X = self.clips(F, clip)
        if len(X) == 0:
            return Result(name, "silence", {c: 0.0 for c in self.classes}, len(y) / self.sr, 0,
                          np.zeros((0, len(self.classes))))
        P = self.predict_clips(X)
        mean = P.mean(0)
        return Result(name, self.classes[int(mean.argmax())], dict(zip(self.classes, map(float, mean))),
                      len(y) / self.sr, len(P), P)

    def classify(self, path, clip: float | None = None) -> Result:
        """Classify one audio file (raises :class:`~sonotype.audio.AudioError` on bad input)."""
        return self.classify_array(load(path, sr=self.sr), self.sr, clip, str(path))
