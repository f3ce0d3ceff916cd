"""Build a GTZAN music/speech-layout stand-in from minimusan's seed-0 test split.

Real GTZAN is not reachable here; this tree (symlinks to the test-split speech and music
files, which no bundled model trained on) exercises the paper's fine-tuning protocol:

    python scripts/make_gtzan_ms_standin.py ../shared/data/minimusan runs/gtzan-ms-standin
    sonotype finetune --from slim --corpus gtzan-ms:runs/gtzan-ms-standin --fraction 0.25 --epochs 50 --lr 1e-4
"""
import argparse
import os
from pathlib import Path

import numpy as np

from sonotype.experiment import load_parts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("minimusan")
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=28, help="files per class (GTZAN has 64)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    test = load_parts(f"musan:{a.minimusan}", None, a.seed, None)[1]["test"]
    rng = np.random.default_rng(a.seed)
    for label in ("music", "speech"):
        items = sorted((i for i in test if i.label == label), key=lambda i: i.path)
        pick = [items[k] for k in sorted(rng.permutation(len(items))[:a.per_class])]
        d = Path(a.out) / "music_speech" / f"{label}_wav"
        d.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(pick):
            link = d / f"{label}{k:02d}{Path(i.path).suffix}"
            if not link.exists():
                os.symlink(Path(i.path).resolve(), link)
        print(f"{d}: {len(pick)} files")


if __name__ == "__main__":
    main()
