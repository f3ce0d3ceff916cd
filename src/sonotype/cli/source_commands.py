"""``sonotype reproduce sources`` (source-fold cross-validation) and ``sonotype data audit``."""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import checked, temperature


def _folds(text: str) -> list:
    try:
        folds = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fold numbers like 0,1 (from 0), got {text!r}") from None
    if min(folds) < 0:
        raise argparse.ArgumentTypeError("fold numbers count from 0")
    return folds


# written out so that building the parser imports no training code; a test checks it against RECIPES
RECIPE_NAMES = ("channel+mel", "mel", "mel-balanced", "mel-mixup", "mel-mixup-warp", "mel-nomask", "mel-nomix", "mel-sqrt-balanced",
                "mel-strong", "mel-warp", "paper", "plain", "rel30-eq1s", "rel30-fms", "rel30-fms-same", "rel30-ls", "rel30-noisemix",
                "rel30-distill", "rel30-distill-cw", "rel30-ema", "rel30-ema-distill", "rel30-ema-distill-last", "rel30-ema-distill-n2", "rel30-ema-distill-n2-last", "rel30-ema-distill-sm", "rel30-ema-distill-trust", "rel30-ema999", "rel30-ema999-last", "rel30-noise-balanced", "rel30-valsrc", "rel30-wd", "teacher-rel30",
                "waveform", "waveform3",
                "waveform+mel", "waveform+mel+rel20", "waveform+mel+rel30", "waveform+rel30-distill", "waveform3+mel",
                "waveform3+mel+rel30")
EPILOG = f"recipes: {', '.join(RECIPE_NAMES)}, or deployed (the bundled models' recipe: rel30-ema)"


def add_cv_options(q) -> None:
    """The options of a source-fold cross-validation (shared by ``reproduce sources`` and ``data audit``)."""
    q.add_argument("--folds", type=int, default=5, help="source folds per class (default 5)")
    q.add_argument("--model", default="wide", help="model to train per fold (default wide)")
    q.add_argument("--clip", type=float, default=2.0, help="clip length in seconds (default 2)")
    q.add_argument("--epochs", type=int, default=8, help="epochs per fold (default 8)")
    q.add_argument("--epoch-clips", type=int, metavar="N", default=6000,
                   help="each epoch trains on a fresh seeded random N clips (default 6000; cheap sweeps)")
    q.add_argument("--updates", type=int, default=100, help="optimiser steps per epoch (default 100)")
    q.add_argument("--patience", type=int, default=15, help="early-stopping patience in epochs")
    q.add_argument("--only", type=_folds, help="run only these folds (from 0) and write no table; "
                                               "for parallel processes, then call again without it")
    q.add_argument("--exclude", metavar="CSV", help="exclusion list (path,reason; paths relative to the corpus root)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--cache", help="feature cache folder (default $SONOTYPE_CACHE or ~/.cache/sonotype)")
    q.add_argument("--workers", type=int, help="processes for feature extraction (default: all cores)")
    q.add_argument("--threads", type=int, help="torch threads for training (default: all cores); 1 for each of "
                                                "several processes run in parallel (--only)")
    q.add_argument("--teacher-cv", metavar="DIR",
                   help="for the distillation recipes (rel30-distill...): a recipe folder of an earlier run with the "
                        "same --seed and --folds; fold F learns from DIR/foldF/model.pt")
    q.add_argument("--temperature", type=temperature,
                   help="distillation temperature, or auto: chosen per fold on validation (default: the recipe's, "
                        "4 for every distillation recipe)")
    q.add_argument("--alpha", type=checked(float, 0.0, 1.0),
                   help="weight of the teacher's soft targets (default: the recipe's, 0.5 for rel30-ema-distill "
                        "and its -trust, -sm, -n2, -last and -n2-last variants, else 0.9)")
    q.add_argument("--sweep-epochs", type=int, help="epochs per T of the temperature sweep (default epochs/5)")
    q.epilog = EPILOG


def add_parsers(rsub, dsub) -> None:
    """Add ``sources`` to ``sonotype reproduce`` and ``audit`` to ``sonotype data``."""
    q = rsub.add_parser("sources", help="source-fold cross-validation: accuracy on sources a model never heard")
    q.add_argument("--corpus", required=True, help="KIND:PATH (sources from the manifest)")
    q.add_argument("--out", required=True)
    q.add_argument("--recipes", default="paper,deployed",
                   help="comma-separated training recipes, one table column each (default paper,deployed)")
    add_cv_options(q)
    q.set_defaults(func=reproduce_sources)
    q = dsub.add_parser("audit", help="rank files whose out-of-fold predictions disagree with their label")
    q.add_argument("corpus", help="KIND:PATH")
    q.add_argument("--out", required=True)
    q.add_argument("--from", dest="cv", metavar="DIR",
                   help="a finished 'reproduce sources' folder (its oof.csv of --recipe); "
                        "without it the cross-validation runs first, under OUT/cv")
    q.add_argument("--recipe", default="deployed", help="which recipe's out-of-fold predictions (default deployed)")
    q.add_argument("--top", type=int, default=50, help="files in the table and the page (default 50)")
    add_cv_options(q)
    q.set_defaults(func=data_audit)


def _run_cv(args, out, recipes):
    from ..experiments import reproduce_sources as run
    from .commands import _log
    return run(args.corpus, out, folds=args.folds, model=args.model, clip=args.clip, recipes=recipes,
               seed=args.seed, only=args.only, log=_log, epochs=args.epochs, epoch_clips=args.epoch_clips,
               updates_per_epoch=args.updates, patience=args.patience, cache_dir=args.cache, workers=args.workers,
               exclude_list=args.exclude, threads=args.threads, teacher_cv=args.teacher_cv,
               temperature=args.temperature, alpha=args.alpha, sweep_epochs=args.sweep_epochs)


def reproduce_sources(args):
    from .commands import user_errors
    with user_errors():
        text = _run_cv(args, args.out, [r.strip() for r in args.recipes.split(",") if r.strip()])
    if text:
        print(text, end="")


def data_audit(args):
    from ..experiments import audit_labels
    from ..experiments.sources import DEPLOYED
    from .commands import UserError, user_errors
    with user_errors():
        cv = Path(args.cv) if args.cv else Path(args.out) / "cv"
        if not args.cv:
            _run_cv(args, cv, [args.recipe])
        oof = cv / (DEPLOYED if args.recipe == "deployed" else args.recipe) / "oof.csv"
        if not oof.is_file():
            raise UserError(f"{oof}: no out-of-fold predictions (run 'sonotype reproduce sources' to the end)")
        ranked = audit_labels(oof, args.out, top=args.top)
    print((Path(args.out) / "audit.md").read_text(), end="")
    return 0 if ranked else 1
