"""How much of the segmentation error is the decoder's, and how much the model's.

On a synth-segments corpus (the truth known), every file is segmented as the segmenter does it and
scored three ways on the frames whose truth is not silence (the paper's 3-class frame accuracy):

- ``decoder``: the segmenter's labels (default decoder, or ``--smoothing median``);
- ``oracle``: every true segment labelled as a whole by the class of its mean frame log-probability
  (the model's frames inside it, the frames the silence detector drops left as they were) — the
  boundaries known, what a decoder that found every boundary exactly would give from the same model;
- ``frame``: each frame's own most probable class (the window mean, no decoder).

If ``oracle`` is far above ``decoder``, the decoder (boundaries, switch penalty, minimum durations)
loses what the model knows; if level, the model's probabilities are the limit.

    python benchmarks/segment_oracle.py --data runs/synthval40 --model wide
    python benchmarks/segment_oracle.py --cv runs/cv-raw41-s2/waveform+mel+rel30 --data runs/segcv-s2-raw41

With ``--cv`` each fold's model labels its own fold's files (``benchmarks/segment_cv.py``'s corpora):
sources never heard.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_decoder import cv_pairs  # noqa: E402  (benchmarks/tune_decoder.py: each fold's model and corpus)

from sonotype.data.synth import read_index, read_truth  # noqa: E402
from sonotype.infer import Classifier, Segmenter  # noqa: E402

WAYS = ("decoder", "oracle", "frame")


def oracle_labels(true: np.ndarray, probs: np.ndarray, silent: np.ndarray, decoded: np.ndarray,
                  classes: list) -> np.ndarray:
    """Each non-silence run of ``true`` (frames) labelled by its mean log-probability over the
    frames not ``silent``; silent frames keep their ``decoded`` label."""
    out = np.array(decoded, dtype=object)
    edges = np.flatnonzero(np.r_[True, true[1:] != true[:-1], True])
    logp = np.log(np.maximum(probs, 1e-9))
    for a, b in zip(edges[:-1], edges[1:]):
        keep = ~silent[a:b]
        if true[a] != "silence" and keep.any():
            out[a:b][keep] = classes[int(logp[a:b][keep].mean(0).argmax())]
    return out


def _tally(counts: dict, label: str) -> dict:
    """``counts``' row of true class ``label`` (frames ``n`` and hits per way), made on first use."""
    return counts.setdefault(label, dict.fromkeys(("n",) + WAYS, 0))


def score_file(seg: Segmenter, row: dict, counts: dict) -> None:
    """Add one file's hits per way (and per true class) to ``counts``."""
    r = seg.segment(row["audio"])
    classes = list(r.model_classes)  # the model's classes; code len(classes) is silence
    names = np.asarray(list(r.classes), dtype=object)
    true = read_truth(row["truth"], r.hop_s, r.duration)
    n = min(len(true), len(r.frame_labels))
    true, codes, probs = true[:n], np.asarray(r.frame_labels[:n]), r.probs[:n]
    silent = codes == len(classes)
    decoded = names[codes]
    preds = {"decoder": decoded, "oracle": oracle_labels(true, probs, silent, decoded, classes),
             "frame": names[np.where(silent, len(classes), probs.argmax(1))]}
    keep = true != "silence"
    for c in classes:
        m = keep & (true == c)
        _tally(counts, c)["n"] += int(m.sum())
        for way, pred in preds.items():
            counts[c][way] += int((pred[m] == c).sum())


def summary(counts: dict) -> dict:
    """Accuracy per way (pooled frames) and recall per class and way, in %."""
    n = sum(c["n"] for c in counts.values())
    return {"frames": n, **{way: round(100 * sum(c[way] for c in counts.values()) / max(n, 1), 2) for way in WAYS},
            "recall": {k: {way: round(100 * c[way] / max(c["n"], 1), 2) for way in WAYS} for k, c in counts.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="decoder against an oracle that knows the true boundaries")
    ap.add_argument("--data", required=True, help="a synth-segments corpus (with --cv: the folder of its foldF corpora)")
    ap.add_argument("--model", default="wide", help="bundled name or checkpoint (without --cv)")
    ap.add_argument("--cv", help="a source-fold CV recipe folder: each fold's model.pt on DATA/foldF")
    ap.add_argument("--smoothing", choices=["viterbi", "median"], default=None, help="the segmenter's (default its own)")
    ap.add_argument("--limit", type=int, help="only the first N files (of each fold)")
    ap.add_argument("--out", help="write the figures here (JSON)")
    args = ap.parse_args(argv)
    pairs = cv_pairs(args.cv, args.data) if args.cv else [(args.model, Path(args.data))]
    counts, per_part = {}, {}
    for model, data in pairs:
        part = {}
        seg = Segmenter(Classifier(model), **({"smoothing": args.smoothing} if args.smoothing else {}))
        for row in read_index(data)[:args.limit]:
            score_file(seg, row, part)
        per_part[str(data)] = summary(part)
        for c, v in part.items():
            for k, x in v.items():
                _tally(counts, c)[k] += x
        print(data, json.dumps({w: per_part[str(data)][w] for w in WAYS}), flush=True)
    result = {"pairs": [[str(m), str(d)] for m, d in pairs], "pooled": summary(counts), "parts": per_part}
    print("pooled", json.dumps(result["pooled"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
