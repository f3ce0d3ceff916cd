"""Smoothing for :mod:`sonotype.infer.stream`: rolling frame buffers, and stages 4-6 of the
streaming segmenter (context-window mean, median filter, silence runs, decisions)."""
from __future__ import annotations

import numpy as np
import bottleneck as bn


class _Rolling:
    """Rows ``[start, end)`` of a per-frame array; older rows can be dropped."""

    def __init__(self, shape=(), dtype=np.float64):
        self.start = 0
        self.data = np.zeros((0, *shape), dtype)

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, rows) -> None:
        self.data = np.concatenate([self.data, np.asarray(rows, self.data.dtype)]) if len(rows) else self.data

    def get(self, a: int, b: int) -> np.ndarray:
        return self.data[a - self.start:b - self.start]

    def drop_before(self, a: int) -> None:
        k = min(max(0, a - self.start), len(self.data))
        if k:
            self.data = self.data[k:]
            self.start += k


class _Spare(_Rolling):
    """A :class:`_Rolling` that copies only the rows appended (room to spare, compacted or grown
    when full), for long sample buffers; a view from :meth:`get` is valid until the next append."""

    def __init__(self, shape=(), dtype=np.float64):
        super().__init__(shape, dtype)
        self._buf, self._lo = self.data, 0

    def append(self, rows) -> None:
        rows = np.asarray(rows, self._buf.dtype)
        have, n = len(self.data), len(rows)
        if not n:
            return
        if self._lo + have + n > len(self._buf):  # full: move to the front, or into a buffer twice the need
            buf = self._buf if 2 * (have + n) <= len(self._buf) else np.empty((2 * (have + n),) + rows.shape[1:],
                                                                           self._buf.dtype)
            buf[:have] = self.data
            self._buf, self._lo = buf, 0
        self._buf[self._lo + have:self._lo + have + n] = rows
        self.data = self._buf[self._lo:self._lo + have + n]

    def drop_before(self, a: int) -> None:
        k = min(max(0, a - self.start), len(self.data))
        if k:
            self._lo += k
            self.data = self.data[k:]
            self.start += k


def moving_median(S: np.ndarray, size: int) -> np.ndarray:
    """Median of each column over frames ``t - size//2 .. t + size - 1 - size//2`` (edge rows
    repeated), like ``scipy.ndimage.median_filter(mode="nearest")`` but O(n log size) with
    bottleneck; an even ``size`` gives the mean of the two middle values."""
    left, right = size // 2, size - 1 - size // 2
    padded = np.concatenate([np.repeat(S[:1], left, 0), S, np.repeat(S[-1:], right, 0)]).astype(np.float64)
    return bn.move_median(padded, size, axis=0)[size - 1:]


