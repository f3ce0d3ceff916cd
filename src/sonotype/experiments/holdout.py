"""Leave-one-source-out with and without augmentation (``sonotype reproduce holdout``)."""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_json, write_text
from ..data import AugmentParams, open_corpus
from .training import train_model


def reproduce_holdout(corpus: str, out, sources, model: str = "slim", clip: float = 2.0, copies: int = 1,
                      seed: int = 0, log=print, **config) -> str:
    """Leave-one-source-out: for each source, train without it (with and without augmentation)
    and test on all of its files. Writes ``holdout.md`` and ``holdout.json``."""
    out = Path(out)
    items = open_corpus(corpus).items
    rows = []
    for src in sources:
        labels = sorted({i.label for i in items if i.source == src})
        row = {"source": src, "label": "/".join(labels)}
        for tag, aug in (("clean", None), ("augmented", AugmentParams(copies=copies))):
            r = train_model(corpus, model, clip, out / f"{src}-{tag}", seed=seed, augment=aug, holdout_source=src,
                            log=log, **config)
            row[tag] = r["test"]
        row["clips"] = row["clean"]["n"]
        rows.append(row)
    lines = [f"Leave-one-source-out, {model}, {clip:g} s clips: train without the source, test on all of it.\n",
             "| held-out source | class | test clips | acc without augmentation % | acc with augmentation % |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['source']} | {r['label']} | {r['clips']} | {100 * r['clean']['accuracy']:.2f} | "
              f"{100 * r['augmented']['accuracy']:.2f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    write_json(out / "holdout.json", rows)
    write_text(out / "holdout.md", text)
    return text
