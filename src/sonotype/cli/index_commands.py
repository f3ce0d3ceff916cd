"""``sonotype index``: segment a whole archive into a resumable, shardable JSONL index."""
from __future__ import annotations

import sys

EPILOG = """\
Output: one JSON line per file, in input order (folders: sorted paths; list files: their
order), identical bytes for identical inputs with any --workers. Exit status: 0 all files
indexed, 1 some files failed (their lines carry "error") or a folder search left something out
(unreadable folder, link loop; named on stderr), 2 the command failed (no inputs,
bad model, output not writable or not resumable).

Cluster arrays (one --out per shard; cat the shards afterwards):
  Slurm:       --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT   (sbatch --array=1-N)
  Kubernetes:  --shard $((JOB_COMPLETION_INDEX + 1))/N                 (indexed Job, N completions)
Add --resume so a preempted task continues where it stopped. See docs/index.md.
"""


def add_parsers(sub) -> None:
    import argparse

    from .options import add_decoder_options
    p = sub.add_parser("index", help="segment every file of an archive into a resumable JSONL index",
                       description="Segment every audio file under DIR (or listed in LISTFILE, one path per "
                                   "line) and write one JSON line per file.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="DIR|LISTFILE", help="folder(s) to search or list file(s)")
    p.add_argument("--out", required=True, help="JSONL output (must be absent or empty unless --resume)")
    p.add_argument("--model", help="bundled name (wide [default], slim) or checkpoint path")
    p.add_argument("--workers", type=int, default=1, help="processes, one torch thread each (default 1)")
    p.add_argument("--shard", metavar="i/n", help="take files k with k %% n == i-1 (1-based i)")
    p.add_argument("--resume", action="store_true",
                   help="continue an existing output: skip files done (same path and SHA-1), retry failed ones")
    add_decoder_options(p)
    p.add_argument("--timings", action="store_true",
                   help='add "elapsed" seconds per line (the output is then no longer reproducible)')
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=index_cmd)


def index_cmd(args) -> int:
    from tqdm import tqdm

    from ..index import IndexFailure, index
    from .commands import UserError
    from .options import prior_table

    def log(msg):
        tqdm.write(msg, file=sys.stderr)

    try:
        prior = None if args.prior is None else prior_table(args.prior)
    except ValueError as err:  # a malformed --prior; the index itself reports through IndexFailure
        raise UserError(str(err)) from None
    try:
        s = index(args.sources, args.out, model=args.model, workers=args.workers, shard=args.shard,
                  resume=args.resume, window=args.window, median=args.median, silence_db=args.silence_db,
                  timings=args.timings, progress=args.progress, log=log, smoothing=args.smoothing, prior=prior)
    except IndexFailure as err:
        raise UserError(str(err)) from None
    print(f"sonotype index: {s.text()}", file=sys.stderr)
    return 1 if s.failed or s.left_out else 0
