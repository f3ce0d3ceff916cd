"""The core install on several onnxruntime releases, in one run: size, cold start and throughput.

Examples::

    python benchmarks/runtime_versions.py --versions 1.22.1,1.32.0 --out runs/runtime-versions

For each release a fresh venv gets ``pip install <repo> onnxruntime==V`` (install timed) and its
site-packages is measured (in all, and less the fresh venv's own pip and setuptools); then, in
rounds that alternate the venvs so that load on the machine falls on each alike, ``sonotype bench
startup --paths core`` (cold ``classify --example``, median of ``--repeats``) and ``sonotype bench
segment FILE --threads 1`` on one synthetic FLAC of ``--hours`` (``x_realtime_cpu``: audio seconds
per CPU second of the one-thread process, the figure that other jobs on the machine move least).
The labels of ``classify --example`` and the segments of the FLAC are compared across releases.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import ROOT, make_venv, startup_in, write_outputs  # noqa: E402


def bench_in(py: str, flac: Path) -> dict:
    """``sonotype bench segment FLAC --threads 1`` in the venv of ``py`` (the row as JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b"
        subprocess.run([py, "-m", "sonotype.cli.main", "bench", "segment", str(flac), "--threads", "1",
                        "--out", str(out)], check=True, cwd=tmp, capture_output=True)
        rows = json.loads(out.with_suffix(".json").read_text())
        return rows[0]


def outputs_in(py: str, flac: Path) -> str:
    """``classify --example`` and ``segment FLAC`` output text in the venv of ``py``."""
    a = subprocess.run([py, "-m", "sonotype.cli.main", "classify", "--example"], check=True,
                       capture_output=True, text=True).stdout
    b = subprocess.run([py, "-m", "sonotype.cli.main", "segment", str(flac)], check=True,
                       capture_output=True, text=True).stdout
    return (a + b).replace(str(Path(py).parents[1]), "VENV")  # the example lies in each venv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", default="1.22.1,1.32.0", help="comma-separated onnxruntime releases")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="cold starts per round")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--out", help="write the table (.md) and results (.json) here")
    args = ap.parse_args()
    versions = args.versions.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="sonotype-ort-"))
    try:
        res, texts = measure(versions, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(res, texts, versions, args)


def measure(versions, tmp: Path, args):
    """Venvs, then startup and throughput in alternating rounds, then the outputs of each."""
    res = {}
    for v in versions:
        res[v] = {**make_venv(tmp / v, str(ROOT), f"onnxruntime=={v}"), "startup": [], "segment": []}
    flac = tmp / "h.flac"
    subprocess.run([sys.executable, "-c", "from sonotype.bench.segment import write_synthetic; "
                    f"write_synthetic({str(flac)!r}, {args.hours} * 3600)"], check=True)
    for _ in range(args.rounds):
        for v in versions:
            res[v]["startup"].append(startup_in(res[v]["python"], "core", args.repeats))
            res[v]["segment"].append(bench_in(res[v]["python"], flac))
    return res, {v: outputs_in(res[v]["python"], flac) for v in versions}


def report(res, texts, versions, args) -> int:
    lines = ["| onnxruntime | install s | site-packages MB (less pip) | cold `classify --example` s "
             "(median per round) | peak RSS MB | segment × real time, one core (CPU s) |",
             "|---|---|---|---|---|---|"]
    for v in versions:
        r = res[v]
        lines.append(f"| {v} | {r['install_s']:.0f} | {r['site_packages_mb']:.0f} ({r['site_packages_less_pip_mb']:.0f}) | "
                     + " / ".join(f"{s['wall_s']:.2f}" for s in r["startup"]) + " | "
                     + f"{max(s['peak_rss_mb'] for s in r['startup']):.0f} | "
                     + " / ".join(f"{s['x_realtime_cpu']:.0f}" for s in r["segment"]) + " |")
    same = all(texts[v] == texts[versions[0]] for v in versions)
    lines.append(f"\nOutputs of `classify --example` and `segment` of the {args.hours:g} h FLAC identical across "
                 f"releases: {'yes' if same else 'NO'}")
    text = "\n".join(lines) + "\n"
    write_outputs(args.out, text, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
