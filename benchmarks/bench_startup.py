"""Start-up, memory and install size of the core install against the torch path, in one run.

Examples::

    python benchmarks/bench_startup.py                      # in this environment (sonotype bench startup)
    python benchmarks/bench_startup.py --fresh --out runs/startup   # two fresh venvs, install timed

``--fresh`` makes two virtual environments in a temporary folder: ``core`` with
``pip install <repo> -c constraints/core.txt`` (timed; the README's first command) and ``torch``
with ``pip install '<repo>[train]'`` (timed), measures each one's site-packages on disk, then runs
``sonotype bench startup`` in each (the core venv times the core path, the torch venv the torch
path: ``classify --example --backend torch``) and writes one table with the torch / core ratios. Optionally ``--segment-hours H`` also runs
``segment`` on an ``H``-hour 16 kHz WAV in the core venv under ``/usr/bin/time``-style accounting
(peak RSS of the child) and ``sonotype bench segment --synthetic-hours 1 --threads 1`` there.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def du_mb(path: Path) -> float:
    """Size on disk of the files under ``path``, in MiB."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2 ** 20


def make_venv(where: Path, *specs: str) -> dict:
    """A fresh venv at ``where`` with ``pip install *specs``: install seconds and site-packages MiB."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = where / "bin" / "python"
    base = du_mb(next(where.glob("lib/python*/site-packages")))
    t0 = time.perf_counter()
    subprocess.run([str(py), "-m", "pip", "install", "-q", *specs], check=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    seconds = time.perf_counter() - t0
    site = next(where.glob("lib/python*/site-packages"))
    return {"python": str(py), "install_s": seconds, "site_packages_mb": du_mb(site),
            "site_packages_less_pip_mb": du_mb(site) - base}


def startup_in(py: str, path: str, repeats: int) -> dict:
    """``sonotype bench startup --paths PATH`` run by the venv's python (rows as JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s"
        subprocess.run([py, "-m", "sonotype.cli.main", "bench", "startup", "--paths", path,
                        "--repeats", str(repeats), "--out", str(out)], check=True, cwd=tmp)
        return json.loads(out.with_suffix(".json").read_text())["rows"][path]


def segment_long(py: str, hours: float, tmp: Path, writer: str) -> dict:
    """Peak RSS and wall time of ``sonotype segment`` on an ``hours``-hour 16 kHz WAV (core venv
    ``py``; the synthetic file is written by ``writer``, a python with scipy)."""
    wav = tmp / "long.wav"
    code = ("import sys; from sonotype.bench.segment import write_synthetic; "
            f"write_synthetic({str(wav)!r}, {hours} * 3600)")
    subprocess.run([writer, "-c", code], check=True)
    from_child = [py, "-c", "import sys; from sonotype.bench.startup import run_once; import json; "
                  f"print(json.dumps(run_once([{py!r}, '-m', 'sonotype.cli.main', 'segment', {str(wav)!r}])))"]
    r = json.loads(subprocess.run(from_child, check=True, capture_output=True, text=True).stdout)
    wav.unlink()
    return {"hours": hours, "wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "returncode": r["returncode"]}


def fresh(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="sonotype-startup-"))
    try:
        core = make_venv(tmp / "core", str(ROOT), "-c", str(ROOT / "constraints" / "core.txt"))
        torch = make_venv(tmp / "torch", f"{ROOT}[train]")
        core["startup"] = startup_in(core["python"], "core", args.repeats)
        torch["startup"] = startup_in(torch["python"], "torch", args.repeats)
        out = {"core": core, "torch": torch}
        if args.segment_hours:
            out["segment_long"] = segment_long(core["python"], args.segment_hours, tmp, torch["python"])
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(res: dict) -> str:
    c, t = res["core"], res["torch"]
    lines = ["| path | install s | site-packages MB (less pip) | cold `classify --example` s | peak RSS MB |",
             "|---|---|---|---|---|"]
    for name, r in (("core", c), ("torch", t)):
        s = r["startup"]
        lines.append(f"| {name} | {r['install_s']:.0f} | {r['site_packages_mb']:.0f} "
                     f"({r['site_packages_less_pip_mb']:.0f}) | {s['wall_s']:.2f} | {s['peak_rss_mb']:.0f} |")
    lines.append(f"| torch / core | {t['install_s'] / c['install_s']:.1f}× | "
                 f"{t['site_packages_mb'] / c['site_packages_mb']:.1f}× | "
                 f"{t['startup']['wall_s'] / c['startup']['wall_s']:.1f}× | "
                 f"{t['startup']['peak_rss_mb'] / c['startup']['peak_rss_mb']:.1f}× |")
    if "segment_long" in res:
        s = res["segment_long"]
        lines.append(f"\n`segment` of a {s['hours']:g} h 16 kHz WAV (core): {s['wall_s']:.0f} s wall, "
                     f"peak RSS {s['peak_rss_mb']:.0f} MB (exit {s['returncode']})")
    return "\n".join(lines) + "\n"


def write_outputs(out, text: str, res: dict) -> None:
    """Print the table ``text``; with ``out``, also write it to ``out.md`` and ``res`` to ``out.json``."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).with_suffix(".md").write_text(text)
        Path(out).with_suffix(".json").write_text(json.dumps(res, indent=1))
    print(text, end="")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="two fresh venvs (core, core + train), installs timed")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--segment-hours", type=float, help="with --fresh: also segment a WAV this long (core venv)")
    ap.add_argument("--out", help="write the table (.md) and results (.json) here")
    args = ap.parse_args()
    if not args.fresh:
        return subprocess.call([sys.executable, "-m", "sonotype.cli.main", "bench", "startup",
                                "--repeats", str(args.repeats)] + (["--out", args.out] if args.out else []))
    res = fresh(args)
    text = table(res)
    write_outputs(args.out, text, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
