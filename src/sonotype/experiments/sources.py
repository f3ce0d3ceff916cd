"""Source-fold cross-validation: the project's measure of accuracy on recordings never heard.

Within each class, sources are dealt into ``k`` folds balanced by hours; fold ``f`` trains on
the other folds' sources (train / val split by group) and is tested on every file of its own
sources. Each source is tested exactly once, by a model that never heard it.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..atomic import write_json, write_text
from ..audio import AudioError, info
from ..data import AugmentParams, MelAugmentParams, open_corpus, split_items, write_split
from ..evaluate.metrics import clip_metrics
from ..preprocess import PreprocessParams
from .training import train_model

# waveform+mel, and silence also relative to the file's loud level (isolated words over a floor): the deployed
# recipe, and the base of its variants below
_REL30 = {"deltas": 2, "augment": AugmentParams(copies=1), "mel_augment": MelAugmentParams(),
          "prep": PreprocessParams(silence_rel_db=30.0)}
# _REL30 validated, kept and saved as a moving average of its weights (decay 0.998 per step): the deployed recipe
_REL30_EMA = {**_REL30, "ema": 0.998}
# distillation from each fold's teacher (--teacher-cv) at the T it was measured with (a --temperature overrides it);
# and with the soft targets class-weighted as the labels are (noise, the smallest class, keeps its weight)
_DISTILL = {"distill": True, "temperature": 4.0}
_DISTILL_CW = {**_DISTILL, "weighted_soft": True}
# the deployed average distilled, half soft targets, half labels (thirteenth round)
_REL30_EMA_DISTILL = {**_REL30_EMA, **_DISTILL_CW, "alpha": 0.5}

# recipe name -> train_model keyword arguments
RECIPES = {
    "paper": {"deltas": 0},  # the paper's 20 static MFCCs, no augmentation
    "plain": {"deltas": 2},  # + Δ, ΔΔ, no augmentation
    "waveform": {"deltas": 2, "augment": AugmentParams(copies=1)},  # the recipe of the models bundled before
    "mel": {"deltas": 2, "mel_augment": MelAugmentParams()},
    "mel-balanced": {"deltas": 2, "mel_augment": MelAugmentParams(), "balance": "source"},
    "mel-sqrt-balanced": {"deltas": 2, "mel_augment": MelAugmentParams(), "balance": "sqrt-source"},
    "mel-strong": {"deltas": 2, "mel_augment": MelAugmentParams(mix=0.7, eq=0.7, band=0.5, band_db=120.0,
                                                                reverb=0.4)},
    "waveform3": {"deltas": 2, "augment": AugmentParams(copies=3)},  # three waveform-augmented copies per file
    "waveform+mel": {"deltas": 2, "augment": AugmentParams(copies=1), "mel_augment": MelAugmentParams()},
    "waveform+mel+rel30": _REL30,
    "waveform+mel+rel20": {**_REL30, "prep": PreprocessParams(silence_rel_db=20.0)},
    # waveform+mel+rel30, loudness equalised over 1 s instead of the paper's 250 ms (keeps syllable-rate dynamics)
    "rel30-eq1s": {**_REL30, "prep": PreprocessParams(silence_rel_db=30.0, window=1.0)},
    # waveform+mel+rel30, every noise source drawn equally often (speech and music as they are)
    "rel30-noise-balanced": {**_REL30, "balance": "noise-source"},
    # waveform+mel+rel30 with label smoothing 0.1 / decoupled weight decay 0.05 (AdamW)
    "rel30-ls": {**_REL30, "label_smoothing": 0.1},
    "rel30-wd": {**_REL30, "weight_decay": 0.05},
    # sixth round: Freq-MixStyle (band statistics mixed with another clip's), any class / same class
    "rel30-fms": {**_REL30, "mel_augment": MelAugmentParams(mixstyle=0.5)},
    "rel30-fms-same": {**_REL30, "mel_augment": MelAugmentParams(mixstyle=0.5, mixstyle_pool="same")},
    "rel30-noisemix": {**_REL30, "mel_augment": MelAugmentParams(noise_mix=0.5)},  # noise under noise stays noise
    # the deployed recipe with three waveform copies per file instead of one (same clips per epoch)
    "waveform3+mel+rel30": {**_REL30, "augment": AugmentParams(copies=3)},
    "waveform3+mel": {"deltas": 2, "augment": AugmentParams(copies=3), "mel_augment": MelAugmentParams()},
    # the waveform copy's channels only (gain, telephone band, codec, reverb; no second noise mix) + log-mel
    "channel+mel": {"deltas": 2, "augment": AugmentParams(noise=0.0, copies=1), "mel_augment": MelAugmentParams()},
    "mel-nomix": {"deltas": 2, "mel_augment": MelAugmentParams(mix=0.0)},
    "mel-mixup": {"deltas": 2, "mel_augment": MelAugmentParams(mixup=0.5)},
    "mel-warp": {"deltas": 2, "mel_augment": MelAugmentParams(warp=0.5)},
    "mel-mixup-warp": {"deltas": 2, "mel_augment": MelAugmentParams(mixup=0.5, warp=0.5)},
    "mel-nomask": {"deltas": 2, "mel_augment": MelAugmentParams(time_masks=0, freq_masks=0)},
    # seventh round: a teacher for distillation (run with --model mobilenetv2): ImageNet init, the waveform copy
    # and the deployed preprocessing (log-mel augmentation is for MFCC models only)
    "teacher-rel30": {"augment": AugmentParams(copies=1), "prep": PreprocessParams(silence_rel_db=30.0),
                      "init": "imagenet"},
    # the deployed recipe distilled from each fold's teacher (--teacher-cv): soft targets of the clip before
    # its log-mel augmentation; and the same without log-mel augmentation
    "rel30-distill": {**_REL30, **_DISTILL},
    "waveform+rel30-distill": {**{k: v for k, v in _REL30.items() if k != "mel_augment"}, **_DISTILL},
    # rel30-distill with the soft targets class-weighted
    "rel30-distill-cw": {**_REL30, **_DISTILL_CW},
    # eighth round: the deployed recipe with its validation files (early stopping, the epoch kept) from whole
    # sources of the training folds, not from groups of the training sources: chosen for unheard sources
    "rel30-valsrc": {**_REL30, "val_by_source": True},
    # ninth round: waveform+mel+rel30, validated, kept and saved as an exponential moving average of its weights
    # (decay 0.998 per step: about 500 steps, five epochs of the sweep budget); deployed since the tenth round,
    # at 41 epochs of 10,000 clips (ahead of waveform+mel+rel30 at 24 on three seeds)
    "rel30-ema": _REL30_EMA,
    # twelfth round: the same average over about twice as many steps (decay 0.999: about ten epochs of 10,000 clips)
    "rel30-ema999": {**_REL30, "ema": 0.999},
    # thirteenth round: the deployed average with the class-weighted distillation of the seventh round
    "rel30-ema-distill": _REL30_EMA_DISTILL,
    # fourteenth round: the same, the soft targets only on clips whose label is the teacher's top class (seeds 0 and
    # 1 of the thirteenth cost noise 2-4 points: effects the teacher hears as speech or music)
    "rel30-ema-distill-trust": {**_REL30_EMA_DISTILL, "trusted_soft": True},
    # fifteenth round: the soft targets only on speech and music clips (the trust mask kept the noise loss on seed 0)
    "rel30-ema-distill-sm": {**_REL30_EMA_DISTILL, "soft_classes": ("speech", "music")},
    # sixteenth round: the other way round, the noise clips' soft part counted twice (taking it away cost noise)
    "rel30-ema-distill-n2": {**_REL30_EMA_DISTILL, "soft_classes": {"speech": 1.0, "music": 1.0, "noise": 2.0}},
}
# sixteenth round: three of them keeping the weights after the last epoch instead of the epoch best on validation
RECIPES.update({f"{r}-last": {**RECIPES[r], "keep": "last"}
                for r in ("rel30-ema999", "rel30-ema-distill", "rel30-ema-distill-n2")})
DEPLOYED = "rel30-ema"  # the recipe of the bundled models (chosen by this cross-validation); "deployed" names it


def source_hours(items) -> dict:
    """``{(label, source): hours}`` from the files' headers (an unreadable file counts 0 h)."""
    hours = defaultdict(float)
    for it in items:
        try:
            hours[(it.label, it.source)] += info(it.path).duration / 3600
        except AudioError:
            hours[(it.label, it.source)] += 0.0
    return dict(hours)


