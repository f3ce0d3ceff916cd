"""Train and evaluate one model: the functions behind ``sonotype train`` and ``sonotype evaluate``."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..checkpoint import load_checkpoint
from ..data import AugmentParams, FeatureCache, MelAugmentParams, write_split
from ..models import features_for, spec_of
from ..models.pretrained import resolve_init
from ..preprocess import PreprocessParams
from ..train import DistillConfig, TrainConfig, fit, make_datasets
from .evaluation import evaluate_model
from .parts import load_parts
from .teacher import teacher_logits_for

TEMPERATURES = (1, 2, 4, 8, 10)  # the grid of temperature="auto"


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (None or 0: torch's default, every core). Use 1 where
    several trainings share the cores: two two-thread processes on two cores ran ten times slower."""
    if threads:
        import torch
        torch.set_num_threads(int(threads))


def train_model(corpus: str, model: str = "slim", clip: float = 1.0, out="runs/model", split: str | None = None,
                seed: int = 0, augment: AugmentParams | None = None, holdout_source: str | None = None,
                resume: bool = True, cache_dir=None, workers: int | None = None, log=print,
                evaluate: bool = True, deltas: int | None = None, teacher=None, temperature=1.0,
                alpha: float = 0.9, init: str = "random", sweep_epochs: int | None = None,
                mel_augment: MelAugmentParams | None = None, exclude_list=None, prep: PreprocessParams | None = None,
                threads: int | None = None, weighted_soft: bool = False, trusted_soft: bool = False,
                soft_classes=None, **config) -> dict:
    """Train ``model`` on the train split of ``corpus`` (val for early stopping), then evaluate on its test split.

    Writes ``out/split.csv``, ``out/model.pt`` (the best checkpoint), ``out/train.json``
    and, with ``evaluate``, the files of :func:`evaluate_model` under ``out/test``.
    ``deltas`` (0, 1, 2) overrides the model's default MFCC deltas (SwishNet: 0, GMM/SNN: 2).
    ``config`` holds further :class:`~sonotype.train.TrainConfig` fields (``epochs``, ``lr``...).

    Distillation: with ``teacher`` (a checkpoint with the same classes) the loss is
    ``alpha`` × soft-target loss at ``temperature`` (``weighted_soft``: class-weighted; ``trusted_soft``: only on
    clips whose label is the teacher's top class; ``soft_classes``: only on those classes' clips, or ``{class: factor}``) + (1 − ``alpha``) ×
    label loss; the teacher's logits are computed once (:mod:`sonotype.experiments.teacher`, cached).
    ``temperature="auto"`` first trains one short run of ``sweep_epochs`` epochs (default ``max(1, epochs // 5)``)
    per T in :data:`TEMPERATURES` under ``out/tsweep/T<T>`` and keeps the T with the best validation accuracy, so
    it costs about ``len(TEMPERATURES) × sweep_epochs`` extra epochs. The chosen T and the sweep are in
    ``train.json`` and in the checkpoint's config (``distill``). With ``augment`` the teacher hears the same
    augmented copies as the student (they are remade from the same seeds).

    ``init`` ("random", "imagenet", "imagenet:PATH") initialises a MobileNet's conv layers.
    ``mel_augment`` draws log-mel augmentation afresh for every training batch
    (:mod:`sonotype.data.melaug`; MFCC models; with a teacher, the soft target is the clip's before it). ``balance="source"``
    (in ``config``) samples every source of a class equally often. ``exclude_list`` (a CSV
    ``path,reason``, paths relative to the corpus root) leaves those files out of every split.
    ``prep`` (default :class:`~sonotype.preprocess.PreprocessParams` ()) is the preprocessing, kept in
    the checkpoint so that inference repeats it. ``threads``: :func:`set_threads`.
    """
    out = Path(out)
    set_threads(threads)
    resolve_init(init, model)
    cfg = TrainConfig(model=model, clip=clip, seed=seed, init=init,
                      mel_augment=None if mel_augment is None else mel_augment.to_dict(),
                      distill=None if teacher is None else DistillConfig(
                          str(teacher), temperature, alpha, weighted=weighted_soft, trusted=trusted_soft,
                          soft_classes=soft_classes),
                      **config)
    if cfg.distill is not None:
        check_distillation(model, cfg.distill)
    parts = split_corpus(corpus, split, seed, holdout_source, exclude_list, out, log)
    data, feat_s = clip_data(parts, cfg, model_features(model, deltas), augment, mel_augment, cache_dir, workers,
                             log, prep or PreprocessParams())
    logits = None
    if cfg.distill is not None:
        logits = prepare_distillation(data, cfg, out, sweep_epochs, resume, cache_dir, workers, log)
    result = fit(data, cfg, out, resume=resume, log=log, teacher_logits=logits)
    result.update(distill=None if cfg.distill is None else dataclasses.asdict(cfg.distill), init=init,
                  corpus=corpus, holdout_source=holdout_source, exclude_list=exclude_list and str(exclude_list),
                  augment=None if augment is None else augment.to_dict(), feature_seconds=feat_s,
                  train_clips=len(data.train))
    if evaluate and parts["test"]:
        result["test"] = evaluate_model(out / "model.pt", parts["test"], out=out / "test", clip=clip,
                                        cache_dir=cache_dir, workers=workers)
    write_json(out / "train.json", result)
    return result


