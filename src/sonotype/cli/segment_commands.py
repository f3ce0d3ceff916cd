"""``sonotype segment``: files (one output each, optional HTML report) or a raw PCM stream on stdin."""
from __future__ import annotations

import sys
from pathlib import Path

from ..audio import AudioError
from .commands import UserError, _stdout, example_path, user_errors


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
        seg = Segmenter(Classifier(args.model, backend=args.backend), window=args.window, median=args.median,
                        silence_db=args.silence_db, smoothing=args.smoothing)
        _check_segment_outputs(args, files)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
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
        st = StreamingSegmenter(Classifier(args.model, backend=args.backend, threads=1), window=args.window,
                                median=args.median, silence_db=args.silence_db, smoothing=args.smoothing)
    print(f"# latency {st.latency_s:.3f} s; start,end,label,confidence", file=sys.stderr, flush=True)
    for start, end, label, conf in stream_segments(st, sys.stdin.buffer, args.rate):
        print(f"{start:.2f},{end:.2f},{label},{conf:.3f}", flush=True)
    return 0
