"""Segmentation on sources never heard: source-fold cross-validation of segmentation.

Clips are cross-validated by ``sonotype reproduce sources``; this does the same for long
recordings. For each fold of such a run (``FOLD/fold-split.csv`` names the fold's test sources,
``FOLD/model.pt`` is the model trained without them):

1. a synth-segments corpus (``sonotype.data.synth``, the paper's artificial files) is cut from
   **every file of the fold's test sources** and nothing else (``--n`` files per fold, seeded);
2. the fold's model segments it (``Segmenter``, default decoder or ``--decoder JSON``): 3-class
   frame accuracy (truth silence left out, the paper's measure) and speech-vs-non-speech;
3. Silero VAD (``get_speech_timestamps``) and webrtcvad (mode 2) label the same files
   (``benchmarks/peers.py``'s methods and measures), when installed.

Everything is pooled over the folds' frames, so every frame is labelled by a model that never heard
its source: the segmentation counterpart of the clip CV's "measure to trust". Corpora are kept under
``OUT/foldF`` and reused on a second call (delete them to redraw).

Example (the deployed recipe at the bundled models' budget)::

    python benchmarks/segment_cv.py --cv runs/cv-full/waveform+mel+rel30 \\
        --corpus musan:../shared/data/minimusan --n 40 --out runs/segcv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (benchmarks/peers.py: methods and measures)

from sonotype.data.synth import read_index, synth_segments  # noqa: E402
from sonotype.evaluate.segments import evaluate_segments  # noqa: E402
from sonotype.experiments.parts import load_parts  # noqa: E402
from sonotype.infer.decode import DecoderConfig  # noqa: E402


def fold_corpus(corpus: str, fold: Path, out: Path, n: int, seed: int) -> Path:
    """The synth-segments corpus of ``fold``'s test sources under ``out`` (made once)."""
    if not (out / "index.csv").is_file():
        _, parts = load_parts(corpus, split=str(fold / "fold-split.csv"))
        synth_segments(parts["test"], out, n=n, seed=seed, progress=False)
    return out


def confusion_scores(conf, classes) -> dict:
    """3-class accuracy, speech-vs-non-speech and recalls of a pooled confusion (rows: true
    ``classes``; columns: ``classes`` then silence)."""
    c = np.asarray(conf, np.int64)
    n = c.sum()
    sp = list(classes).index("speech")
    speech_hit = c[sp, sp]
    non_hit = sum(c[i, j] for i in range(len(classes)) for j in range(c.shape[1]) if i != sp and j != sp)
    return {"frames": int(n), "accuracy": float(np.trace(c[:, :len(classes)]) / n),
            "speech_accuracy": float((speech_hit + non_hit) / n),
            "recall": {k: float(c[i, i] / c[i].sum()) if c[i].sum() else float("nan") for i, k in enumerate(classes)},
            "precision": {k: float(c[i, i] / c[:, i].sum()) if c[:, i].sum() else float("nan")
                          for i, k in enumerate(classes)},
            "speech_to_silence": float(c[sp, -1] / c[sp].sum()), "confusion": c.tolist()}


