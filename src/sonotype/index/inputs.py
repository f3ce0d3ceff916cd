"""Inputs of an index run: finding the audio files, shards, file hashes and one-line error messages."""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from ..audio import AudioError
from ..audio.guard import file_kind, open_regular, stat_error
from ..data.corpora import AUDIO_EXTENSIONS


class IndexFailure(Exception):
    """The whole indexing run cannot go on (bad input list, model, output); one-line message."""


# --------------------------------------------------------------------------- inputs
def find_inputs(sources, problems: list | None = None) -> list:
    """Audio files of ``sources`` as strings, in a deterministic order.

    Each source is a folder (searched recursively for :data:`AUDIO_EXTENSIONS`, following
    symbolic links to folders once each, sorted by path), an audio file (taken as is) or a
    list file: one path per line, blank lines and ``#`` comments skipped, relative paths taken
    relative to the list file's folder, order kept. Duplicates are dropped (first kept).
    What a folder search has to leave out (unreadable folders, link loops, audio names that
    are not regular files) is appended to ``problems`` as one-line messages.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    problems = [] if problems is None else problems
    out = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            out += _walk(p, problems)
        elif p.suffix.lower() in AUDIO_EXTENSIONS:
            out.append(str(p))
        else:
            out += _read_list(p)
    seen = set()
    return [f for f in out if not (f in seen or seen.add(f))]


def _walk(root: Path, problems: list) -> list:
    """Audio files under ``root``; symbolic links to folders followed, each real folder searched once."""
    found, visited = [], {}  # visited: real path -> the path it was searched under

    def unreadable(err):
        problems.append(_one_line(f"{err.filename}: cannot read folder ({err.strerror or err}); its files are left out"))
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link loop or a second link: its files are found once, nothing is left out
            dirs[:] = []
            continue
        visited[real] = folder
        dirs.sort(key=lambda d: (os.path.islink(os.path.join(folder, d)), d))  # real folders before links
        for name in files:
            f = Path(folder) / name
            if f.suffix.lower() not in AUDIO_EXTENSIONS:
                if f.is_symlink() and not f.exists():  # perhaps a link to a folder: say so
                    problems.append(f"{f}: {_why(f)}; left out")
                continue
            if f.is_file():
                found.append(f)
            else:
                problems.append(f"{f}: {_why(f)}, not a regular file; left out")
    return [str(f) for f in sorted(found, key=lambda f: f.as_posix())]


def _why(f: Path) -> str:
    """Why ``f`` (listed, but not a regular file) is not read."""
    try:
        return f"is {file_kind(os.stat(f).st_mode)}"
    except OSError as err:
        return "broken symbolic link" if err.errno == errno.ENOENT and f.is_symlink() else stat_error(err)


def _read_list(p: Path) -> list:
    """The paths of a list file (see :func:`find_inputs`)."""
    try:
        kind = file_kind(os.stat(p).st_mode)
    except OSError as err:
        cause = "no such folder or list file" if err.errno == errno.ENOENT else stat_error(err)
        raise IndexFailure(f"{p}: {cause}") from None
    if kind is not None:
        raise IndexFailure(f"{p}: is {kind}, not a folder, audio file or list file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise IndexFailure(f"{p}: cannot read list file ({err.strerror or err})") from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "binary")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise IndexFailure(f"{p}: not a list file (binary data: an audio file with an extension sonotype "
                           f"does not read, {', '.join(AUDIO_EXTENSIONS)}?)") from None
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            q = Path(line)
            out.append(str(q if q.is_absolute() else p.parent / q))
    return out


def parse_shard(text: str | None):
    """``"i/n"`` (1-based, ``1 <= i <= n``) → ``(i, n)``; ``None`` → ``None``."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise IndexFailure(f"--shard {text!r}: expected i/n, e.g. 3/16") from None
    if not 1 <= i <= n:
        raise IndexFailure(f"--shard {text!r}: need 1 <= i <= n")
    return i, n


def take_shard(files: list, shard) -> list:
    """Files at positions ``k`` with ``k % n == i - 1``."""
    if shard is None:
        return list(files)
    i, n = shard
    return [f for k, f in enumerate(files) if k % n == i - 1]


# --------------------------------------------------------------------------- one file
def hash_file(path) -> tuple:
    """``(size, sha1)`` of the file's bytes."""
    h = hashlib.sha1()
    size = 0
    with open_regular(path, AudioError) as f:  # never blocks on a FIFO nor reads /dev/zero forever
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split()) or "unknown error"


def _error_message(path, err: Exception) -> str:
    if isinstance(err, AudioError):
        return _one_line(str(err))
    if isinstance(err, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(err, IsADirectoryError):
        return f"{path}: is a directory, not an audio file"
    if isinstance(err, OSError):
        return _one_line(f"{path}: {err.strerror or err}")
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return _one_line(f"{path}: {type(err).__name__}{': ' + first if first else ''}")

