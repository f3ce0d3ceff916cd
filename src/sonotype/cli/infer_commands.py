"""``sonotype classify`` and ``sonotype models``: label whole files with a bundled model or checkpoint."""
from __future__ import annotations

import csv
import json
import sys

from ..audio import AudioError
from .commands import _stdout, example_path, user_errors
from .options import BACKEND_HELP


def add_classify(sub) -> None:
    """``sonotype classify``: label whole files."""
    p = sub.add_parser("classify", help="label whole files as speech / music / noise")
    p.add_argument("files", nargs="*", help="audio files")
    p.add_argument("--example", action="store_true", help="classify the bundled example recording")
    p.add_argument("--model", help="bundled name (wide [default], slim) or checkpoint path")
    p.add_argument("--clip", type=float, help="clip seconds (default: the model's)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
    p.add_argument("--backend", choices=["torch", "onnx"], default="onnx", help=BACKEND_HELP)
    p.set_defaults(func=classify)


def add_models(sub) -> None:
    """``sonotype models``: the bundled models."""
    p = sub.add_parser("models", help="list the bundled models and their cards")
    p.set_defaults(func=models)


def classify(args):
    from ..infer import Classifier
    files = list(args.files) + ([str(example_path())] if args.example or not args.files else [])
    with user_errors():
        clf = Classifier(args.model, backend=args.backend)
    failed = 0
    writer = None
    for f in files:
        try:
            row = clf.classify(f, clip=args.clip).row()
        except AudioError as err:
            print(f"sonotype: error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            _stdout(json.dumps(row) + "\n")
        else:
            import io
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=writer or list(row), lineterminator="\n")
            if writer is None:
                writer = list(row)
                w.writeheader()
            w.writerow(row)
            _stdout(buf.getvalue())
    if failed:
        print(f"sonotype: {failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def models(args):
    from ..infer import BUNDLED, bundled_path
    for name in BUNDLED:
        card = bundled_path(name).with_suffix(".md")
        files = [bundled_path(name, s) for s in (".onnx", ".pt")]
        print(f"{name}: " + ", ".join(f"{f}" + ("" if f.is_file() else " (missing)") for f in files))
        if card.is_file():
            print("  " + card.read_text().strip().splitlines()[0])
