"""Clip decision rules and per-class clip-logit offsets, measured by source-fold CV: do they raise the macro mean?

Usage: python benchmarks/cv_clip_decisions.py DIR RECIPE [--corpus musan:../shared/data/minimusan]
       (e.g. runs/cv-distema rel30-ema-distill)

Re-scores each ``DIR/RECIPE/fold<k>/model.pt`` (torch path) on that fold's test files and keeps every 2 s clip's
scores under three clip rules in ``fold<k>/test/clip_scores.npz`` (read back when present): the mean of its frame
logits (the models' rule), the mean of its frame probabilities, and its frames' votes. Prints the macro mean over
sources of each rule. Then the offsets: a clip's logits are the time-mean of its frame logits, so an offset per
class added to them is one added to every frame. Each fold's offsets
(speech 0; music and noise on a grid of -1.5..1.5 by 0.1) are chosen to maximise the macro mean over sources of
the *other* four folds' clips, then applied to its own: no fold's offsets saw its sources. Prints the macro and
class means without and with them, the offsets of each fold, and those chosen on all folds (in sample).
"""
import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from sonotype.data import open_corpus
from sonotype.experiments.evaluation import clip_dataset
from sonotype.infer import Classifier

GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)


def clip_scores(model, X: np.ndarray) -> dict:
    """Scores ``(clips, classes)`` of clips ``X`` under each rule, from the frame logits of ``model``."""
    with torch.no_grad():
        fl = torch.cat([model.frame_logits(torch.as_tensor(X[i:i + 512])) for i in range(0, len(X), 512)]).numpy()
    p = np.exp(fl - fl.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    votes = np.stack([(fl.argmax(1) == c).mean(1) for c in range(fl.shape[1])], 1)
    return {"logit-mean": fl.mean(2), "prob-mean": p.mean(2), "vote": votes + 1e-6 * p.mean(2)}


def dump(fold: Path, by_path: dict) -> dict:
    out = fold / "test" / "clip_scores.npz"
    if not out.is_file():
        rows = [r for r in csv.DictReader(open(fold / "fold-split.csv")) if r["split"] == "test"]
        clf = Classifier(fold / "model.pt", backend="torch")
        ds = clip_dataset(clf, [by_path[r["path"]] for r in rows], 2.0)
        X, y = ds.arrays()
        src = np.array([ds.sources[ds.file_of(k)] for k in range(len(ds))])
        np.savez(out, y=y, source=src, **clip_scores(clf.model.eval(), X))
    z = np.load(out)
    return {k: z[k] for k in z.files}


def source_accuracy(f: dict, b, rule: str = "logit-mean") -> dict:
    ok = (f[rule] + b).argmax(1) == f["y"]
    return {s: float(ok[f["source"] == s].mean()) for s in np.unique(f["source"])}


def best_offsets(folds: list):
    logp = np.concatenate([f["logit-mean"] for f in folds])
    y = np.concatenate([f["y"] for f in folds])
    _, inv = np.unique(np.concatenate([f["source"] for f in folds]), return_inverse=True)
    n = np.bincount(inv)
    scored = ((np.mean(np.bincount(inv, (logp + (0, m, z)).argmax(1) == y) / n), m, z) for m in GRID for z in GRID)
    acc, m, z = max(scored, key=lambda t: t[0])
    return np.array([0.0, m, z]), acc


def means(acc: dict, label: dict) -> str:
    cls = [100 * np.mean([v for s, v in acc.items() if label[s] == c]) for c in range(3)]
    return f"macro {100 * np.mean(list(acc.values())):.2f}, speech / music / noise " + " / ".join(f"{c:.2f}" for c in cls)


ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("recipe")
ap.add_argument("--corpus", default="musan:../shared/data/minimusan")
args = ap.parse_args()
by_path = {str(i.path): i for i in open_corpus(args.corpus).items}
folds = [dump(Path(args.dir) / args.recipe / f"fold{k}", by_path) for k in range(5)]
label = {s: int(np.bincount(f["y"][f["source"] == s]).argmax()) for f in folds for s in np.unique(f["source"])}
by_rule = {}
for rule in ("logit-mean", "prob-mean", "vote"):
    by_rule[rule] = {s: a for f in folds for s, a in source_accuracy(f, np.zeros(3), rule).items()}
    print(f"clip rule {rule}: {means(by_rule[rule], label)}")
nested = {}
for k, f in enumerate(folds):
    b, _ = best_offsets(folds[:k] + folds[k + 1:])
    print(f"fold {k}: offsets music {b[1]:+.1f}, noise {b[2]:+.1f}")
    nested.update(source_accuracy(f, b))
b, acc = best_offsets(folds)
print(f"without offsets: {means(by_rule['logit-mean'], label)}")
print(f"nested offsets:  {means(nested, label)}")
print(f"chosen on all folds (in sample): music {b[1]:+.1f}, noise {b[2]:+.1f}, macro {100 * acc:.2f}")
