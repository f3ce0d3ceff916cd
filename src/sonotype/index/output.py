"""Output of an index run: JSONL line encoding, the locked append-only writer and the run summary."""
from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import IndexFailure


def encode(rec: dict) -> bytes:
    """One JSONL line (keys in insertion order, compact, UTF-8, ``\\n``-terminated)."""
    return (json.dumps(rec, ensure_ascii=False, separators=(", ", ": "), allow_nan=False) + "\n").encode("utf-8")


class Output:
    """Append-only JSONL writer: one write + fsync per line, exclusive ``flock``."""

    def __init__(self, path, resume: bool):
        self.path = Path(path)
        self.lines = []  # existing complete lines (bytes) when resuming
        try:
            if self.path.parent != Path(""):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as err:
            raise IndexFailure(f"{self.path}: cannot open output ({err.strerror or err})") from None
        self._lock()
        if self.path.is_file() and os.fstat(self.fd).st_size > 0:
            if not resume:
                os.close(self.fd)
                raise IndexFailure(f"{self.path}: output exists and is not empty; add --resume to continue it "
                                   "or choose another --out")
            self._read_existing()

    def _lock(self):
        try:
            import fcntl
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(self.fd)
                raise IndexFailure(f"{self.path}: output is being written by another process") from None

    def _read_existing(self):
        with open(self.path, "rb") as f:
            data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):  # a line cut by a kill: drop it
            os.ftruncate(self.fd, keep)
            os.fsync(self.fd)
        self.lines = [ln + b"\n" for ln in data[:keep].split(b"\n")[:-1]]
        self.records = []
        for k, ln in enumerate(self.lines, 1):
            try:
                rec = json.loads(ln)
                if not isinstance(rec, dict) or "path" not in rec:
                    raise ValueError
            except ValueError:
                raise IndexFailure(f"{self.path}: line {k} is not an index record; cannot resume") from None
            self.records.append(rec)

    def write(self, line: bytes) -> None:
        try:
            view = memoryview(line)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
            os.fsync(self.fd)
        except OSError as err:
            raise IndexFailure(f"{self.path}: cannot write output ({err.strerror or err})") from None

    def rewrite(self, lines: list) -> None:
        """Replace the whole file atomically (temp file + fsync + rename)."""
        data = b"".join(lines)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            raise IndexFailure(f"{self.path}: cannot rewrite output ({err.strerror or err})") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


@dataclass
class IndexSummary:
    """What a run did. ``records`` maps every input path to its newest record (without segments)."""

    files: int = 0
    processed: int = 0
    skipped: int = 0
    records: dict = field(default_factory=dict)
    left_out: list = field(default_factory=list)  # what the folder search could not take (one line each)

    @property
    def failed(self) -> dict:
        return {p: r["error"] for p, r in self.records.items() if "error" in r}

    @property
    def ok(self) -> int:
        return sum("error" not in r for r in self.records.values())

    def hours(self) -> dict:
        out = {}
        for r in self.records.values():
            for k, v in (r.get("totals") or {}).items():
                out[k] = out.get(k, 0.0) + v / 3600
        return out

    def text(self) -> str:
        total = sum(self.hours().values())
        lines = [(f"indexed {self.files} files: {self.ok} ok, {len(self.failed)} failed"
                  f" ({self.processed} processed now, {self.skipped} already done); {total:.3f} h")]
        if self.hours():
            lines.append("hours per class: " + ", ".join(f"{k} {v:.3f}" for k, v in self.hours().items()))
        if self.failed:
            lines.append("failed files:")
            lines += [f"  {e}" for e in self.failed.values()]
        if self.left_out:
            lines.append("left out of the search:")
            lines += [f"  {e}" for e in self.left_out]
        return "\n".join(lines)


def _brief(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "segments"}


def _canonicalise(outf: Output, written: list, files: list, order: dict) -> None:
    """After a resumed run: newest line per input path, in input order (rewrite only if needed)."""
    newest = {}
    extra = []
    for line in written:
        p = json.loads(line)["path"]
        if p in order:
            newest[p] = line
        else:
            extra.append(line)
    want = [newest[p] for p in files if p in newest] + extra
    if want != written:
        outf.rewrite(want)
