"""Atomic file writes: write a temp file beside the target, then rename it over the target.

A crash or a full disk never leaves a half-written result under the final name.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target(path: Path) -> Path:
    """Where writing to ``path`` lands: a symbolic link's target (the link stays a link)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The parent folder is created. ``suffix`` lets writers that pick a format from the
    file name (soundfile, torch, onnx) see the right extension. A symbolic link is written
    through (its target is replaced, the link kept); a special file (``/dev/null``, a FIFO,
    ``/dev/stdout``) is written to directly, never replaced. The file gets the mode of the
    file it replaces, or ``0666`` less the umask (not ``mkstemp``'s ``0600``).
    """
    path = _target(Path(path))
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            yield str(path)  # a device or pipe: write to it, there is nothing to rename over
        except OSError as err:
            err.filename = err.filename or str(path)  # name the output, not ""
            raise
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask())
    finally:
        os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _identity(path) -> tuple:
    """What makes two paths the same file: device and inode when it exists, else the real path."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return (os.path.realpath(path),)


def check_outputs(pairs) -> None:
    """Refuse a plan of ``(input, output)`` pairs that would lose data: an output that is one of
    the inputs, or two different inputs writing the same output.

    Raises
    ------
    ValueError
        One line naming the output and the input(s).
    """
    pairs = [(str(i), str(o)) for i, o in pairs]
    inputs = {_identity(i): i for i, _ in pairs}
    seen = {}
    for src, out in pairs:
        key = _identity(out)
        if key in inputs:
            raise ValueError(f"{out}: output would overwrite the input {inputs[key]}; choose another output")
        if os.path.exists(out) and not os.path.isfile(out):
            continue  # a device or pipe (/dev/null, /dev/stdout): several inputs may stream to it
        if key in seen and _identity(seen[key]) != _identity(src):
            raise ValueError(f"{out}: output of both {seen[key]} and {src} (same name); "
                             "give the inputs different names or run them separately")
        seen.setdefault(key, src)


def write_text(path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def write_json(path, obj) -> Path:
    """Write JSON (indent 2) atomically."""
    return write_text(path, json.dumps(obj, indent=2, default=float))


def write_npy(path, array) -> Path:
    """Save a numpy array atomically."""
    with atomic_path(path, ".npy") as tmp, open(tmp, "wb") as f:
        np.save(f, array)
    return Path(path)
