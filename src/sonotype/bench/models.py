"""Model size and batch-1 latency, beside the SwishNet paper's figures.

For every model (untrained weights: timing does not depend on them), :func:`bench_models` measures

- ``params``: :func:`sonotype.models.count_parameters`;
- ``weight_bytes``: size of ``torch.save`` of the state dict (GMM: of its arrays, as tensors,
  what a checkpoint stores); ``onnx_bytes``: size of the exported ONNX file (None for the GMM);
- per clip length, batch 1, ``runs`` timed calls after ``warmup``: median / p10 / p90 in ms of
  **model only** (standardised features precomputed; for the ONNX backend raw features go in,
  the standardisation being the graph's first op) and of **features + model** (from raw 16 kHz
  samples: MFCC (+Δ, ΔΔ for snn / gmm) or 64-band log-mel for the MobileNets, standardise, run).
  Silence removal / loudness equalisation are not included. The sample count is chosen so the
  features have exactly the clip's frame count (``n_fft + (frames - 1) * hop``, e.g. 16,352
  samples for the 100 frames of a 1 s clip).

The GMM runs with scikit-learn (``backend="sklearn"`` in its rows) whatever ``backend`` says.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .machine import cpu_model, environment  # noqa: F401 (re-exported)

DEFAULT_MODELS = ("gmm", "snn", "slim", "wide", "mobilenet")
# our model name -> key of sonotype.evaluate.paper.PAPER whose params / CPU ms it is compared with
PAPER_KEYS = {"gmm": "gmm", "snn": "snn", "slim": "slim", "wide": "wide-distilled", "mobilenet": "mobilenet",
              "mobilenetv2": None}
CLASSES = ("speech", "music", "noise")


def _file_size(obj) -> int:
    fd, tmp = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        return os.path.getsize(tmp)
    finally:
        os.unlink(tmp)


def _stats(times_s) -> dict:
    ms = np.asarray(times_s, np.float64) * 1000.0
    return {"median": float(statistics.median(ms)), "p10": float(np.percentile(ms, 10)),
            "p90": float(np.percentile(ms, 90))}


def _time(fn, runs: int, warmup: int, sync=None) -> dict:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        out.append(time.perf_counter() - t0)
    return _stats(out)


def _build(name: str, params, n_components: int, seed: int):
    """An untrained torch model, or a GMM fitted on random frames (real size with 256 components)."""
    from ..models import build_model

    if name == "gmm":
        rng = np.random.default_rng(seed)
        per = max(2 * n_components, 64)
        X = rng.standard_normal((3 * per, params.n_channels)).astype(np.float64)
        y = np.repeat(np.arange(3), per)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build_model("gmm", n_components=n_components, max_iter=2, random_state=seed).fit(X, y)
    torch.manual_seed(seed)
    kw = {"n_in": params.n_channels} if name in ("slim", "wide", "snn") else {}
    return _calibrate_batchnorm(build_model(name, **kw), params.n_channels).eval()


def _calibrate_batchnorm(model, channels: int, frames: int = 100):
    """Set BatchNorm running statistics from one random batch.

    A freshly initialised MobileNet in eval mode shrinks its activations layer by layer (to
    ~1e-15 at the last conv), which is unlike a trained model and could reach denormal floats
    (slow on some CPUs); calibrated statistics keep activations at a realistic scale.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(torch.randn(8, channels, frames))
    return model


def _callables(bk: str, model, y, raw, xs, params, m_col, s_col, dev):
    """(model only, features + model) callables of one measurement."""
    from ..features import extract

    if bk == "sklearn":  # GMM: frames (T, D)
        frames_std = xs[0].T

        def model_only():
            return model.predict_clip_proba(frames_std)

        def full():
            return model.predict_clip_proba(((extract(y, params) - m_col) / s_col).T)
    elif bk == "torch":
        xt = torch.from_numpy(xs).to(dev)
        m_t, s_t = torch.from_numpy(m_col).to(dev), torch.from_numpy(s_col).to(dev)

        def model_only():
            with torch.inference_mode():
                return model(xt)

        def full():
            with torch.inference_mode():
                f = torch.from_numpy(extract(y, params)).to(dev)
                return model(((f - m_t) / s_t)[None])
    else:  # onnx: the standardisation is the graph's first op, raw features go in

        def model_only():
            return model.run(raw)

        def full():
            return model.run(extract(y, params)[None])
    return model_only, full