def silence_runs(raw: np.ndarray, min_frames: int) -> np.ndarray:
    """True where ``raw`` is inside a run of True at least ``min_frames`` long."""
    raw = np.asarray(raw, bool)
    out = np.zeros(len(raw), bool)
    if not raw.any():
        return out
    edges = np.diff(np.concatenate([[0], raw.view(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for a, b in zip(starts, ends):
        if b - a >= min_frames:
            out[a:b] = True
    return out


class _SmoothingStages:
    """Stages 4-6 of :class:`~sonotype.infer.stream.StreamingSegmenter` (a mixin).

    They read the per-frame probabilities ``_P``, raw silence ``_Rs`` and the frames left out of the
    window means ``_Rq`` (raw silent or relatively quiet), and fill the
    cumulative sums ``_C``, window means ``_S``, median-filtered ``_M`` and smoothed
    silence ``_Q``, then decide frames (see the :mod:`~sonotype.infer.stream` docstring).
    """

    def _cumulate(self):
        n0 = self._C.end - 1
        n1 = min(self._P.end, self._Rq.end)
        if n1 <= n0:
            return
        p = self._P.get(n0, n1).astype(np.float64)
        keep = ~self._Rq.get(n0, n1)
        z = np.concatenate([p, p * keep[:, None], keep[:, None].astype(np.float64)], axis=1)
        c = np.cumsum(np.concatenate([self._C.data[-1:], z]), axis=0)[1:]
        self._C.append(c)
        self._P.drop_before(n1)
        self._Rq.drop_before(n1)

    def _average(self):
        n_c = self._C.end - 1
        t0 = self._S.end
        t1 = n_c if self._final else n_c - self.h
        if t1 <= t0:
            return
        k = len(self.classes) - 1
        t = np.arange(t0, t1)
        hi = np.minimum(t + self.h, n_c - 1) + 1
        lo = np.maximum(0, t + self.h - self.w + 1)
        s = self._C.get(hi[0], hi[-1] + 1)[hi - hi[0]] - self._C.get(lo[0], lo[-1] + 1)[lo - lo[0]]
        count = s[:, 2 * k]
        plain = s[:, :k] / (hi - lo)[:, None]
        masked = s[:, k:2 * k] / np.maximum(count, 1)[:, None]
        self._S.append(np.where(count[:, None] > 0.5, masked, plain))
        self._C.drop_before(max(0, t1 + self.h - self.w + 1))

    def _median(self):
        t0 = self._M.end
        t1 = self._S.end if self._final else self._S.end - self.m_right
        if t1 <= t0:
            return
        lo = max(0, t0 - self.m_left)
        S = self._S.get(lo, self._S.end)
        M = moving_median(S, self._median_len) if self._median_len > 1 else S
        self._M.append(M[t0 - lo:t1 - lo].astype(np.float32))
        self._S.drop_before(t1 - self.m_left)

    def _silence(self):
        t0 = self._Q.end
        t1 = self._Rs.end if self._final else self._Rs.end - (self.min_frames - 1)
        if t1 <= t0:
            return
        lo = max(0, t0 - (self.min_frames - 1))
        # a recording silent throughout is silence whatever its length (the rule of Classifier too)
        whole = self._final and self.n_loud == 0
        runs = silence_runs(self._Rs.get(lo, self._Rs.end), 1 if whole else self.min_frames)
        self._Q.append(runs[t0 - lo:t1 - lo])
        self._Rs.drop_before(min(t1 - (self.min_frames - 1), self._C.end - 1))

    def _decide(self):
        if self._viterbi is not None:
            return self._decode()
        t0 = self.n_decided
        t1 = min(self._M.end, self._Q.end)
        k = len(self.classes) - 1
        if t1 <= t0:
            return self._empty(t0)
        M, sil = self._M.get(t0, t1), self._Q.get(t0, t1)
        codes = (M * self._prior).argmax(1).astype(np.int8)
        conf = np.take_along_axis(M, codes[:, None].astype(np.int64), 1)[:, 0]
        codes[sil], conf[sil] = k, 1.0
        self._M.drop_before(t1), self._Q.drop_before(t1)
        self.n_decided = t1
        return (t0, codes, conf.astype(np.float32), M)

    def _decode(self):
        """Fixed-lag Viterbi decisions (:mod:`sonotype.infer.decode`) on the window means."""
        t0, t1 = self._fed, min(self._M.end, self._Q.end)
        parts = []
        if t1 > t0:
            parts.append(self._viterbi.push(self._M.get(t0, t1), self._Q.get(t0, t1)))
            self._fed = t1
        if self._final:
            parts.append(self._viterbi.finish())
        codes = np.concatenate(parts).astype(np.int8) if parts else np.zeros(0, np.int8)
        start = self.n_decided
        if not len(codes):
            return self._empty(start)
        M = self._M.get(start, start + len(codes))
        k = len(self.classes) - 1
        conf = np.ones(len(codes), np.float32)
        cls = codes < k
        conf[cls] = M[cls, codes[cls]]
        self.n_decided = start + len(codes)
        self._M.drop_before(self.n_decided), self._Q.drop_before(self.n_decided)
        return (start, codes, conf, M)
