"""The paper's artificial segmentation corpus: random concatenations of real excerpts.

Each file is 20-120 s of speech, music and noise excerpts (from the *test*
split) with exponentially distributed lengths, separated either abruptly or
by a stretch of silence. Most silences are *natural*: quiet stretches cut from
the corpus recordings; the rest are digital low-level noise.

Ground truth is true to the audio written:

- a speech / music / noise row is a verbatim excerpt of its ``source`` from
  ``offset`` seconds (at the corpus rate ``sr``);
- quiet stretches are found on 10 ms slots (non-overlapping, RMS below
  ``silence_db`` dBFS); an excerpt is placed where it has no quiet run of
  ``min_silence`` seconds or more when one of ``tries`` random positions
  allows, and any such run left inside it is labelled ``"silence"``;
- a ``"silence"`` row is a run of quiet slots or digital noise at
  ``digital_db`` dBFS, so its RMS is below ``silence_db``.

Files: ``<out>/<name>.wav`` (PCM 16-bit), ``<out>/<name>.csv`` (``start, end,
label, source, offset``; seconds), and ``<out>/index.csv`` (``name, audio,
truth, duration, segments``). The same items and seed give the same corpus.
"""
from __future__ import annotations

import csv
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_path
from ..audio import AudioError, load, write_wav

MEAN_LEN = {"silence": 0.5, "noise": 5.0, "speech": 10.0, "music": 12.0}
SILENCE = "silence"
SLOT_S = 0.01
TRUTH_FIELDS = ["start", "end", "label", "source", "offset"]


def slot_db(y: np.ndarray, slot: int) -> np.ndarray:
    """Level in dBFS of consecutive non-overlapping ``slot``-sample slots (partial last one dropped).

    Each slot's mean (DC) is removed first, as the segmenter's silence detector does: a pause
    recorded with a DC offset is silence, not the offset's level."""
    n = len(y) // slot
    p = np.asarray(y[:n * slot], np.float64).reshape(n, slot).var(1)
    return 10 * np.log10(np.maximum(p, 1e-10))