def bench_models(models=DEFAULT_MODELS, clips=(0.5, 1.0, 2.0), device: str = "cpu", threads: int = 1,
                 runs: int = 200, warmup: int = 20, backend: str = "torch", quick: bool = False,
                 n_components: int | None = None, seed: int = 0, progress=None) -> list:
    """Size and batch-1 latency of each model; one row per (model, backend, clip length).

    Parameters
    ----------
    models : sequence of str
        Registry names ("gmm", "snn", "slim", "wide", "mobilenet", "mobilenetv2").
    clips : sequence of float
        Clip lengths in seconds.
    device : str
        Torch device ("cpu", "cuda", "cuda:0"); the ONNX backend always runs on the CPU.
    threads : int
        ``torch.set_num_threads``, onnxruntime ``intra_op_num_threads`` and the BLAS thread
        pools (threadpoolctl) for feature extraction and the GMM; restored after.
    runs, warmup : int
        Timed and untimed calls per measurement.
    backend : {"torch", "onnx", "both"}
    quick : bool
        Smoke-test mode: ``runs=5``, ``warmup=1``, 4 GMM components (unless given).
    n_components : int or None
        GMM components per class (default 256, the paper's; the fit takes seconds).
    progress : callable or None
        Called with a short string before each measurement.

    Returns
    -------
    list of dict
        Keys: ``model``, ``backend``, ``clip_s``, ``frames``, ``samples``, ``params``,
        ``weight_bytes``, ``onnx_bytes``, ``model_ms`` / ``model_ms_p10`` / ``model_ms_p90``,
        ``full_ms`` / ``full_ms_p10`` / ``full_ms_p90``, ``runs``, ``warmup`` and the
        :func:`environment` fields (``device``, ``device_name``, ``threads``, ``torch``, ``cpu``...).
    """
    cfg = BenchConfig.build(models, clips, device, threads, runs, warmup, backend, quick, n_components, seed)
    env = environment(device, threads)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    rows = []
    rng = np.random.default_rng(seed)
    # numpy's BLAS (mel matrix product, GMM scoring) gets the same thread budget
    from threadpoolctl import threadpool_limits
    limits = threadpool_limits(limits=int(threads))
    try:
        with tempfile.TemporaryDirectory(prefix="sonotype-bench-") as tmpdir:
            for name in cfg.models:
                rows += _bench_model(name, cfg, rng, Path(tmpdir), env, progress)
    finally:
        limits.restore_original_limits()
        torch.set_num_threads(old_threads)
    return rows


@dataclass(frozen=True)
class BenchConfig:
    """What :func:`bench_models` measures, settled (``quick`` applied, backends spelt out)."""

    models: tuple
    clips: tuple
    device: str
    threads: int
    runs: int
    warmup: int
    backends: tuple  # ("torch",), ("onnx",) or ("torch", "onnx")
    n_components: int
    seed: int

    @classmethod
    def build(cls, models, clips, device, threads, runs, warmup, backend, quick, n_components, seed) -> BenchConfig:
        """From :func:`bench_models`'s arguments; ValueError for an unknown ``backend``."""
        if backend not in ("torch", "onnx", "both"):
            raise ValueError(f"backend must be 'torch', 'onnx' or 'both', got {backend!r}")
        if quick:
            runs, warmup = 5, 1
            n_components = n_components or 4
        return cls(tuple(models), tuple(clips), device, int(threads), runs, warmup,
                   ("torch", "onnx") if backend == "both" else (backend,), int(n_components or 256), seed)


