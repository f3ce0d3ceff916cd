#!/usr/bin/env python
"""Size and batch-1 latency of the SwishNet-paper models, beside the paper's figures.

    python benchmarks/bench_models.py --threads 1 --backend both --out results/bench_models.md

writes ``bench_models.md`` (the table) and ``bench_models.json`` (environment + rows) next to
each other, and prints the table. Untrained weights: timing does not depend on them. Latency
numbers depend on machine load; the table header records the load average at the start.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sonotype.bench import DEFAULT_MODELS, bench_models, environment, table_markdown


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:0); ONNX always runs on the CPU")
    p.add_argument("--threads", type=int, default=1, help="torch / onnxruntime intra-op threads (default 1)")
    p.add_argument("--runs", type=int, default=200, help="timed calls per measurement (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    p.add_argument("--backend", choices=("torch", "onnx", "both"), default="both")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model names")
    p.add_argument("--clips", default="0.5,1,2", help="comma-separated clip lengths in seconds")
    p.add_argument("--components", type=int, default=None, help="GMM components per class (default 256)")
    p.add_argument("--quick", action="store_true", help="smoke test: 5 runs, 1 warm-up, 4 GMM components")
    p.add_argument("--note", default=None, help="line printed above the table (e.g. 'measured under load')")
    p.add_argument("--out", default=None, help="results .md or .json path; the other format is written beside it")
    a = p.parse_args(argv)

    models = tuple(m.strip() for m in a.models.split(",") if m.strip())
    clips = tuple(float(c) for c in a.clips.split(",") if c.strip())
    rows = bench_models(models=models, clips=clips, device=a.device, threads=a.threads, runs=a.runs,
                        warmup=a.warmup, backend=a.backend, quick=a.quick, n_components=a.components,
                        progress=lambda s: print(f"  {s}", file=sys.stderr, flush=True))
    md = table_markdown(rows, note=a.note)
    print(md)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        md_path, json_path = out.with_suffix(".md"), out.with_suffix(".json")
        md_path.write_text(md)
        env = environment(a.device, a.threads)
        json_path.write_text(json.dumps({"environment": env, "note": a.note, "rows": rows}, indent=1))
        print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
