"""How often a fold's teacher is right on its student's training clips, per class.

The clips are the student's (its recipe's augmented copies and preprocessing, from the student fold's
``fold-split.csv``), the logits the teacher's cached ones (computed if missing). The share of clips the
teacher gets wrong is what ``trusted_soft`` (recipe ``rel30-ema-distill-trust``) takes the soft targets off.

    python benchmarks/teacher_train_accuracy.py --student runs/cv-distema-s1/rel30-ema-distill \
        --teacher runs/cv-teach-s1/teacher-rel30 --seed 1 --folds 3
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from sonotype.experiments.sources import RECIPES
from sonotype.experiments.teacher import teacher_logits_for
from sonotype.experiments.training import clip_data, model_features, split_corpus
from sonotype.train import TrainConfig


def fold_accuracy(corpus: str, student: Path, teacher: Path, recipe: str, seed: int, model: str, clip: float) -> dict:
    """Teacher accuracy on the student fold's training clips: overall and per class, with clip counts."""
    r = RECIPES[recipe]
    quiet = lambda *a: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:  # split_corpus writes a split.csv; not into the run's folder
        parts = split_corpus(corpus, str(student / "fold-split.csv"), seed, None, None, Path(tmp), quiet)
    data, _ = clip_data(parts, TrainConfig(model=model, clip=clip, seed=seed), model_features(model, r["deltas"]),
                        r.get("augment"), r.get("mel_augment"), None, 1, quiet, r["prep"])
    y = data.train.clip_labels()
    p = teacher_logits_for(teacher / "model.pt", data, None, 1, quiet).argmax(1)
    per = {c: {"accuracy": float(np.mean(p[y == k] == k)), "clips": int(np.sum(y == k))}
           for k, c in enumerate(data.classes)}
    return {"accuracy": float(np.mean(p == y)), "clips": int(len(y)), "per_class": per}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="musan:../shared/data/minimusan")
    ap.add_argument("--student", required=True, help="a student recipe folder of 'reproduce sources' (foldF inside)")
    ap.add_argument("--teacher", required=True, help="the teachers' recipe folder (foldF/model.pt inside)")
    ap.add_argument("--recipe", default="rel30-ema-distill")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--model", default="wide")
    ap.add_argument("--clip", type=float, default=2.0)
    ap.add_argument("--out", help="JSON of the results")
    a = ap.parse_args()
    res = {}
    for f in (int(x) for x in a.folds.split(",")):
        res[f] = fold_accuracy(a.corpus, Path(a.student) / f"fold{f}", Path(a.teacher) / f"fold{f}", a.recipe, a.seed,
                               a.model, a.clip)
        per = ", ".join(f"{c} {v['accuracy']:.4f} of {v['clips']}" for c, v in res[f]["per_class"].items())
        print(f"fold {f}: teacher right on {res[f]['accuracy']:.4f} of {res[f]['clips']} training clips ({per})")
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
