"""Running an index: one file (:func:`index_one`), the worker pool and :func:`index` itself."""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

from ..audio import info
from ..checkpoint import CheckpointError
from .inputs import IndexFailure, _error_message, _one_line, find_inputs, hash_file, parse_shard, take_shard
from .output import IndexSummary, Output, _brief, _canonicalise, encode


# --------------------------------------------------------------------------- one file
@contextmanager
def _quiet_segmenter():
    """Silence the per-file progress bar of :class:`Segmenter` (the index has its own)."""
    from ..infer import segment as mod
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


def _die_with_parent() -> None:
    """End this worker when the index process ends, even by ``kill -9`` (no orphans holding memory)."""
    import multiprocessing as mp
    import signal
    import threading
    parent = mp.parent_process()
    ppid = parent.pid if parent is not None else os.getppid()
    try:
        import ctypes
        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG (Linux)
            if os.getppid() != ppid:  # the parent was gone before the request
                os._exit(1)
            return
    except (OSError, AttributeError, TypeError):
        pass

    def watch():  # elsewhere: poll
        while os.getppid() == ppid:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _torch_threads(n: int | None = None) -> int | None:
    """Set torch's thread count to ``n`` when torch is loaded (a .pt model); return the old count."""
    import sys
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    return old


def _init_worker(model_path: str, decoder, silence_db: float, out_fd: int) -> None:
    _die_with_parent()
    _torch_threads(1)
    if out_fd >= 0:  # a forked worker's copy of the output (the parent alone writes and holds its lock)
        try:
            os.close(out_fd)
        except OSError:
            pass
    from ..infer import Classifier, Segmenter
    _WORKER["seg"] = Segmenter(Classifier(model_path, threads=1), silence_db=silence_db, decoder=decoder)


def _work(path, meta, known_sha1, timings):
    return index_one(_WORKER["seg"], path, meta, known_sha1, timings)


# --------------------------------------------------------------------------- run
def model_meta(model) -> tuple:
    """``(model path, {"name", "sha1"})`` of a bundled name (its raw-audio ``.onnx``), ``.onnx`` file
    or checkpoint path."""
    from ..data.cache import file_digest
    from ..infer import BUNDLED, DEFAULT_MODEL
    from ..infer.classify import inference_path
    model = model or DEFAULT_MODEL
    path = inference_path(model)
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    name = str(model) if str(model) in BUNDLED else Path(path).name
    return str(path), {"name": name, "sha1": file_digest(path)}


