"""Tune the Viterbi decoder (switch penalty, minimum durations, window, noise prior) on a validation corpus.

The network and the window mean run once per file and window; every grid point then only decodes
(:func:`sonotype.infer.decode.viterbi_codes`, the same code path as the segmenter). Scored as the
paper scores segmentation: 3-class frame accuracy with silence frames left out, pooled over the
files; speech-vs-non-speech beside it. The median filter at the same windows is scored too.

Use a corpus made from the **validation** split, never test::

    sonotype synth-segments --corpus musan:PATH --subset val --n 40 --out /tmp/synthval
    python benchmarks/tune_decoder.py --data /tmp/synthval --model wide --out runs/tune-wide.json

or by source-fold CV: every fold's files (``benchmarks/segment_cv.py``) decoded from the fold's model::

    python benchmarks/tune_decoder.py --cv runs/cv-full/waveform+mel+rel30 --data runs/segcv --out runs/tune-cv.json

The JSON's ``config`` is a :class:`~sonotype.infer.decode.DecoderConfig` (``DecoderConfig.from_json``);
copy its values into ``DecoderConfig``'s defaults to make them the defaults.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from sonotype.data.synth import read_index, read_truth
from sonotype.infer import Classifier, Segmenter
from sonotype.infer.decode import DEFAULT, viterbi_codes
from sonotype.infer.smoothing import moving_median

GRID = {"window": (1.0, 2.0), "switch_penalty": (20.0, 40.0, 80.0, 160.0, 320.0),
        "speech": (0.2, 0.3), "other": (0.5, 1.0), "noise_prior": (0.0, -0.5), "speech_prior": (0.0,)}


def prepare(clf, files, window):
    """Per file: window-mean probabilities (n, K), silent frames (n,), true labels (n,)."""
    seg = Segmenter(clf, window=window, median=1, smoothing="median")
    out = []
    for f in files:
        r = seg.segment(f["audio"])
        true = read_truth(f["truth"], r.hop_s, r.duration)
        n = min(len(true), len(r.frame_labels))
        out.append((r.probs[:n], r.frame_labels[:n] == len(r.classes) - 1, true[:n]))
    return out


def score(prepared, decode, classes) -> dict:
    """Pooled 3-class and speech-vs-non-speech accuracy of ``decode(probs, silent) -> codes``."""
    names = np.asarray(list(classes) + ["silence"], dtype=object)
    hit = speech_hit = total = 0
    for probs, silent, true in prepared:
        pred = names[decode(probs, silent)]
        keep = true != "silence"
        hit += int((pred[keep] == true[keep]).sum())
        speech_hit += int(((pred[keep] == "speech") == (true[keep] == "speech")).sum())
        total += int(keep.sum())
    return {"accuracy": hit / total, "speech_accuracy": speech_hit / total}


def tune(data, model="wide", limit=None, grid=GRID, pairs=None, objective="accuracy") -> dict:
    """Score the grid (and the median filter) on ``data``; the best point by ``objective``
    ("accuracy": 3-class, or "speech_accuracy": speech vs non-speech).

    ``pairs`` (a list of ``(model, data)``) scores several models each on its own files, pooled:
    the folds of a source-fold CV, each fold's files segmented by the model that never heard them
    (``benchmarks/segment_cv.py`` makes such corpora)."""
    pairs = pairs or [(model, data)]
    models = [(Classifier(m), read_index(d)[:limit]) for m, d in pairs]
    classes = list(models[0][0].classes)
    rows = []
    for window in grid["window"]:
        t0 = time.perf_counter()
        prepared = [p for clf, files in models for p in prepare(clf, files, window)]
        print(f"window {window:g} s: network + window mean in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for prior, sprior in itertools.product(grid["noise_prior"], grid.get("speech_prior", (0.0,))):
            table = {"noise": prior, **({"speech": sprior} if sprior else {})}
            offsets = DEFAULT.with_(log_prior=table).prior_offsets(classes)
            w = np.exp(offsets)
            med = score(prepared, lambda p, s: np.where(s, len(classes), (moving_median(p, 200) * w).argmax(1)),
                        classes)
            head = {"window": window, "noise_prior": prior, "speech_prior": sprior}
            rows.append({"smoothing": "median", "median": 200, **head, **med})
            for pen, sp, other in itertools.product(grid["switch_penalty"], grid["speech"], grid["other"]):
                cfg = DEFAULT.with_(window=window, switch_penalty=pen, log_prior=table,
                                    min_duration={c: (sp if c == "speech" else other) for c in classes})
                m = cfg.min_frames(classes, 100)
                dec = lambda p, s: viterbi_codes(p, s, m, pen, round(cfg.block * 100), round(cfg.lag * 100),
                                                 cfg.floor, offsets)
                rows.append({"smoothing": "viterbi", "switch_penalty": pen, **head,
                             "min_duration": cfg.to_dict()["min_duration"], **score(prepared, dec, classes)})
    best = max((r for r in rows if r["smoothing"] == "viterbi"), key=lambda r: r[objective])
    config = DEFAULT.with_(window=best["window"], switch_penalty=best["switch_penalty"], min_duration=best["min_duration"],
                           log_prior={"noise": best["noise_prior"],
                                      **({"speech": best["speech_prior"]} if best["speech_prior"] else {})})
    return {"pairs": [[str(m), str(d)] for m, d in pairs], "files": sum(len(f) for _, f in models),
            "grid": rows, "best": best, "config": config.to_dict()}


def cv_pairs(cv, data) -> list:
    """``(FOLD/model.pt, DATA/FOLD)`` of every fold of a source-fold CV recipe folder ``cv`` whose
    corpus ``benchmarks/segment_cv.py --out DATA`` made."""
    pairs = [(f / "model.pt", Path(data) / f.name) for f in sorted(Path(cv).glob("fold*"))
             if (f / "model.pt").is_file() and (Path(data) / f.name / "index.csv").is_file()]
    if not pairs:
        raise SystemExit(f"no fold with both {cv}/foldF/model.pt and {data}/foldF/index.csv")
    return pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="tune the Viterbi decoder on a validation synth-segments corpus")
    ap.add_argument("--data", required=True, help="folder made by 'sonotype synth-segments --subset val' (with --cv: "
                                                  "the --out folder of benchmarks/segment_cv.py)")
    ap.add_argument("--cv", help="a source-fold CV recipe folder (fold*/model.pt): each fold's model on DATA/foldF")
    ap.add_argument("--model", default="wide", help="bundled name or checkpoint (default wide, the default model)")
    ap.add_argument("--limit", type=int, help="only the first N files")
    for key, values in GRID.items():
        ap.add_argument(f"--{key.replace('_', '-')}", default=",".join(f"{v:g}" for v in values),
                        help=f"grid of {key} (comma-separated; default %(default)s)"
                             + (" minimum speech duration, s" if key == "speech" else "")
                             + (" minimum music / noise duration, s" if key == "other" else "")
                             + (" log-prior offset of noise, nats" if key == "noise_prior" else "")
                             + (" log-prior offset of speech, nats" if key == "speech_prior" else ""))
    ap.add_argument("--objective", choices=["accuracy", "speech_accuracy"], default="accuracy",
                    help="the best point by 3-class accuracy (default) or by speech vs non-speech")
    ap.add_argument("--out", help="write the grid, the best point and its config here (JSON)")
    args = ap.parse_args(argv)
    grid = {k: tuple(float(v) for v in getattr(args, k).split(",")) for k in GRID}
    pairs = cv_pairs(args.cv, args.data) if args.cv else None
    result = tune(args.data, args.model, args.limit, grid, pairs, args.objective)
    for r in sorted(result["grid"], key=lambda r: -r[args.objective])[:10]:
        print(json.dumps(r))
    print("best:", json.dumps(result["config"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
