"""Segmentation throughput (× real time) with its breakdown, optionally against an older commit.

Examples::

    python benchmarks/bench_segment.py --synthetic-hours 1 --threads 1,0
    python benchmarks/bench_segment.py --synthetic-hours 1 --threads 1,0 --baseline-ref HEAD --rounds 3
    python benchmarks/bench_segment.py some.flac --out runs/bench-segment

``--baseline-ref REF`` copies ``src/sonotype`` of git commit REF to a temporary folder and times
``Segmenter(model).segment(file)`` with it and with the working tree, alternately, each in a fresh
process pinned to the same threads (``--rounds`` times; the fastest of each is kept), so the
before / after ratio comes from one run on one machine under the same load. The breakdown per
stage comes from the working tree's timing hooks (:func:`sonotype.bench.segment.bench_segment`).
With one thread the throughput is given in wall time and in CPU time of the process (the latter
does not depend on other jobs sharing the cores).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIMER = r"""
import json, os, sys, time
import torch
from threadpoolctl import threadpool_limits
n = int(sys.argv[3]) or os.cpu_count()
torch.set_num_threads(n)
with threadpool_limits(limits=n):
    from sonotype.infer import Classifier, Segmenter
    import sonotype
    seg = Segmenter(Classifier(sys.argv[2]))
    seg.segment(sys.argv[1])                      # warm-up (first calls, page cache)
    best = None
    for _ in range(int(sys.argv[4])):
        t0, c0 = time.perf_counter(), time.process_time()
        r = seg.segment(sys.argv[1])
        w, c = time.perf_counter() - t0, time.process_time() - c0
        if best is None or (c if n == 1 else w) < (best[1] if n == 1 else best[0]):
            best = (w, c)
print(json.dumps({"wall_s": best[0], "cpu_s": best[1], "duration": r.duration,
                  "package": os.path.dirname(sonotype.__file__)}))
"""


def run_timer(src: Path, path, model: str, threads: int, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(threads or os.cpu_count()))
    out = subprocess.run([sys.executable, "-c", TIMER, str(path), model, str(threads), str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_ref(ref: str, dest: Path) -> Path:
    """``src/sonotype`` of commit ``ref`` under ``dest/src``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src/sonotype"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", nargs="?", help="audio file (or --synthetic-hours)")
    ap.add_argument("--synthetic-hours", type=float, help="write and segment this many hours of synthetic audio")
    ap.add_argument("--format", choices=["flac", "ogg"], default="flac", help="synthetic file format (default flac)")
    ap.add_argument("--keep-dir", help="folder for the synthetic file (kept and reused; default: a temp folder)")
    ap.add_argument("--model", default="slim")
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--threads", default="1,0", help="comma-separated thread counts; 0 = all cores (default 1,0)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (fastest kept)")
    ap.add_argument("--baseline-ref", help="git commit to compare with (e.g. HEAD)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating baseline / current rounds")
    ap.add_argument("--out", help="write PATH.md and PATH.json")
    args = ap.parse_args(argv)

    from sonotype.bench.models import environment
    from sonotype.bench.segment import bench_segment, table_markdown, write_synthetic

    if (args.file is None) == (args.synthetic_hours is None):
        ap.error("give FILE or --synthetic-hours")
    tmp = tempfile.TemporaryDirectory()
    path = args.file
    if path is None:
        folder = Path(args.keep_dir or tmp.name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"synthetic-{args.synthetic_hours:g}h-0.{args.format}"
        if not path.exists():
            print(f"writing {path} ...", file=sys.stderr)
            write_synthetic(path, args.synthetic_hours * 3600.0)
    threads = [int(t) for t in args.threads.split(",")]
    rows = [bench_segment(path, model=args.model, threads=t, backend=args.backend, repeats=args.repeats)
            for t in threads]
    text = f"file: {path}\n\n" + table_markdown(rows)
    compare = []
    if args.baseline_ref:
        base_src = export_ref(args.baseline_ref, Path(tmp.name))
        for t in threads:
            best = {"baseline": None, "current": None}
            for _ in range(args.rounds):
                for name, src in (("baseline", base_src), ("current", ROOT / "src")):
                    r = run_timer(src, path, args.model, t, args.repeats)
                    key = "cpu_s" if t == 1 else "wall_s"
                    if best[name] is None or r[key] < best[name][key]:
                        best[name] = r
            b, c = best["baseline"], best["current"]
            d = c["duration"]
            compare.append({"threads": t or os.cpu_count(), "baseline": b, "current": c,
                            "baseline_x_wall": d / b["wall_s"], "current_x_wall": d / c["wall_s"],
                            "baseline_x_cpu": d / b["cpu_s"], "current_x_cpu": d / c["cpu_s"],
                            "speedup_wall": b["wall_s"] / c["wall_s"], "speedup_cpu": b["cpu_s"] / c["cpu_s"]})
        text += (f"\nbefore ({args.baseline_ref}) / after (working tree), same file, alternating runs, "
                 f"fastest of {args.rounds}×{args.repeats}:\n\n"
                 "| threads | before × (wall) | after × (wall) | speed-up (wall) | before × (CPU) | after × (CPU) "
                 "| speed-up (CPU) |\n|---|---|---|---|---|---|---|\n")
        for c in compare:
            text += (f"| {c['threads']} | {c['baseline_x_wall']:.0f} | {c['current_x_wall']:.0f} | "
                     f"{c['speedup_wall']:.2f} | {c['baseline_x_cpu']:.0f} | {c['current_x_cpu']:.0f} | "
                     f"{c['speedup_cpu']:.2f} |\n")
    env = environment("cpu", 1)
    text += f"\nCPU: {env['cpu']} ({env['cpu_count']} cores), load average at the end: {env['load_avg']}\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"rows": rows, "compare": compare, "environment": env},
                                                       indent=1, default=str))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
