"""Segmentation throughput: how many times faster than real time a file is segmented.

:func:`bench_segment` runs :class:`~sonotype.infer.segment.Segmenter` on a file (or on a
synthetic recording written for the purpose, so decoding is included) and reports

- ``x_realtime``: audio seconds / wall seconds for the whole job (reading and decoding the
  file, resampling if needed, loudness, features, network, smoothing, segments);
- ``breakdown``: seconds per stage, from timing hooks of
  :class:`~sonotype.infer.stream.StreamingSegmenter` (which read no clock when off) and a
  timer around the file's block reader: ``decode``, ``loudness``, ``stft``, ``mel_dct``,
  ``standardise``, ``network``, ``average``, ``median``, ``silence``, ``viterbi`` (the decoder) and ``other`` (the rest:
  segment building, buffering);
- ``groups``: the same summed into ``decode``, ``features`` (loudness, STFT, mel/DCT,
  standardisation), ``network``, ``smoothing`` (window average, median, silence, Viterbi), ``other``.

With more than one thread the file is decoded ahead in a background thread
(:func:`sonotype.audio.prefetch`, as ``Segmenter`` does on several cores): ``decode`` is then the
time spent waiting for a block, not the time to decode it.

Threads: ``threads=1`` pins torch (``torch.set_num_threads``) and every BLAS / OpenMP pool
(threadpoolctl) to one thread; ``threads=0`` uses all cores.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..evaluate.tables import markdown_table

STAGES = ("decode", "loudness", "stft", "mel_dct", "standardise", "network", "average", "median",
          "silence", "viterbi", "other")
GROUPS = {"decode": ("decode",), "features": ("loudness", "stft", "mel_dct", "standardise"),
          "network": ("network",), "smoothing": ("average", "median", "silence", "viterbi"), "other": ("other",)}
SR = 16000


# --------------------------------------------------------------------------- synthetic audio
# (the tests' signal fixtures use these too)
def speech_like(n: int, rng, sr: int = SR) -> np.ndarray:
    """``n`` samples of amplitude-modulated harmonic tone: gliding f0 ~110-190 Hz, ~4 Hz 'syllables'."""
    t = np.arange(n) / sr
    f0 = 150 + 40 * np.sin(2 * np.pi * (0.5 + rng.random()) * t + rng.random() * 6)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros(n)
    for k in range(1, 25):
        if k * 190 < sr / 2 - 200:
            y += np.sin(k * phase) / k * (1.0 + 0.5 * np.sin(2 * np.pi * 0.3 * k * t))
    env = np.clip(np.sin(2 * np.pi * (3.5 + rng.random()) * t + rng.random() * 6), 0, None) ** 1.5
    return y * env


def music_like(n: int, rng, sr: int = SR) -> np.ndarray:
    """``n`` samples of chords of harmonic notes changing every 0.5 s."""
    t = np.arange(n) / sr
    y = np.zeros(n)
    seg = int(0.5 * sr)
    for s in range(0, n, seg):
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        tt = t[s:s + seg]
        for semis in (0, 4, 7):
            f = root * 2 ** (semis / 12)
            for k in range(1, 6):
                if k * f < sr / 2 - 100:
                    y[s:s + seg] += np.sin(2 * np.pi * k * f * tt) / k ** 1.5
        y[s:s + seg] *= np.exp(-1.5 * (tt - tt[0]))
    return y


def noise_like(n: int, rng, sr: int = SR) -> np.ndarray:
    """``n`` samples of band-pass filtered white noise (numpy only: the core install benchmarks too)."""
    lo, hi = 200 + 300 * rng.random(), min(sr / 2 * 0.9, 2000 + 3000 * rng.random())
    spec = np.fft.rfft(rng.standard_normal(n))
    freq = np.fft.rfftfreq(n, 1 / sr)
    spec[(freq < lo) | (freq > hi)] = 0  # an ideal band-pass: the benchmark needs noise, not a filter
    return np.fft.irfft(spec, n)


def synthetic_blocks(seconds: float, seed: int = 0, block_seconds: float = 60.0):
    """Yield float32 blocks of a speech-like / music-like / noise / silence pattern.

    Segments of 2-20 s in random order with random levels (-30..-6 dBFS peak), cut from
    a pool of three 30 s pieces per kind (synthesising every second would dominate the benchmark).
    """
    rng = np.random.default_rng(seed)
    pool = {k: [] for k in ("speech", "music", "noise")}
    piece = int(min(30.0, max(2.0, seconds)) * SR)
    for kind, fn in (("speech", speech_like), ("music", music_like), ("noise", noise_like)):
        for _ in range(3):
            y = fn(piece, rng)
            pool[kind].append((y / max(np.abs(y).max(), 1e-9)).astype(np.float32))
    total = int(round(seconds * SR))
    block = max(1, int(block_seconds * SR))
    out, have, done = [], 0, 0
    while done < total:
        kind = rng.choice(["speech", "music", "noise", "silence"], p=[0.35, 0.3, 0.2, 0.15])
        n = min(int(rng.uniform(2, 20) * SR), total - done - have)
        if kind == "silence":
            seg = np.zeros(n, np.float32)
        else:
            src = pool[kind][rng.integers(0, 3)]
            a = int(rng.integers(0, len(src) - n)) if n < len(src) else 0
            seg = np.resize(src[a:], n) * np.float32(10 ** (rng.uniform(-30, -6) / 20))
        out.append(seg)
        have += n
        while have >= block or (have and done + have >= total):
            y = np.concatenate(out)
            k = min(block, len(y))
            yield y[:k]
            out, have, done = [y[k:]], have - k, done + k


def write_synthetic(path, seconds: float, seed: int = 0) -> Path:
    """Write :func:`synthetic_blocks` as 16 kHz mono; the suffix picks the format
    (``.flac`` 16-bit, ``.ogg`` Vorbis, ``.wav`` 16-bit). Written block by block
    (libsndfile can crash writing a long OGG in one call)."""
    import soundfile as sf
    path = Path(path)
    fmt, subtype = {".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
                    ".wav": ("WAV", "PCM_16")}[path.suffix.lower()]
    with sf.SoundFile(str(path), "w", SR, 1, subtype=subtype, format=fmt) as f:
        for y in synthetic_blocks(seconds, seed, block_seconds=10.0):
            f.write(y)
    return path


# --------------------------------------------------------------------------- threads
@contextlib.contextmanager
def thread_limit(threads: int):
    """Torch intra-op threads (when torch is loaded) and BLAS / OpenMP pools (with threadpoolctl,
    when installed) limited to ``threads`` (0: all cores); onnxruntime's come from the classifier."""
    import sys
    n = int(threads) or (os.cpu_count() or 1)
    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=n)
    except ModuleNotFoundError:  # the core install: numpy's pools stay as they are
        limits = contextlib.nullcontext()
    try:
        with limits:
            yield n
    finally:
        if torch is not None:
            torch.set_num_threads(old)


