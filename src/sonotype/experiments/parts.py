"""Corpus spec → the train / val / test items of an experiment."""
from __future__ import annotations

from ..data import exclude, make_split, open_corpus, read_split


def load_parts(corpus: str, split: str | None = None, seed: int = 0, holdout_source: str | None = None,
               exclude_list=None, log=None):
    """Corpus spec → (corpus, {"train", "val", "test": items}), from a split CSV when given.

    Files named in ``exclude_list`` (:func:`~sonotype.data.read_exclusions`) are left out
    of every split, and ``log`` says how many.
    """
    c = open_corpus(corpus)
    if exclude_list:
        c, n = exclude(c, exclude_list)
        if log:
            log(f"left out {n} files listed in {exclude_list}")
    if split:
        keep = {i.path for i in c.items}
        return c, {s: [i for i in its if i.path in keep] for s, its in read_split(split).items()}
    parts, _ = make_split(c, seed=seed, holdout_source=holdout_source)
    return c, parts
