"""The ``sonotype`` command: argument parsing only; each command calls the Python API."""
from __future__ import annotations

import argparse
import math
import sys
import warnings

from .. import __version__
from ..extras import missing_extra
from ..models.specs import TRAINABLE
from ..train import TrainConfig
from . import bench_commands, commands
from . import index_commands
from . import genre_commands
from . import segment_commands
from . import source_commands
from .options import harden

TRAIN = TrainConfig()  # the training defaults the options show


def _add_corpus(p, required=True):
    p.add_argument("--corpus", required=required,
                   help="KIND:PATH with KIND one of musan, gtzan-ms, gtzan-genres, folders, manifest "
                        "(or a bare PATH whose layout is guessed)")
    p.add_argument("--split", help="split CSV from 'sonotype data split' (default: made with --seed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--holdout-source", help="leave-one-source-out: all files of this manifest source are the test set")
    p.add_argument("--cache", help="feature cache folder (default $SONOTYPE_CACHE or ~/.cache/sonotype)")
    p.add_argument("--workers", type=int, help="processes for feature extraction (default: all cores)")


def _temperature(value: str):
    if value == "auto":
        return value
    try:
        t = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None
    if not (math.isfinite(t) and t > 0):
        raise argparse.ArgumentTypeError(f"temperature must be a finite number > 0 or 'auto', got {value!r}")
    return t


def build_parser() -> argparse.ArgumentParser:
    """The ``sonotype`` parser; each command's options are declared in its own ``_add_*`` function."""
    ap = argparse.ArgumentParser(prog="sonotype", description="Speech / music / noise classification and segmentation.")
    ap.add_argument("--version", action="version", version=f"sonotype {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_features(sub)
    dsub = _add_data(sub)
    _add_train(sub)
    _add_finetune(sub)
    _add_evaluate(sub)
    _add_classify(sub)
    _add_segment(sub)
    _add_synth_segments(sub)
    _add_evaluate_segments(sub)
    _add_reproduce(sub, dsub)
    _add_export(sub)
    _add_bench(sub)
    _add_models(sub)
    index_commands.add_parsers(sub)
    genre_commands.add_parsers(sub)
    return harden(ap)


def _add_features(sub):
    """``sonotype features``: compute features of one file."""
    p = sub.add_parser("features", help="compute MFCC / log-mel / STFT features of an audio file")
    p.add_argument("file", nargs="?", help="audio file (default with --example: the bundled example)")
    p.add_argument("--example", action="store_true", help="use the bundled example recording")
    p.add_argument("--kind", choices=["mfcc", "logmel", "stft"], default="mfcc")
    p.add_argument("--deltas", type=int, choices=[0, 1, 2], default=0, help="add Δ (1) or Δ and ΔΔ (2) to MFCCs")
    p.add_argument("--sr", type=int, help="sample rate (default 16000; 11025 for stft)")
    p.add_argument("-o", "--out", help="output .npy (channels × frames); default: print a summary only")
    p.set_defaults(func=commands.features)


def _add_data(sub):
    """``sonotype data``: corpus tools (returns their subparsers)."""
    p = sub.add_parser("data", help="corpus tools: info, split, cache")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("info", help="files and hours per class (and per split)")
    q.add_argument("corpus", help="KIND:PATH or PATH")
    q.add_argument("--split", help="split CSV to count per split")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=commands.data_info)
    q = dsub.add_parser("split", help="seeded 65/10/25 group split per class, written to CSV")
    q.add_argument("corpus")
    q.add_argument("--out", required=True, help="CSV to write")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--ratios", default="0.65,0.10,0.25", help="train,val,test fractions")
    q.add_argument("--holdout-source", help="put this manifest source in test, split the rest train/val")
    q.set_defaults(func=commands.data_split)
    q = dsub.add_parser("cache", help="build the feature cache for a corpus and time it")
    q.add_argument("corpus")
    q.add_argument("--model", default="slim", help="whose features (slim, wide, snn, gmm, mobilenet)")
    q.add_argument("--cache")
    q.add_argument("--workers", type=int)
    q.set_defaults(func=commands.data_cache)
    return dsub