class _TimedBlocks:
    """Iterate ``blocks`` adding the time (of ``clock``) spent producing each (decoding) to ``timings``."""

    def __init__(self, blocks, timings: dict, clock=time.perf_counter):
        self.blocks, self.timings, self.clock = iter(blocks), timings, clock

    def __iter__(self):
        return self

    def __next__(self):
        t0 = self.clock()
        try:
            return next(self.blocks)
        finally:
            self.timings["decode"] = self.timings.get("decode", 0.0) + self.clock() - t0


def _segmenter(model, backend: str, threads: int, smoothing=None):
    from ..infer import Classifier, Segmenter
    clf = Classifier(model, backend=backend, threads=threads or None)
    return Segmenter(clf, smoothing=smoothing)  # the reader decodes ahead only with more than one thread


def time_file(seg, path, repeats: int = 1, cpu: bool = False) -> dict:
    """Segment ``path`` ``repeats`` times with ``seg`` (after a 50 s warm-up); the fastest run.

    ``cpu=True``: the breakdown is in CPU seconds of the process (:func:`time.process_time`;
    for one thread, what the job costs regardless of other load on the machine), else in wall
    seconds. Both totals are always reported (``wall_s``, ``cpu_s``).
    """
    from ..audio import info
    total = info(path).duration
    clock = time.process_time if cpu else time.perf_counter
    # warm-up: cached filters / windows, the network's block shapes, lazy imports
    warm = np.concatenate(list(synthetic_blocks(50.0, seed=1)))
    seg.segment_array(warm)
    best = None
    for _ in range(max(1, repeats)):
        timings = seg.engine.enable_timing(True, clock)
        t0, c0 = time.perf_counter(), time.process_time()
        blocks = _TimedBlocks(seg.file_blocks(path), timings, clock)
        result = seg._run(blocks, total, str(path))
        wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        seg.engine.enable_timing(False)
        key = cpu_s if cpu else wall
        if best is None or key < best["key"]:
            best = {"key": key, "wall_s": wall, "cpu_s": cpu_s, "timings": dict(timings),
                    "frames": len(result.frame_labels), "segments": len(result.segments)}
    ref = best["cpu_s"] if cpu else best["wall_s"]
    br = {k: float(best["timings"].get(k, 0.0)) for k in STAGES if k != "other"}
    br["other"] = max(0.0, ref - sum(br.values()))
    groups = {g: sum(br[k] for k in ks) for g, ks in GROUPS.items()}
    return {"audio_s": total, "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
            "x_realtime": total / best["wall_s"], "x_realtime_cpu": total / best["cpu_s"],
            "clock": "cpu" if cpu else "wall", "breakdown": br, "groups": groups,
            "frames": best["frames"], "segments": best["segments"]}


