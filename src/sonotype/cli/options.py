"""Options shared by several commands, and numeric options checked at the parser.

:func:`add_corpus` declares the corpus options of the commands that read a corpus split;
:func:`temperature` and :data:`BACKEND_HELP` are shared by two commands each; :func:`add_decoder_options`
and :func:`decoder_for` by ``segment`` and ``index``.

Numeric options are checked at the parser (finite, in range, one line, exit 2: argparse's own
error): :func:`harden` walks a finished parser (every sub-command, also those added later) and
gives each ``type=int`` / ``type=float`` option a checking type with the range of :data:`RANGES`
for its destination name (default: finite; counts ``>= 0``). Comma-separated number lists named in
:data:`LISTS` are checked the same way and passed on unchanged.
"""
from __future__ import annotations

import argparse
import math

INF = math.inf
# dest -> (low, high, low_open): the accepted interval
RANGES = {
    # seconds
    "window": (0.0, 600.0, True), "clip": (0.0, 600.0, True), "min_len": (0.0, 86400.0, True),
    "max_len": (0.0, 86400.0, True), "duration": (0.0, 86400.0, True), "offset": (0.0, INF, False),
    "synthetic_hours": (0.0, 1000.0, True), "older_than": (0.0, 1e6, False), "max_gb": (0.0, 1e9, False),
    # levels, rates and fractions
    "silence_db": (-200.0, 0.0, False), "silence_rel_db": (0.0, 200.0, True), "lr": (0.0, 10.0, True),
    "alpha": (0.0, 1.0, False),
    "fraction": (0.0, 1.0, True), "sr": (1000, 768000, False), "rate": (1000, 768000, False),
    # counts
    "median": (1, 60000, False), "epochs": (1, 1e6, False), "teacher_epochs": (1, 1e6, False),
    "v2_epochs": (1, 1e6, False), "sweep_epochs": (1, 1e6, False), "patience": (0, 1e6, False),
    "updates_per_epoch": (1, 1e9, False), "epoch_clips": (1, INF, False), "v2_epoch_clips": (1, INF, False),
    "augment": (0, 1000, False), "workers": (1, 4096, False), "threads": (1, 4096, False),
    "runs": (1, 1e9, False), "repeats": (1, 1e6, False), "n": (1, 1e9, False), "limit": (1, INF, False),
    "clips": (1, 1e6, False), "channels": (1, 4096, False), "seed": (0, 2 ** 32 - 1, False),
    "folds": (2, 1000, False), "updates": (1, 1e9, False), "top": (1, 1e9, False),
}
BACKEND_HELP = ("onnx (default): the raw-audio ONNX model on onnxruntime (bundled names and .onnx files "
                "as they are; a .pt checkpoint is exported once into $SONOTYPE_CACHE/onnx, which needs "
                "sonotype[train]); torch: the checkpoint's torch model (needs sonotype[train])")
DEFAULT_RANGE = {float: (-INF, INF, False), int: (0, INF, False)}
# comma-separated lists (dest -> element type, range)
LISTS = {"clips": (float, (0.0, 600.0, True)), "window": (float, (0.0, 600.0, True)),
         "ratios": (float, (0.0, 1.0, False)), "threads": (int, (0, 4096, False))}


def add_corpus(p, required=True) -> None:
    """``--corpus``, ``--split``, ``--seed``, ``--holdout-source``, ``--cache`` and ``--workers``."""
    p.add_argument("--corpus", required=required,
                   help="KIND:PATH with KIND one of musan, gtzan-ms, gtzan-genres, folders, manifest "
                        "(or a bare PATH whose layout is guessed)")
    p.add_argument("--split", help="split CSV from 'sonotype data split' (default: made with --seed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--holdout-source", help="leave-one-source-out: all files of this manifest source are the test set")
    p.add_argument("--cache", help="feature cache folder (default $SONOTYPE_CACHE or ~/.cache/sonotype)")
    p.add_argument("--workers", type=int, help="processes for feature extraction (default: all cores)")


