"""sonotype against voice activity detectors: speech / non-speech frame accuracy and speed.

On a corpus made by ``sonotype synth-segments`` (WAVs + truth CSVs), every file is labelled
speech / non-speech every 10 ms by

- **sonotype** (bundled ``slim`` and/or ``wide``, or checkpoints): ``Segmenter`` with its default
  decoder (Viterbi) and/or the median filter (``--smoothing``); a frame is speech when its label is
  ``speech`` (music, noise, silence: non-speech);
- **Silero VAD** (``pip install silero-vad``; the package ships its models, it needs torch but not
  torchaudio as long as its ``read_audio`` is not used: audio is read with soundfile here):
  ``get_speech_timestamps`` with threshold 0.5 and its defaults (min speech 250 ms, padding 30 ms),
  and the raw frame probabilities (``audio_forward``, one per 32 ms window) > 0.5; TorchScript
  model by default, ``--silero-onnx`` for the ONNX one on onnxruntime;
- **webrtcvad** (``pip install webrtcvad-wheels``): 30 ms frames of 16-bit PCM at 16 kHz,
  aggressiveness 0-3 (all four scored, timed with 2).

A 10 ms frame ``t`` (centred at ``t * 10 ms``, as sonotype's) takes the decision of the VAD
window holding sample ``t * 160``. Accuracy is pooled over all frames of all files, (a) with the
ground truth's silence frames left out (as in the paper's segmentation evaluation) and (b) with
silence counted as non-speech. Every method is also judged by the standard metrics of
:mod:`sonotype.evaluate.standard` (pyannote.metrics) on speech / non-speech over whole files:
detection error rate, segmentation coverage / purity, boundary precision / recall at ±0.5 s. Every method reads the file itself (soundfile; decoding is in its
time) and runs on one thread (torch, BLAS and onnxruntime pinned); the methods run one after the
other on each file, so load changes on a shared machine hit them alike. Throughput is audio
seconds / wall seconds, and audio seconds / CPU seconds of the process.

Example::

    python benchmarks/peers.py --data runs/synth100 --limit 20 --model slim --out runs/peers
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HOP = 160
SR = 16000
SPEECH = "speech"
SILENCE = "silence"


# --------------------------------------------------------------------------- scoring
def frames_from_windows(decisions, window: int, n_frames: int, hop: int = HOP) -> np.ndarray:
    """10 ms frame decisions from decisions per ``window`` samples: frame ``t`` takes the window
    holding sample ``t * hop`` (the last window for frames past the end)."""
    d = np.asarray(decisions, bool)
    if n_frames == 0:
        return np.zeros(0, bool)
    if len(d) == 0:
        return np.zeros(n_frames, bool)
    idx = np.minimum(np.arange(n_frames) * hop // window, len(d) - 1)
    return d[idx]


def frames_from_spans(spans, n_frames: int, hop: int = HOP) -> np.ndarray:
    """10 ms frame decisions from ``[{'start': sample, 'end': sample}, ...]`` speech spans:
    frame ``t`` is speech when sample ``t * hop`` is in ``[start, end)``."""
    out = np.zeros(n_frames, bool)
    for s in spans:
        a = -(-int(s["start"]) // hop)
        b = -(-int(s["end"]) // hop)
        out[max(0, a):min(n_frames, b)] = True
    return out


def frame_accuracy(true_labels, pred_speech, exclude_silence: bool = True) -> dict:
    """Speech / non-speech agreement of 10 ms frames.

    Parameters
    ----------
    true_labels : array of str
        Ground-truth labels (``speech``, ``music``, ``noise``, ``silence``).
    pred_speech : array of bool
        True where the method says speech. Both are cut to the shorter length.
    exclude_silence : bool
        Leave out the frames whose true label is ``silence`` (else they count as non-speech).

    Returns
    -------
    dict
        ``correct``, ``frames``, ``accuracy``, ``speech_recall`` (true speech frames called speech),
        ``nonspeech_recall`` (true non-speech frames called non-speech); NaN when undefined.
    """
    n = min(len(true_labels), len(pred_speech))
    t = np.asarray(true_labels, dtype=object)[:n]
    p = np.asarray(pred_speech, bool)[:n]
    keep = (t != SILENCE) if exclude_silence else np.ones(n, bool)
    ts, ps = (t == SPEECH)[keep], p[keep]
    correct = int((ts == ps).sum())
    frames = int(keep.sum())

    def ratio(a, b):
        return float(a) / b if b else float("nan")
    return {"correct": correct, "frames": frames, "accuracy": ratio(correct, frames),
            "speech_recall": ratio((ts & ps).sum(), ts.sum()),
            "nonspeech_recall": ratio((~ts & ~ps).sum(), (~ts).sum()),
            "_speech": int(ts.sum()), "_speech_hit": int((ts & ps).sum()),
            "_non": int((~ts).sum()), "_non_hit": int((~ts & ~ps).sum())}


def pool(scores) -> dict:
    """Pool :func:`frame_accuracy` results of several files (frame-weighted)."""
    tot = {k: sum(s[k] for s in scores) for k in ("correct", "frames", "_speech", "_speech_hit", "_non", "_non_hit")}

    def ratio(a, b):
        return a / b if b else float("nan")
    return {**tot, "accuracy": ratio(tot["correct"], tot["frames"]),   # the counts too: pooled results pool again
            "speech_recall": ratio(tot["_speech_hit"], tot["_speech"]),
            "nonspeech_recall": ratio(tot["_non_hit"], tot["_non"])}


# --------------------------------------------------------------------------- methods
def read_mono(path) -> np.ndarray:
    """Mono float32 at 16 kHz with soundfile (resampled with soxr if needed)."""
    import soundfile as sf
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]
    if sr != SR:
        import soxr
        y = soxr.resample(y, sr, SR).astype(np.float32)
    return y


class Sonotype:
    def __init__(self, model, smoothing=None):
        from sonotype.infer import Classifier, Segmenter
        self.seg = Segmenter(Classifier(model), smoothing=smoothing)
        self.name = f"sonotype {Path(str(model)).stem} ({self.seg.engine.smoothing})"

    def __call__(self, path, n_frames):
        r = self.seg.segment(path)
        return {"speech": np.asarray(r.labels == SPEECH, bool)}


class Silero:
    """Both Silero decisions from one pass each (timestamps and raw probabilities)."""

    def __init__(self, onnx: bool = False, mode: str = "timestamps"):
        from silero_vad import load_silero_vad
        self.model = load_silero_vad(onnx=onnx)
        self.mode = mode
        self.name = f"silero-vad {'onnx' if onnx else 'jit'} ({'get_speech_timestamps' if mode == 'timestamps' else 'probs>0.5'})"

    def __call__(self, path, n_frames):
        import torch
        from silero_vad import get_speech_timestamps
        x = torch.from_numpy(read_mono(path))
        self.model.reset_states()
        if self.mode == "timestamps":
            spans = get_speech_timestamps(x, self.model, threshold=0.5, sampling_rate=SR)
            return {"speech": frames_from_spans(spans, n_frames)}
        probs = self.model.audio_forward(x, sr=SR)[0].numpy()
        return {"speech": frames_from_windows(probs > 0.5, 512, n_frames)}


class WebRTC:
    """webrtcvad on 30 ms frames; ``modes`` are all scored, the first is what the timing is of."""

    def __init__(self, modes=(2, 0, 1, 3), timed_mode: int = 2):
        import webrtcvad
        self.vads = {m: webrtcvad.Vad(m) for m in modes}
        self.timed = timed_mode
        self.name = f"webrtcvad (mode {timed_mode})"

    def decide(self, pcm: bytes, mode: int):
        v, step = self.vads[mode], 480 * 2
        return [v.is_speech(pcm[i:i + step], SR) for i in range(0, len(pcm) - step + 1, step)]

    def pcm(self, path) -> bytes:
        y = read_mono(path)
        return (np.clip(y, -1.0, 1.0 - 1.0 / 32768) * 32768).astype("<i2").tobytes()

    def __call__(self, path, n_frames):
        return {"speech": frames_from_windows(self.decide(self.pcm(path), self.timed), 480, n_frames)}

    def other_modes(self, path, n_frames) -> dict:
        pcm = self.pcm(path)
        return {m: frames_from_windows(self.decide(pcm, m), 480, n_frames) for m in self.vads if m != self.timed}


# --------------------------------------------------------------------------- run
def _one_thread():
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return threadpool_limits(limits=1)


def binary(labels) -> np.ndarray:
    """``speech`` / ``non-speech`` labels (for the standard metrics)."""
    return np.where(np.asarray(labels, dtype=object) == SPEECH, SPEECH, "non-speech").astype(object)


def run(data, models=("slim",), limit=None, silero_onnx: bool = False, silero_probs: bool = True,
        webrtc: bool = True, smoothings=(None,)) -> dict:
    """Score and time every method on the first ``limit`` files of ``data`` (see the module docstring)."""
    from sonotype.data.synth import read_index, read_truth
    from sonotype.evaluate.standard import StandardMetrics
    rows = read_index(data)[:limit] if limit else read_index(data)
    methods = []
    for m in models:
        methods += [Sonotype(m, s) for s in smoothings]
    missing = []
    try:
        methods.append(Silero(onnx=silero_onnx, mode="timestamps"))
        if silero_probs:
            methods.append(Silero(onnx=silero_onnx, mode="probs"))
    except ImportError:
        missing.append("silero-vad")
    wrtc = None
    if webrtc:
        try:
            wrtc = WebRTC()
            methods.append(wrtc)
        except ImportError:
            missing.append("webrtcvad")
    names = [m.name for m in methods]
    scores = {n: {"no_silence": [], "with_silence": []} for n in names}
    extra = {f"webrtcvad (mode {m})": {"no_silence": [], "with_silence": []} for m in (0, 1, 3)} if wrtc else {}
    standard = {n: StandardMetrics() for n in names + list(extra)}
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    audio = 0.0
    with _one_thread():
        for m in methods:  # warm-up: first calls, lazy imports
            m(rows[0]["audio"], 10)
        for r in rows:
            n = int(np.ceil(r["duration"] / 0.01 - 1e-9))
            truth = read_truth(r["truth"], 0.01, r["duration"])
            audio += r["duration"]
            for m in methods:
                t0, c0 = time.perf_counter(), time.process_time()
                out = m(r["audio"], n)
                wall[m.name] += time.perf_counter() - t0
                cpu[m.name] += time.process_time() - c0
                scores[m.name]["no_silence"].append(frame_accuracy(truth, out["speech"], True))
                scores[m.name]["with_silence"].append(frame_accuracy(truth, out["speech"], False))
                standard[m.name].add(binary(truth), binary(np.where(out["speech"], SPEECH, "")))
            if wrtc:
                for mode, pred in wrtc.other_modes(r["audio"], n).items():
                    extra[f"webrtcvad (mode {mode})"]["no_silence"].append(frame_accuracy(truth, pred, True))
                    extra[f"webrtcvad (mode {mode})"]["with_silence"].append(frame_accuracy(truth, pred, False))
                    standard[f"webrtcvad (mode {mode})"].add(binary(truth), binary(np.where(pred, SPEECH, "")))
    from sonotype.bench.models import environment
    result = {"files": len(rows), "audio_s": audio, "missing": missing, "environment": environment("cpu", 1),
              "methods": []}
    for nm in names + list(extra):
        s = scores.get(nm) or extra[nm]
        row = {"method": nm, "no_silence": pool(s["no_silence"]), "with_silence": pool(s["with_silence"]),
               "standard": standard[nm].result()}
        if nm in wall:
            row.update({"wall_s": wall[nm], "cpu_s": cpu[nm], "x_realtime": audio / wall[nm],
                        "x_realtime_cpu": audio / cpu[nm]})
        result["methods"].append(row)
    ref = next((r for r in result["methods"] if r["method"].startswith("sonotype")), None)
    for row in result["methods"]:
        if ref is not None and "wall_s" in row:
            row["sonotype_speedup_wall"] = row["wall_s"] / ref["wall_s"]
            row["sonotype_speedup_cpu"] = row["cpu_s"] / ref["cpu_s"]
    return result


def table_markdown(result) -> str:
    ref = next((r["method"] for r in result["methods"] if r["method"].startswith("sonotype")), "sonotype")
    lines = [f"{result['files']} files, {result['audio_s'] / 3600:.2f} h; one thread each; "
             f"CPU {result['environment']['cpu']} ({result['environment']['cpu_count']} cores), "
             f"load average {result['environment']['load_avg']}", "",
             "| method | acc. (silence excluded) | speech recall | non-speech recall | acc. (silence = non-speech) "
             "| detection error rate | coverage | purity | boundary P / R (±0.5 s) "
             f"| × real time (wall) | × real time (CPU) | {ref} speed / this (CPU) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["methods"]:
        a, b, st = r["no_silence"], r["with_silence"], r["standard"]
        speed = (f"{r['x_realtime']:.0f} | {r['x_realtime_cpu']:.0f} | {r['sonotype_speedup_cpu']:.2f}"
                 if "wall_s" in r else "(same speed as mode 2) | | ")
        lines.append(f"| {r['method']} | {100 * a['accuracy']:.1f} % | {100 * a['speech_recall']:.1f} % | "
                     f"{100 * a['nonspeech_recall']:.1f} % | {100 * b['accuracy']:.1f} % | "
                     f"{100 * st['detection_error_rate']:.1f} % | {100 * st['coverage']:.1f} % | "
                     f"{100 * st['purity']:.1f} % | {100 * st['boundary_precision']:.1f} / "
                     f"{100 * st['boundary_recall']:.1f} % | {speed} |")
    if result["missing"]:
        lines.append("")
        lines.append("not installed (skipped): " + ", ".join(result["missing"]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="sonotype vs Silero VAD / webrtcvad: speech frame accuracy and speed")
    ap.add_argument("--data", required=True, help="folder made by 'sonotype synth-segments'")
    ap.add_argument("--limit", type=int, help="only the first N files")
    ap.add_argument("--model", action="append", help="bundled name or checkpoint (repeat; default slim)")
    ap.add_argument("--silero-onnx", action="store_true", help="Silero's ONNX model on onnxruntime instead of TorchScript")
    ap.add_argument("--no-silero-probs", action="store_true", help="skip the raw-probability Silero variant")
    ap.add_argument("--smoothing", default="viterbi", help="sonotype's smoothing: viterbi, median or viterbi,median")
    ap.add_argument("--out", help="write PATH.md and PATH.json")
    args = ap.parse_args(argv)
    models = args.model or ["slim"]
    result = run(args.data, models, args.limit, silero_onnx=args.silero_onnx, silero_probs=not args.no_silero_probs,
                 smoothings=args.smoothing.split(","))
    text = table_markdown(result)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text)
        out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
