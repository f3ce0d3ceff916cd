"""Clip and file classification, with a raw-audio ONNX model (the core) or a torch checkpoint.

Backends
--------
``"onnx"``   the raw-audio ONNX model run by onnxruntime (:mod:`sonotype.infer.runtime`): the
             bundled ``assets/models/<name>.onnx``, a ``.onnx`` file, or a checkpoint exported
             once into ``$SONOTYPE_CACHE/onnx`` (that export needs torch). Needs numpy and
             onnxruntime only: the feature front end is inside the graph.
``"torch"``  the checkpoint's torch model on :mod:`sonotype.features` (the ``sonotype[train]``
             extra): what training and evaluation use.

The default (``backend=None``) is ``"onnx"`` for bundled names and ``.onnx`` files and
``"torch"`` for checkpoints. Both give the same labels; probabilities agree within 1e-4.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import DEFAULT_SR, info, load, prefetch, resample, stream, usable_cores
from ..data.framing import clip_length, clip_starts, fit_length
from ..features.params import FeatureParams
from ..preprocess import PreprocessParams, apply
# the bundled names live with the checkpoint format; re-exported here, where users look for them
from ..checkpoint import (BUNDLED, DEFAULT_MODEL, CheckpointError, bundled_path,  # noqa: F401
                          features_of, load_checkpoint, prep_of, resolve_model)
from ..extras import missing_extra
from .runtime import RawModel

BATCH = 64  # clips per network call
# files longer than this are classified block by block (bounded memory; the clip grid restarts
# at each block, so the mean can differ very slightly from one pass over the whole file)
LONG_FILE_S = 1800.0
BLOCK_S = 120.0


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


def choose_backend(model=None, backend: str | None = None) -> str:
    """``backend`` if given, else ``"onnx"`` for bundled names and ``.onnx`` files, ``"torch"`` otherwise."""
    if backend not in (None, "onnx", "torch"):
        raise ValueError(f"unknown backend {backend!r}; choose 'torch' or 'onnx'")
    if backend is not None:
        return backend
    if isinstance(model, dict):
        return "torch"
    name = str(model or DEFAULT_MODEL)
    return "onnx" if name in BUNDLED or name.lower().endswith(".onnx") else "torch"


def inference_path(model=None) -> Path:
    """The file inference reads for ``model``: a bundled name's ``.onnx`` (its ``.pt`` if that is
    missing), or the path given."""
    name = str(model or DEFAULT_MODEL)
    if name in BUNDLED and bundled_path(name, ".onnx").is_file():
        return bundled_path(name, ".onnx")
    return resolve_model(name)


def open_raw(model=None, threads: int | None = None) -> RawModel:
    """The raw-audio ONNX model of a bundled name, ``.onnx`` file, checkpoint path or loaded checkpoint.

    A checkpoint is exported once into the cache; that needs torch (:class:`CheckpointError`
    naming the extra when it is missing).
    """
    if not isinstance(model, dict):
        path = inference_path(model)
        if path.suffix.lower() == ".onnx":
            return RawModel(path, threads)
    try:
        from ..export.raw import cached_raw
        ck = model if isinstance(model, dict) else load_checkpoint(path)
        return RawModel(cached_raw(ck), threads)
    except ModuleNotFoundError as err:
        raise _needs_torch(model, err) from None


def _needs_torch(model, err: ModuleNotFoundError) -> Exception:
    """A one-line :class:`CheckpointError` naming the checkpoint and the extra (``err`` itself if
    the missing module is of no extra)."""
    if missing_extra(err) is None:
        return err
    where = "<memory>" if isinstance(model, dict) else str(resolve_model(model))
    return CheckpointError(f"{where}: a .pt checkpoint needs torch: {missing_extra(err)} "
                           "(or run its raw-audio .onnx export)")


class Classifier:
    """Speech / music / noise classifier (everything it needs is inside the model file).

    Parameters
    ----------
    checkpoint : str or Path or dict, optional
        Bundled name (``"wide"`` default, ``"slim"``), ``.onnx`` raw-audio model, checkpoint
        path, or a loaded checkpoint.
    device : str
        Torch device (``backend="torch"`` only).
    backend : {None, "onnx", "torch"}
        See the module docstring. GMM checkpoints have no ONNX backend (:class:`ValueError`).
    threads : int or None
        onnxruntime intra-op threads (``backend="onnx"`` only; None: onnxruntime's default).

    Examples
    --------
    >>> clf = Classifier("wide")                       # doctest: +SKIP
    >>> clf.classify("talk.wav").label                 # doctest: +SKIP
    'speech'
    """

    def __init__(self, checkpoint=None, device: str = "cpu", backend: str | None = None,
                 threads: int | None = None):
        self.backend = choose_backend(checkpoint, backend)
        self.threads = threads
        self.checkpoint = checkpoint if isinstance(checkpoint, dict) else None
        self.mean = self.std = None
        if self.backend == "onnx":
            self._open_onnx(checkpoint, threads)
        else:
            self._open_torch(checkpoint, device)

    def _open_onnx(self, checkpoint, threads):
        if (checkpoint.get("arch") if isinstance(checkpoint, dict) else None) == "gmm":
            raise ValueError("GMM has no ONNX export; use backend='torch'")
        self.model = open_raw(checkpoint, threads)
        meta = self.model.metadata
        self.params = FeatureParams.from_dict(meta["features"])
        self.prep = PreprocessParams.from_dict(meta.get("prep") or {})
        self.classes = list(meta["classes"])
        self.clip = float(meta["clip"])
        self.name = checkpoint.get("path", "<memory>") if isinstance(checkpoint, dict) else self.model.path

    def _open_torch(self, checkpoint, device):
        from ..checkpoint import build_from_checkpoint
        try:
            ck = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(resolve_model(checkpoint))
            self.model = build_from_checkpoint(ck)
        except ModuleNotFoundError as err:
            raise _needs_torch(checkpoint, err) from None
        self.checkpoint = ck
        if hasattr(self.model, "to"):
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

    @property
    def static_params(self) -> FeatureParams:
        """The features before Δ / ΔΔ (what is computed per frame)."""
        return self.params.with_(deltas=0) if self.params.kind == "mfcc" else self.params

    def static_features(self, y: np.ndarray) -> np.ndarray:
        """Preprocess (silence removal, loudness) and extract static features of ``y`` at ``self.sr``
        (torch backend; needs the training extra's librosa)."""
        from ..features import extract
        return extract(apply(y, self.sr, self.prep), self.static_params)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Δ / ΔΔ and the checkpoint's standardisation of static features ``(channels, frames)``."""
        from ..features import add_deltas
        x = add_deltas(x, self.params.deltas) if self.params.kind == "mfcc" else x
        return x if self.mean is None else (x - self.mean) / self.std

    def clips(self, F: np.ndarray, clip: float | None = None) -> np.ndarray:
        """Standardised clips (n, channels, frames) of ``clip`` seconds, 50 % overlap (torch backend)."""
        length = clip_length(clip or self.clip, self.params)
        starts = clip_starts(F.shape[1], length, max(1, length // 2), min_fraction=0.0)
        F = fit_length(F, length)
        return np.stack([self.standardise(F[:, s:s + length]) for s in starts]).astype(np.float32) if starts \
            else np.zeros((0, self.params.n_channels, length), np.float32)

    def predict_clips(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of standardised clips (torch backend)."""
        from ..models.predict import clip_proba
        return clip_proba(self.model, X)

    @property
    def decode_ahead(self) -> bool:
        """Whether a file's next blocks are best decoded in a background thread while this classifier
        works (:func:`sonotype.audio.prefetch`): when the process may use more than one core and the
        classifier was not limited to one thread."""
        return self.threads != 1 and usable_cores() > 1

    def clip_probs(self, y: np.ndarray, clip: float | None = None) -> np.ndarray:
        """Class probabilities ``(clips, classes)`` of the clips of preprocessed samples ``y``."""
        if self.backend == "torch":
            from ..features import extract
            X = self.clips(extract(y, self.static_params), clip)
            return self.predict_clips(X) if len(X) else np.zeros((0, len(self.classes)), np.float32)
        return raw_clip_probs(self.model, y, self.params, clip_length(clip or self.clip, self.params))

    def classify_array(self, y: np.ndarray, sr: int = DEFAULT_SR, clip: float | None = None,
                       name: str = "<array>") -> Result:
        """Classify a whole signal: the mean of its clips' probabilities.

        A signal with nothing above the silence threshold is labelled ``"silence"`` with
        all probabilities 0.
        """
        y = resample(np.asarray(y, np.float32), sr, self.sr)
        return self._result(name, self.clip_probs(apply(y, self.sr, self.prep), clip), len(y) / self.sr)

    def _result(self, name: str, P: np.ndarray, duration: float) -> Result:
        """The :class:`Result` of clip probabilities ``P``: their mean ("silence" when there are none)."""
        if len(P) == 0:
            return Result(name, "silence", {c: 0.0 for c in self.classes}, duration, 0,
                          np.zeros((0, len(self.classes))))
        mean = P.mean(0)
        return Result(name, self.classes[int(mean.argmax())], dict(zip(self.classes, map(float, mean))),
                      duration, len(P), P)

    def classify(self, path, clip: float | None = None) -> Result:
        """Classify one audio file (raises :class:`~sonotype.audio.AudioError` on bad input).

        A file longer than :data:`LONG_FILE_S` is read and classified in :data:`BLOCK_S`-second
        blocks, each preprocessed on its own, so memory stays bounded whatever its length.
        """
        if info(path).duration <= LONG_FILE_S:
            return self.classify_array(load(path, sr=self.sr), self.sr, clip, str(path))
        parts, n = [], 0
        blocks = stream(path, sr=self.sr, block_seconds=BLOCK_S)
        if self.decode_ahead:  # decode the next block while this one is classified
            blocks = prefetch(blocks, depth=1)
        for y in blocks:
            n += len(y)
            parts.append(self.clip_probs(apply(y, self.sr, self.prep), clip))
        return self._result(str(path), np.concatenate(parts), n / self.sr)


def raw_clip_probs(model: RawModel, y: np.ndarray, params: FeatureParams, length: int) -> np.ndarray:
    """Clip probabilities ``(clips, classes)`` of preprocessed samples ``y`` with a raw-audio model.

    The clips are those of :meth:`Classifier.clips` (``length`` frames, 50 % overlap; a signal
    shorter than one clip is looped frame by frame to its length), cut from the samples: a
    clip of frames ``[s, s + length)`` is samples ``[s * hop, (s + length - 1) * hop + n_fft)``.
    """
    n = params.n_frames(len(y))
    starts = clip_starts(n, length, max(1, length // 2), min_fraction=0.0)
    if not starts:
        return np.zeros((0, len(model.classes)), np.float32)
    hop = params.hop_length
    if n < length:  # one clip: the frames looped (fit_length), as the torch path does
        span = params.n_fft + (n - 1) * hop
        return model.clip_probs(y[None, :span], np.arange(length) % n)
    span = params.n_fft + (length - 1) * hop
    out = []
    for i in range(0, len(starts), BATCH):
        clips = np.stack([y[s * hop:s * hop + span] for s in starts[i:i + BATCH]])
        out.append(model.clip_probs(clips, np.arange(length)))
    return np.concatenate(out)