def add_decoder_options(p) -> None:
    """``--window``, ``--smoothing``, ``--median``, ``--silence-db`` and ``--prior`` (``segment``, ``index``);
    their defaults are :class:`~sonotype.infer.decode.DecoderConfig`'s."""
    from ..infer.decode import DecoderConfig

    d = DecoderConfig()
    p.add_argument("--window", type=float, help=f"context window in seconds (default {d.window:g}, DecoderConfig.window)")
    p.add_argument("--smoothing", choices=["viterbi", "median"],
                   help="viterbi: switch penalty and minimum durations, no fragments (default); median: the paper's filter")
    p.add_argument("--median", type=int, help=f"median filter length in 10 ms frames, --smoothing median (default {d.median})")
    p.add_argument("--silence-db", type=float, default=-50.0, help="silence threshold, dBFS RMS (default -50)")
    p.add_argument("--prior", metavar="CLASS=NATS[,...]|none",
                   help="class log-prior offsets added before decoding (default "
                        + (",".join(f"{c}={v:g}" for c, v in d.log_prior) or "none")
                        + ", DecoderConfig.log_prior); 'none': the model's probabilities as they are")


def decoder_for(prior: str | None, classes):
    """The :class:`~sonotype.infer.decode.DecoderConfig` of ``--prior`` for a model of ``classes``
    (None: the defaults); ValueError ``--prior: ...`` for a malformed value or an unknown class."""
    from ..infer.decode import DecoderConfig

    return None if prior is None else DecoderConfig().with_prior(prior_table(prior), classes)


def prior_table(text: str) -> dict:
    """``--prior`` as ``{class: nats}`` (``{}`` for "none"); ValueError ``--prior: ...`` when malformed."""
    if text.strip().lower() == "none":
        return {}
    table = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            table[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--prior: expected CLASS=NATS[,...] or none, got {part!r}") from None
    return table


def temperature(value: str):
    """An argparse ``type``: a distillation temperature, a finite number > 0 or ``"auto"``."""
    if value == "auto":
        return value
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None
    if not (math.isfinite(t) and t > 0):
        raise argparse.ArgumentTypeError(f"temperature must be a finite number > 0 or 'auto', got {value!r}")
    return t


def _describe(kind, lo, hi, lo_open) -> str:
    what = "a whole number" if kind is int else "a finite number"
    num = (lambda v: str(int(v))) if kind is int else (lambda v: f"{v:g}")
    parts = [] if lo == -INF else [f"{'>' if lo_open else '>='} {num(lo)}"]
    parts += [] if hi == INF else [f"<= {num(hi)}"]
    return what + (" " + " and ".join(parts) if parts else "")


def checked(kind, lo=-INF, hi=INF, lo_open=False):
    """An argparse ``type``: ``kind`` (int or float) of the string, finite and in ``lo .. hi``."""
    def parse(text: str):
        try:
            v = kind(text)
        except (TypeError, ValueError):
            v = None
        ok = v is not None and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {_describe(kind, lo, hi, lo_open)}, got {text!r}")
        return v
    parse.__name__ = kind.__name__
    return parse


def checked_list(kind, lo=-INF, hi=INF, lo_open=False):
    """An argparse ``type`` for ``"a,b,c"``: each element as :func:`checked`; the string is returned."""
    one = checked(kind, lo, hi, lo_open)

    def parse(text: str):
        items = str(text).split(",")
        try:
            for x in items:
                one(x.strip())
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, each "
                                             f"{_describe(kind, lo, hi, lo_open)}, got {text!r}") from None
        return text
    parse.__name__ = "list"
    return parse


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.values()


def harden(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every numeric option of ``parser`` and its sub-commands a checking type (in place)."""
    for action in parser._actions:
        if action.type in (int, float):
            action.type = checked(action.type, *RANGES.get(action.dest, DEFAULT_RANGE[action.type]))
        elif action.type is None and action.dest in LISTS and not action.choices and action.nargs is None \
                and isinstance(action, argparse._StoreAction):
            kind, rng = LISTS[action.dest]
            action.type = checked_list(kind, *rng)
    for sub in _subparsers(parser):
        harden(sub)
    return parser
