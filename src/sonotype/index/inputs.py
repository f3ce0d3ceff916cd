"""Inputs of an index run: finding the audio files, shards, file hashes and one-line error messages."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..audio import AudioError
from ..data.corpora import AUDIO_EXTENSIONS


class IndexFailure(Exception):
    """The whole indexing run cannot go on (bad input list, model, output); one-line message."""


# --------------------------------------------------------------------------- inputs
def find_inputs(sources) -> list:
    """Audio files of ``sources`` as strings, in a deterministic order.

    Each source is a folder (searched recursively for :data:`AUDIO_EXTENSIONS`, sorted by
    path), an audio file (taken as is) or a list file: one path per line, blank lines and
    ``#`` comments skipped, relative paths taken relative to the list file's folder, order
    kept. Duplicates are dropped (first kept).
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            out += [str(f) for f in sorted((f for f in p.rglob("*")
                                            if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()),
                                           key=lambda f: f.as_posix())]
        elif p.suffix.lower() in AUDIO_EXTENSIONS:
            out.append(str(p))
        elif p.is_file():
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise IndexFailure(f"{p}: cannot read list file ({getattr(err, 'strerror', None) or err})") from None
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    out.append(str(q if q.is_absolute() else p.parent / q))
        else:
            raise IndexFailure(f"{p}: no such folder or list file")
    seen = set()
    return [f for f in out if not (f in seen or seen.add(f))]


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
    with open(path, "rb") as f:
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

