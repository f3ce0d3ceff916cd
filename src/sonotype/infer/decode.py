"""Viterbi decoding of frame class probabilities: a switch penalty and per-class minimum durations.

The model's classes form an HMM. A class segment lasts at least ``min_frames[k]`` frames (the
standard left-to-right chain of ``min_frames[k]`` states per class, its last state looping);
changing class costs ``switch_penalty`` (in nats, against the summed log-probabilities). Silence
is not decoded: the energy detector's silent frames are silence, and the non-silent *stretches*
between them are decoded one by one (entering and leaving silence is free). A stretch shorter
than every class's minimum, with silence on one side at least, is merged into that silence; a
recording without silence shorter than a class's minimum may still be that class throughout
(0.9 s of noise is noise, not the one class whose minimum it reaches). Between two silences the minima
hold (capping them there cost 0.45 points of 3-class frame accuracy on validation files; README).

The chain is not expanded: its inner states are deterministic, so a class's last state is
``C_k(t) = max(C_k(t-1) + e_k(t), Entry_k(t-m_k+1) + sum(e_k[t-m_k+1 .. t]))``, a running maximum
that numpy computes over runs of up to ``min(min_frames)`` frames at once.

**Fixed lag.** Decisions are made a block of ``block`` frames at a time, blocks aligned to absolute
frame indices: block ``[a, a+block)`` is decoded over ``[a, a+block+lag)`` from the state the
path was in at frame ``a-1`` (class and its segment's start, or silence), and its frames are
final. ``lag >= max(min_frames)`` guarantees the path can always be continued. A block is decoded
once frame ``a+block+lag`` has arrived (or at the end), so any chunking of the input gives the
same labels: :class:`~sonotype.infer.segment.Segmenter` and the streaming segmenter agree.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

NEG = -np.inf


@dataclass(frozen=True)
class DecoderConfig:
    """Smoothing settings of the segmenter (the defaults of ``Segmenter`` and the CLI).

    Attributes
    ----------
    smoothing : str
        ``"viterbi"`` (this module) or ``"median"`` (the paper's median filter).
    window : float
        Context window in seconds: frame probabilities are averaged over it before decoding.
    median : int
        Median filter length in frames (``smoothing="median"`` only).
    switch_penalty : float
        Cost of a class change in nats (``"viterbi"`` only).
    min_duration : tuple of (str, float)
        Shortest segment in seconds per class name (``"viterbi"`` only).
    min_default : float
        Shortest segment of a class not named in ``min_duration``.
    block : float
        Seconds decided at a time (``"viterbi"``).
    lag : float
        Seconds looked ahead past a block (raised to the longest minimum duration).
    floor : float
        Probabilities are floored at this before taking logs.
    log_prior : tuple of (str, float)
        Offset in nats added to a class's log-probability before decoding (both smoothings; a
        class not named: 0): a prior over the classes. Reported confidences stay the model's.
    """

    # chosen with benchmarks/tune_decoder.py on validation-split files (120 and 40), bundled wide (README)
    smoothing: str = "viterbi"
    window: float = 1.0
    median: int = 200
    switch_penalty: float = 80.0
    min_duration: tuple = (("speech", 0.2), ("music", 1.0), ("noise", 1.0))
    min_default: float = 0.5
    block: float = 2.0      # 2 s + 1 s: as accurate as whole-file Viterbi on the grid's best point (README)
    lag: float = 1.0
    floor: float = 1e-4
    # chosen by source-fold CV of segmentation (benchmarks/segment_cv.py) and on validation files (README)
    log_prior: tuple = (("noise", -0.5),)

    def __post_init__(self):
        if self.smoothing not in ("viterbi", "median"):
            raise ValueError(f"smoothing must be 'viterbi' or 'median', got {self.smoothing!r}")
        if self.switch_penalty < 0 or self.block <= 0 or self.lag < 0 or not 0 < self.floor < 1:
            raise ValueError("need switch_penalty >= 0, block > 0, lag >= 0 and 0 < floor < 1")
        if any(s < 0 for _, s in self.min_duration) or self.min_default < 0:
            raise ValueError("minimum durations must be >= 0")
        if not all(np.isfinite(float(v)) for _, v in self.log_prior):
            raise ValueError("log_prior offsets must be finite")

    def min_frames(self, classes, frame_rate: float) -> np.ndarray:
        """(K,) int minimum segment length in frames of each of ``classes`` (at least 1)."""
        table = dict(self.min_duration)
        return np.array([max(1, int(round(table.get(c, self.min_default) * frame_rate))) for c in classes])

    def prior_offsets(self, classes) -> np.ndarray:
        """(K,) float64 log-prior offset of each of ``classes`` (0 for a class not named)."""
        table = dict(self.log_prior)
        return np.array([float(table.get(c, 0.0)) for c in classes])

    def with_prior(self, table, classes) -> "DecoderConfig":
        """A copy whose ``log_prior`` is ``table`` (``{class: nats}``; empty: none), for a model of
        ``classes``; ValueError names a class the model lacks or a non-finite offset."""
        unknown = sorted(set(table) - set(classes))
        if unknown:
            raise ValueError(f"--prior: the model has no class {', '.join(unknown)} (its classes: {', '.join(classes)})")
        try:
            return self.with_(log_prior=dict(table))
        except ValueError as err:
            raise ValueError(f"--prior: {err}") from None

    def with_(self, **changes) -> "DecoderConfig":
        """A copy with ``changes``; ``min_duration`` and ``log_prior`` may be dicts."""
        for key in ("min_duration", "log_prior"):
            if isinstance(changes.get(key), dict):
                changes[key] = tuple(changes[key].items())
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {**asdict(self), "min_duration": dict(self.min_duration), "log_prior": dict(self.log_prior)}

    @classmethod
    def from_json(cls, path) -> "DecoderConfig":
        """Read the ``config`` of a JSON written by ``benchmarks/tune_decoder.py`` (or a plain dict)."""
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls().with_(**d.get("config", d))


DEFAULT = DecoderConfig()


def _forward(lp, m, penalty, init):
    """Scores of one non-silent stretch (see the module docstring).

    Parameters
    ----------
    lp : numpy.ndarray
        (n, K) float64 log-probabilities.
    m : numpy.ndarray
        (K,) int minimum durations in frames.
    penalty : float
        Switch penalty.
    init : tuple or None
        ``None``: a fresh start; ``(k, d)``: the path is in class ``k`` whose segment has lasted
        ``d`` frames before the stretch.

    Returns
    -------
    dict
        Arrays padded with ``P = max(m)`` rows before frame 0: ``A`` (P+n+1, K), ``A[u]`` the sum
        of log-probabilities of frames before ``u``; ``G`` (P+n, K), the best score of the last
        chain state at ``u`` minus ``A[u+1]`` (a running maximum: it rises where a chain completes);
        ``D`` (P+n+1, K), the best score of entering class k at ``u`` minus ``A[u]``.
    """
    n, K = lp.shape
    P = int(m.max())
    A = np.zeros((P + n + 1, K))
    A[P + 1:] = np.cumsum(lp, axis=0)
    G = np.full((P + n, K), NEG)
    D = np.full((P + n + 1, K), NEG)
    if init is None:
        D[P] = 0.0
    elif init[1] >= m[init[0]]:
        G[P - 1, init[0]] = 0.0
        D[P] = np.where(np.arange(K) == init[0], NEG, -penalty)
    else:
        D[P - init[1], init[0]] = 0.0
    step = int(m.min())
    rows = np.arange(P, P + n)[:, None] * K + ((1 - m) * K + np.arange(K))[None, :]
    flat = D.reshape(-1)
    others = _others(K)
    Apen = A + penalty
    for b in range(P, P + n, step):
        e = min(b + step, P + n)
        X = flat[rows[b - P:e - P]]                  # chains completed at t (minus A[t+1])
        np.maximum(X[0], G[b - 1], out=X[0])
        Gb = np.maximum.accumulate(X, axis=0, out=G[b:e])
        if K > 1:                                    # enter class k at t+1 from the best other class
            D[b + 1:e + 1] = (Gb + A[b + 1:e + 1])[:, others].max(axis=2) - Apen[b + 1:e + 1]
    return {"A": A, "G": G, "D": D, "P": P, "fresh": init is None or init[1] < m[init[0]]}


@functools.lru_cache(maxsize=None)
def _others(K: int) -> np.ndarray:
    """(K, K - 1) int: for each class, the other classes."""
    return np.array([[j for j in range(K) if j != k] for k in range(K)], np.intp).reshape(K, max(K - 1, 0))


def _end_state(f, m, n, complete: bool):
    """Best last state: ``(score, k, t, seg_start)`` in padded indices; ``seg_start`` is None
    for a completed chain (found from ``G``)."""
    P, A = f["P"], f["A"]
    last = f["G"][P + n - 1] + A[P + n]
    k = int(np.argmax(last))
    best = (last[k], k, P + n - 1, None)
    if not complete:
        for j in range(len(m)):
            s = np.arange(P + n - m[j] + 1, P + n)
            if len(s):
                v = f["D"][s, j] + A[P + n, j]
                i = int(np.argmax(v))
                if v[i] > best[0]:
                    best = (v[i], j, P + n - 1, int(s[i]))
    return best


def _backtrack(f, m, n, end) -> np.ndarray:
    """(n,) class codes of the best path ending in ``end`` (from :func:`_end_state`)."""
    P, G, A = f["P"], f["G"], f["A"]
    out = np.empty(n, np.int8)
    _, k, t, start = end
    while True:
        if start is None:
            g = G[P - 1:t + 1, k]
            rise = np.flatnonzero(g[1:] > g[:-1])
            if not len(rise):                        # the initial segment, complete before the stretch
                out[:t - P + 1] = k
                break
            start = P + int(rise[-1]) - int(m[k]) + 1
        out[max(start, P) - P:t - P + 1] = k
        if start < P or (start == P and f["fresh"]):
            break
        prev = G[start - 1] + A[start]
        prev[k] = NEG
        k, t, start = int(np.argmax(prev)), start - 1, None
    return out


def decode_stretch(lp, m, penalty, init=None, complete=True):
    """Best class path through one non-silent stretch.

    Parameters
    ----------
    lp : numpy.ndarray
        (n, K) log-probabilities, n >= 1.
    m : numpy.ndarray
        (K,) int minimum durations in frames.
    penalty : float
        Switch penalty in nats.
    init : tuple or None
        See :func:`_forward`.
    complete : bool
        The stretch ends here (silence or end of recording follows), so its last segment must
        have its minimum length; ``False`` when it is cut by the look-ahead horizon.

    Returns
    -------
    numpy.ndarray or None
        (n,) int8 class codes; None when no path fits (stretch too short).
    """
    lp = np.asarray(lp, np.float64)
    same = _one_class(lp, np.asarray(m), init, complete)
    if same is not None:
        return same
    f = _forward(lp, np.asarray(m), float(penalty), init)
    end = _end_state(f, m, len(lp), complete)
    if not np.isfinite(end[0]):
        return None
    return _backtrack(f, m, len(lp), end)


def _one_class(lp, m, init, complete):
    """The path of one class throughout when it is the only best one, else None.

    When one class ``k`` has the strictly highest log-probability in every frame, and the path
    starts fresh or in ``k`` itself, staying in ``k`` is better than any other path (each of those
    gives some frame a lower score, and all but the one-class paths pay a switch), so the
    recursion is not needed; the ending segment must still reach ``k``'s minimum when ``complete``.
    """
    k = int(np.argmax(lp[0]))
    if init is not None and init[0] != k:
        return None
    if complete and (0 if init is None else init[1]) + len(lp) < m[k]:
        return None
    if np.count_nonzero(lp < lp[:, k:k + 1]) != lp.size - len(lp):  # k strictly ahead in every frame
        return None
    return np.full(len(lp), k, np.int8)


def _runs(mask) -> list:
    """``(a, b)`` index ranges of the runs of True in a bool array (all True, the common case: at once)."""
    if mask.all():
        return [(0, len(mask))] if len(mask) else []
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class FixedLagViterbi:
    """Fixed-lag Viterbi decoding of frames pushed in chunks of any size (module docstring).

    Parameters
    ----------
    min_frames : sequence of int
        (K,) minimum segment length in frames per class.
    switch_penalty : float
        Cost of a class change in nats.
    block : int
        Frames decided at a time.
    lag : int
        Frames of look-ahead past a block (at least ``max(min_frames)`` are used).
    floor : float
        Probabilities are floored at this before taking logs.
    offsets : sequence of float, optional
        (K,) log-prior offsets added to the log-probabilities (:meth:`DecoderConfig.prior_offsets`).

    Codes ``0 .. K-1`` are the classes, ``K`` is silence. A frame is decided at most
    ``block + lag`` frames after it was pushed (:attr:`delay`), and at :meth:`finish`.
    """

    def __init__(self, min_frames, switch_penalty: float, block: int, lag: int, floor: float = 1e-4,
                 offsets=None):
        self.m = np.maximum(1, np.asarray(min_frames, np.int64))
        self.K = len(self.m)
        self.offsets = np.zeros(self.K) if offsets is None else np.asarray(offsets, np.float64).reshape(self.K)
        self.penalty = float(switch_penalty)
        self.block = max(1, int(block))
        self.lag = max(int(lag), int(self.m.max()))
        self.floor = float(floor)
        self.reset()

    @property
    def delay(self) -> int:
        """Frames after a frame that must be pushed before it is decided."""
        return self.block + self.lag

    @property
    def horizon(self) -> int:
        """Absolute index of the frame whose arrival decides the block that holds :attr:`start`."""
        return (self.start // self.block + 1) * self.block + self.lag

    def reset(self) -> None:
        """Forget everything: start a new recording."""
        self.start = 0                       # absolute index of the first undecided frame
        self._lp = np.zeros((0, self.K))
        self._sil = np.zeros(0, bool)
        self._state = None                   # None (start, silence) or (class, segment start frame)

    def push(self, probs, silent) -> np.ndarray:
        """Add frames: ``probs`` (n, K) class probabilities, ``silent`` (n,) bool.

        Returns
        -------
        numpy.ndarray
            int8 codes of the frames decided now, from frame :attr:`start` (as it was).
        """
        probs = np.asarray(probs, np.float64).reshape(-1, self.K)
        self._lp = np.concatenate([self._lp, np.log(np.maximum(probs, self.floor)) + self.offsets])
        self._sil = np.concatenate([self._sil, np.asarray(silent, bool).reshape(-1)])
        return self._run(final=False)

    def finish(self) -> np.ndarray:
        """End of the recording: decide the remaining frames (as :meth:`push`)."""
        return self._run(final=True)

    def _run(self, final: bool) -> np.ndarray:
        out = []
        while len(self._lp):
            horizon = self.horizon
            if self.start + len(self._lp) > horizon:       # a frame past the horizon has arrived
                codes = self._window(horizon - self.start, False)[:horizon - self.lag - self.start]
            elif final:
                codes = self._window(len(self._lp), True)
            else:
                break
            self._commit(codes)
            out.append(codes)
        return np.concatenate(out) if out else np.zeros(0, np.int8)

    def _window(self, n: int, final: bool) -> np.ndarray:
        """Codes of the next ``n`` buffered frames; ``final``: the recording ends after them."""
        lp, sil = self._lp[:n], self._sil[:n]
        codes = np.full(n, self.K, np.int8)
        for a, b in _runs(~sil):
            m = self.m
            if final and self.start == 0 and a == 0 and b == n:
                m = np.minimum(m, n)  # the whole recording, without silence: any class, however short
            init = None
            if a == 0 and self._state is not None:
                init = (self._state[0], self.start - self._state[1])
            c = decode_stretch(lp[a:b], m, self.penalty, init, complete=final or b < n)
            if c is not None:                         # None: too short, merged into the silence
                codes[a:b] = c
        return codes

    def _commit(self, codes) -> None:
        n = len(codes)
        last = int(codes[-1])
        if last == self.K:
            self._state = None
        else:
            diff = np.flatnonzero(codes != last)
            run_start = int(diff[-1]) + 1 if len(diff) else 0
            keep = run_start == 0 and self._state is not None and self._state[0] == last
            self._state = self._state if keep else (last, self.start + run_start)
        self._lp, self._sil = self._lp[n:], self._sil[n:]
        self.start += n


def viterbi_codes(probs, silent, min_frames, switch_penalty, block, lag, floor=1e-4, offsets=None) -> np.ndarray:
    """Decode a whole recording at once: (n,) int8 codes, the same as any chunked push."""
    dec = FixedLagViterbi(min_frames, switch_penalty, block, lag, floor, offsets)
    return np.concatenate([dec.push(probs, silent), dec.finish()])
