"""``sonotype reproduce`` (clips, distill, holdout; sources from :mod:`.source_commands`): the paper's tables."""
from __future__ import annotations

from . import source_commands
from .commands import _log, user_errors
from .options import add_corpus, temperature


def add_parsers(sub, dsub) -> None:
    """Add ``reproduce`` (clips, distill, holdout, sources) to ``sub`` and ``audit`` to ``data`` (``dsub``)."""
    p = sub.add_parser("reproduce", help="re-run the paper's experiments")
    rsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = rsub.add_parser("clips", help="Table II: GMM, SNN, slim, wide at 0.5 / 1 / 2 s")
    add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--models", default="gmm,snn,slim,wide")
    q.add_argument("--clips", default="0.5,1,2")
    q.add_argument("--epochs", type=int, default=15)
    q.set_defaults(func=reproduce_clips)

    q = rsub.add_parser("distill", help="slim / wide with and without a MobileNet teacher (+ MobileNetV2 ImageNet)")
    add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--clips", default="0.5,1,2")
    q.add_argument("--epochs", type=int, default=60, help="epochs of the SwishNets")
    q.add_argument("--teacher-epochs", type=int, help="epochs of the MobileNets (default --epochs)")
    q.add_argument("--temperature", default="auto", type=temperature, help="T or auto (default auto)")
    q.add_argument("--imagenet", help="MobileNetV2 ImageNet weights (default: the optional package, if installed)")
    q.add_argument("--sweep-epochs", type=int, help="epochs per T of the temperature sweep (default epochs/5)")
    q.add_argument("--v2-epochs", type=int, help="epochs of the MobileNetV2 runs (default --teacher-epochs)")
    q.add_argument("--v2-epoch-clips", type=int, metavar="N",
                   help="MobileNetV2: train each epoch on a seeded random N clips (default all)")
    q.set_defaults(func=reproduce_distill)

    q = rsub.add_parser("holdout", help="leave-one-source-out accuracy with and without augmentation")
    add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--sources", required=True, help="comma-separated manifest sources to hold out in turn")
    q.add_argument("--model", default="slim")
    q.add_argument("--clip", type=float, default=2.0)
    q.add_argument("--augment", type=int, default=1, metavar="COPIES", help="augmented copies in the augmented run")
    q.add_argument("--epochs", type=int, default=15)
    q.set_defaults(func=reproduce_holdout)
    source_commands.add_parsers(rsub, dsub)


def reproduce_clips(args):
    from ..experiments.clips import reproduce_clips as run
    with user_errors():
        text = run(args.corpus, args.out, models=args.models.split(","),
                   clips=[float(c) for c in args.clips.split(",")], seed=args.seed, log=_log, epochs=args.epochs,
                   cache_dir=args.cache, workers=args.workers)
    print(text, end="")


def reproduce_distill(args):
    from ..experiments.distill import reproduce_distill as run
    with user_errors():
        text = run(args.corpus, args.out, clips=[float(c) for c in args.clips.split(",")], epochs=args.epochs,
                   teacher_epochs=args.teacher_epochs, temperature=args.temperature, imagenet=args.imagenet,
                   sweep_epochs=args.sweep_epochs, v2_epochs=args.v2_epochs, v2_epoch_clips=args.v2_epoch_clips,
                   seed=args.seed, log=_log, cache_dir=args.cache, workers=args.workers)
    print(text, end="")


def reproduce_holdout(args):
    from ..experiments.holdout import reproduce_holdout as run
    with user_errors():
        text = run(args.corpus, args.out, args.sources.split(","), model=args.model, clip=args.clip,
                   copies=args.augment, seed=args.seed, log=_log, epochs=args.epochs, cache_dir=args.cache,
                   workers=args.workers)
    print(text, end="")
