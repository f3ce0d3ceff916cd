"""On-disk feature cache keyed by file content and feature / preprocessing parameters."""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..atomic import write_npy


class CacheError(ValueError):
    """The cache folder cannot be used (not writable...); the message names it and ``$SONOTYPE_CACHE``."""


def cache_error(root, err: OSError) -> CacheError:
    """A :class:`CacheError` for ``err`` met while writing into the cache folder ``root``."""
    where = err.filename or root
    return CacheError(f"cache {root}: cannot write {where} ({err.strerror or err}); "
                      "set SONOTYPE_CACHE to a writable folder")


def damaged(path, err: Exception) -> None:
    """Warn that a cached file is damaged and is being rebuilt."""
    cause = " ".join(str(err).split())[:200] or type(err).__name__
    warnings.warn(f"cache entry {path} is damaged ({cause}); rebuilding it", UserWarning, stacklevel=3)


def default_cache_dir() -> Path:
    """``$SONOTYPE_CACHE`` or ``~/.cache/sonotype``."""
    return Path(os.environ.get("SONOTYPE_CACHE") or Path.home() / ".cache" / "sonotype")


@lru_cache(maxsize=65536)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    from ..audio import AudioError
    from ..audio.guard import open_regular
    h = hashlib.sha1()
    with open_regular(path, AudioError) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path) -> str:
    """SHA-1 of the file's bytes (memoised per path, size and modification time)."""
    st = os.stat(path)
    return _digest(str(path), st.st_size, st.st_mtime_ns)


class FeatureCache:
    """A folder of ``.npy`` arrays named by a hash of what made them.

    Parameters
    ----------
    root : path or None
        Cache folder (default :func:`default_cache_dir` / ``features``); ``False`` disables caching.
    """

    def __init__(self, root=None):
        self.root = None if root is False else Path(root or default_cache_dir() / "features")

    @staticmethod
    def key(path, **parts) -> str:
        blob = json.dumps({"file": file_digest(path), **parts}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str):
        if self.root is None:
            return None
        f = self._file(key)
        if not f.is_file():
            return None
        try:
            return np.load(f, allow_pickle=False)
        except Exception as err:  # noqa: BLE001 - empty, truncated, foreign: recomputed and rewritten
            damaged(f, err)
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        if self.root is None:
            return
        try:
            write_npy(self._file(key), array)
        except OSError as err:
            raise cache_error(self.root, err) from None


def cache_entries(root) -> list:
    """``(path, bytes, mtime)`` of every entry of a feature cache folder, oldest written first.

    Only the cache's own files (named by a SHA-1 key where :meth:`FeatureCache._file` puts it;
    regular, not links) are listed: anything else in the folder is never touched by :func:`prune_cache`.
    """
    cache = FeatureCache(root)
    out = []
    if not cache.root.is_dir():
        return out
    for sub in sorted(cache.root.iterdir()):
        if sub.is_symlink() or not sub.is_dir():
            continue
        for f in sub.iterdir():
            key = f.stem
            if (len(key) == 40 and all(ch in "0123456789abcdef" for ch in key) and cache._file(key) == f
                    and not f.is_symlink() and f.is_file()):
                st = f.stat()
                out.append((f, st.st_size, st.st_mtime))
    return sorted(out, key=lambda e: (e[2], str(e[0])))


def prune_cache(root, max_bytes: float | None = None, older_than_s: float | None = None,
                now: float | None = None, dry_run: bool = False) -> dict:
    """Remove feature-cache entries: those written over ``older_than_s`` seconds ago, then the
    oldest until at most ``max_bytes`` remain. Entries are recomputed when next needed.

    Returns
    -------
    dict
        ``removed_files``, ``removed_bytes``, ``kept_files``, ``kept_bytes`` (what would be
        removed with ``dry_run``).
    """
    for name, v in (("max_bytes", max_bytes), ("older_than_s", older_than_s)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    now = time.time() if now is None else now
    entries = cache_entries(root)
    total = sum(size for _, size, _ in entries)
    gone = []
    for f, size, mtime in entries:  # oldest first
        old = older_than_s is not None and now - mtime > older_than_s
        big = max_bytes is not None and total > max_bytes
        if not (old or big):
            continue
        gone.append((f, size))
        total -= size
    if not dry_run:
        for f, _ in gone:
            try:
                f.unlink()
            except FileNotFoundError:  # removed meanwhile (another prune)
                pass
    return {"removed_files": len(gone), "removed_bytes": sum(s for _, s in gone),
            "kept_files": len(entries) - len(gone), "kept_bytes": total}