def clip_data(parts: dict, cfg: TrainConfig, params, augment, mel_augment, cache_dir, workers, log,
              prep: PreprocessParams) -> tuple:
    """Training and validation clips of ``parts`` for ``cfg``; returns (:class:`~sonotype.train.ClipData`,
    seconds spent on features)."""
    t0 = time.time()
    data = make_datasets({"train": parts["train"], "val": parts["val"]}, params, prep, cfg.clip,
                         cache=FeatureCache(cache_dir), aug=augment, seed=cfg.seed, workers=workers,
                         mel_aug=mel_augment)
    feat_s = time.time() - t0
    log(f"{cfg.model}: {len(data.train)} training clips, {len(data.val) if data.val else 0} validation clips "
        f"of {cfg.clip:g} s ({feat_s:.1f} s for features)")
    return data, feat_s


def split_corpus(corpus: str, split, seed: int, holdout_source, exclude_list, out: Path, log) -> dict:
    """The corpus's train / val / test items (:func:`load_parts`); writes ``out/split.csv``."""
    c, parts = load_parts(corpus, split, seed, holdout_source, exclude_list, log)
    assign = {i.path: s for s, its in parts.items() for i in its}
    write_split(out / "split.csv", type(c)(c.kind, c.root, [i for its in parts.values() for i in its]), assign)
    return parts


def check_distillation(model: str, distill: DistillConfig) -> None:
    """Raise :class:`ValueError` unless ``model`` can learn from a teacher with these settings."""
    if not spec_of(model).clip_logits:
        raise ValueError(f"distillation needs a clip-logit student (slim, wide, mobilenet...), not {model}")
    T = distill.temperature
    if not (T == "auto" or float(T) > 0):
        raise ValueError(f"temperature must be positive or 'auto', got {T!r}")


def model_features(model: str, deltas: int | None = None):
    """The architecture's features, with ``deltas`` (0, 1, 2) MFCC deltas when given."""
    params = features_for(model)
    if deltas is not None:
        if params.kind != "mfcc":
            raise ValueError(f"--deltas applies to MFCC models, not {model}")
        params = params.with_(deltas=deltas)
    return params


def teacher_logits_checked(teacher, data, cache_dir, workers, log) -> np.ndarray:
    """The teacher's logits for ``data``'s training clips, after checking it has the student's classes."""
    t_classes = load_checkpoint(teacher)["classes"]
    if list(t_classes) != list(data.classes):
        raise ValueError(f"{teacher}: teacher classes {list(t_classes)} differ from the student's {data.classes}")
    return teacher_logits_for(teacher, data, cache_dir, workers, log)


def prepare_distillation(data, cfg: TrainConfig, out: Path, sweep_epochs: int | None, resume: bool, cache_dir,
                         workers, log) -> np.ndarray:
    """The teacher's logits for ``data``'s training clips, shape ``(clips, classes)``.

    A temperature of ``"auto"`` in ``cfg.distill`` is swept first (:func:`sweep_temperature`);
    ``cfg.distill`` then holds the temperature as a number and the sweep's results.
    """
    d = cfg.distill
    logits = teacher_logits_checked(d.teacher, data, cache_dir, workers, log)
    sweep = {}
    temperature = d.temperature
    if temperature == "auto":
        temperature, sweep = sweep_temperature(data, cfg, out, logits, sweep_epochs, resume, log)
    cfg.distill = dataclasses.replace(d, temperature=float(temperature), sweep=sweep or None)
    return logits


def sweep_temperature(data, cfg: TrainConfig, out: Path, logits, sweep_epochs: int | None, resume: bool,
                      log) -> tuple:
    """One short run per T in :data:`TEMPERATURES` (``cfg.distill``'s teacher and alpha);
    returns (the best T, ``{str(T): val accuracy}``)."""
    sweep = {}
    for T in TEMPERATURES:
        short = dataclasses.replace(cfg, epochs=sweep_epochs or max(1, cfg.epochs // 5),
                                    distill=dataclasses.replace(cfg.distill, temperature=float(T)))
        r = fit(data, short, out / "tsweep" / f"T{T:g}", resume=resume, log=log, teacher_logits=logits)
        sweep[str(T)] = r["best_val_accuracy"]
        log(f"temperature {T:g}: val acc {r['best_val_accuracy']:.4f} after {short.epochs} epochs")
    temperature = max(TEMPERATURES, key=lambda T: sweep[str(T)])  # ties: the lowest T
    log(f"chose temperature {temperature:g}")
    return temperature, sweep
