"""Atomic file writes: write a temp file beside the target, then rename it over the target.

A crash or a full disk never leaves a half-written result under the final name.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The parent folder is created. ``suffix`` lets writers that pick a format from the
    file name (soundfile, torch, onnx) see the right extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