def _add_train(sub):
    """``sonotype train``: train a model."""
    p = sub.add_parser("train", help="train a model on a corpus (train split; val for early stopping)")
    _add_corpus(p)
    p.add_argument("--model", default=TRAIN.model, choices=list(TRAINABLE))
    p.add_argument("--clip", type=float, default=TRAIN.clip, help="clip length in seconds (0.5, 1, 2)")
    p.add_argument("--out", required=True, help="run folder (model.pt, last.pt, split.csv, train.json, test/)")
    p.add_argument("--epochs", type=int, default=TRAIN.epochs)
    p.add_argument("--lr", type=float, default=TRAIN.lr)
    p.add_argument("--patience", type=int, default=TRAIN.patience, help="early stopping patience in epochs")
    p.add_argument("--updates-per-epoch", type=int, default=TRAIN.updates_per_epoch, help="batch size = clips / this")
    p.add_argument("--epoch-clips", type=int, metavar="N",
                   help="train each epoch on a fresh seeded random N clips (heavy models on a CPU; default all)")
    p.add_argument("--augment", type=int, default=0, metavar="COPIES",
                   help="augmented copies per training file (noise mix, gain, telephone, codec, reverb); 0 = off")
    p.add_argument("--deltas", type=int, choices=[0, 1, 2],
                   help="MFCC deltas as extra input channels (default: 0 for SwishNet, 2 for GMM/SNN)")
    p.add_argument("--mel-augment", action="store_true",
                   help="log-mel augmentation drawn afresh per batch: background mix, EQ, band limits, room, "
                        "SpecAugment (MFCC models)")
    p.add_argument("--balance", choices=["none", "source", "sqrt-source"], default=TRAIN.balance,
                   help="source: every source of a class is drawn equally often; sqrt-source: in proportion to "
                        "the square root of its size (default none)")
    p.add_argument("--exclude", metavar="CSV", help="exclusion list (path,reason; paths relative to the corpus root)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/last.pt exists")
    p.add_argument("--device", default=TRAIN.device, help="cpu, cuda or auto")
    p.add_argument("--init", default=TRAIN.init,
                   help="mobilenet / mobilenetv2 init: random (default), imagenet (needs the optional extra "
                        "sonotype[imagenet]) or imagenet:PATH (torchvision-layout state dict; for mobilenet also "
                        "Keras's mobilenet_2_5_224_tf_no_top.h5, needs sonotype[keras])")
    p.add_argument("--teacher", help="distil from this checkpoint (same classes; with --augment it hears the same augmented copies)")
    p.add_argument("--temperature", default="1", type=_temperature,
                   help="distillation temperature T, or 'auto': one short run per T in 1,2,4,8,10, "
                        "best on validation (costs 5 × --sweep-epochs extra epochs)")
    p.add_argument("--alpha", type=float, default=0.9, help="weight of the soft-target loss (default 0.9)")
    p.add_argument("--sweep-epochs", type=int, help="epochs per T with --temperature auto (default epochs/5)")
    p.set_defaults(func=commands.train)