def source_folds(hours: dict, k: int = 5, seed: int = 0) -> dict:
    """Deal each class's sources into ``k`` folds, balanced by hours.

    Per class, sources are shuffled with ``seed`` and then, largest first, each goes to the
    fold with the fewest hours of that class so far.

    Parameters
    ----------
    hours : dict
        ``{(label, source): hours}``.

    Returns
    -------
    dict
        ``{(label, source): fold}`` with folds ``0 .. k-1``.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    out = {}
    for label in sorted({l for l, _ in hours}):
        keys = sorted(key for key in hours if key[0] == label)
        keys = [keys[i] for i in rng.permutation(len(keys))]
        load = np.zeros(k)
        for key in sorted(keys, key=lambda key: -hours[key]):  # stable: the shuffle breaks ties
            f = int(np.argmin(load))
            out[key] = f
            load[f] += hours[key]
    return out


def fold_split(corpus, folds: dict, fold: int, seed: int = 0, by_source: bool = False) -> dict:
    """``{path: split}``: fold ``fold``'s sources to test, the rest to train / val by group (``by_source``:
    by whole source, so that validation, like the test, holds only sources the model does not train on)."""
    test = [i for i in corpus.items if folds[(i.label, i.source)] == fold]
    rest = [i for i in corpus.items if folds[(i.label, i.source)] != fold]
    if by_source:
        rest = [replace(i, group=f"{i.label}/{i.source}") for i in rest]
    assign = split_items(rest, (0.65 / 0.75, 0.10 / 0.75, 0.0), seed)
    assign.update({i.path: "test" for i in test})
    return assign


def fold_teacher(teacher_cv, f: int, folds: dict) -> Path:
    """Fold ``f``'s model in ``teacher_cv`` (a recipe folder of an earlier run of :func:`reproduce_sources`).

    Raises :class:`ValueError` unless that run dealt the sources into the same folds: a teacher that
    heard fold ``f``'s sources would leak them into its student.
    """
    if teacher_cv is None:
        raise ValueError("a distillation recipe needs the teachers' cross-validation folder (--teacher-cv)")
    root = Path(teacher_cv)
    ckpt = root / f"fold{f}" / "model.pt"
    dealt = root.parent / "folds.json"
    if not ckpt.is_file() or not dealt.is_file():
        raise ValueError(f"{root}: no teacher for fold {f + 1} ({ckpt} and {dealt} are needed)")
    theirs = {(r["label"], r["source"]): r["fold"] for r in json.loads(dealt.read_text())}
    if theirs != dict(folds):
        raise ValueError(f"{root}: its sources were dealt into other folds (another --seed or --folds)")
    return ckpt


def _run_fold(corpus, c, folds, f, recipe, model, clip, out, seed, log, config, teacher_cv=None) -> dict:
    done = out / "train.json"
    if done.is_file():
        r = json.loads(done.read_text())
        if "test" in r:
            return r
    kwargs = {**RECIPES[recipe], **{k: v for k, v in config.items() if v is not None}}
    if kwargs.pop("distill", False):
        kwargs["teacher"] = fold_teacher(teacher_cv, f, folds)
    write_split(out / "fold-split.csv", c, fold_split(c, folds, f, seed, kwargs.pop("val_by_source", False)))
    log(f"fold {f + 1}: {recipe}, {model}, {clip:g} s clips → {out}")
    return train_model(corpus, model, clip, out, split=str(out / "fold-split.csv"), seed=seed, log=log, **kwargs)


def reproduce_sources(corpus: str, out, folds: int = 5, model: str = "wide", clip: float = 2.0,
                      recipes=("paper", "deployed"), seed: int = 0, only=None, log=print, teacher_cv=None,
                      **config) -> str | None:
    """Source-fold cross-validation of ``model`` under each recipe in ``recipes`` (:data:`RECIPES`).

    ``"deployed"`` stands for :data:`DEPLOYED`. Runs resume: a fold with a finished
    ``train.json`` is read back. ``only`` (fold numbers from 0) runs just those folds and writes no table, so folds can run in parallel
    processes; a last call without it writes ``sources.md`` and ``sources.json``, and per
    recipe ``<recipe>/oof.csv`` (out-of-fold file probabilities, for ``data audit``).
    ``config`` goes to :func:`~sonotype.experiments.training.train_model` (``epochs``, ``epoch_clips``,
    ``temperature``...). A distillation recipe (``rel30-distill``) trains fold ``f`` from the teacher
    ``teacher_cv/fold<f>/model.pt``, a run of this function with the same seed and folds
    (:func:`fold_teacher`).
    """
    out = Path(out)
    recipes = list(dict.fromkeys(DEPLOYED if r == "deployed" else r for r in recipes))
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        raise ValueError(f"unknown recipe(s) {unknown}; choose from {sorted(RECIPES)}")
    c = open_corpus(corpus)
    assignment = source_folds(source_hours(c.items), folds, seed)
    write_json(out / "folds.json", [{"label": l, "source": s, "fold": f} for (l, s), f in sorted(assignment.items())])
    results = {}
    for recipe in recipes:
        runs = [_run_fold(corpus, c, assignment, f, recipe, model, clip, out / recipe / f"fold{f}", seed, log, config,
                          teacher_cv) for f in range(folds) if only is None or f in only]
        results[recipe] = runs
    if only is not None:
        return None
    summary = {r: summarise(runs) for r, runs in results.items()}
    for recipe in recipes:
        merge_predictions([out / recipe / f"fold{f}" / "test" / "predictions.csv" for f in range(folds)],
                          out / recipe / "oof.csv")
    text = sources_table(summary, model, clip, folds)
    write_json(out / "sources.json", summary)
    write_text(out / "sources.md", text)
    return text


def summarise(runs) -> dict:
    """Pool the folds' test results: per source, per class, macro mean over sources, overall."""
    sources, conf, classes = {}, None, None
    for r in runs:
        t = r["test"]
        sources.update(t["sources"])
        cm = np.array(t["confusion"])[:, :len(t["classes"])]
        conf = cm if conf is None else conf + cm
        classes = t["classes"]
    truth = [c for i, c in enumerate(classes) for _ in range(int(conf[i].sum()))]
    pred = [classes[j] for i in range(len(classes)) for j in range(len(classes)) for _ in range(int(conf[i, j]))]
    pooled = clip_metrics(truth, pred, classes)
    per_class = {c: float(np.mean([s["accuracy"] for s in sources.values() if s["label"] == c]))
                 for c in classes if any(s["label"] == c for s in sources.values())}
    return {"sources": sources, "class_source_mean": per_class, "pooled": pooled,
            "macro_source_mean": float(np.mean([s["accuracy"] for s in sources.values()]))}


