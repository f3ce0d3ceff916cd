"""Training: Adam + SGDR, early stopping, best checkpoint, resume after a kill, DDP."""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from ..checkpoint import atomic_save, load_weights, save_checkpoint
from ..models import build_model, spec_of
from ..models.predict import clip_proba
from ..models.pretrained import apply_init
from .config import DistillConfig, TrainConfig  # noqa: F401 (re-exported)
from .distill import distillation_loss
from .schedule import sgdr


FRAMES_PER_CLIP = 16  # frames per clip a frame-wise model (SNN) trains on in each step
# balance -> power of source_weights: "source" evens out the sources of a class, "sqrt-source" halfway;
# a dict gives a power per class name ("noise-source": only the noise class's sources evened out)
BALANCE = {"source": 1.0, "sqrt-source": 0.5, "noise-source": {"noise": 1.0}}


def balance_power(balance: str, classes):
    """``source_weights`` power of a ``balance`` name for a dataset of ``classes``."""
    power = BALANCE[balance]
    if isinstance(power, dict):
        return {i: power[name] for i, name in enumerate(classes) if name in power}
    return power


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _ddp() -> tuple:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, (dist.get_world_size() if dist.is_initialized() else 1)


def evaluate_clips(model, ds, classes) -> dict:
    """Clip accuracy and mean cross-entropy of ``model`` on dataset ``ds``."""
    X, y = ds.arrays()
    P = clip_proba(model, torch.from_numpy(X))
    nll = float(-np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-7, 1))))
    return {"accuracy": float(np.mean(P.argmax(1) == y)), "loss": nll, "n": int(len(y))}


def _loss(model, xb, yb, weight, soft=None, distill: DistillConfig | None = None, smoothing: float = 0.0,
          class_factor=None):
    inner = model.module if hasattr(model, "module") else model
    if getattr(inner, "clip_rule", "mean") == "vote":
        if inner.receptive_field == 0 and xb.shape[2] > FRAMES_PER_CLIP:
            # frame-wise models: a random subset of frames per clip (neighbours are near copies)
            xb = xb[:, :, torch.randperm(xb.shape[2])[:FRAMES_PER_CLIP]]
        fl = inner.frame_logits(xb)
        return F.cross_entropy(fl, yb[:, None].expand(-1, fl.shape[2]), weight=weight, label_smoothing=smoothing)
    logits = model(xb)
    if soft is None:
        return F.cross_entropy(logits, yb, weight=weight, label_smoothing=smoothing)
    return distillation_loss(logits, soft, yb, float(distill.temperature), distill.alpha, weight, smoothing,
                             distill.weighted, distill.trusted, class_factor)


@dataclass
class Run:
    """The pieces of one training run that stay fixed across its epochs (see :func:`fit`)."""

    data: object
    cfg: TrainConfig
    model: torch.nn.Module
    net: torch.nn.Module  # ``model``, wrapped in DistributedDataParallel under torchrun
    opt: torch.optim.Optimizer
    device: torch.device
    rank: int
    world: int
    n: int  # clips drawn per epoch
    batch: int
    steps: int  # batches per epoch (for the schedule)
    weight: torch.Tensor | None  # class weights of the loss
    soft: torch.Tensor | None  # teacher logits, one row per training clip
    labels: torch.Tensor  # class of each training clip
    X_all: torch.Tensor | None  # all training clips (None: augmented afresh per batch)
    ema: torch.nn.Module | None = None  # moving average of ``model``'s weights (cfg.ema > 0)
    soft_factor: torch.Tensor | None = None  # per class: the factor of a clip's soft targets (distill.soft_classes)

    @property
    def kept(self) -> torch.nn.Module:
        """The weights validated and saved: the moving average when there is one, else the model."""
        return self.model if self.ema is None else self.ema.module


