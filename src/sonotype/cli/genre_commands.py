"""``sonotype genre ...`` and ``sonotype auralise``: genre CNN and auralisation commands.

Each command body is a few lines over :mod:`sonotype.experiments.genre` and :mod:`sonotype.explain`;
user errors (bad audio, corpus, checkpoint or arguments) come out as one line
``sonotype: error: ...`` with exit code 2 (:class:`sonotype.cli.commands.UserError`).
"""
from __future__ import annotations

import json
import sys

from .commands import UserError, user_errors  # noqa: F401 - UserError is what user_errors raises


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def genre_train(args):
    from ..experiments.genre import train_genre
    with user_errors():
        res = train_genre(args.corpus, args.out, epochs=args.epochs, seed=args.seed, n_clips=args.clips,
                          model_kwargs={"channels": args.channels} if args.channels != 64 else None, log=_log)
    print(res["checkpoint"])


def genre_evaluate(args):
    from ..experiments.genre import evaluate_genre
    with user_errors():
        res = evaluate_genre(args.model, args.corpus, args.out, log=_log)
    print(f"song accuracy {res['accuracy']:.3f} on {res['n_songs']} songs ({res['split']}); "
          f"clip accuracy {res['clip_accuracy']:.3f}" + (f"; wrote {args.out}" if args.out else ""))


def genre_predict(args):
    from ..experiments.genre import predict_genre
    with user_errors():
        rows = predict_genre(args.model, args.files)
    failed = 0
    for r in rows:
        if "error" in r:
            print(f"sonotype: error: {r['error']}", file=sys.stderr)
            failed += 1
        else:
            p = r["proba"][r["genre"]]
            print(json.dumps({"path": r["path"], "genre": r["genre"], "p": round(p, 4)}) if args.json
                  else f"{r['path']}\t{r['genre']}\t{p:.3f}")
    return 0 if not failed else (2 if failed == len(rows) else 1)


def genre_receptive_field(args):
    from ..experiments.genre import receptive_field_table
    with user_errors():
        print(receptive_field_table(args.model))


def genre_analyse(args):
    from ..explain import analyse_checkpoint
    with user_errors():
        res = analyse_checkpoint(args.model, args.out, write_stimuli=args.stimuli)
    print(res["markdown"], end="")
    _log(f"wrote {args.out}/analysis.md, analysis.json, analysis.png")


def genre_demo(args):
    from ..experiments.genre import demo
    with user_errors():
        res = demo(args.out, args.gtzan, epochs=args.epochs, seed=args.seed, log=_log)
    print(f"demo: training-song accuracy {res['evaluate']['accuracy']:.2f} on {res['evaluate']['n_songs']} songs "
          f"(the songs it was trained on); auralisation: {res['auralise']}")


def auralise(args):
    from ..explain import auralise_file
    with user_errors():
        res = auralise_file(args.model, args.audio, args.out, layers=args.layers, features=args.features,
                            offset=args.offset, duration=args.duration, mode=args.mode)
    print(f"wrote {len(res['items'])} auralisations and {res['index']}")


def add_parsers(sub) -> None:
    """Add ``genre`` (train, evaluate, predict, receptive-field, analyse, demo) and ``auralise``."""
    p = sub.add_parser("genre", help="genre CNN (Choi et al.): train, evaluate, predict, receptive fields, demo")
    gsub = p.add_subparsers(dest="genre_command", metavar="ACTION", required=True)

    q = gsub.add_parser("train", help="train the genre CNN (song-level 65/10/25 split)")
    q.add_argument("--corpus", required=True, help="gtzan-genres:PATH, folders:PATH or a bare PATH (layout guessed)")
    q.add_argument("--out", required=True, help="run folder (model.pt, split.csv, train.json)")
    q.add_argument("--epochs", type=int, default=5)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--clips", type=int, default=10, help="clips per song (default 10)")
    q.add_argument("--channels", type=int, default=64, help="feature maps per conv layer (default 64; fewer for a quick test)")
    q.set_defaults(func=genre_train)

    q = gsub.add_parser("evaluate", help="song-level accuracy and confusion on the test songs")
    q.add_argument("--model", required=True, help="genre checkpoint (model.pt)")
    q.add_argument("--corpus", help="corpus (default: the one the model was trained on)")
    q.add_argument("--out", help="folder for metrics.json, table.md, songs.csv, confusion.png")
    q.set_defaults(func=genre_evaluate)

    q = gsub.add_parser("predict", help="genre of audio files (mean of 10 clips' probabilities)")
    q.add_argument("--model", required=True, help="genre checkpoint (model.pt)")
    q.add_argument("files", nargs="+", metavar="FILES", help="audio files")
    q.add_argument("--json", action="store_true", help="JSON lines instead of tab-separated")
    q.set_defaults(func=genre_predict)

    q = gsub.add_parser("receptive-field", help="receptive field of every conv layer (frames/ms, bins/Hz)")
    q.add_argument("--model", help="genre checkpoint (default: the default architecture)")
    q.set_defaults(func=genre_receptive_field)

    q = gsub.add_parser("analyse", help="invariance of each layer to pitch, timbre, chord, drums, tempo")
    q.add_argument("--model", required=True, help="genre checkpoint (model.pt)")
    q.add_argument("--out", required=True, help="folder for analysis.md, analysis.json, analysis.png")
    q.add_argument("--stimuli", action="store_true", help="also write the synthetic stimuli as WAVs")
    q.set_defaults(func=genre_analyse)

    q = gsub.add_parser("demo", help="mechanics demo on gtzan-mini: train, evaluate, auralise")
    q.add_argument("--out", required=True, help="output folder (run/, eval/, auralise/)")
    q.add_argument("--gtzan", default="../shared/data/gtzan-mini", help="GTZAN root (default ../shared/data/gtzan-mini)")
    q.add_argument("--epochs", type=int, default=5)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=genre_demo)

    p = sub.add_parser("auralise", help="listen to what feature maps of a CNN pick out of a clip")
    p.add_argument("--model", required=True, help="checkpoint (genre CNN, MobileNetV1 or SwishNet)")
    p.add_argument("audio", metavar="AUDIO", help="audio file")
    p.add_argument("--layers", default="1-5", help="e.g. 1-5, 1,3 or all (default 1-5)")
    p.add_argument("--features", default="top:8", help="top:N (most active maps) or 0,5,9 (default top:8)")
    p.add_argument("--out", required=True, help="folder for WAVs, PNGs and index.html")
    p.add_argument("--offset", type=float, default=0.0, help="clip start in seconds (default 0)")
    p.add_argument("--duration", type=float, help="clip length in seconds (default: the model's clip)")
    p.add_argument("--mode", choices=["mask", "magnitude"], default="mask",
                   help="mask: soft mask on the clip's STFT (default); magnitude: Choi's deconvolved magnitude")
    p.set_defaults(func=auralise)