def run(cv: Path, corpus: str, out: Path, n: int, decoder=None, vads: bool = True) -> dict:
    """Pooled scores over the folds of ``cv`` (see the module docstring)."""
    folds = sorted(p for p in cv.glob("fold*") if (p / "model.pt").is_file())
    if not folds:
        raise SystemExit(f"{cv}: no fold*/model.pt (a 'sonotype reproduce sources' recipe folder)")
    conf, classes, per_fold, vad = None, None, [], {}
    for k, fold in enumerate(folds):
        data = fold_corpus(corpus, fold, out / fold.name, n, seed=k)
        row = evaluate_segments(fold / "model.pt", data, windows=((decoder or DecoderConfig()).window,),
                                smoothings=((decoder or DecoderConfig()).smoothing,), decoder=decoder,
                                progress=False)[0]
        classes = row["metrics"]["classes"]
        cols = list(classes) + ["silence"]
        c = np.zeros((len(classes), len(cols)), np.int64)    # predicted silence may be absent from a fold
        for j, name in enumerate(row["metrics"]["confusion_columns"]):
            c[:, cols.index(name)] += np.asarray(row["metrics"]["confusion"], np.int64)[:, j]
        conf = c if conf is None else conf + c
        fold_row = {"fold": fold.name, "files": len(read_index(data)), "audio_s": row["audio_s"],
                    **confusion_scores(c, classes)}
        if vads:
            res = peers.run(data, models=[str(fold / "model.pt")], silero_probs=False, smoothings=(None,))
            for m in res["methods"]:
                name = "sonotype" if m["method"].startswith("sonotype") else m["method"]
                vad.setdefault(name, []).append(m["no_silence"])
                fold_row[name] = m["no_silence"]["accuracy"]
        per_fold.append(fold_row)
        print(json.dumps({k: v for k, v in fold_row.items() if not isinstance(v, dict)}), file=sys.stderr)
    result = {"cv": str(cv), "corpus": corpus, "files_per_fold": n, "folds": per_fold,
              "decoder": (decoder or DecoderConfig()).to_dict(), "pooled": confusion_scores(conf, classes),
              "speech_vs_nonspeech": {k: peers.pool(v) for k, v in vad.items()}}
    return result


def table(result) -> str:
    p = result["pooled"]
    others = [k for k in result["speech_vs_nonspeech"] if k != "sonotype"]
    lines = [f"Segmentation source-fold CV: {result['cv']}, {len(result['folds'])} folds × "
             f"{result['files_per_fold']} files, {sum(f['audio_s'] for f in result['folds']) / 3600:.2f} h", "",
             "| fold | files | h | 3-class % | speech vs non-speech % |" + "".join(f" {k} |" for k in others),
             "|---|---|---|---|---|" + "---|" * len(others)]
    for f in result["folds"]:
        lines.append(f"| {f['fold']} | {f['files']} | {f['audio_s'] / 3600:.2f} | {100 * f['accuracy']:.2f} | "
                     f"{100 * f['speech_accuracy']:.2f} |" + "".join(f" {100 * f[k]:.2f} |" for k in others))
    svn = result["speech_vs_nonspeech"]
    lines.append(f"| **pooled** | | | **{100 * p['accuracy']:.2f}** | **{100 * p['speech_accuracy']:.2f}** |" +
                 "".join(f" **{100 * svn[k]['accuracy']:.2f}** |" for k in others))
    lines += ["", "Recall (pooled): " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in p["recall"].items()),
              "Precision (pooled): " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in p["precision"].items())]
    if svn:
        lines.append("Speech recall, speech-vs-non-speech: " +
                     ", ".join(f"{k} {100 * v['speech_recall']:.1f} %" for k, v in svn.items()))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="segmentation source-fold CV (every frame by a model that never heard "
                                             "its source), against Silero VAD and webrtcvad")
    ap.add_argument("--cv", required=True, help="a recipe folder of 'sonotype reproduce sources' (fold*/model.pt)")
    ap.add_argument("--corpus", required=True, help="the corpus the CV ran on (KIND:PATH)")
    ap.add_argument("--n", type=int, default=40, help="synth-segments files per fold (default 40)")
    ap.add_argument("--decoder", help="decoder settings (JSON of benchmarks/tune_decoder.py or a DecoderConfig dict)")
    ap.add_argument("--no-vads", action="store_true", help="sonotype only")
    ap.add_argument("--out", required=True, help="folder for the fold corpora, result.json and table.md")
    args = ap.parse_args(argv)
    out = Path(args.out)
    decoder = DecoderConfig.from_json(args.decoder) if args.decoder else None
    result = run(Path(args.cv), args.corpus, out, args.n, decoder, vads=not args.no_vads)
    tag = Path(args.decoder).stem if args.decoder else "default"
    (out / f"result-{tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"table-{tag}.md").write_text(table(result))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
