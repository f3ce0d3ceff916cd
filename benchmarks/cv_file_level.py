"""File-level comparison of source-fold CV recipes on the files every one of them scores.

A recipe's clip figures count the clips its own preprocessing leaves; this scores each file once,
labelled by the mean of its clips as ``sonotype classify`` labels it (``<recipe>/oof.csv``)::

    python benchmarks/cv_file_level.py runs/cv-wide mel waveform+mel waveform+mel+rel30
"""
import sys

import numpy as np
import pandas as pd

CLASSES = np.array(["speech", "music", "noise"])


def main(cv_dir, recipes):
    tables = {r: pd.read_csv(f"{cv_dir}/{r}/oof.csv") for r in recipes}
    common = set.intersection(*(set(t.path) for t in tables.values()))
    for r, d in tables.items():
        d = d[d.path.isin(common)]
        pred = CLASSES[d[["p_speech", "p_music", "p_noise"]].values.argmax(1)]
        d = d.assign(ok=pred == d.label.values, svn=(pred == "speech") == (d.label.values == "speech"))
        print(f"{r}: {len(d)} files; macro mean over sources {100 * d.groupby('source').ok.mean().mean():.2f} %, "
              f"all files {100 * d.ok.mean():.2f} %, speech-vs-non-speech of files {100 * d.svn.mean():.2f} %")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