def _add_finetune(sub):
    """``sonotype finetune``: fine-tune a checkpoint."""
    p = sub.add_parser("finetune", help="fine-tune a checkpoint on part of another corpus, test on the rest")
    p.add_argument("--from", dest="checkpoint", required=True, help="checkpoint to start from, or a bundled model name (slim, wide)")
    p.add_argument("--corpus", required=True, help="KIND:PATH or PATH (e.g. gtzan-ms:/data/gtzan_ms)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fine-tune / test split (default 0)")
    p.add_argument("--cache", help="feature cache folder (default $SONOTYPE_CACHE or ~/.cache/sonotype)")
    p.add_argument("--workers", type=int, help="processes for feature extraction (default: all cores)")
    p.add_argument("--fraction", type=float, default=0.25,
                   help="files per class to fine-tune on (10%% of them for validation); the rest is the test set")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--clip", type=float, help="clip seconds (default: the checkpoint's)")
    p.add_argument("--denoise", choices=["logmmse"], help="log-MMSE denoising before features")
    p.add_argument("--patience", type=int, default=TRAIN.patience)
    p.add_argument("--updates-per-epoch", type=int, default=TRAIN.updates_per_epoch)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--device", default=TRAIN.device)
    p.add_argument("--out", required=True, help="run folder (model.pt, train.json, split.csv, test/)")
    p.set_defaults(func=commands.finetune)


def _add_evaluate(sub):
    """``sonotype evaluate``: clip metrics of a checkpoint."""
    p = sub.add_parser("evaluate", help="clip metrics of a checkpoint on a corpus split")
    p.add_argument("--model", required=True, help="checkpoint or bundled name (slim, wide)")
    _add_corpus(p)
    p.add_argument("--clip", type=float, help="clip seconds (default: the checkpoint's)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True, help="folder for metrics.json, table.md, confusion.png")
    p.set_defaults(func=commands.evaluate)


def _add_classify(sub):
    """``sonotype classify``: label whole files."""
    p = sub.add_parser("classify", help="label whole files as speech / music / noise")
    p.add_argument("files", nargs="*", help="audio files")
    p.add_argument("--example", action="store_true", help="classify the bundled example recording")
    p.add_argument("--model", help="bundled name (wide [default], slim) or checkpoint path")
    p.add_argument("--clip", type=float, help="clip seconds (default: the model's)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
    p.add_argument("--backend", choices=["torch", "onnx"], default="onnx",
                   help="onnx (default): the raw-audio ONNX model on onnxruntime (bundled names and .onnx files "
                        "as they are; a .pt checkpoint is exported once into $SONOTYPE_CACHE/onnx, which needs "
                        "sonotype[train]); torch: the checkpoint's torch model (needs sonotype[train])")
    p.set_defaults(func=commands.classify)


def _add_segment(sub):
    """``sonotype segment``: timelines of long recordings."""
    p = sub.add_parser("segment", help="speech / music / noise / silence timeline of long recordings")
    p.add_argument("files", nargs="*", help="audio files ('-' with --stream: raw PCM on stdin)")
    p.add_argument("--example", action="store_true", help="segment the bundled example recording")
    p.add_argument("--model", help="bundled name (wide [default], slim) or checkpoint path")
    p.add_argument("--window", type=float, help="context window in seconds (default: DecoderConfig.window, 2.0)")
    p.add_argument("--smoothing", choices=["viterbi", "median"],
                   help="viterbi: switch penalty and minimum durations, no fragments (default); median: the paper's filter")
    p.add_argument("--median", type=int, help="median filter length in 10 ms frames, --smoothing median (default 200)")
    p.add_argument("--silence-db", type=float, default=-50.0, help="silence threshold, dBFS RMS (default -50)")
    p.add_argument("--format", choices=["csv", "audacity", "rttm", "json", "textgrid"], default="csv")
    p.add_argument("-o", "--out", help="output folder: one file per input (default: stdout)")
    p.add_argument("--report", help="also write a self-contained HTML report (one input: this path; "
                                     "several: PATH-stem-<name>.html)")
    p.add_argument("--stream", action="store_true",
                   help="read raw 16-bit little-endian mono PCM from stdin ('-') and print segments as they are decided")
    p.add_argument("--rate", type=int, default=16000, help="sample rate of the --stream input (default 16000)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="onnx",
                   help="onnx (default): the raw-audio ONNX model on onnxruntime (bundled names and .onnx files "
                        "as they are; a .pt checkpoint is exported once into $SONOTYPE_CACHE/onnx, which needs "
                        "sonotype[train]); torch: the checkpoint's torch model (needs sonotype[train])")
    p.set_defaults(func=segment_commands.segment)


def _add_synth_segments(sub):
    """``sonotype synth-segments``: the artificial segmentation corpus."""
    p = sub.add_parser("synth-segments", help="the paper's artificial segmentation corpus from a corpus split")
    _add_corpus(p)
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="split to cut from")
    p.add_argument("--n", type=int, default=500, help="number of files (default 500)")
    p.add_argument("--min-len", type=float, default=20.0)
    p.add_argument("--max-len", type=float, default=120.0)
    p.add_argument("--out", required=True, help="folder for <name>.wav + <name>.csv and index.csv")
    p.set_defaults(func=commands.synth_segments)


def _add_evaluate_segments(sub):
    """``sonotype evaluate-segments``: frame accuracy on a synth-segments folder."""
    p = sub.add_parser("evaluate-segments", help="frame accuracy on a synth-segments folder (Table V)")
    p.add_argument("--model", action="append", required=True,
                   help="checkpoint or bundled name; repeat for several models")
    p.add_argument("--data", required=True, help="folder made by synth-segments")
    p.add_argument("--window", default="0.5,1,2", help="context windows in seconds (default 0.5,1,2)")
    p.add_argument("--smoothing", default="viterbi", help="viterbi, median or both: viterbi,median (default viterbi)")
    p.add_argument("--median", type=int, default=200)
    p.add_argument("--limit", type=int, help="only the first N files")
    p.add_argument("--out", required=True, help="folder for metrics.json, table.md and figures")
    p.set_defaults(func=commands.evaluate_segments)


def _add_reproduce(sub, dsub):
    """``sonotype reproduce``: the paper's experiments (and source folds, label audit under data)."""
    p = sub.add_parser("reproduce", help="re-run the paper's experiments")
    rsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = rsub.add_parser("clips", help="Table II: GMM, SNN, slim, wide at 0.5 / 1 / 2 s")
    _add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--models", default="gmm,snn,slim,wide")
    q.add_argument("--clips", default="0.5,1,2")
    q.add_argument("--epochs", type=int, default=15)
    q.set_defaults(func=commands.reproduce_clips)

    q = rsub.add_parser("distill", help="slim / wide with and without a MobileNet teacher (+ MobileNetV2 ImageNet)")
    _add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--clips", default="0.5,1,2")
    q.add_argument("--epochs", type=int, default=60, help="epochs of the SwishNets")
    q.add_argument("--teacher-epochs", type=int, help="epochs of the MobileNets (default --epochs)")
    q.add_argument("--temperature", default="auto", type=_temperature, help="T or auto (default auto)")
    q.add_argument("--imagenet", help="MobileNetV2 ImageNet weights (default: the optional package, if installed)")
    q.add_argument("--sweep-epochs", type=int, help="epochs per T of the temperature sweep (default epochs/5)")
    q.add_argument("--v2-epochs", type=int, help="epochs of the MobileNetV2 runs (default --teacher-epochs)")
    q.add_argument("--v2-epoch-clips", type=int, metavar="N",
                   help="MobileNetV2: train each epoch on a seeded random N clips (default all)")
    q.set_defaults(func=commands.reproduce_distill)

    q = rsub.add_parser("holdout", help="leave-one-source-out accuracy with and without augmentation")
    _add_corpus(q)
    q.add_argument("--out", required=True)
    q.add_argument("--sources", required=True, help="comma-separated manifest sources to hold out in turn")
    q.add_argument("--model", default="slim")
    q.add_argument("--clip", type=float, default=2.0)
    q.add_argument("--augment", type=int, default=1, metavar="COPIES", help="augmented copies in the augmented run")
    q.add_argument("--epochs", type=int, default=15)
    q.set_defaults(func=commands.reproduce_holdout)
    source_commands.add_parsers(rsub, dsub)


def _add_export(sub):
    """``sonotype export``: ONNX export."""
    p = sub.add_parser("export", help="export a checkpoint to ONNX: raw audio in, probabilities out (front end "
                                      "inside the graph)")
    p.add_argument("--model", required=True, help="checkpoint or bundled name")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--input", choices=["raw", "features"], default="raw",
                   help="raw: 16 kHz samples in, features computed in the graph (default; what classify and "
                        "segment run); features: extracted features in, standardisation inside")
    p.set_defaults(func=commands.export)


def _add_bench(sub):
    """``sonotype bench``: speed and size benchmarks."""
    p = sub.add_parser("bench", help="speed and size benchmarks")
    bsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = bsub.add_parser("models", help="Table I: parameters, weight size, batch-1 latency per clip")
    q.add_argument("--device", default="cpu", help="cpu or cuda")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--backend", choices=["torch", "onnx", "both"], default="both")
    q.add_argument("--models", default="gmm,snn,slim,wide,mobilenet")
    q.add_argument("--clips", default="0.5,1,2")
    q.add_argument("--runs", type=int, default=200)
    q.add_argument("--quick", action="store_true", help="a few runs only (CI smoke test)")
    q.add_argument("--out", help="write the table (.md) and rows (.json) here")
    q.set_defaults(func=commands.bench_models)
    bench_commands.add_parsers(bsub)


def _add_models(sub):
    """``sonotype models``: the bundled models."""
    p = sub.add_parser("models", help="list the bundled models and their cards")
    p.set_defaults(func=commands.models)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"sonotype: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _quiet_broken_pipe() -> int:
    """Standard output's reader has gone (``| head``): stop quietly, as coreutils do (status 141)."""
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured output)
        pass
    return 128 + 13


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
        warnings.showwarning = _warning_line  # one line each, restored on leaving
        return _run(args)


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except commands.UserError as err:
        print(f"sonotype: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:  # a command of an extra that is not installed: say which
        line = missing_extra(err)
        if line is None:
            raise
        print(f"sonotype: error: 'sonotype {args.command}': {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("sonotype: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