def fit(data, cfg: TrainConfig, out_dir, resume: bool = True, log=print, teacher_logits=None) -> dict:
    """Train ``cfg.model`` on ``data`` (a :class:`~sonotype.train.data.ClipData`), keep the
    best checkpoint by validation accuracy in ``out_dir/model.pt`` (``cfg.keep == "last"``: the weights
    after the last epoch, no early stopping).

    A ``last.pt`` with optimiser state is written after every epoch; with ``resume`` an
    interrupted run continues from it and ends with the same weights as an
    uninterrupted one. Under ``torchrun`` (``WORLD_SIZE`` > 1) it trains with
    DistributedDataParallel; rank 0 writes the files. With ``teacher_logits`` (one row per
    training clip) the loss is the distillation loss of ``cfg.distill``.
    """
    out = Path(out_dir)
    if cfg.model == "gmm":
        return fit_gmm(data, cfg, out, log)
    run, kwargs, state = start_run(data, cfg, out, resume, log, teacher_logits)
    draw = (None if cfg.balance == "none" else
            torch.from_numpy(data.train.source_weights(balance_power(cfg.balance, data.classes))))
    stopped = cfg.keep == "best" and state["stale"] >= cfg.patience  # resumed after an early stop: done
    for epoch in range(state["epoch"], state["epoch"] if stopped else cfg.epochs):
        t0 = time.time()
        total, n_batches = train_epoch(run, epoch, epoch_indices(run, epoch, draw))
        val = evaluate_clips(run.kept, data.val, data.classes) if data.val is not None else {"accuracy": -total}
        improved = record_epoch(state, epoch, val, total / max(1, n_batches))
        state["seconds"] = state.get("seconds", 0.0) + time.time() - t0  # over every resumed session
        if run.rank == 0:
            log(f"epoch {epoch + 1}: loss {total / max(1, n_batches):.4f}  val acc {val['accuracy']:.4f}"
                + ("  *" if improved else ""))
            if improved and cfg.keep == "best":
                save_model(out / "model.pt", run.kept, cfg, data, kwargs, {"val": val, "epoch": epoch + 1},
                           state["seconds"])
            atomic_save({"model": run.model.state_dict(), "opt": run.opt.state_dict(), "state": state,
                         "rng": torch.get_rng_state(), "ema": None if run.ema is None else run.ema.state_dict()},
                        out / "last.pt")
        if state["stale"] >= cfg.patience and cfg.keep == "best":
            if run.rank == 0:
                log(f"early stop: no better validation accuracy for {cfg.patience} epochs")
            break
    if cfg.keep == "last" and run.rank == 0:
        val = evaluate_clips(run.kept, data.val, data.classes) if data.val is not None else {}
        save_model(out / "model.pt", run.kept, cfg, data, kwargs, {"val": val, "epoch": state["epoch"]},
                   state.get("seconds", 0.0))
    return {"best_val_accuracy": state["best"], "best_epoch": state["best_epoch"], "history": state["history"],
            "kept_epoch": state["epoch"] if cfg.keep == "last" else state["best_epoch"],
            "seconds": state.get("seconds", 0.0), "batch": run.batch, "checkpoint": str(out / "model.pt")}


def check_balance(cfg: TrainConfig, world: int) -> None:
    """Raise :class:`ValueError` for an unknown ``cfg.balance`` or source balance under DDP."""
    if cfg.balance not in ("none", *BALANCE):
        raise ValueError(f"balance must be one of none, {', '.join(BALANCE)}; got {cfg.balance!r}")
    if cfg.balance != "none" and world > 1:
        raise ValueError("source-balanced sampling is not supported with DistributedDataParallel")


def build_student(data, cfg: TrainConfig, log=print) -> tuple:
    """The model to train, initialised as ``cfg`` says; returns (model, its constructor kwargs)."""
    kwargs = {"n_classes": len(data.classes), **cfg.model_kwargs}
    if spec_of(cfg.model).takes_n_in:
        kwargs.setdefault("n_in", data.params.n_channels)
    model = build_model(cfg.model, **kwargs)
    if cfg.init != "random":
        apply_init(model, cfg.init, cfg.model)
        log(f"initialised {cfg.model} from {cfg.init}")
    if cfg.init_checkpoint:
        log(load_weights(model, cfg.init_checkpoint, cfg.model, data.classes))
    return model, kwargs