def index(sources, out, model=None, workers: int = 1, shard=None, resume: bool = False, window: float | None = None,
          median: int | None = None, silence_db: float = -50.0, timings: bool = False, progress: bool | None = None,
          log=None, smoothing: str | None = None, prior: dict | None = None) -> IndexSummary:
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
    window, median, smoothing, silence_db, prior
        As ``sonotype segment`` (None: DecoderConfig's; ``prior`` ``{class: nats}``, ``{}``: none).
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
    workers = max(1, int(workers or 1))
    files, left_out = _inputs(sources, shard)
    model_path, seg, meta = _load_segmenter(model, window, median, silence_db, smoothing, prior)
    outf = Output(out, resume)
    summary = IndexSummary(files=len(files), left_out=left_out)
    for msg in left_out if log is not None else []:
        log(f"sonotype: warning: {msg}")
    order = {p: k for k, p in enumerate(files)}
    known = _resume_known(outf, out, meta, order, summary)
    tasks = [(p, known.get(p)) for p in files]
    sink = _Sink(outf, summary, len(tasks), progress, log)
    try:
        if workers == 1:
            _run_here(seg, tasks, meta, timings, sink)
        else:
            _run_pool(tasks, workers, (model_path, seg.engine.decoder, silence_db, outf.fd), meta, timings,
                      sink.start_bar, sink.done, sink.emit, warm=lambda: _warm_up(seg))
        if resume and outf.lines:
            _canonicalise(outf, sink.written, files, order)
    finally:
        if sink.bar is not None:
            sink.bar.close()
        outf.close()
    return summary


def _inputs(sources, shard) -> tuple:
    """``(files of this shard, notes on what was left out)``; :class:`IndexFailure` when none are found."""
    if isinstance(shard, str):
        shard = parse_shard(shard)
    left_out = []
    all_files = find_inputs(sources, left_out)
    if not all_files:
        raise IndexFailure(f"{', '.join(map(str, [sources] if isinstance(sources, (str, os.PathLike)) else sources))}"
                           ": no audio files found" + (f" ({left_out[0]})" if left_out else ""))
    return take_shard(all_files, shard), left_out


def _run_here(seg, tasks, meta, timings: bool, sink) -> None:
    """Index ``tasks`` one by one in this process (one torch thread while it runs)."""
    threads = _torch_threads(1)
    sink.start_bar()
    try:
        for p, k in tasks:
            rec = index_one(seg, p, meta, k, timings)
            sink.done(rec)
            sink.emit(rec)
    finally:
        _torch_threads(threads)


def _load_segmenter(model, window, median, silence_db: float, smoothing=None, prior=None) -> tuple:
    """(checkpoint path, :class:`Segmenter`, the model and settings every line records), checked
    before anything is written; :class:`IndexFailure` for an unusable model or settings."""
    from ..infer import Classifier, Segmenter
    from ..infer.decode import DecoderConfig
    try:
        model_path, meta = model_meta(model)
        clf = Classifier(model_path, threads=1)  # check the model before anything is written
        decoder = None if prior is None else DecoderConfig().with_prior(prior, clf.classes)
        seg = Segmenter(clf, window=window, median=median, silence_db=silence_db, smoothing=smoothing,
                        decoder=decoder)
    except (CheckpointError, ValueError, NotImplementedError) as err:
        raise IndexFailure(_one_line(str(err))) from None
    # the whole decoder: a resume with other settings, or after a default changed, is refused
    meta = {"model": meta, "settings": {**seg.engine.decoder.to_dict(), "silence_db": float(silence_db)}}
    return model_path, seg, meta


def _resume_known(outf, out, meta: dict, order: dict, summary: IndexSummary) -> dict:
    """``{path: sha1}`` of the files an output being resumed holds without error (failed ones are
    retried); :class:`IndexFailure` when it was made with another model or other settings."""
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
    return known


class _Sink:
    """Where finished records go: the output file, the summary, the progress bar and ``log``."""

    def __init__(self, outf, summary: IndexSummary, total: int, progress, log):
        self.outf, self.summary, self.total, self.progress, self.log = outf, summary, total, progress, log
        self.written = list(outf.lines)  # lines of the file, to check order at the end
        self.bar = None
        self.hours_done = 0.0

    def start_bar(self):  # after the workers are forked (no tqdm lock or monitor thread in them)
        from tqdm import tqdm
        self.bar = tqdm(total=self.total, unit="file", desc="index", dynamic_ncols=True, smoothing=0.05,
                        disable=(None if self.progress is None else not self.progress))

    def done(self, rec):
        self.bar.update(1)
        if rec.get("skip"):
            self.summary.skipped += 1
        else:
            self.summary.processed += 1
            self.hours_done += (rec.get("duration") or 0.0) / 3600
        self.bar.set_postfix_str(f"{self.hours_done:.2f} h", refresh=False)

    def emit(self, rec):
        if rec.get("skip"):
            return
        line = encode(rec)
        self.outf.write(line)
        self.written.append(line)
        self.summary.records[rec["path"]] = _brief(rec)
        if self.log is not None and "error" in rec:
            self.log(f"sonotype: error: {rec['error']}")


def _warm_up(seg) -> None:
    """Run the model once on 0.5 s of noise: lazy imports and first-call set-up happen once, before forking."""
    import numpy as np
    threads = _torch_threads(1)
    try:
        with _quiet_segmenter():
            seg.segment_array(np.random.default_rng(0).normal(0, 0.1, seg.sr // 2).astype(np.float32))
    finally:
        _torch_threads(threads)


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