def quiet_runs(quiet: np.ndarray, min_slots: int) -> list:
    """``(a, b)`` slot ranges of runs of True at least ``min_slots`` long."""
    edges = np.diff(np.concatenate([[0], np.asarray(quiet, np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends) if b - a >= min_slots]


class _Sources:
    """Corpus items with their slot levels; audio loaded on demand (small LRU cache)."""

    def __init__(self, items, sr, silence_db, min_slots, progress):
        self.sr, self.slot = sr, int(round(SLOT_S * sr))
        self.items, self.quiet, self.by_label, self.natural = [], [], {}, []
        self._cache = OrderedDict()
        for it in tqdm(sorted(items, key=lambda i: i.path), desc="scan sources", disable=not progress or None):
            try:
                y = load(it.path, sr=sr)
            except AudioError as err:
                warnings.warn(f"skipped: {err}", UserWarning, stacklevel=3)
                continue
            q = slot_db(y, self.slot) < silence_db
            k = len(self.items)
            self.items.append(it)
            self.quiet.append(q)
            if not q.all() and len(y) >= self.slot:
                self.by_label.setdefault(it.label, []).append(k)
            self.natural += [(k, a, b) for a, b in quiet_runs(q, min_slots)]
            self._remember(k, y)

    def _remember(self, k, y):
        self._cache[k] = y
        self._cache.move_to_end(k)
        while len(self._cache) > 16:
            self._cache.popitem(last=False)

    def audio(self, k) -> np.ndarray:
        if k not in self._cache:
            self._remember(k, load(self.items[k].path, sr=self.sr))
        self._cache.move_to_end(k)
        return self._cache[k]


def _excerpt(src, k, length, rng, tries, min_slots):
    """Offset (samples) of a ``length``-sample excerpt of item ``k`` with the fewest quiet slots."""
    n = len(src.audio(k))
    best, best_score = 0, None
    for _ in range(tries):
        off = int(rng.integers(0, n - length + 1))
        a, b = -(-off // src.slot), (off + length) // src.slot
        runs = quiet_runs(src.quiet[k][a:b], min_slots)
        score = sum(e - s for s, e in runs)
        if best_score is None or score < best_score:
            best, best_score = off, score
        if score == 0:
            break
    return best


def _class_rows(src, k, off, length, label, min_slots):
    """Truth rows of an excerpt: its quiet runs (whole slots inside it) become silence."""
    slot = src.slot
    a = -(-off // slot)
    rows, pos = [], off
    for s, e in quiet_runs(src.quiet[k][a:(off + length) // slot], min_slots):
        qs, qe = (a + s) * slot, (a + e) * slot
        if qs > pos:
            rows.append((pos, qs, label))
        rows.append((qs, qe, SILENCE))
        pos = qe
    if pos < off + length:
        rows.append((pos, off + length, label))
    return rows


@dataclass(frozen=True)
class MixConfig:
    """How the files of :func:`synth_segments` are mixed (see its parameters; lengths in seconds)."""

    mean_len: dict
    natural_silence: float = 0.8
    through_silence: float = 0.5
    min_segment: float = 0.5
    min_silence: float = 0.2
    digital_db: float = -70.0
    tries: int = 20

    @property
    def min_slots(self) -> int:
        """The shortest quiet run labelled silence, in 10 ms slots."""
        return max(1, int(round(self.min_silence / SLOT_S)))


def _make_file(src, rng, length: int, mix: MixConfig):
    """Audio and truth rows ``(start, end, label, source, offset)`` (samples) of one file."""
    sr, labels, mean_len, min_slots = src.sr, sorted(src.by_label), mix.mean_len, mix.min_slots
    parts, rows, pos, prev = [], [], 0, None

    def add(y, label, k=None, off=0):
        nonlocal pos
        parts.append(y)
        rows.append((pos, pos + len(y), label, "" if k is None else src.items[k].path, off))
        pos += len(y)

    while pos < length:
        if prev is not None and rng.random() < mix.through_silence:
            need = min(length - pos, int(max(mix.min_silence, rng.exponential(mean_len[SILENCE])) * sr))
            while need > 0:
                if src.natural and rng.random() < mix.natural_silence:
                    k, a, b = src.natural[int(rng.integers(len(src.natural)))]
                    take = min(need, (b - a) * src.slot)
                    off = int(rng.integers(a * src.slot, b * src.slot - take + 1))
                    add(src.audio(k)[off:off + take], SILENCE, k, off)
                else:
                    take = need
                    noise = rng.standard_normal(take) * 10 ** (mix.digital_db / 20)
                    add(noise.astype(np.float32), SILENCE)
                need -= take
            if pos >= length:
                break
        label = str(rng.choice([c for c in labels if c != prev] or labels))
        need = min(length - pos, int(max(mix.min_segment, rng.exponential(mean_len.get(label, 10.0))) * sr))
        while need > 0:
            k = src.by_label[label][int(rng.integers(len(src.by_label[label])))]
            y = src.audio(k)
            take = min(need, len(y))
            off = _excerpt(src, k, take, rng, mix.tries, min_slots)
            start = pos
            parts.append(y[off:off + take])
            for a, b, lab in _class_rows(src, k, off, take, label, min_slots):
                rows.append((start + a - off, start + b - off, lab, src.items[k].path, a))
            pos += take
            need -= take
        prev = label
    return np.concatenate(parts)[:length], rows


def _write_csv(path, header, rows):
    with atomic_path(path, ".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return Path(path)


def synth_segments(items, out_dir, n: int = 500, seed: int = 0, sr: int = 16000, min_len: float = 20.0,
                   max_len: float = 120.0, mean_len: dict | None = None, natural_silence: float = 0.8,
                   through_silence: float = 0.5, silence_db: float = -50.0, min_silence: float = 0.2,
                   min_segment: float = 0.5, digital_db: float = -70.0, tries: int = 20,
                   prefix: str = "synth", progress: bool = True) -> list:
    """Write ``n`` artificial segmentation files made of excerpts of ``items``.

    Parameters
    ----------
    items : sequence of Item
        Labelled recordings (speech / music / noise), normally the test split.
    out_dir : str or Path
        Output folder (created).
    n, seed : int
        Number of files; seed (file ``i`` uses ``numpy.random.default_rng([seed, i])``).
    sr : int
        Sample rate of the files written.
    min_len, max_len : float
        File lengths in seconds, uniform in between.
    mean_len : dict
        Mean segment length in seconds per label (exponential), ``MEAN_LEN`` by default.
    natural_silence : float
        Fraction of silences cut from real recordings (rest: digital noise at ``digital_db``).
    through_silence : float
        Probability that a change of label goes through a silence (else abrupt).
    silence_db, min_silence : float
        Quiet threshold (dBFS, 10 ms slots) and the shortest quiet run labelled silence (s).
    min_segment : float
        Shortest speech / music / noise segment (s).
    tries : int
        Random positions tried per excerpt to avoid quiet runs.
    prefix : str
        File names are ``<prefix>-0000`` etc.
    progress : bool
        Show progress bars (when on a terminal).

    Returns
    -------
    list of dict
        The rows of ``index.csv``.
    """
    mix = MixConfig({**MEAN_LEN, **(mean_len or {})}, natural_silence, through_silence, min_segment, min_silence,
                    digital_db, tries)
    if not 0 < min_len <= max_len:
        raise ValueError("need 0 < min_len <= max_len")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = _Sources(items, sr, silence_db, mix.min_slots, progress)
    missing = [c for c in ("speech", "music", "noise") if c in mix.mean_len and c not in src.by_label]
    if not src.by_label:
        raise ValueError("no usable (non-silent) items to build files from")
    if missing:
        warnings.warn(f"no items labelled {missing}: files will lack them", UserWarning, stacklevel=2)
    index = [_write_file(src, out, f"{prefix}-{i:04d}", np.random.default_rng([seed, i]), min_len, max_len, mix)
             for i in tqdm(range(n), desc="synth files", disable=not progress or None)]
    _write_csv(out / "index.csv", ["name", "audio", "truth", "duration", "segments"],
               [[r[k] for k in ("name", "audio", "truth", "duration", "segments")] for r in index])
    return index


def _write_file(src, out: Path, name: str, rng, min_len: float, max_len: float, mix: MixConfig) -> dict:
    """Mix one file of ``min_len`` to ``max_len`` seconds, write ``name.wav`` and ``name.csv``;
    returns its ``index.csv`` row."""
    sr = src.sr
    length = int(round(rng.uniform(min_len, max_len) * sr))
    y, rows = _make_file(src, rng, length, mix)
    rows = [(a, min(b, length), lab, s, o) for a, b, lab, s, o in rows if a < length]
    write_wav(out / f"{name}.wav", np.clip(y, -1, 1), sr)
    _write_csv(out / f"{name}.csv", TRUTH_FIELDS,
               [(f"{a / sr:.6f}", f"{b / sr:.6f}", lab, s, f"{o / sr:.6f}" if s else "") for a, b, lab, s, o in rows])
    return {"name": name, "audio": f"{name}.wav", "truth": f"{name}.csv", "duration": round(length / sr, 6),
            "segments": len(rows)}


def read_truth(path, hop_s: float = 0.01, duration: float | None = None) -> np.ndarray:
    """Frame labels of a truth CSV: frame ``t`` gets the label of the row holding time ``t * hop_s``.

    Parameters
    ----------
    path : str or Path
        CSV with ``start, end, label`` columns (seconds).
    hop_s : float
        Frame hop in seconds.
    duration : float, optional
        Length in seconds (default: end of the last row); ``ceil(duration / hop_s)`` frames.

    Returns
    -------
    numpy.ndarray
        Object array of labels; times not covered by any row get ``"silence"``.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = [(float(r["start"]), float(r["end"]), r["label"]) for r in csv.DictReader(f)]
    rows.sort()
    if duration is None:
        duration = max((b for _, b, _ in rows), default=0.0)
    n = max(0, int(math.ceil(duration / hop_s - 1e-9)))
    t = np.arange(n) * hop_s
    labels = np.full(n, SILENCE, dtype=object)
    if rows:
        starts = np.array([a for a, _, _ in rows])
        ends = np.array([b for _, b, _ in rows])
        idx = np.searchsorted(starts, t + 1e-9, side="right") - 1
        ok = (idx >= 0) & (t < ends[np.maximum(idx, 0)] - 1e-9)
        labels[ok] = np.asarray([lab for _, _, lab in rows], dtype=object)[idx[ok]]
    return labels


def read_index(data_dir) -> list:
    """Rows of ``<data_dir>/index.csv`` with ``audio`` and ``truth`` as full paths."""
    data_dir = Path(data_dir)
    path = data_dir / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no index.csv (make the corpus with synth_segments)")
    with open(path, newline="", encoding="utf-8") as f:
        return [{**r, "audio": str(data_dir / r["audio"]), "truth": str(data_dir / r["truth"]),
                 "duration": float(r["duration"])} for r in csv.DictReader(f)]
