"""Offline check: does running the network only on the non-quiet frames, concatenated as in training, help segmentation?

Usage: python benchmarks/segment_loud_only.py MODEL DIR   (DIR: a synth-segments corpus of the validation split)
Prints, per file, the running 3-class frame accuracy (silence excluded) of: "base" (the whole signal
equalised, window means over non-quiet frames, argmax), "compact" (the same on the loud frames only,
equalised and run as one signal, put back in place) and "seg" (the segmenter with its decoder).
"""
import sys, csv, numpy as np, soundfile as sf, bottleneck as bn
from pathlib import Path
from sonotype.infer import Classifier
from sonotype.infer.segment import Segmenter
from sonotype.preprocess import equalise_loudness
from sonotype.data.synth import read_truth

model, data = sys.argv[1], Path(sys.argv[2])
clf = Classifier(model, backend="onnx", threads=1)
seg = Segmenter(clf)
raw, pr, p = clf.model, clf.prep, clf.params
hop, W = p.hop_length, 100
classes = clf.classes

def levels(y):
    pad = np.pad(y.astype(np.float64), (p.win_length // 2, p.win_length), mode="edge")
    n = -(-len(y) // hop)
    idx = np.arange(n) * hop
    fr = np.lib.stride_tricks.sliding_window_view(pad, p.win_length)[idx]
    pw = fr.var(1)
    return 10 * np.log10(np.maximum(pw, 1e-10))

def probs_of(e):
    z = np.concatenate([np.zeros(p.n_fft // 2, np.float32), e, np.zeros(p.n_fft, np.float32)])
    n = -(-len(e) // hop)
    nf = 1 + (len(z) - p.n_fft) // hop
    idx = np.minimum(np.arange(nf), n - 1)
    return raw.frame_probs(z, idx)[:n]

def window_mean(P, use):
    Pm = np.where(use[:, None], P, 0.0)
    c = np.cumsum(np.vstack([np.zeros((1, P.shape[1])), Pm]), 0)
    k = np.cumsum(np.concatenate([[0], use.astype(float)]))
    n = len(P); t = np.arange(n); h = W // 2
    a = np.clip(t + h - W + 1, 0, n); b = np.clip(t + h + 1, 0, n)
    s = c[b] - c[a]; m = (k[b] - k[a])[:, None]
    allm = (np.cumsum(np.vstack([np.zeros((1, P.shape[1])), P]), 0))
    s2 = (allm[b] - allm[a]) / (b - a)[:, None]
    return np.where(m > 0, s / np.maximum(m, 1), s2)

tot = {"base": [0, 0], "compact": [0, 0], "seg": [0, 0]}
for row in csv.DictReader(open(data / "index.csv")):
    y, sr = sf.read(data / row["audio"], dtype="float32")
    db = levels(y)
    silent = db < -50
    ref = bn.move_max(db, 1000, min_count=1)
    quiet = silent | (db < ref - pr.silence_rel_db)
    true = read_truth(data / row["truth"], 0.01, len(y) / sr)
    n = min(len(true), len(db))
    keep = (true[:n] != "silence")
    # baseline: whole signal equalised
    e = equalise_loudness(y, sr, pr.window, pr.target_db, pr.max_gain_db)
    P = probs_of(e)[:n]
    lab = np.array(classes)[window_mean(P, ~quiet[:n]).argmax(1)]
    tot["base"][0] += int((lab[keep] == true[:n][keep]).sum()); tot["base"][1] += int(keep.sum())
    # compact: loud hops only
    loud = np.flatnonzero(~quiet[:n])
    if len(loud):
        starts = np.clip(loud * hop - hop // 2, 0, None)
        yc = np.concatenate([y[s:s + hop] for s in starts])
        ec = equalise_loudness(yc, sr, pr.window, pr.target_db, pr.max_gain_db)
        Pc = probs_of(ec)
        Pf = np.zeros_like(P); Pf[loud] = Pc[:len(loud)]
        lab2 = np.array(classes)[window_mean(Pf, ~quiet[:n]).argmax(1)]
    else:
        lab2 = lab
    tot["compact"][0] += int((lab2[keep] == true[:n][keep]).sum()); tot["compact"][1] += int(keep.sum())
    r = seg.segment(data / row["audio"])
    pl = r.labels[:n]
    tot["seg"][0] += int((pl[keep] == true[:n][keep]).sum()); tot["seg"][1] += int(keep.sum())
    print(row["audio"], {k: round(100 * v[0] / max(1, v[1]), 2) for k, v in tot.items()}, flush=True)
