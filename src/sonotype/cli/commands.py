"""What every command module shares: user errors (one line, exit 2), standard output, the example file.

Each ``*_commands`` module declares its commands' options next to their handlers; a handler is a
few lines over one API function, imported when the command runs.
"""
from __future__ import annotations

import sys
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


def output_folder(path) -> Path:
    """Create the output folder ``path`` (and its parents); a :class:`UserError` names it as the output."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{p}: output folder is a file; choose a folder for -o/--out")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{p}: cannot create the output folder ({err.strerror or err})") from None
    return p


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