def start_run(data, cfg: TrainConfig, out: Path, resume: bool, log, teacher_logits=None) -> tuple:
    """Distribution, seeding, model, optimiser, class weights, and the state resumed from
    ``out/last.pt``; returns (:class:`Run`, model kwargs, epoch state)."""
    rank, world = _ddp()
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model, kwargs = build_student(data, cfg, log)
    model = model.to(device)
    n = len(data.train) if not cfg.epoch_clips else min(len(data.train), cfg.epoch_clips)
    batch = max(8, math.ceil(n / cfg.updates_per_epoch))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.weight_decay > 0 \
        else torch.optim.Adam(model.parameters(), lr=cfg.lr)
    counts = np.bincount(data.train.clip_labels(), minlength=len(data.classes)).astype(np.float64)
    weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(counts), dtype=torch.float32, device=device) \
        if cfg.class_weights else None
    state = {"epoch": 0, "best": -math.inf, "best_epoch": -1, "history": [], "stale": 0}
    ema = weight_average(model, cfg.ema)
    last = out / "last.pt"
    if resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if ema is not None and ck.get("ema") is not None:
            ema.load_state_dict(ck["ema"])
        elif ema is not None:  # a run begun without averaging: the average starts at the resumed weights
            log(f"{last} holds no weight average: averaging starts at epoch {ck['state']['epoch'] + 1}")
        state = ck["state"]
        torch.set_rng_state(ck["rng"])
        log(f"resuming {out} at epoch {state['epoch']}")
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    fresh = getattr(data.train, "aug", None) is not None  # augmented afresh per batch
    labels = torch.from_numpy(data.train.clip_labels())
    X_all = None if fresh else torch.from_numpy(data.train.arrays()[0])
    check_balance(cfg, world)
    if teacher_logits is not None and cfg.distill is None:
        raise ValueError("teacher logits need cfg.distill (temperature, alpha)")
    soft = None if teacher_logits is None else torch.as_tensor(teacher_logits, dtype=torch.float32)
    run = Run(data, cfg, model, net, opt, device, rank, world, n, batch, math.ceil(n / batch), weight, soft,
              labels, X_all, ema, soft_class_factors(cfg.distill, data.classes, device))
    return run, kwargs, state


def soft_class_factors(distill: DistillConfig | None, classes, device) -> torch.Tensor | None:
    """Per class, the factor of a clip's soft targets (``distill.soft_classes``: a list of the classes that count,
    1.0 each, or ``{class: factor}``; a class not named gets 0); None when all count once."""
    if distill is None or distill.soft_classes is None:
        return None
    unknown = sorted(set(distill.soft_classes) - set(classes))
    if unknown:
        raise ValueError(f"soft_classes {unknown} are not classes of the data ({', '.join(classes)})")
    named = distill.soft_classes
    factor = named if isinstance(named, dict) else dict.fromkeys(named, 1.0)
    return torch.tensor([float(factor.get(c, 0.0)) for c in classes], device=device)