def _bench_model(name: str, cfg: BenchConfig, rng, tmpdir: Path, env: dict, progress) -> list:
    """The rows of one model: every backend it runs on, every clip length."""
    from ..checkpoint import model_state
    from ..export.onnx import OnnxModel, export_model
    from ..models import count_parameters, features_for

    params = features_for(name)
    model = _build(name, params, cfg.n_components, cfg.seed)
    is_torch = isinstance(model, torch.nn.Module)
    C = params.n_channels
    mean = rng.standard_normal(C).astype(np.float32)
    std = (0.5 + rng.random(C)).astype(np.float32)
    size = {"params": int(count_parameters(model)), "weight_bytes": int(_file_size(model_state(model))),
            "onnx_bytes": None}
    onnx_model = None
    if is_torch and "onnx" in cfg.backends:
        path = export_model(model, tmpdir / f"{name}.onnx", features=params, classes=CLASSES, mean=mean, std=std,
                            arch=name)
        size["onnx_bytes"] = os.path.getsize(path)
        onnx_model = OnnxModel(path, threads=cfg.threads)
    dev = torch.device(cfg.device)
    if is_torch:
        model.to(dev)
    rows = []
    for bk in (cfg.backends if is_torch else ("sklearn",)):
        for clip in cfg.clips:
            if progress:
                progress(f"{name} {bk} {clip:g} s")
            shape, t_model, t_full = _measure(bk, model if bk != "onnx" else onnx_model, clip, params, mean, std,
                                              rng, cfg)
            rows.append({"model": name, "backend": bk, "clip_s": float(clip), **shape, **size,
                         "model_ms": t_model["median"], "model_ms_p10": t_model["p10"], "model_ms_p90": t_model["p90"],
                         "full_ms": t_full["median"], "full_ms_p10": t_full["p10"], "full_ms_p90": t_full["p90"],
                         "runs": int(cfg.runs), "warmup": int(cfg.warmup),
                         **({"gmm_components": cfg.n_components} if name == "gmm" else {}),
                         **env, "device": env["device"] if bk == "torch" else "cpu"})
    return rows


def _measure(bk: str, model, clip: float, params, mean: np.ndarray, std: np.ndarray, rng, cfg: BenchConfig) -> tuple:
    """Time one (backend, clip length) on random samples: ({"frames", "samples"}, model-only stats,
    features + model stats); stats as :func:`_stats` gives them."""
    from ..data.clips import clip_length
    from ..features import extract

    frames = clip_length(clip, params)
    n_samples = params.n_fft + (frames - 1) * params.hop_length
    y = (0.1 * rng.standard_normal(n_samples)).astype(np.float32)
    m_col, s_col = mean[:, None], std[:, None]
    raw = extract(y, params)[None]                       # (1, C, T)
    xs = ((raw - m_col) / s_col).astype(np.float32)     # standardised
    dev = torch.device(cfg.device)
    model_only, full = _callables(bk, model, y, raw, xs, params, m_col, s_col, dev)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" and bk == "torch" else None
    return ({"frames": int(frames), "samples": int(n_samples)}, _time(model_only, cfg.runs, cfg.warmup, sync),
            _time(full, cfg.runs, cfg.warmup, sync))


def _fmt_ms(row, key) -> str:
    return f"{row[key]:.3g} [{row[key + '_p10']:.3g}–{row[key + '_p90']:.3g}]"


def _kb(n) -> str:
    return "—" if n is None else f"{n / 1000:.1f}"


def table_markdown(rows, note: str | None = None) -> str:
    """Markdown table of :func:`bench_models` rows with the paper's params and CPU ms (1 s clip) beside ours.

    Latencies are "median [p10–p90]" in ms per clip at batch 1. The paper's CPU figure is shown
    on the 1 s rows only (the only clip length it reports time for).
    """
    from ..evaluate.paper import PAPER
    from ..evaluate.tables import markdown_table

    lines = []
    if rows:
        e = rows[0]
        lines.append(f"Device: {e.get('device_name')} ({e.get('device')}), threads {e.get('threads')}, "
                     f"torch {e.get('torch')}, onnxruntime {e.get('onnxruntime')}, CPU: {e.get('cpu')}; "
                     f"{e.get('runs')} runs after {e.get('warmup')} warm-up; load average at start "
                     f"{e.get('load_avg')}.")
        lines.append("")
    if note:
        lines += [note, ""]
    head = ["model", "backend", "clip s", "params", "paper params", "weights KB", "ONNX KB", "model only ms",
            "features + model ms", "paper CPU ms (1 s)"]
    body = []
    for r in rows:
        key = PAPER_KEYS.get(r["model"])
        paper = PAPER.get(key, {}) if key else {}
        p_params = f"{paper['params']:,}" if paper.get("params") else "—"
        p_ms = paper.get("cpu_ms") if abs(r["clip_s"] - 1.0) < 1e-9 else None
        label = r["model"] + (f" ({r['gmm_components']} comp.)" if r.get("gmm_components") not in (None, 256) else "")
        body.append([label, r["backend"], f"{r['clip_s']:g}", f"{r['params']:,}", p_params, _kb(r["weight_bytes"]),
                     _kb(r.get("onnx_bytes")), _fmt_ms(r, "model_ms"), _fmt_ms(r, "full_ms"),
                     "—" if p_ms is None else f"{p_ms:g}"])
    return "".join(line + "\n" for line in lines) + markdown_table(head, body)