def merge_predictions(paths, out) -> None:
    """Concatenate the folds' ``predictions.csv`` into one out-of-fold table."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for k, p in enumerate(paths):
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        w.writerows(rows if k == 0 else rows[1:])
    write_text(out, buf.getvalue())


def sources_table(summary: dict, model: str, clip: float, folds: int) -> str:
    """Markdown: one row per source, then per class and overall, a column per recipe."""
    recipes = list(summary)
    first = summary[recipes[0]]
    pct = lambda v: f"{100 * v:.2f}"
    name = lambda r: f"{r} (deployed)" if r == DEPLOYED else r
    head = "| class | source | files | clips | " + " | ".join(f"{name(r)} %" for r in recipes) + " |"
    lines = [f"Source-fold cross-validation, {model}, {clip:g} s clips, {folds} folds: every source is tested "
             "by a model trained without it.\n", head, "|" + "---|" * (4 + len(recipes))]
    order = sorted(first["sources"], key=lambda s: (first["sources"][s]["label"], s))
    for s in order:
        row = first["sources"][s]
        lines.append(f"| {row['label']} | {s} | {row['files']} | {row['n']} | "
                     + " | ".join(pct(summary[r]["sources"][s]["accuracy"]) for r in recipes) + " |")
    for c in first["class_source_mean"]:
        lines.append(f"| **{c}** | mean over its sources | | | "
                     + " | ".join(pct(summary[r]["class_source_mean"][c]) for r in recipes) + " |")
    lines.append("| **all** | **macro mean over sources** | | | "
                 + " | ".join(f"**{pct(summary[r]['macro_source_mean'])}**" for r in recipes) + " |")
    lines.append(f"| all | pooled clips | | {first['pooled']['n']} | "
                 + " | ".join(pct(summary[r]["pooled"]["accuracy"]) for r in recipes) + " |")
    lines.append("| all | speech vs non-speech, pooled | | | "
                 + " | ".join(pct(summary[r]["pooled"]["speech_accuracy"]) for r in recipes) + " |")
    return "\n".join(lines) + "\n"
