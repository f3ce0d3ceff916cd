"""Frame-by-frame segmentation of audio pushed in chunks of any size.

The one implementation of the segmentation frame math (``Segmenter`` feeds files through it).

Pipeline (``hop`` = 10 ms, frame ``t`` is centred on sample ``t * hop``):

1. **Loudness.** The signal is equalised per 250 ms block aligned to sample 0
   (the classifier's preprocessing, without silence removal, so the timeline
   is kept). A block is processed once complete: this is the 250 ms part of
   the latency. Log-MMSE denoising is not applied.
2-3. **Features and model** (:mod:`sonotype.infer.netpath`): with the raw-audio ONNX model (the
   default for bundled models, :class:`~sonotype.infer.netpath.RawPath`) both happen inside the
   graph, fed the equalised samples of each network block; with a torch checkpoint
   (:class:`~sonotype.infer.netpath.FeaturePath`) as follows. Either way:
2. **Features.** ``n_fft // 2`` zeros are put before the equalised signal, so
   the (non-centred) feature frame ``t`` is centred on sample ``t * hop``;
   zeros after the end give the last frames. Features are standardised like
   the classifier's (with Δ/ΔΔ for MFCC models that use them: 4 frames look-ahead).
3. **Model.** A causal frame-rate model (SwishNet, SNN: ``frame_logits``) runs
   in float32 on blocks of ``NET_BLOCK`` frames aligned to absolute frame
   indices (frames ``k * B .. (k + 1) * B - 1``), each with its
   ``receptive_field`` frames of left context (the first block: none, as the
   model pads), zeros after the last frame available: every call has the same
   shape and a frame always has the same position in it, so the float32
   results do not depend on the chunking (a float32 convolution's result
   depends on a frame's position in the call). A block seen in part is run
   again when more frames come and a decision needs them (``eager=True``,
   streaming: with Viterbi smoothing, once the decoder's next horizon is in
   reach, :meth:`StreamingSegmenter._frames_wanted`; with the median filter, at
   every push) or only once complete (``eager=False``, what :class:`Segmenter`
   uses: no repeated work); the results are the same. Softmax gives per-frame probabilities ``p_t``. A GMM gives ``predict_proba``. Clip-only models
   (MobileNet, ``receptive_field is None``) raise :class:`NotImplementedError`.
4. **Context window.** With ``w = round(window * 100)`` frames and
   ``h = w // 2``, the context of frame ``t`` is frames
   ``t + h - w + 1 .. t + h`` (for ``w = 100``: ``t - 49 .. t + 50``), cut to
   the recording. Its probabilities are the mean of ``p`` over the non-silent
   frames of that context (all frames when none is non-silent), computed with
   running cumulative sums. Each ``p_s`` itself sees features
   ``s - receptive_field .. s``. ``window`` is thus the span, in seconds, of
   model outputs averaged around a frame.
5. **Median.** The averaged probabilities are median filtered over
   ``median`` frames per class (``scipy.ndimage.median_filter``, mode
   ``'nearest'``: frames ``t - median // 2 .. t + median - 1 - median // 2``);
   the label is the argmax, the confidence its probability.
6. **Silence.** A frame is *raw silent* when the RMS of the original (not
   equalised) signal over the 25 ms (``win_length``) around its centre, less
   its mean there (a DC offset is not sound), is below ``silence_db`` dBFS;
   the signal is padded with its first and last sample at the ends. It is
   labelled ``"silence"`` (confidence 1) only inside a run of raw-silent
   frames lasting at least ``min_silence`` seconds (default 0.2 s), or when
   the whole recording is raw silent (any length: as :class:`Classifier`
   says ``"silence"`` of it); the classifier is not asked about silence.
   With a model trained with relative silence (``prep.silence_rel_db``, e.g. 30 dB), a frame
   is also *quiet* when its level is that many dB under the loudest frame of the last
   :data:`REL_REFERENCE_S` seconds (causal, so streaming is unchanged): quiet frames keep
   their place and get a class, but like raw-silent ones their outputs are left out of the
   context-window means of stage 4 (the model never heard such floors in training; the
   words around a pause label it).

Each stage uses its exact left/right context: any chunking gives the same frames.
Stages 4-6 are in :mod:`sonotype.infer.smoothing` (mixed into :class:`StreamingSegmenter`).
"""
from __future__ import annotations

import math
import time
import warnings

import bottleneck as bn
import numpy as np

from ..preprocess import equalise_loudness, row_sums
from .classify import Classifier
from .decode import DEFAULT, FixedLagViterbi
from .netpath import DELTA_LOOKAHEAD, NET_BLOCK, FeaturePath, RawPath  # noqa: F401 (re-exported)
from .smoothing import _Rolling, _SmoothingStages, moving_median, silence_runs  # noqa: F401 (re-exported)