def weight_average(model: torch.nn.Module, decay: float):
    """An exponential moving average of ``model``'s weights (and buffers), updated by
    ``update_parameters(model)`` after every step; None when ``decay`` is 0."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def epoch_indices(run: Run, epoch: int, draw=None) -> list:
    """The training clips of ``epoch``, in order (this rank's share under DDP)."""
    cfg, world = run.cfg, run.world
    g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    if world > 1:
        sampler = DistributedSampler(run.data.train, world, run.rank, shuffle=True, seed=cfg.seed)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(run.data.train, generator=g)
    if draw is not None and world == 1:
        return torch.multinomial(draw, run.n, replacement=True, generator=g).tolist()
    return list(iter(sampler))[:run.n // world if world > 1 else run.n]


def train_epoch(run: Run, epoch: int, idx: list) -> tuple:
    """One pass over the clips ``idx``; returns (summed batch loss, number of batches)."""
    cfg, train = run.cfg, run.data.train
    step = max(1, run.batch // run.world)
    run.net.train()
    total = 0.0
    bar = tqdm(range(0, len(idx), step), desc=f"epoch {epoch + 1}/{cfg.epochs}",
               disable=None if run.rank == 0 else True, leave=False)
    for b, i in enumerate(bar):
        ks = idx[i:i + step]
        xb = torch.from_numpy(train.batch(ks, np.random.default_rng([cfg.seed, epoch, b]))) if run.X_all is None \
            else run.X_all[ks]
        xb, yb = xb.to(run.device), run.labels[ks].to(run.device)
        soft = None if run.soft is None else run.soft[ks].to(run.device)
        for grp in run.opt.param_groups:
            grp["lr"] = sgdr(epoch * run.steps + b, cfg.cycle * run.steps, cfg.lr, cfg.lr_min, cfg.cycle_mult)
        total += optimiser_step(run.opt, _loss(run.net, xb, yb, run.weight, soft, cfg.distill, cfg.label_smoothing,
                                               run.soft_factor))
        if run.ema is not None:
            run.ema.update_parameters(run.model)
        bar.set_postfix(loss=f"{total / (b + 1):.4f}")
    return total, len(bar)


def optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """Back-propagate ``loss`` (a scalar tensor) and take one step of ``opt``; returns the loss value."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def record_epoch(state: dict, epoch: int, val: dict, train_loss: float) -> bool:
    """Add ``epoch``'s numbers to ``state`` (history, best, staleness); True when it is the best so far.

    Ties in accuracy (a small, saturated validation set) go to the lower validation loss.
    """
    state["history"].append({"epoch": epoch + 1, "train_loss": train_loss,
                             "val_accuracy": val["accuracy"], "val_loss": val.get("loss")})
    state["epoch"] = epoch + 1
    val_loss = val.get("loss")
    improved = val["accuracy"] > state["best"] or (
        val["accuracy"] == state["best"] and val_loss is not None and val_loss < state.get("best_loss", math.inf))
    if improved:
        state.update(best=val["accuracy"], best_loss=val_loss if val_loss is not None else math.inf,
                     best_epoch=epoch + 1, stale=0)
    else:
        state["stale"] += 1
    return improved


def save_model(path, model, cfg, data, kwargs, metrics, seconds):
    """Write ``model`` as a checkpoint with ``data``'s features, classes and statistics and ``cfg``."""
    save_checkpoint(path, arch=cfg.model, kwargs=kwargs, model=model, features=data.params, prep=data.prep,
                    classes=data.classes, clip=data.clip, mean=data.mean, std=data.std,
                    config=cfg.to_dict(), metrics={**metrics, "train_seconds": seconds})


def fit_gmm(data, cfg: TrainConfig, out: Path, log=print) -> dict:
    """Fit the GMM baseline on (a seeded sample of) training frames."""
    t0 = time.time()
    rng = np.random.default_rng(cfg.seed)
    X, y = [], []
    for k in range(len(data.train)):
        c = data.train.clip(k)
        X.append(c.T)
        y.append(np.full(c.shape[1], data.train.labels[data.train.file_of(k)]))
    X, y = np.concatenate(X), np.concatenate(y)
    keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[: cfg.gmm_frames] for c in np.unique(y)])
    model = build_model("gmm", n_components=cfg.gmm_components, random_state=cfg.seed)
    log(f"fitting {len(np.unique(y))} GMMs of {cfg.gmm_components} components on {len(keep)} frames")
    model.fit(X[np.sort(keep)], y[np.sort(keep)])
    val = evaluate_clips(model, data.val, data.classes) if data.val is not None else {}
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, cfg, data, {"n_components": cfg.gmm_components, "random_state": cfg.seed},
                {"val": val}, time.time() - t0)
    return {"best_val_accuracy": val.get("accuracy"), "seconds": time.time() - t0, "checkpoint": str(out / "model.pt")}
