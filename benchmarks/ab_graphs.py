"""Raw-audio ONNX graphs against each other on one thread, rounds alternated: a network block alone, or
the whole segmentation of a file (decoding included).

    python benchmarks/ab_graphs.py old.onnx new.onnx [--block 2048] [--rounds 15]
    python benchmarks/ab_graphs.py old.onnx:4096 new.onnx:2048 --segment h1.flac [--rounds 5]

Each graph may carry the network block it runs with (``PATH:FRAMES``, default
``sonotype.infer.netpath.NET_BLOCK``). Without ``--segment``: milliseconds per call on random samples of
one block (its frames plus the receptive field and Δ context), median and fastest of ``--rounds``, and
the largest difference of the frame probabilities from the first graph's. With ``--segment``: times real
time in CPU seconds (``sonotype.bench.segment.time_file``) per round, and the stage times of the last
round. This VM's speed drifts from minute to minute, so only figures of one run compare.
"""
import argparse
import time

import numpy as np

import sonotype.infer.netpath as netpath
from sonotype.bench.segment import _segmenter, thread_limit, time_file
from sonotype.infer.runtime import RawModel

ap = argparse.ArgumentParser()
ap.add_argument("graphs", nargs="+", help="ONNX files, each optionally PATH:BLOCK_FRAMES")
ap.add_argument("--block", type=int, default=netpath.NET_BLOCK, help="frames per call without --segment")
ap.add_argument("--rounds", type=int, default=None, help="alternated rounds (default 15, or 5 with --segment)")
ap.add_argument("--segment", default=None, help="segment this file instead (decoding included)")
args = ap.parse_args()
graphs = [(g.rsplit(":", 1)[0], int(g.rsplit(":", 1)[1])) if g.rsplit(":", 1)[-1].isdigit() else (g, None)
          for g in args.graphs]
rounds = args.rounds or (5 if args.segment else 15)
results = {path: [] for path, _ in graphs}

if args.segment:
    with thread_limit(1):
        for r in range(rounds):
            for path, block in graphs:
                netpath.NET_BLOCK = block or netpath.NET_BLOCK
                t = time_file(_segmenter(path, "onnx", 1), args.segment, repeats=1, cpu=True)
                results[path].append(t["x_realtime_cpu"])
                print(f"round {r}  {path}  {t['x_realtime_cpu']:.0f}x  "
                      + " ".join(f"{k} {v:.3f}" for k, v in t["breakdown"].items() if v > 0.005), flush=True)
    for path in results:
        print(f"{path}: median {np.median(results[path]):.0f}x real time (CPU), rounds "
              + " / ".join(f"{x:.0f}" for x in results[path]))
else:
    models = [RawModel(path, threads=1) for path, _ in graphs]
    R, D = models[0].receptive_field or 0, models[0].delta_context
    frames = args.block + R + 2 * D
    x = (np.random.default_rng(0).standard_normal((frames - 1) * 160 + 512) * 0.1).astype(np.float32)
    index = np.arange(frames)
    outs = [m.frame_probs(x, index) for m in models]
    for m in models:
        for _ in range(3):
            m.frame_probs(x, index)
    for _ in range(rounds):
        for (path, _), m in zip(graphs, models):
            t = time.perf_counter()
            for _ in range(10):
                m.frame_probs(x, index)
            results[path].append((time.perf_counter() - t) / 10 * 1e3)
    for (path, _), out in zip(graphs, outs):
        print(f"{path}: median {np.median(results[path]):.2f} ms, fastest {min(results[path]):.2f} ms a block of "
              f"{frames} frames; largest probability difference from the first {np.abs(out - outs[0]).max():.2e}")
