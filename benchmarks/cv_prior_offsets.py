"""Do per-class log-prior offsets, chosen on one source-fold CV run, help another?

Usage: python benchmarks/cv_prior_offsets.py RECIPE DIR [DIR ...]
       (e.g. waveform+mel+rel30 runs/cv-wide runs/cv-seed1 runs/cv-full)

Reads each ``DIR/RECIPE/oof.csv`` (out-of-fold file probabilities of ``sonotype reproduce sources``),
finds on each run the offsets (music, noise; speech fixed at 0; grid -1.5..1.5 by 0.25) that maximise
the file-level macro mean over sources, and prints every run's macro mean without and with them.
"""
import sys

import numpy as np
import pandas as pd

CLASSES = ["speech", "music", "noise"]


def macro(df, offsets):
    logp = np.log(np.clip(df[[f"p_{c}" for c in CLASSES]].to_numpy(), 1e-9, 1)) + np.asarray(offsets)
    ok = pd.Series(np.array(CLASSES)[logp.argmax(1)] == df.label.to_numpy())
    return 100 * ok.groupby([df.label.to_numpy(), df.source.to_numpy()]).mean().mean()


recipe, dirs = sys.argv[1], sys.argv[2:]
runs = {d: pd.read_csv(f"{d}/{recipe}/oof.csv") for d in dirs}
grid = np.arange(-1.5, 1.51, 0.25)
for tuned, df in runs.items():
    best = max((macro(df, (0, m, n)), m, n) for m in grid for n in grid)
    off = (0, best[1], best[2])
    print(f"offsets chosen on {tuned}: music {off[1]:+.2f}, noise {off[2]:+.2f}")
    for d, other in runs.items():
        print(f"  {d}: {macro(other, (0, 0, 0)):.2f} -> {macro(other, off):.2f}")
