"""Stages 2-3 of :class:`~sonotype.infer.stream.StreamingSegmenter`: from equalised samples to
per-frame class probabilities, in blocks that make any chunking give the same frames.

:class:`RawPath` (the core) feeds samples to a raw-audio ONNX model, which computes the features
itself; :class:`FeaturePath` (training extra) computes features with :mod:`sonotype.features`
and runs a torch model (or a GMM) on them. Both take the equalised signal with ``n_fft // 2``
zeros before it (so frame ``t`` is centred on sample ``t * hop``) through :meth:`push`, and
give probabilities of frames not given before through :meth:`advance`.

Blocks (see :mod:`sonotype.infer.stream`): the network runs on frames ``k * B .. (k + 1) * B - 1``
(``B = max(NET_BLOCK, 2 * receptive_field)``) with ``receptive_field`` frames of left context
(none for the first block), zeros after the last frame available; every call for a block has
the same shape and a frame the same position in it, so results do not depend on chunking.
Δ / ΔΔ look ``DELTA_LOOKAHEAD`` frames ahead: frames are given only once those exist.
"""
from __future__ import annotations

import numpy as np

from .smoothing import _Rolling, _Spare

DELTA_LOOKAHEAD = 4  # frames: librosa.feature.delta with width 9
NET_BLOCK = 2048     # frames per network call, blocks aligned to absolute frame indices (20 s: faster than
                     # 4,096 or 8,192 in onnxruntime on one core, the block staying in cache; README)


