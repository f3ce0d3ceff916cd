"""Seeded per-class group splits (65 / 10 / 25 by file), written to and read from CSV."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from .corpora import Corpus, CorpusError, Item

from ..atomic import atomic_path

SPLITS = ("train", "val", "test")
DEFAULT_RATIOS = (0.65, 0.10, 0.25)


def split_items(items, ratios=DEFAULT_RATIOS, seed: int = 0) -> dict:
    """Assign every item to train / val / test.

    Per class, groups are shuffled with ``seed`` and each group goes, whole, to the split
    that is furthest below its target file count. With one file per group the counts
    are the targets rounded; a group never straddles two splits, even across classes.

    Returns
    -------
    dict
        ``path -> split name``.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1) > 1e-6 or min(ratios) < 0:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    rng = np.random.default_rng(seed)
    by_group = defaultdict(list)
    for it in items:
        by_group[it.group].append(it)
    # a group belongs to the class most of its files have
    group_label = {g: max(sorted({i.label for i in its}), key=lambda l: sum(i.label == l for i in its))
                   for g, its in by_group.items()}
    out = {}
    for label in sorted(set(group_label.values())):
        groups = sorted(g for g, l in group_label.items() if l == label)
        groups = [groups[i] for i in rng.permutation(len(groups))]
        n = sum(len(by_group[g]) for g in groups)
        target = np.array(ratios) * n
        have = np.zeros(3)
        # large groups first so they do not overshoot at the end (stable for ties)
        for g in sorted(groups, key=lambda g: -len(by_group[g])):
            k = int(np.argmax(target - have))
            have[k] += len(by_group[g])
            for it in by_group[g]:
                out[it.path] = SPLITS[k]
    return out


def write_split(path, corpus: Corpus, assignment: dict) -> Path:
    """Write ``path,label,group,source,split`` rows atomically."""
    with atomic_path(path, ".csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group", "source", "split"])
        for it in corpus.items:
            w.writerow([it.path, it.label, it.group, it.source, assignment[it.path]])
    return Path(path)


def read_split(path) -> dict:
    """Read a split CSV into ``{"train": [Item...], "val": [...], "test": [...]}``."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: split file not found")
    out = {s: [] for s in SPLITS}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("split") not in out:
                raise CorpusError(f"{path}: unknown split {row.get('split')!r} for {row.get('path')}")
            out[row["split"]].append(Item(row["path"], row["label"], row["group"], row.get("source", "")))
    return out


def make_split(corpus: Corpus, ratios=DEFAULT_RATIOS, seed: int = 0, holdout_source: str | None = None):
    """Split ``corpus`` into lists of items per split.

    With ``holdout_source``, every item of that source goes to test and the rest are
    split into train / val only (leave-one-source-out evaluation).

    Returns
    -------
    tuple
        ``({"train": [...], "val": [...], "test": [...]}, {path: split})``.
    """
    items = corpus.items
    if holdout_source:
        held = [i for i in items if i.source == holdout_source]
        if not held:
            sources = sorted({i.source for i in items})
            raise CorpusError(f"{corpus.root}: no source named {holdout_source!r}; sources are {sources}")
        rest = [i for i in items if i.source != holdout_source]
        tv = ratios[0] + ratios[1]
        assign = split_items(rest, (ratios[0] / tv, ratios[1] / tv, 0.0), seed)
        assign.update({i.path: "test" for i in held})
        items = rest + held
    else:
        assign = split_items(items, ratios, seed)
    return {s: [i for i in corpus.items if assign.get(i.path) == s] for s in SPLITS}, assign
