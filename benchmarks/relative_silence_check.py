"""Inference-only check of relative silence on finished source-fold CV models (no training).

Each fold's model classifies its own held-out files twice: with the preprocessing it was trained with,
and with ``silence_rel_db`` set to each value given. Prints the macro mean over sources of 2 s clip
accuracy per setting and the sources that move most. Used to set the 30 dB of ``waveform+mel+rel30``
before any training with it (README, third round)::

    python benchmarks/relative_silence_check.py runs/cv-wide waveform+mel 30,40
"""
import dataclasses
import sys

import numpy as np
import pandas as pd

from sonotype.audio import load
from sonotype.infer.classify import Classifier
from sonotype.preprocess import apply


def fold_rows(cv_dir, recipe, fold, settings):
    clf = Classifier(f"{cv_dir}/{recipe}/fold{fold}/model.pt", backend="torch")
    split = pd.read_csv(f"{cv_dir}/{recipe}/fold{fold}/fold-split.csv")
    for r in split[split.split == "test"].itertuples():
        y = load(r.path, sr=clf.sr)
        row = {"source": r.source}
        for name, prep in settings(clf.prep).items():
            P = clf.clip_probs(apply(y, clf.sr, prep))
            row[name + "_n"] = len(P)
            row[name + "_ok"] = int((np.array(clf.classes)[P.argmax(1)] == r.label).sum()) if len(P) else 0
        yield row


def main(cv_dir, recipe, rels, folds=5):
    def settings(prep):
        return {"trained": prep, **{f"rel{v:g}": dataclasses.replace(prep, silence_rel_db=v) for v in rels}}
    df = pd.DataFrame([row for k in range(folds) for row in fold_rows(cv_dir, recipe, k, settings)])
    base = None
    for name in ["trained"] + [f"rel{v:g}" for v in rels]:
        g = df.groupby("source")[[name + "_n", name + "_ok"]].sum()
        acc = 100 * g[name + "_ok"] / g[name + "_n"]
        moved = "" if base is None else ", ".join(f"{s} {d:+.1f}" for s, d in (acc - base).sort_values().iloc[[0, 1, -2, -1]].items())
        print(f"{name}: macro mean over sources {acc.mean():.2f} %, {int(g[name + '_n'].sum())} clips {moved}")
        base = acc if base is None else base


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [float(v) for v in sys.argv[3].split(",")])