def bench_segment(path=None, synthetic_hours: float | None = None, model="slim", threads: int = 1,
                  backend: str | None = None, fmt: str = "flac", repeats: int = 1, seed: int = 0,
                  keep_dir=None, smoothing: str | None = None) -> dict:
    """Throughput of segmenting ``path`` (or a synthetic recording of ``synthetic_hours``).

    Parameters
    ----------
    path : str or Path, optional
        Audio file to segment (decoding included).
    synthetic_hours : float, optional
        Instead of ``path``: write this many hours of synthetic speech / music / noise /
        silence as 16 kHz ``fmt`` (``"flac"`` or ``"ogg"`` Vorbis) to a temporary folder
        (or ``keep_dir``, reused when present) and segment that.
    model : str
        Bundled model name or checkpoint.
    threads : int
        1: one core (torch and BLAS pools pinned to one thread); 0: all cores.
    backend : {None, "torch", "onnx"}
        Network backend (None: the model's default, see :class:`~sonotype.infer.Classifier`).
    repeats : int
        Timed runs; the fastest is reported.
    smoothing : str, optional
        ``"viterbi"`` or ``"median"`` (default: the segmenter's, Viterbi).

    Returns
    -------
    dict
        ``audio_s``, ``wall_s``, ``cpu_s``, ``x_realtime`` (audio / wall seconds),
        ``x_realtime_cpu`` (audio / CPU seconds: with one thread, the figure that does not depend
        on other jobs on the machine), ``breakdown`` and ``groups`` (seconds of ``clock``: CPU
        seconds for one thread, wall seconds otherwise; see the module docstring), ``threads`` (actual count), ``model``, ``backend``, ``file``,
        ``environment`` (CPU, load average, versions).
    """
    from .machine import environment
    if (path is None) == (synthetic_hours is None):
        raise ValueError("give either path or synthetic_hours")
    with contextlib.ExitStack() as stack:
        if path is None:
            folder = Path(keep_dir) if keep_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"synthetic-{synthetic_hours:g}h-{seed}.{fmt.lower()}"
            if not path.exists():
                write_synthetic(path, synthetic_hours * 3600.0, seed)
        with thread_limit(threads) as n:
            seg = _segmenter(model, backend, n, smoothing)
            out = time_file(seg, path, repeats, cpu=(n == 1))
        out.update({"threads": n, "model": str(model), "backend": seg.classifier.backend, "file": str(path),
                    "environment": environment("cpu", n)})
    return out


def table_markdown(rows) -> str:
    """Markdown table of :func:`bench_segment` results (one row each)."""
    head = ["model", "backend", "threads", "audio s", "wall s", "× real time (wall)", "CPU s",
            "× real time (CPU)"] + [f"{g} %" for g in GROUPS]
    body = []
    for r in rows:
        ref = r["cpu_s"] if r.get("clock") == "cpu" else r["wall_s"]
        body.append([str(r["model"]), r["backend"], str(r["threads"]), f"{r['audio_s']:.0f}", f"{r['wall_s']:.2f}",
                     f"{r['x_realtime']:.0f}", f"{r['cpu_s']:.2f}", f"{r['x_realtime_cpu']:.0f}"]
                    + [f"{100 * r['groups'][g] / ref:.0f}" for g in GROUPS])
    stages = ["stage"] + [f"{r['model']}/{r['backend']}/{r['threads']}t ({r.get('clock', 'wall')} s)" for r in rows]
    return (markdown_table(head, body) + "\n"
            + markdown_table(stages, [[k] + [f"{r['breakdown'][k]:.3f}" for r in rows] for k in STAGES]))
