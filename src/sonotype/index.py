"""Index an audio archive: one JSON line of segments per file, resumable, shardable, parallel.

:func:`index` segments every audio file under a folder (or named in a list file) and
appends one JSON line per file to a ``.jsonl`` file::

    {"path": "a/b.wav", "size": 1234, "sha1": "...", "duration": 12.34,
     "model": {"name": "slim", "sha1": "..."},
     "settings": {"window": 1.0, "median": 200, "silence_db": -50.0},
     "segments": [[0.0, 3.21, "speech", 0.9312], ...],
     "totals": {"speech": 3.21, "music": 0.0, "noise": 0.0, "silence": 9.13}}

A file that cannot be read gives a line with ``"error": "<path>: <problem>"`` (one line)
instead of ``duration``/``segments``/``totals``, and the run goes on.

Guarantees
----------
* **Atomic lines.** Each line is written with one ``os.write`` (looped only on a short
  write) followed by ``os.fsync``: a killed run leaves complete lines, at most followed by
  one partial line, which ``resume`` cuts off.
* **Deterministic output.** Lines are written in *input order* whatever the number of
  workers (results that complete early wait in a small buffer), and no wall-clock value is
  written unless ``timings=True`` (``"elapsed"`` per line). The same inputs, model and
  settings therefore give byte-identical files, with 1 or N workers, sharded or not.
* **Resume.** ``resume=True`` keeps the existing lines, cuts a trailing partial line,
  skips files whose last line is a success with the same path *and* content SHA-1 (the
  hashing is done by the workers), retries failed ones and re-indexes changed ones. At the
  end, if the file is no longer one line per input in input order (a retried or changed
  file), it is rewritten atomically in input order with the newest line per path, so a
  killed-and-resumed run ends byte-identical to an uninterrupted one.
  Resuming with another model or other settings is refused.
* **Shards.** ``shard=(i, n)`` (1-based ``i``) takes the files whose position ``k`` in the
  input list (sorted for folders) has ``k % n == i - 1``. The union of the ``n`` shard
  files is the unsharded run (as sets of lines; concatenate and sort by path to compare).

Cluster use (one output per shard, then ``cat shard-*.jsonl``)::

    # Slurm array: sbatch --array=1-16 index.sh   (SLURM_ARRAY_TASK_ID runs 1..16)
    sonotype index /archive --out idx/shard-$SLURM_ARRAY_TASK_ID.jsonl --resume \\
        --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --workers $SLURM_CPUS_PER_TASK

    # Kubernetes indexed Job (completionMode: Indexed, completions: 16);
    # JOB_COMPLETION_INDEX runs 0..15, so add 1:
    sonotype index /archive --out /out/shard-$((JOB_COMPLETION_INDEX + 1)).jsonl --resume \\
        --shard $((JOB_COMPLETION_INDEX + 1))/16

With ``--resume`` a preempted or retried task continues where it stopped.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .audio import AudioError, info
from .data.corpora import AUDIO_EXTENSIONS
from .train.checkpoint import CheckpointError


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


@contextmanager
def _quiet_segmenter():
    """Silence the per-file progress bar of :class:`Segmenter` (the index has its own)."""
    from .infer import segment as mod
    orig = mod.tqdm

    def quiet(*a, **k):
        k["disable"] = True
        return orig(*a, **k)
    mod.tqdm = quiet
    try:
        yield
    finally:
        mod.tqdm = orig


def _r(x, nd=3) -> float:
    return round(float(x), nd) + 0.0  # + 0.0: no "-0.0"


def index_one(segmenter, path: str, meta: dict, known_sha1: str | None = None, timings: bool = False) -> dict:
    """Index one file: a record dict (``{"skip": True}`` when its SHA-1 is ``known_sha1``)."""
    t0 = time.perf_counter()
    rec = {"path": path, "size": None, "sha1": None, **meta}
    try:
        rec["size"], rec["sha1"] = hash_file(path)
        if known_sha1 is not None and rec["sha1"] == known_sha1:
            return {"path": path, "skip": True}
        info(path)  # clear messages for empty / corrupt files before decoding
        with _quiet_segmenter():
            r = segmenter.segment(path)
        rec["duration"] = _r(r.duration)
        rec["segments"] = [[_r(s.start), _r(s.end), s.label, _r(s.confidence, 4)] for s in r.segments]
        rec["totals"] = {k: _r(v) for k, v in r.totals().items()}
    except Exception as err:  # noqa: BLE001 - any failure of one file is reported on its line
        rec["error"] = _error_message(path, err)
    if timings:
        rec["elapsed"] = _r(time.perf_counter() - t0)
    return rec


# --------------------------------------------------------------------------- workers
_WORKER = {}
MP_START = os.environ.get("SONOTYPE_MP_START", "fork")  # "spawn" / "forkserver" to override; spawn if no fork


def _init_worker(model_path: str, window: float, median: int, silence_db: float, out_fd: int) -> None:
    import torch
    torch.set_num_threads(1)
    if out_fd >= 0:  # a forked worker's copy of the output (the parent alone writes and holds its lock)
        try:
            os.close(out_fd)
        except OSError:
            pass
    from .infer import Classifier, Segmenter
    _WORKER["seg"] = Segmenter(Classifier(model_path), window=window, median=median, silence_db=silence_db)


def _work(path, meta, known_sha1, timings):
    return index_one(_WORKER["seg"], path, meta, known_sha1, timings)


# --------------------------------------------------------------------------- output
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


# --------------------------------------------------------------------------- run
@dataclass
class IndexSummary:
    """What a run did. ``records`` maps every input path to its newest record (without segments)."""

    files: int = 0
    processed: int = 0
    skipped: int = 0
    records: dict = field(default_factory=dict)

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
        return "\n".join(lines)


def _brief(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "segments"}


def model_meta(model) -> tuple:
    """``(checkpoint path, {"name", "sha1"})`` of a bundled name or checkpoint path."""
    from .data.cache import file_digest
    from .infer import BUNDLED, DEFAULT_MODEL, resolve_model
    model = model or DEFAULT_MODEL
    path = resolve_model(model)
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    name = str(model) if str(model) in BUNDLED else Path(path).name
    return str(path), {"name": name, "sha1": file_digest(path)}


def index(sources, out, model=None, workers: int = 1, shard=None, resume: bool = False, window: float = 1.0,
          median: int = 200, silence_db: float = -50.0, timings: bool = False, progress: bool | None = None,
          log=None) -> IndexSummary:
    """Index ``sources`` into the JSONL file ``out`` (see the module docstring).

    Parameters
    ----------
    sources : path or list of paths
        Folders, list files or audio files (:func:`find_inputs`).
    out : path
        JSONL output. Must be absent or empty unless ``resume``.
    model : str or Path
        Bundled model name or checkpoint (default :data:`~sonotype.infer.DEFAULT_MODEL`).
    workers : int
        Processes; 1 runs in this process. Each worker loads the model once and uses one
        torch thread. The output is in input order whatever the number.
    shard : (i, n) or "i/n" or None
        Take every n-th file starting at the i-th (1-based).
    timings : bool
        Add ``"elapsed"`` seconds per line (makes the output non-deterministic).
    progress : bool or None
        tqdm progress bar on stderr (None: only on a terminal).
    log : callable or None
        Called with a one-line message for each failed file as it fails.

    Returns
    -------
    IndexSummary

    Raises
    ------
    IndexFailure
        No input files, bad shard, unusable model, output not writable, resume mismatch.
    """
    from tqdm import tqdm

    from .infer import Classifier, Segmenter
    if isinstance(shard, str):
        shard = parse_shard(shard)
    workers = max(1, int(workers or 1))
    all_files = find_inputs(sources)
    if not all_files:
        raise IndexFailure(f"{', '.join(map(str, [sources] if isinstance(sources, (str, os.PathLike)) else sources))}"
                           ": no audio files found")
    files = take_shard(all_files, shard)
    try:
        model_path, meta = model_meta(model)
        clf = Classifier(model_path)  # check the model before anything is written
        seg = Segmenter(clf, window=window, median=median, silence_db=silence_db)
    except (CheckpointError, ValueError, NotImplementedError) as err:
        raise IndexFailure(_one_line(str(err))) from None
    meta = {"model": meta, "settings": {"window": float(window), "median": int(median),
                                        "silence_db": float(silence_db)}}

    outf = Output(out, resume)
    summary = IndexSummary(files=len(files))
    order = {p: k for k, p in enumerate(files)}
    known = {}
    for rec in getattr(outf, "records", []):
        if rec.get("model", {}).get("sha1") != meta["model"]["sha1"] or rec.get("settings") != meta["settings"]:
            outf.close()
            raise IndexFailure(f"{out}: was made with another model or other settings "
                               f"({rec.get('model')}, {rec.get('settings')}); use them to resume or choose another --out")
        if rec["path"] in order:
            summary.records[rec["path"]] = _brief(rec)
            if "error" in rec:
                known.pop(rec["path"], None)
            else:
                known[rec["path"]] = rec.get("sha1")
    tasks = [(p, known.get(p)) for p in files]
    written = list(outf.lines)  # lines of the file, to check order at the end

    bar = None
    hours_done = 0.0

    def start_bar():  # after the workers are forked (no tqdm lock or monitor thread in them)
        nonlocal bar
        bar = tqdm(total=len(tasks), unit="file", desc="index", disable=(None if progress is None else not progress),
                   dynamic_ncols=True, smoothing=0.05)

    def done(rec):
        nonlocal hours_done
        bar.update(1)
        if rec.get("skip"):
            summary.skipped += 1
        else:
            summary.processed += 1
            hours_done += (rec.get("duration") or 0.0) / 3600
        bar.set_postfix_str(f"{hours_done:.2f} h", refresh=False)

    def emit(rec):
        if rec.get("skip"):
            return
        line = encode(rec)
        outf.write(line)
        written.append(line)
        summary.records[rec["path"]] = _brief(rec)
        if log is not None and "error" in rec:
            log(f"sonotype: error: {rec['error']}")

    try:
        if workers == 1:
            import torch
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            start_bar()
            try:
                for p, k in tasks:
                    rec = index_one(seg, p, meta, k, timings)
                    done(rec)
                    emit(rec)
            finally:
                torch.set_num_threads(threads)
        else:
            _run_pool(tasks, workers, (model_path, window, median, silence_db, outf.fd), meta, timings,
                      start_bar, done, emit, warm=lambda: _warm_up(seg))
        if resume and outf.lines:
            _canonicalise(outf, written, files, order)
    finally:
        if bar is not None:
            bar.close()
        outf.close()
    return summary


def _warm_up(seg) -> None:
    """Run the model once on 0.5 s of noise: lazy imports and first-call set-up happen once, before forking."""
    import numpy as np
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _quiet_segmenter():
            seg.segment_array(np.random.default_rng(0).normal(0, 0.1, seg.sr // 2).astype(np.float32))
    finally:
        torch.set_num_threads(threads)


def _run_pool(tasks, workers, initargs, meta, timings, start_bar, done, emit, warm=None):
    import multiprocessing as mp
    # fork: workers start at once with everything imported (spawn costs seconds per worker);
    # they set one torch thread before any work, which makes forking after OpenMP use safe
    method = MP_START if MP_START in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "fork":
        if warm is not None:
            warm()
    else:
        initargs = (*initargs[:-1], -1)  # the output fd number means nothing in a fresh process
    limit = 8 * workers
    results = {}
    nxt = 0
    pending = {}
    it = iter(enumerate(tasks))
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=initargs) as pool:
        try:
            while True:
                while len(pending) < limit:
                    try:
                        k, (p, known) = next(it)
                    except StopIteration:
                        break
                    pending[pool.submit(_work, p, meta, known, timings)] = k
                if start_bar is not None:
                    start_bar()
                    start_bar = None
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    k = pending.pop(fut)
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        raise IndexFailure(f"a worker process died (killed or out of memory?) while indexing "
                                           f"{tasks[k][0]} or a file beside it; rerun with --resume") from None
                    done(rec)
                    results[k] = rec
                while nxt in results:  # write in input order
                    emit(results.pop(nxt))
                    nxt += 1
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


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
