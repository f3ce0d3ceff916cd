"""``sonotype bench`` (models, startup, segment): model size and latency, cold start, segmentation speed."""
from __future__ import annotations

import sys
from pathlib import Path


def add_bench(sub) -> None:
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
    q.set_defaults(func=bench_models)
    add_parsers(bsub)


def add_parsers(bsub) -> None:
    """Add ``startup`` and ``segment`` to the ``sonotype bench`` sub-commands."""
    q = bsub.add_parser("startup", help="cold start to first result, peak memory and install size: core "
                                        "(onnxruntime) against torch path")
    q.add_argument("--repeats", type=int, default=5, help="timed runs per path (median kept; default 5)")
    q.add_argument("--paths", choices=["core", "torch", "both"], default="both")
    q.add_argument("--out", help="also write the table (.md) and rows (.json) here")
    q.set_defaults(func=bench_startup)
    q = bsub.add_parser("segment", help="segmentation throughput (× real time), decode / features / network / "
                                        "smoothing breakdown")
    q.add_argument("file", nargs="?", help="audio file to segment (or --synthetic-hours)")
    q.add_argument("--synthetic-hours", type=float,
                   help="write this many hours of synthetic speech / music / noise / silence to a temporary file "
                        "and segment it (decoding included)")
    q.add_argument("--format", choices=["flac", "ogg"], default="flac", help="synthetic file format (default flac)")
    q.add_argument("--threads", default="1",
                   help="comma-separated thread counts, 0 = all cores (default 1); e.g. 1,0")
    q.add_argument("--model", default="slim", help="bundled name or checkpoint (default slim)")
    q.add_argument("--backend", choices=["torch", "onnx"],
                   help="network backend (default: onnx for bundled names and .onnx files, torch for checkpoints)")
    q.add_argument("--repeats", type=int, default=1, help="timed runs per thread count (fastest kept)")
    q.add_argument("--smoothing", choices=["viterbi", "median"], help="segmenter smoothing (default: viterbi)")
    q.add_argument("--out", help="also write the table (.md) and rows (.json) here")
    q.set_defaults(func=bench_segment)


def bench_segment(args) -> int:
    from ..bench.segment import bench_segment as run
    from ..bench.segment import table_markdown, write_synthetic
    from .commands import UserError, user_errors
    if (args.file is None) == (args.synthetic_hours is None):
        raise UserError("give an audio FILE or --synthetic-hours H")
    if args.synthetic_hours is not None and args.synthetic_hours <= 0:
        raise UserError("--synthetic-hours must be > 0")
    try:
        threads = [int(t) for t in str(args.threads).split(",")]
    except ValueError:
        raise UserError(f"--threads: expected comma-separated integers, got {args.threads!r}") from None
    import tempfile
    with tempfile.TemporaryDirectory() as tmp, user_errors():
        path = args.file
        if path is None:
            path = Path(tmp) / f"synthetic-{args.synthetic_hours:g}h.{args.format}"
            print(f"writing {args.synthetic_hours:g} h of synthetic audio ({args.format}) ...", file=sys.stderr)
            write_synthetic(path, args.synthetic_hours * 3600.0)
        rows = [run(path, model=args.model, threads=t, backend=args.backend, repeats=args.repeats,
                    smoothing=args.smoothing)
                for t in threads]
    env = rows[0]["environment"]
    text = table_markdown(rows) + (f"\nCPU: {env['cpu']} ({env['cpu_count']} cores), load average "
                                   f"{env['load_avg']}; breakdown in CPU seconds for 1 thread, wall seconds otherwise\n")
    if args.out:
        from ..atomic import write_json, write_text
        write_text(Path(args.out).with_suffix(".md"), text)
        write_json(Path(args.out).with_suffix(".json"), rows)
    print(text, end="")
    return 0


def bench_startup(args) -> int:
    from ..atomic import write_json, write_text
    from ..bench.startup import bench_startup as run
    from ..bench.startup import table_markdown
    paths = ("core", "torch") if args.paths == "both" else (args.paths,)
    result = run(repeats=args.repeats, paths=paths)
    text = table_markdown(result)
    if args.out:
        write_text(Path(args.out).with_suffix(".md"), text)
        write_json(Path(args.out).with_suffix(".json"), result)
    print(text, end="")
    return 0


def bench_models(args):
    from ..atomic import write_json, write_text
    from ..bench import bench_models as run
    from ..bench import table_markdown
    from .commands import user_errors
    with user_errors():
        rows = run(models=args.models.split(","), clips=[float(c) for c in args.clips.split(",")],
                   device=args.device, threads=args.threads, runs=args.runs, backend=args.backend, quick=args.quick)
    text = table_markdown(rows)
    if args.out:
        write_text(Path(args.out).with_suffix(".md"), text)
        write_json(Path(args.out).with_suffix(".json"), rows)
    print(text, end="")
