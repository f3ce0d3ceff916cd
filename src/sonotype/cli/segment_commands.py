"""``sonotype segment``, ``synth-segments`` and ``evaluate-segments``: timelines and their accuracy.

``segment`` reads files (one output each, optional HTML report) or a raw PCM stream on stdin; its
smoothing defaults are :class:`~sonotype.infer.DecoderConfig`'s, applied by the segmenter.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..audio import AudioError
from ..infer.decode import DecoderConfig
from .commands import UserError, _stdout, example_path, output_folder, user_errors
from .options import BACKEND_HELP, add_corpus, add_decoder_options, decoder_for


def add_segment(sub) -> None:
    """``sonotype segment``: timelines of long recordings."""
    p = sub.add_parser("segment", help="speech / music / noise / silence timeline of long recordings")
    p.add_argument("files", nargs="*", help="audio files ('-' with --stream: raw PCM on stdin)")
    p.add_argument("--example", action="store_true", help="segment the bundled example recording")
    p.add_argument("--model", help="bundled name (wide [default], slim) or checkpoint path")
    add_decoder_options(p)
    p.add_argument("--format", choices=["csv", "audacity", "rttm", "json", "textgrid"], default="csv")
    p.add_argument("-o", "--out", help="output folder: one file per input (default: stdout)")
    p.add_argument("--report", help="also write a self-contained HTML report (one input: this path; "
                                     "several: PATH-stem-<name>.html)")
    p.add_argument("--stream", action="store_true",
                   help="read raw 16-bit little-endian mono PCM from stdin ('-') and print segments as they are decided")
    p.add_argument("--rate", type=int, default=16000, help="sample rate of the --stream input (default 16000)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="onnx", help=BACKEND_HELP)
    p.set_defaults(func=segment)


def add_synth_segments(sub) -> None:
    """``sonotype synth-segments``: the artificial segmentation corpus."""
    p = sub.add_parser("synth-segments", help="the paper's artificial segmentation corpus from a corpus split")
    add_corpus(p)
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="split to cut from")
    p.add_argument("--n", type=int, default=500, help="number of files (default 500)")
    p.add_argument("--min-len", type=float, default=20.0)
    p.add_argument("--max-len", type=float, default=120.0)
    p.add_argument("--out", required=True, help="folder for <name>.wav + <name>.csv and index.csv")
    p.set_defaults(func=synth_segments)


def add_evaluate_segments(sub) -> None:
    """``sonotype evaluate-segments``: frame accuracy on a synth-segments folder."""
    p = sub.add_parser("evaluate-segments", help="frame accuracy on a synth-segments folder (Table V)")
    p.add_argument("--model", action="append", required=True,
                   help="checkpoint or bundled name; repeat for several models")
    p.add_argument("--data", required=True, help="folder made by synth-segments")
    p.add_argument("--window", default="0.5,1,2", help="context windows in seconds (default 0.5,1,2)")
    p.add_argument("--smoothing", default=DecoderConfig.smoothing,
                   help=f"viterbi, median or both: viterbi,median (default {DecoderConfig.smoothing})")
    p.add_argument("--median", type=int, default=DecoderConfig.median)
    p.add_argument("--silence-db", type=float, default=-50.0, help="silence threshold, dBFS RMS (default -50)")
    p.add_argument("--prior", metavar="CLASS=NATS[,...]|none",
                   help="class log-prior offsets before decoding, as for segment (default: the decoder's); "
                        "'none' to measure without them")
    p.add_argument("--limit", type=int, help="only the first N files")
    p.add_argument("--out", required=True, help="folder for metrics.json, table.md and figures")
    p.set_defaults(func=evaluate_segments)


def _atomic_text(path: Path, text: str) -> None:
    from ..atomic import write_text
    write_text(path, text)


def _report_path(report: str, src: str, several: bool) -> Path:
    p = Path(report)
    return p.with_name(f"{p.stem}-{Path(src).stem}.html") if several else p


def _check_segment_outputs(args, files) -> None:
    """Refuse before any work an output that is an input, or one shared by two inputs."""
    from ..atomic import check_outputs
    from ..infer.formats import SUFFIX
    pairs = [(f, Path(args.out) / (Path(f).stem + SUFFIX[args.format])) for f in files] if args.out else []
    if args.report:
        pairs += [(f, _report_path(args.report, f, len(files) > 1)) for f in files]
    check_outputs(pairs)


def segment(args):
    import io

    from ..audio import load
    from ..evaluate.report import segment_report
    from ..infer import Segmenter
    from ..infer.formats import SUFFIX, write_segments
    if args.stream:
        return _segment_stream(args)
    files = list(args.files) + ([str(example_path())] if args.example or not args.files else [])
    with user_errors():
        from ..infer import Classifier
        clf = Classifier(args.model, backend=args.backend)
        seg = Segmenter(clf, window=args.window, median=args.median, silence_db=args.silence_db,
                        smoothing=args.smoothing, decoder=decoder_for(args.prior, clf.classes))
        _check_segment_outputs(args, files)
        if args.out:
            output_folder(args.out)
    failed = 0
    for f in files:
        try:
            r = seg.segment(f)
            buf = io.StringIO()
            write_segments(r.segments, args.format, buf, uri=Path(f).stem, duration=r.duration)
            if args.out:
                dest = Path(args.out) / (Path(f).stem + SUFFIX[args.format])
                try:
                    _atomic_text(dest, buf.getvalue())
                except OSError as err:  # the output, not this input, is at fault: stop
                    raise UserError(f"{dest}: cannot write output ({err.strerror or err})") from None
            else:
                _stdout(buf.getvalue())
            if args.report:
                segment_report(_report_path(args.report, f, len(files) > 1), load(f, sr=16000), 16000, r.segments,
                               r.probs, r.hop_s, r.classes[: r.probs.shape[1]], title=f"sonotype: {Path(f).name}")
        except BrokenPipeError:  # the reader of standard output has gone: no input is to blame
            raise
        except (AudioError, OSError) as err:
            msg = str(err) if isinstance(err, AudioError) else f"{getattr(err, 'filename', f) or f}: {err.strerror or err}"
            print(f"sonotype: error: {msg}", file=sys.stderr)
            failed += 1
    if failed:
        print(f"sonotype: {failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _segment_stream(args):
    from ..infer import StreamingSegmenter
    from ..infer.pcm import stream_segments
    if args.files not in ([], ["-"]):
        raise UserError("--stream reads raw PCM from standard input: give '-' as the only file")
    if sys.stdin is None:
        raise UserError("standard input is closed; --stream reads raw PCM from it")
    if "torch" in sys.modules:  # the torch backend: many small calls, threads only add overhead
        sys.modules["torch"].set_num_threads(1)
    with user_errors():
        from ..infer import Classifier
        clf = Classifier(args.model, backend=args.backend, threads=1)
        st = StreamingSegmenter(clf, window=args.window, median=args.median, silence_db=args.silence_db,
                                smoothing=args.smoothing, decoder=decoder_for(args.prior, clf.classes))
    print(f"# latency {st.latency_s:.3f} s; start,end,label,confidence", file=sys.stderr, flush=True)
    for start, end, label, conf in stream_segments(st, sys.stdin.buffer, args.rate):
        print(f"{start:.2f},{end:.2f},{label},{conf:.3f}", flush=True)
    return 0


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
        from ..infer import Classifier
        for m in args.model:
            name = m if m in ("slim", "wide") else None
            clf = Classifier(resolve_model(m))
            rows += run(clf, args.data, windows=windows, median=args.median, limit=args.limit, name=name,
                        smoothings=smoothings, silence_db=args.silence_db, decoder=decoder_for(args.prior, clf.classes))
        write_outputs(rows, args.out)
    print(segment_table(rows), end="")
    for r in rows:
        print(f"{r['model']} {r['smoothing']} window {r['window']:g} s: {r['speed']:.0f}x real time over "
              f"{r['audio_s'] / 3600:.2f} h")
