"""Command bodies: a few lines each over the Python API."""
from __future__ import annotations

import csv
import json
import sys
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from ..audio import AudioError
from ..checkpoint import CheckpointError
from ..data import CorpusError


class UserError(Exception):
    """An error to print as one line (no traceback)."""


@contextmanager
def user_errors():
    try:
        yield
    except (AudioError, CorpusError, CheckpointError, ValueError, FileNotFoundError, NotImplementedError) as err:
        if isinstance(err, FileNotFoundError) and err.filename:
            raise UserError(f"{err.filename}: {err.strerror or 'no such file or directory'}") from None
        raise UserError(str(err)) from None
    except PermissionError as err:
        raise UserError(f"{err.filename}: permission denied") from None
    except OSError as err:
        raise UserError(f"{err.filename or ''}: {err.strerror or err}") from None


def _stdout(text: str) -> None:
    """Write and flush standard output; failing to (disk full...) is a :class:`UserError` (exit 2)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        import os
        try:  # what is still buffered must not fail again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except Exception:  # noqa: BLE001 - no real file descriptor (captured output)
            pass
        raise UserError(f"standard output: cannot write ({err.strerror or err})") from None


def example_path() -> Path:
    """The bundled speech → music → noise example recording."""
    return Path(str(resources.files("sonotype") / "assets" / "example.ogg"))


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def features(args):
    from ..audio import load
    from ..features import FeatureParams, extract
    path = example_path() if args.example or not args.file else Path(args.file)
    with user_errors():
        p = FeatureParams(kind=args.kind, deltas=args.deltas if args.kind == "mfcc" else 0)
        if args.kind == "logmel":
            p = p.with_(n_mels=64)
        if args.kind == "stft":
            p = p.with_(sr=11025, win_length=512, hop_length=256)
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


def train(args):
    from ..data import AugmentParams, MelAugmentParams
    from ..experiments.training import train_model
    with user_errors():
        r = train_model(args.corpus, args.model, args.clip, args.out, split=args.split, seed=args.seed,
                        augment=AugmentParams(copies=args.augment) if args.augment else None,
                        mel_augment=MelAugmentParams() if args.mel_augment else None, balance=args.balance,
                        exclude_list=args.exclude,
                        holdout_source=args.holdout_source, resume=not args.no_resume, cache_dir=args.cache,
                        deltas=args.deltas,
                        workers=args.workers, log=_log, epochs=args.epochs, lr=args.lr, patience=args.patience,
                        updates_per_epoch=args.updates_per_epoch, device=args.device, init=args.init,
                        teacher=args.teacher, temperature=args.temperature, alpha=args.alpha,
                        sweep_epochs=args.sweep_epochs, epoch_clips=args.epoch_clips)
    t = r.get("test", {})
    print(f"{args.out}/model.pt: best val acc {r['best_val_accuracy']:.4f}"
          + (f", test acc {t['accuracy']:.4f}, speech-vs-non-speech {t['speech_accuracy']:.4f}" if t else "")
          + f" ({r['seconds']:.0f} s)")


def evaluate(args):
    from ..experiments.evaluation import evaluate_model
    from ..infer import resolve_model
    with user_errors():
        evaluate_model(resolve_model(args.model), args.corpus, out=args.out, clip=args.clip, split=args.split,
                           subset=args.subset, seed=args.seed, holdout_source=args.holdout_source,
                           cache_dir=args.cache, workers=args.workers)
    print((Path(args.out) / "table.md").read_text(), end="")


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


def reproduce_clips(args):
    from ..experiments.clips import reproduce_clips as run
    with user_errors():
        text = run(args.corpus, args.out, models=args.models.split(","),
                   clips=[float(c) for c in args.clips.split(",")], seed=args.seed, log=_log, epochs=args.epochs,
                   cache_dir=args.cache, workers=args.workers)
    print(text, end="")


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


def models(args):
    from ..infer import BUNDLED, bundled_path
    for name in BUNDLED:
        card = bundled_path(name).with_suffix(".md")
        files = [bundled_path(name, s) for s in (".onnx", ".pt")]
        print(f"{name}: " + ", ".join(f"{f}" + ("" if f.is_file() else " (missing)") for f in files))
        if card.is_file():
            print("  " + card.read_text().strip().splitlines()[0])


def synth_segments(args):
    from ..data.synth import synth_segments as run
    from ..experiments.parts import load_parts
    with user_errors():
        _, parts = load_parts(args.corpus, args.split, args.seed, args.holdout_source)
        rows = run(parts[args.subset], args.out, n=args.n, seed=args.seed, min_len=args.min_len, max_len=args.max_len)
    print(f"wrote {len(rows)} files to {args.out} (index.csv, <name>.wav, <name>.csv)")


def evaluate_segments(args):
    from ..evaluate.segments import evaluate_segments as run
    from ..evaluate.segments import write_outputs
    from ..evaluate.tables import segment_table
    from ..infer import resolve_model
    windows = [float(w) for w in args.window.split(",")]
    smoothings = args.smoothing.split(",")
    if not set(smoothings) <= {"viterbi", "median"}:
        raise UserError(f"--smoothing: expected viterbi, median or viterbi,median, got {args.smoothing!r}")
    rows = []
    with user_errors():
        for m in args.model:
            name = m if m in ("slim", "wide") else None
            rows += run(resolve_model(m), args.data, windows=windows, median=args.median, limit=args.limit, name=name,
                        smoothings=smoothings)
        write_outputs(rows, args.out)
    print(segment_table(rows), end="")
    for r in rows:
        print(f"{r['model']} {r['smoothing']} window {r['window']:g} s: {r['speed']:.0f}x real time over "
              f"{r['audio_s'] / 3600:.2f} h")


def export(args):
    from ..export import export_onnx, export_raw
    from ..infer import resolve_model
    from ..atomic import check_outputs
    with user_errors():
        check_outputs([(resolve_model(args.model), args.onnx)])
        write = export_raw if args.input == "raw" else export_onnx
        out = write(resolve_model(args.model), args.onnx)
    print(f"wrote {out} ({Path(out).stat().st_size / 1024:.1f} KB)")


def bench_models(args):
    from ..bench import bench_models as run
    from ..bench import table_markdown
    from ..atomic import write_json, write_text
    with user_errors():
        rows = run(models=args.models.split(","), clips=[float(c) for c in args.clips.split(",")],
                   device=args.device, threads=args.threads, runs=args.runs, backend=args.backend, quick=args.quick)
    text = table_markdown(rows)
    if args.out:
        write_text(Path(args.out).with_suffix(".md"), text)
        write_json(Path(args.out).with_suffix(".json"), rows)
    print(text, end="")