def run_until(t: int, hi: int, block: int, eager: bool, final: bool, want: int | None) -> int:
    """The frame up to which the network runs now, having given frames up to ``t`` and able to give
    up to ``hi``: all of them at the end of the recording or eagerly (once ``want`` frames, the first a
    decision needs, are in reach; None: always), else the last complete block."""
    if final or (eager and (want is None or hi >= want)):
        return hi
    return max(t, (hi // block) * block)


class _Timed:
    """Adds seconds per stage to a ``timings`` dict when one is set (see ``enable_timing``)."""

    timings = None
    clock = None

    def lap(self, key, t0):
        t1 = self.clock()
        self.timings[key] = self.timings.get(key, 0.0) + (t1 - t0)
        return t1

    def now(self):
        return self.clock() if self.timings is not None else 0.0


class RawPath(_Timed):
    """Per-frame probabilities from a raw-audio ONNX model (:class:`~sonotype.infer.runtime.RawModel`).

    Block ``[b0, b1)`` is computed from the samples of frames ``[s0, b1 + D)``, ``s0 = max(0,
    b0 - R - D)`` (``R`` receptive field, ``D`` Δ context): every frame given has its true Δ
    context and network context. At the end of the recording the frame index holds the last
    frame (Δ edge frames repeated, as for a whole file).
    """

    def __init__(self, model, params, eager: bool = True):
        self.model, self.params, self.eager = model, params, bool(eager)
        self.receptive_field = int(model.receptive_field)
        self.lookahead = int(model.delta_context)
        self.block = max(NET_BLOCK, 2 * self.receptive_field)
        self.n_classes = len(model.classes)
        self.reset()

    def reset(self) -> None:
        self._y = _Spare((), np.float32)
        self._y.append(np.zeros(self.params.n_fft // 2, np.float32))
        self.n_out = 0

    def push(self, e: np.ndarray) -> None:
        """Append equalised samples."""
        self._y.append(e)

    def advance(self, final: bool, n_total: int, want: int | None = None) -> np.ndarray:
        """Probabilities ``(n, classes)`` of the frames now decidable (all up to ``n_total`` when final).

        ``want``: eagerly (a partly filled block) only once that many frames can be given, the
        first a decision needs; complete blocks always run.
        """
        have = self.params.n_frames(self._y.end)
        hi = min(have, n_total) if final else have - self.lookahead
        B, t = self.block, self.n_out
        end = run_until(t, hi, B, self.eager, final, want)
        out = []
        t0 = self.now()
        while t < end:
            b0 = (t // B) * B
            stop = min(b0 + B, end)
            out.append(self._block(b0, t, stop, n_total if final else None))
            t = stop
        self.n_out = max(self.n_out, t)
        R, D, hop = self.receptive_field, self.lookahead, self.params.hop_length
        self._y.drop_before(max(0, (t // B) * B - R - D) * hop)
        if self.timings is not None:
            self.lap("network", t0)
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)

    def _block(self, b0: int, t: int, stop: int, n_total: int | None) -> np.ndarray:
        """Probabilities of frames ``[t, stop)`` of the block starting at frame ``b0``."""
        p, R, D = self.params, self.receptive_field, self.lookahead
        s0, s1 = max(0, b0 - R - D), b0 + self.block + D
        a, b = s0 * p.hop_length, (s1 - 1) * p.hop_length + p.n_fft
        samples = np.zeros(b - a, np.float32)
        got = self._y.get(a, min(b, self._y.end))
        samples[:len(got)] = got
        index = np.arange(s1 - s0)
        if n_total is not None:  # the end of the recording: hold the last frame (Δ edge)
            index = np.minimum(index, max(0, n_total - 1 - s0))
        probs = self.model.frame_probs(samples, index)
        return probs[t - s0:stop - s0]


class FeaturePath(_Timed):
    """Per-frame probabilities from a torch model or GMM on :mod:`sonotype.features` (training extra)."""

    def __init__(self, classifier, eager: bool = True):
        import copy

        import torch

        self.classifier, self.params, self.eager = classifier, classifier.params, bool(eager)
        self.static = classifier.static_params
        model = classifier.model
        self.receptive_field = int(getattr(model, "receptive_field", 0) or 0)
        self.lookahead = DELTA_LOOKAHEAD if (self.params.kind == "mfcc" and self.params.deltas) else 0
        self._net = copy.deepcopy(model).float().cpu().eval() if isinstance(model, torch.nn.Module) else None
        self._gmm = None if self._net is not None else model
        self.block = max(NET_BLOCK, 2 * self.receptive_field)
        self.n_classes = len(classifier.classes)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(self.params.n_fft // 2, np.float32)  # samples not yet framed
        self._F = _Rolling((self.static.n_channels,), np.float32)   # static features
        self._X = _Rolling((self.params.n_channels,), np.float32)  # standardised model input
        self._n_std = 0
        self.n_out = 0

    def push(self, e: np.ndarray) -> None:
        """Append equalised samples; frame them into static features."""
        from ..features.extract import extract_timed

        p = self.params
        buf = np.concatenate([self._buf, e])
        n = self.static.n_frames(len(buf))
        if n:
            self._F.append(extract_timed(buf[:p.n_fft + (n - 1) * p.hop_length], self.static, self.timings,
                                         self.clock).T)
            buf = buf[n * p.hop_length:]
        self._buf = buf

    def advance(self, final: bool, n_total: int, want: int | None = None) -> np.ndarray:
        """Probabilities ``(n, classes)`` of the frames now decidable (all up to ``n_total`` when final;
        ``want``: as :meth:`RawPath.advance`)."""
        D, F = self.lookahead, self._F
        hi = min(F.end, n_total) if final else F.end - D
        if hi <= self._n_std:
            return self._run(hi, final, want) if self._net is not None and final else self._empty()
        t = self.now()
        lo = max(0, self._n_std - D)
        X = self.classifier.standardise(F.get(lo, F.end if D else hi).T)
        X = np.asarray(X[:, self._n_std - lo:hi - lo], np.float32 if self._net is not None else np.float64)
        self._n_std = hi
        F.drop_before(hi - D)
        if self.timings is not None:
            t = self.lap("standardise", t)
        if self._net is None:
            probs = self._gmm.predict_proba(X.T).astype(np.float32)
            self.n_out = hi
        else:
            self._X.append(X.T)
            probs = self._run(hi, final, want)
        if self.timings is not None:
            self.lap("network", t)
        return probs

    def _empty(self):
        return np.zeros((0, self.n_classes), np.float32)

    def _run(self, hi: int, final: bool, want: int | None = None) -> np.ndarray:
        """Probabilities of frames ``n_out ..`` up to :func:`run_until`'s frame."""
        import torch

        B, R, t = self.block, self.receptive_field, self.n_out
        end = run_until(t, hi, B, self.eager, final, want)
        out = []
        while t < end:
            b0 = (t // B) * B
            lo, b1 = max(0, b0 - R), b0 + B
            have = min(b1, hi)
            inp = np.zeros((1, self._X.data.shape[1], b1 - lo), np.float32)
            inp[0, :, :have - lo] = self._X.get(lo, have).T
            with torch.no_grad():
                probs = torch.softmax(self._net.frame_logits(torch.from_numpy(inp))[0], dim=0).T.numpy()
            stop = min(b1, end)
            out.append(probs[t - lo:stop - lo])
            t = stop
        self.n_out = t
        self._X.drop_before(max(0, (t // B) * B - R))
        return np.concatenate(out).astype(np.float32) if out else self._empty()
