"""Start-up benchmark: cold process start to first result, peak memory and install size, for the
core path (raw-audio ONNX on onnxruntime) against the torch path (``--backend torch``).

Each run is a fresh ``python -m sonotype.cli.main classify --example`` process (one untimed run
first, so the files are in the page cache as they are for any second command); its wall time
is from ``fork`` to exit and its peak memory is the child's own ``ru_maxrss`` (``os.wait4``).
Install size is the size on disk of the installed distributions the path needs: ``sonotype``
and its requirements (core), or with those of the ``train`` extra (torch path), from their
``RECORD`` files, plus the ``sonotype`` package folder itself.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PATHS = {"core": [], "torch": ["--backend", "torch"]}


# runs a module as ``python -m`` does and, at exit, writes its own peak resident memory (VmHWM,
# which starts afresh at exec; ru_maxrss of a forked child also counts its parent's pages)
_WRAP = """
import atexit, os, runpy, sys
def _peak(path=os.environ.pop("SONOTYPE_PEAK_FILE")):
    with open("/proc/self/status") as f:
        kb = next((line.split()[1] for line in f if line.startswith("VmHWM:")), "0")
    with open(path, "w") as f:
        f.write(kb)
atexit.register(_peak)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def run_once(argv: list, env: dict | None = None) -> dict:
    """Run ``argv`` (``[python, "-m", module, *args]``) once in a fresh process.

    Returns ``{"wall_s", "peak_rss_mb", "returncode", "stderr"}`` (stdout discarded): wall time
    from start to exit, and the process's own peak resident memory (``VmHWM`` read at exit;
    without ``/proc``, ``ru_maxrss``, which may include the parent's pages).
    """
    import tempfile

    python, flag, module, *args = argv
    if flag != "-m":
        raise ValueError("run_once runs 'python -m module ...' commands")
    fd, peak_file = tempfile.mkstemp(suffix=".peak")
    os.close(fd)
    env = {**(os.environ if env is None else env), "SONOTYPE_PEAK_FILE": peak_file}
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen([python, "-c", _WRAP, module, *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        text = Path(peak_file).read_text().strip()
        peak = int(text) / 1024 if text else usage.ru_maxrss / 1024
    finally:
        os.unlink(peak_file)
    return {"wall_s": wall, "peak_rss_mb": peak, "returncode": proc.returncode,
            "stderr": err.decode(errors="replace").strip()}


def time_path(path: str, repeats: int = 5, python: str = sys.executable) -> dict:
    """Median wall time and largest peak RSS of ``classify --example`` on ``path`` ("core" or "torch")."""
    argv = [python, "-m", "sonotype.cli.main", "classify", "--example", *PATHS[path]]
    first = run_once(argv)
    if first["returncode"] != 0:
        return {"path": path, "error": (first["stderr"].splitlines() or ["failed"])[-1]}
    runs = [run_once(argv) for _ in range(int(repeats))]
    return {"path": path, "wall_s": statistics.median(r["wall_s"] for r in runs),
            "wall_min_s": min(r["wall_s"] for r in runs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "runs": len(runs)}


def _requirements(dist, extras: tuple) -> list:
    """Names of the requirements of ``dist`` that apply with ``extras``."""
    from packaging.requirements import Requirement

    out = []
    for text in dist.requires or []:
        req = Requirement(text)
        envs = [{"extra": e} for e in ("", *extras)]
        if req.marker is None or any(req.marker.evaluate(e) for e in envs):
            out.append((req.name, tuple(sorted(req.extras))))
    return out


def install_size(extras: tuple = ()) -> dict:
    """Bytes on disk of ``sonotype`` (with ``extras``) and every distribution it needs.

    Returns ``{"bytes", "distributions", "missing"}``; ``missing`` lists requirements not installed.
    """
    from importlib import metadata

    from packaging.utils import canonicalize_name

    seen, missing, total = set(), [], 0
    stack = [("sonotype", tuple(extras))]
    while stack:
        name, ex = stack.pop()
        key = (canonicalize_name(name), ex)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if all(k[0] != key[0] for k in seen - {key}):  # count each distribution's files once
            total += sum(f.size or 0 for f in dist.files or [])
        stack.extend(_requirements(dist, ex))
    package = Path(__file__).resolve().parents[1]
    total += sum(p.stat().st_size for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {"bytes": total, "distributions": len({k[0] for k in seen}) - len(missing), "missing": sorted(missing)}


def bench_startup(repeats: int = 5, paths=("core", "torch")) -> dict:
    """Both paths' start-up rows and install sizes, and the torch / core ratios."""
    from .machine import environment

    rows = {p: time_path(p, repeats) for p in paths}
    sizes = {"core": install_size(), "torch": install_size(("train",))}
    for p in rows:
        rows[p]["install_mb"] = sizes[p]["bytes"] / 2 ** 20
        rows[p]["install_missing"] = sizes[p]["missing"]
    ratios = {}
    if "error" not in rows.get("core", {"error": 1}) and "error" not in rows.get("torch", {"error": 1}):
        ratios = {k: rows["torch"][k] / rows["core"][k] for k in ("wall_s", "peak_rss_mb", "install_mb")}
    return {"rows": rows, "ratios": ratios, "environment": environment("cpu", 0)}


def table_markdown(result: dict) -> str:
    """The start-up table: one row per path, then torch / core ratios."""
    lines = ["| path | cold `classify --example`, median s | peak RSS MB | install MB |", "|---|---|---|---|"]
    for p, r in result["rows"].items():
        if "error" in r:
            lines.append(f"| {p} | not run: {r['error']} | | {r['install_mb']:.0f} |")
            continue
        miss = f" (missing: {', '.join(r['install_missing'])})" if r["install_missing"] else ""
        lines.append(f"| {p} | {r['wall_s']:.2f} (min {r['wall_min_s']:.2f}, {r['runs']} runs) | "
                     f"{r['peak_rss_mb']:.0f} | {r['install_mb']:.0f}{miss} |")
    q = result["ratios"]
    if q:
        lines.append(f"| torch / core | {q['wall_s']:.1f}× | {q['peak_rss_mb']:.1f}× | {q['install_mb']:.1f}× |")
    return "\n".join(lines) + "\n"
