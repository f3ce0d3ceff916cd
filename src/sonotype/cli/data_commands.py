"""``sonotype features`` and ``sonotype data`` (info, split, cache): features of a file, corpus tools."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..audio import AudioError
from ..data.splits import DEFAULT_RATIOS
from ..features.params import KINDS, LOGMEL, MFCC, STFT, FeatureParams
from ..train import TrainConfig
from .commands import example_path, user_errors

PRESETS = {"mfcc": MFCC, "logmel": LOGMEL, "stft": STFT}  # what ``--kind`` computes


def add_features(sub) -> None:
    """``sonotype features``: compute features of one file."""
    p = sub.add_parser("features", help="compute MFCC / log-mel / STFT features of an audio file")
    p.add_argument("file", nargs="?", help="audio file (default with --example: the bundled example)")
    p.add_argument("--example", action="store_true", help="use the bundled example recording")
    p.add_argument("--kind", choices=list(KINDS), default=FeatureParams.kind)
    p.add_argument("--deltas", type=int, choices=[0, 1, 2], default=FeatureParams.deltas,
                   help="add Δ (1) or Δ and ΔΔ (2) to MFCCs")
    p.add_argument("--sr", type=int, help=f"sample rate (default {MFCC.sr}; {STFT.sr} for stft)")
    p.add_argument("-o", "--out", help="output .npy (channels × frames); default: print a summary only")
    p.set_defaults(func=features)


def add_data(sub):
    """``sonotype data``: corpus tools (returns their subparsers, for ``data audit``)."""
    p = sub.add_parser("data", help="corpus tools: info, split, cache")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("info", help="files and hours per class (and per split)")
    q.add_argument("corpus", help="KIND:PATH or PATH")
    q.add_argument("--split", help="split CSV to count per split")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=data_info)
    q = dsub.add_parser("split", help="seeded 65/10/25 group split per class, written to CSV")
    q.add_argument("corpus")
    q.add_argument("--out", required=True, help="CSV to write")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--ratios", default=",".join(f"{r:.2f}" for r in DEFAULT_RATIOS), help="train,val,test fractions")
    q.add_argument("--holdout-source", help="put this manifest source in test, split the rest train/val")
    q.set_defaults(func=data_split)
    q = dsub.add_parser("cache", help="build the feature cache for a corpus and time it")
    q.add_argument("corpus")
    q.add_argument("--model", default=TrainConfig.model, help="whose features (slim, wide, snn, gmm, mobilenet)")
    q.add_argument("--cache")
    q.add_argument("--workers", type=int)
    q.set_defaults(func=data_cache)
    q = dsub.add_parser("prune-cache", help="show the feature cache's size; remove old entries (recomputed when needed)")
    q.add_argument("--cache", help="feature cache folder (default $SONOTYPE_CACHE/features or ~/.cache/sonotype/features)")
    q.add_argument("--max-gb", type=float, help="remove the oldest entries until at most this many GB remain")
    q.add_argument("--older-than", type=float, metavar="DAYS", help="remove entries written more than DAYS days ago")
    q.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    q.set_defaults(func=data_prune_cache)
    return dsub


def features(args):
    from ..audio import load
    from ..features import extract
    path = example_path() if args.example or not args.file else Path(args.file)
    with user_errors():
        p = PRESETS[args.kind]
        if args.kind == "mfcc":
            p = p.with_(deltas=args.deltas)
        if args.sr:
            p = p.with_(sr=args.sr)
        if args.out:
            from ..atomic import check_outputs
            check_outputs([(path, args.out)])
        t = time.time()
        F = extract(load(path, sr=p.sr), p)
        dt = time.time() - t
        if args.out:
            from ..atomic import write_npy
            write_npy(args.out, F)
    print(f"{path}: {args.kind} {F.shape[0]} x {F.shape[1]} frames ({p.frame_rate:g} frames/s, sr {p.sr}); "
          f"mean {F.mean():.3f} std {F.std():.3f}; {dt * 1000:.0f} ms" + (f"; wrote {args.out}" if args.out else ""))


def data_info(args):
    from ..audio import info
    from ..data import make_split, open_corpus, read_split
    with user_errors():
        c = open_corpus(args.corpus)
        parts = read_split(args.split) if args.split else make_split(c, seed=args.seed)[0]
    dur, bad = {}, []
    for it in c.items:
        try:
            dur[it.path] = info(it.path).duration
        except AudioError as err:
            bad.append(str(err))
    print(f"corpus {c.kind}:{c.root}  {len(c)} files, {sum(dur.values()) / 3600:.2f} h, classes {', '.join(c.classes)}")
    sources = sorted({i.source for i in c.items if i.source})
    if sources:
        print(f"sources: {', '.join(sources)}")
    print(f"\n| class | {' | '.join(f'{s} files | {s} h' for s in ['all', *parts])} |")
    print("|---|" + "---|---|" * (1 + len(parts)))
    for label in c.classes:
        cells = []
        for its in [c.items, *parts.values()]:
            sel = [i for i in its if i.label == label]
            cells += [str(len(sel)), f"{sum(dur.get(i.path, 0) for i in sel) / 3600:.2f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for b in bad:
        print(f"unreadable: {b}", file=sys.stderr)
    return 1 if bad else 0


def data_split(args):
    from ..data import make_split, open_corpus, write_split
    with user_errors():
        ratios = tuple(float(x) for x in args.ratios.split(","))
        c = open_corpus(args.corpus)
        parts, assign = make_split(c, ratios, args.seed, args.holdout_source)
        write_split(args.out, c, assign) if not args.holdout_source else write_split(
            args.out, type(c)(c.kind, c.root, [i for its in parts.values() for i in its]), assign)
    counts = {s: len(v) for s, v in parts.items()}
    print(f"wrote {args.out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))


def data_cache(args):
    from ..data import FeatureCache, Job, featurize, open_corpus
    from ..preprocess import PreprocessParams
    from ..models import features_for
    with user_errors():
        c = open_corpus(args.corpus)
        t = time.time()
        F = featurize([Job(i.path, i.label) for i in c.items], features_for(args.model), PreprocessParams(),
                      FeatureCache(args.cache), workers=args.workers)
    ok = [f for f in F if f is not None]
    print(f"{len(ok)}/{len(F)} files, {sum(f.shape[1] for f in ok) / 360000:.2f} h of non-silent frames "
          f"cached in {time.time() - t:.1f} s")
    return 0 if len(ok) == len(F) else 1


def data_prune_cache(args):
    from ..data.cache import FeatureCache, prune_cache
    root = FeatureCache(args.cache).root
    with user_errors():
        r = prune_cache(root, None if args.max_gb is None else args.max_gb * 1e9,
                        None if args.older_than is None else args.older_than * 86400, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{root}: {verb} {r['removed_files']} entries ({r['removed_bytes'] / 1e9:.2f} GB); "
          f"{r['kept_files']} entries ({r['kept_bytes'] / 1e9:.2f} GB) kept"
          + ("" if args.max_gb is not None or args.older_than is not None else " (give --max-gb or --older-than to remove)"))
