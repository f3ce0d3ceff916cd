"""The ``sonotype`` command: assembles the command modules' parsers and runs the chosen one."""
from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from ..extras import missing_extra
from . import bench_commands, data_commands, genre_commands, index_commands, infer_commands, reproduce_commands
from . import segment_commands, train_commands
from .commands import UserError
from .options import harden


def build_parser() -> argparse.ArgumentParser:
    """The ``sonotype`` parser; each command module declares its own commands (in ``sonotype --help`` order)."""
    ap = argparse.ArgumentParser(prog="sonotype", description="Speech / music / noise classification and segmentation.")
    ap.add_argument("--version", action="version", version=f"sonotype {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data_commands.add_features(sub)
    dsub = data_commands.add_data(sub)
    train_commands.add_train(sub)
    train_commands.add_finetune(sub)
    train_commands.add_evaluate(sub)
    infer_commands.add_classify(sub)
    segment_commands.add_segment(sub)
    segment_commands.add_synth_segments(sub)
    segment_commands.add_evaluate_segments(sub)
    reproduce_commands.add_parsers(sub, dsub)
    train_commands.add_export(sub)
    bench_commands.add_bench(sub)
    infer_commands.add_models(sub)
    index_commands.add_parsers(sub)
    genre_commands.add_parsers(sub)
    return harden(ap)


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
    except UserError as err:
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