SILENCE = "silence"
REL_REFERENCE_S = 10.0  # the loud level of relative silence: the loudest frame of this many past seconds


class StreamingSegmenter(_SmoothingStages):
    """Label audio every 10 ms as it arrives (see the module docstring).

    Parameters
    ----------
    classifier_or_checkpoint : Classifier or str or Path or dict
        A loaded :class:`Classifier`, a bundled model name or a checkpoint.
    window : float, optional
        Context window in seconds (0.5-2 in the paper; default ``decoder.window``).
    median : int, optional
        Median filter length in frames (200 in the paper; default ``decoder.median``), used
        with ``smoothing="median"``.
    silence_db : float
        Silence threshold in dBFS.
    min_silence : float
        Shortest silence in seconds.
    chunk_seconds : float
        Larger pushes are processed in pieces of this length (bounded memory).
    eager : bool
        Run the network on partly filled blocks as soon as frames arrive (streaming,
        decisions within :attr:`latency_s`); ``False`` waits for complete blocks
        (``NET_BLOCK`` frames, 20 s) or :meth:`flush`, which saves repeated work when
        only the end result matters. The output is the same.
    smoothing : str, optional
        ``"viterbi"`` (fixed-lag decoding, :mod:`sonotype.infer.decode`) or ``"median"``
        (stage 5); default ``decoder.smoothing``.
    decoder : DecoderConfig, optional
        Smoothing settings (default :data:`sonotype.infer.decode.DEFAULT`).
    """

    def __init__(self, classifier_or_checkpoint=None, window: float | None = None, median: int | None = None,
                 silence_db: float = -50.0, min_silence: float = 0.2, chunk_seconds: float = 30.0,
                 eager: bool = True, smoothing: str | None = None, decoder=None):
        clf = classifier_or_checkpoint if isinstance(classifier_or_checkpoint, Classifier) \
            else Classifier(classifier_or_checkpoint)
        model = clf.model
        rf = getattr(model, "receptive_field", 0)
        if rf is None:
            raise NotImplementedError(
                f"{type(model).__name__} has no frame-level output (receptive_field is None); "
                "segmentation with clip-only models (MobileNet) is not implemented")
        if clf.prep.denoise:
            warnings.warn("segmentation does not apply Log-MMSE denoising", UserWarning, stacklevel=2)
        cfg = (decoder or DEFAULT).with_(**({} if smoothing is None else {"smoothing": smoothing}))
        window = cfg.window if window is None else window
        median = cfg.median if median is None else median
        if window <= 0 or int(median) < 1 or min_silence < 0:
            raise ValueError("window must be > 0, median >= 1 and min_silence >= 0")
        self.classifier = clf
        self.params = clf.params
        self.static = clf.params.with_(deltas=0) if clf.params.kind == "mfcc" else clf.params
        self.classes = list(clf.classes) + [SILENCE]
        self.window, self.median, self.silence_db, self.min_silence = (float(window), int(median),
                                                                       float(silence_db), float(min_silence))
        fr = self.params.frame_rate
        self.w = max(1, int(round(self.window * fr)))
        self.h = self.w // 2
        self.decoder = cfg.with_(window=self.window, median=self.median)
        self.smoothing = cfg.smoothing
        self._median_len = self.median if self.smoothing == "median" else 1
        self.m_left, self.m_right = self._median_len // 2, self._median_len - 1 - self._median_len // 2
        offsets = cfg.prior_offsets(clf.classes)
        self._viterbi = None if self.smoothing == "median" else FixedLagViterbi(
            cfg.min_frames(clf.classes, fr), cfg.switch_penalty, round(cfg.block * fr), round(cfg.lag * fr), cfg.floor,
            offsets)
        self._prior = np.exp(offsets).astype(np.float32)  # median: argmax of probs × prior
        self.min_frames = max(1, int(round(self.min_silence * fr)))
        self.rel_db = clf.prep.silence_rel_db
        self.ref_frames = max(1, int(round(REL_REFERENCE_S * fr)))
        self.eager = bool(eager)
        self.net = RawPath(model, clf.params, eager) if clf.backend == "onnx" else FeaturePath(clf, eager)
        self.lookahead = self.net.lookahead
        self.receptive_field = int(rf)
        self.net_block = self.net.block
        self.block = max(1, int(round(clf.prep.window * clf.sr))) if clf.prep.equalise else 1
        self.chunk = max(self.block, (int(chunk_seconds * clf.sr) // self.block) * self.block)
        self.timings = None
        self._clock = time.perf_counter
        self.reset()

    def enable_timing(self, on: bool = True, clock=time.perf_counter) -> dict | None:
        """Start (or stop, ``on=False``) adding the seconds spent per stage to :attr:`timings`.

        Keys: ``loudness``, ``stft``, ``mel_dct`` (mel, dB, DCT), ``standardise`` (Δ, scaling),
        ``network``, ``average`` (window mean), ``median``, ``silence`` (RMS, silence runs,
        decisions). ``clock`` is the timer (e.g. :func:`time.process_time` for CPU time).
        Off by default: then no clock is read.
        """
        self.timings = {} if on else None
        self._clock = clock
        self.net.timings, self.net.clock = self.timings, clock
        return self.timings

    def _lap(self, key, t0):
        t1 = self._clock()
        self.timings[key] = self.timings.get(key, 0.0) + (t1 - t0)
        return t1

    # -- public ------------------------------------------------------------
    @property
    def sr(self) -> int:
        return self.params.sr

    @property
    def hop_s(self) -> float:
        return self.params.hop_length / self.params.sr

    @property
    def latency_s(self) -> float:
        """Worst-case delay from a sample's arrival to the decision of its frame.

        ``(w // 2 + median - 1 - median // 2 + lookahead) * hop + n_fft / 2``
        samples plus one loudness block less a sample (the silence path,
        ``(min_frames - 1) * hop + win_length / 2``, counts if longer), plus, with Viterbi
        smoothing, the decoder's ``block + lag`` frames (no median term then).
        For ``window=1``, ``median=200``: (50 + 99) x 10 ms + 16 ms + 250 ms = 1.756 s.
        """
        p = self.params
        model_path = (self.h + self.m_right + self.lookahead) * p.hop_length + p.n_fft // 2 + self.block - 1
        silence_path = (self.min_frames - 1) * p.hop_length + p.win_length // 2
        delay = self._viterbi.delay * p.hop_length if self._viterbi is not None else 0
        return (max(model_path, silence_path) + delay) / p.sr

    def reset(self) -> None:
        """Forget everything pushed: start a new recording."""
        p = self.params
        self.n_samples = 0
        self.n_decided = 0
        self._final = False
        self._raw = np.zeros(0, np.float32)
        self.net.reset()
        self._g = math.gcd(p.hop_length, p.win_length)
        self._rms_buf = np.zeros(p.win_length // 2, np.float32)
        self._q = _Rolling((2,))          # sums of squares and sums of gcd(hop, win)-sample sub-blocks
        self._last = 0.0                  # the last sample: what pads the silence path at the end
        self.n_loud = 0                   # frames above the silence threshold so far
        self._P = _Rolling((len(self.classes) - 1,), np.float32)  # per-frame probs
        self._Rs = _Rolling((), bool)     # raw silence
        self._Rq = _Rolling((), bool)     # raw silence or quiet relative to the recent loud level: not averaged
        self._ref_tail = np.zeros(0)      # the last ref_frames - 1 frame levels (dB)
        self._C = _Rolling((2 * (len(self.classes) - 1) + 1,))    # cumulative sums
        self._C.append(np.zeros((1, self._C.data.shape[1])))
        self._S = _Rolling((len(self.classes) - 1,))               # window means
        self._M = _Rolling((len(self.classes) - 1,), np.float32)   # median filtered
        self._Q = _Rolling((), bool)      # smoothed silence
        self._fed = 0                     # frames given to the Viterbi decoder
        if self._viterbi is not None:
            self._viterbi.reset()

    def push(self, samples) -> list:
        """Add samples (mono float32 at ``sr``); return newly decided frames.

        Returns
        -------
        list of (int, str, float)
            ``(frame_index, label, confidence)``; frame ``t`` is centred at ``t * hop_s``.
        """
        return self._tuples(self.push_arrays(samples))

    def flush(self) -> list:
        """End of the recording: decide the remaining frames (same form as :meth:`push`)."""
        return self._tuples(self.flush_arrays())

    def push_arrays(self, samples):
        """Like :meth:`push`, as arrays ``(start, codes, confidence, probs)``.

        ``codes`` index :attr:`classes` (the model's classes, then ``"silence"``);
        ``probs`` (n, K) are the median-filtered class probabilities.
        """
        if self._final:
            raise RuntimeError("flush() was called; call reset() to start a new recording")
        y = np.asarray(samples, np.float32).reshape(-1)
        outs = [self._step(y[i:i + self.chunk]) for i in range(0, len(y), self.chunk)]
        return self._join(outs)

    def flush_arrays(self):
        """Like :meth:`flush`, as arrays (see :meth:`push_arrays`)."""
        if self._final:
            return self._join([])
        self._final = True
        return self._join([self._step(np.zeros(0, np.float32))])

    # -- stages ------------------------------------------------------------
    def _empty(self, start):
        return (start, np.zeros(0, np.int8), np.zeros(0, np.float32), np.zeros((0, len(self.classes) - 1), np.float32))

    def _join(self, outs):
        outs = [o for o in outs if len(o[1])]
        if not outs:
            return self._empty(self.n_decided)
        return (outs[0][0], np.concatenate([o[1] for o in outs]), np.concatenate([o[2] for o in outs]),
                np.concatenate([o[3] for o in outs]))

    def _tuples(self, arrays):
        start, codes, conf, _ = arrays
        return [(start + i, self.classes[c], float(v)) for i, (c, v) in enumerate(zip(codes, conf))]

    def _n_total(self) -> int:
        return -(-self.n_samples // self.params.hop_length)

    def _step(self, y):
        p, final = self.params, self._final
        tm = self.timings is not None
        t = self._clock() if tm else 0.0
        self.n_samples += len(y)
        # silence path: original samples
        self._rms_push(y)
        if tm:
            t = self._lap("silence", t)
        # loudness path
        raw = np.concatenate([self._raw, y])
        k = len(raw) if final else (len(raw) // self.block) * self.block
        e, self._raw = raw[:k], raw[k:]
        if self.classifier.prep.equalise and len(e):
            pr = self.classifier.prep
            e = equalise_loudness(e, self.sr, pr.window, pr.target_db, pr.max_gain_db)
        if final:
            n = self._n_total()
            need = max(0, (n - 1) * p.hop_length + p.n_fft - p.n_fft // 2 - self.n_samples) if n else 0
            e = np.concatenate([e, np.zeros(need, np.float32)])
            need = max(0, (n - 1) * p.hop_length + p.win_length - p.win_length // 2 - self.n_samples) if n else 0
            self._rms_push(np.full(need, self._last, np.float32))  # no step at the end
        if tm:
            t = self._lap("loudness", t)
        self.net.push(e)
        self._P.append(self.net.advance(final, self._n_total(), self._frames_wanted()))
        if tm:
            t = self._clock()
        self._cumulate()
        self._average()
        if tm:
            t = self._lap("average", t)
        self._median()
        if tm:
            t = self._lap("median", t)
        self._silence()
        if tm and self._viterbi is not None:
            t = self._lap("silence", t)
        out = self._decide()
        if tm:
            self._lap("silence" if self._viterbi is None else "viterbi", t)
        return out

    def _frames_wanted(self) -> int | None:
        """Frames of model output the next Viterbi decision needs (its horizon frame's window mean),
        or None (median smoothing decides every frame): eagerly the network runs only then, which
        decides the same frames at the same pushes with a fraction of the calls."""
        return None if self._viterbi is None else self._viterbi.horizon + 1 + self.h

    def _quiet(self, db, silent):
        """Frames left out of the window means: ``silent`` ones, or ``rel_db`` under the recent loud level."""
        if self.rel_db is None or not len(db):
            return silent
        levels = np.concatenate([self._ref_tail, db])
        ref = bn.move_max(levels, min(self.ref_frames, len(levels)), min_count=1)[len(self._ref_tail):]
        self._ref_tail = levels[max(0, len(levels) - self.ref_frames + 1):]
        return silent | (db < ref - self.rel_db)

    def _rms_push(self, y):
        p, g = self.params, self._g
        if len(y) and not self._final:
            if self.n_samples == len(y):  # the first samples: they pad the start (no step there)
                self._rms_buf[:] = y[0]
            self._last = float(y[-1])
        buf = np.concatenate([self._rms_buf, y])
        nq = len(buf) // g
        sub = buf[:nq * g].reshape(nq, g)
        self._q.append(np.stack([row_sums(sub, squares=True), row_sums(sub)], 1))
        self._rms_buf = buf[nq * g:]
        a, b = p.hop_length // g, p.win_length // g
        avail = 0 if self._q.end < b else (self._q.end - b) // a + 1
        if self._final:
            avail = min(avail, self._n_total())
        t0 = self._Rs.end
        if avail <= t0:
            return
        q, i0, n = self._q.data, t0 * a - self._q.start, avail - t0
        sums = q[i0:i0 + a * (n - 1) + 1:a]  # sub-blocks t * a + j of frames t0 .. avail - 1, j = 0 .. b - 1
        for j in range(1, b):
            sums = sums + q[i0 + j:i0 + j + a * (n - 1) + 1:a]
        power = sums[:, 0] - sums[:, 1] ** 2 / p.win_length  # the window's mean (DC) removed
        db = 10 * np.log10(np.maximum(power / p.win_length, 1e-10))
        silent = db < self.silence_db
        self._Rs.append(silent)
        self._Rq.append(self._quiet(db, silent))
        self.n_loud += len(silent) - int(np.count_nonzero(silent))
        self._q.drop_before(avail * a)
