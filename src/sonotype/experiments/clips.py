"""The paper's clip table: every model at every clip length (``sonotype reproduce clips``)."""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_json, write_text
from ..evaluate.tables import clip_table, results_grid
from .training import train_model


def reproduce_clips(corpus: str, out, models=("gmm", "snn", "slim", "wide"), clips=(0.5, 1.0, 2.0),
                    seed: int = 0, log=print, **config) -> str:
    """Train and test every model at every clip length; write ``results.md`` and ``results.json``."""
    out = Path(out)
    rows = []
    for model in models:
        for clip in clips:
            r = train_model(corpus, model, clip, out / f"{model}-{clip:g}s", seed=seed, log=log, **config)
            rows.append({"model": model, "params": r["test"]["params"], "clip": clip, "metrics": r["test"],
                         "train_seconds": r["seconds"]})
    text = "## Clip classification (test split)\n\n" + clip_table(rows) + "\n## Accuracy beside the paper\n\n" \
        + results_grid(rows)
    write_json(out / "results.json", rows)
    write_text(out / "results.md", text)
    return text
