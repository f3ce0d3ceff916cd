"""Training loop, schedule, distillation loss, checkpoints, resume and DDP on tiny data."""
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sonotype.data import ClipDataset
from sonotype.features import MFCC, MFCC_DELTAS
from sonotype.preprocess import PreprocessParams
from sonotype.train import (CheckpointError, ClipData, TrainConfig, build_from_checkpoint, distillation_loss,
                            evaluate_clips, fit, load_checkpoint, sgdr)

CLASSES = ["speech", "music", "noise"]


def toy_data(params=MFCC, n_files=6, frames=240, seed=0, clip=0.5):
    """Three classes told apart by which channel is raised."""
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for f in range(n_files * 3):
        k = f % 3
        x = rng.standard_normal((20, frames)).astype(np.float32) * 0.5
        x[k] += 2.0
        feats.append(x)
        labels.append(k)
    length = int(clip * 100)
    ds = lambda idx: ClipDataset([feats[i] for i in idx], [labels[i] for i in idx], length,
                                 deltas=params.deltas, mean=np.zeros(params.n_channels), std=np.ones(params.n_channels))
    n = len(feats)
    tr, va = list(range(0, n - 6)), list(range(n - 6, n))
    return ClipData(CLASSES, params, PreprocessParams(), clip, np.zeros(params.n_channels),
                    np.ones(params.n_channels), ds(tr), ds(va), None, {})


def quiet(*a, **k):
    pass


def test_sgdr_restarts_and_multiplier():
    assert sgdr(0, 10, 1.0, 0.0) == pytest.approx(1.0)
    assert sgdr(5, 10, 1.0, 0.0) == pytest.approx(0.5)
    assert sgdr(10, 10, 1.0, 0.0) == pytest.approx(1.0)  # restart
    assert sgdr(10 + 15, 10, 1.0, 0.0, mult=1.5) == pytest.approx(1.0)  # second cycle is 15 long
    assert sgdr(10 + 7, 10, 1.0, 0.1, mult=1.5) < sgdr(10 + 3, 10, 1.0, 0.1, mult=1.5)


def test_distillation_loss_by_hand():
    s = torch.tensor([[2.0, 0.5, -1.0]])
    t = torch.tensor([[1.0, 1.5, -0.5]])
    y = torch.tensor([1])
    T, a = 4.0, 0.9
    q = torch.softmax(t / T, -1)
    kl = float((q * (torch.log(q) - torch.log_softmax(s / T, -1))).sum())
    ce = float(-torch.log_softmax(s, -1)[0, 1])
    want = a * T * T * kl + (1 - a) * ce
    assert float(distillation_loss(s, t, y, T, a)) == pytest.approx(want, rel=1e-5)
    # no soft part and T = 1: plain cross-entropy
    assert float(distillation_loss(s, t, y, 1.0, 0.0)) == pytest.approx(float(F.cross_entropy(s, y)), rel=1e-6)
    # label smoothing reaches the label part of the loss (the training loop passes TrainConfig's on)
    assert float(distillation_loss(s, t, y, 1.0, 0.0, label_smoothing=0.2)) == pytest.approx(
        float(F.cross_entropy(s, y, label_smoothing=0.2)), rel=1e-6)


def test_class_weighted_distillation_weights_each_clip_s_soft_loss_by_its_class():
    torch.manual_seed(0)
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    y = torch.tensor([0, 2, 2, 1, 2])
    w = torch.tensor([1.0, 0.5, 3.0])
    T = 2.0
    kl = (torch.softmax(t / T, -1) * (torch.log_softmax(t / T, -1) - torch.log_softmax(s / T, -1))).sum(-1)
    want = float((kl * w[y]).sum() / w[y].sum()) * T * T
    assert float(distillation_loss(s, t, y, T, 1.0, w, weighted=True)) == pytest.approx(want, rel=1e-5)
    assert float(distillation_loss(s, t, y, T, 1.0, w)) == pytest.approx(float(kl.mean()) * T * T, rel=1e-5)
    # equal weights: the same loss either way
    ones = torch.ones(3)
    assert float(distillation_loss(s, t, y, T, 0.9, ones, weighted=True)) == pytest.approx(
        float(distillation_loss(s, t, y, T, 0.9, ones)), rel=1e-6)


def test_trusted_distillation_drops_the_soft_loss_of_clips_the_teacher_gets_wrong():
    torch.manual_seed(1)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    y = t.argmax(-1).clone()
    y[[1, 4]] = (y[[1, 4]] + 1) % 3  # the teacher is wrong on clips 1 and 4
    w = torch.tensor([1.0, 0.5, 3.0])
    T = 2.0
    kl = (torch.softmax(t / T, -1) * (torch.log_softmax(t / T, -1) - torch.log_softmax(s / T, -1))).sum(-1)
    right = torch.tensor([1.0, 0, 1, 1, 0, 1])
    want = float((kl * w[y] * right).sum() / w[y].sum()) * T * T  # normalised over the whole batch
    assert float(distillation_loss(s, t, y, T, 1.0, w, weighted=True, trusted=True)) == pytest.approx(want, rel=1e-5)
    assert float(distillation_loss(s, t, y, T, 1.0, trusted=True)) == pytest.approx(
        float((kl * right).mean()) * T * T, rel=1e-5)
    # a teacher right on every clip: the same loss as without trust; the label part is untouched either way
    y = t.argmax(-1)
    assert float(distillation_loss(s, t, y, T, 0.7, w, weighted=True, trusted=True)) == pytest.approx(
        float(distillation_loss(s, t, y, T, 0.7, w, weighted=True)), rel=1e-6)


@pytest.mark.parametrize("arch", ["slim", "snn"])
def test_fit_lowers_loss_and_checkpoint_round_trip(tmp_path, arch):
    params = MFCC if arch == "slim" else MFCC_DELTAS
    data = toy_data(params)
    cfg = TrainConfig(model=arch, clip=0.5, epochs=6, updates_per_epoch=4, lr=5e-3, cycle=2, patience=100)
    r = fit(data, cfg, tmp_path / "run", log=quiet)
    losses = [h["train_loss"] for h in r["history"]]
    assert losses[-1] < losses[0]
    assert r["best_val_accuracy"] > 0.6
    ck = load_checkpoint(tmp_path / "run" / "model.pt")
    assert ck["arch"] == arch and ck["classes"] == CLASSES and ck["features"]["deltas"] == params.deltas
    assert ck["config"]["epochs"] == 6 and "val" in ck["metrics"]
    model = build_from_checkpoint(ck)
    again = evaluate_clips(model, data.val, CLASSES)
    assert again["accuracy"] == pytest.approx(r["best_val_accuracy"])


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    data = toy_data()
    base = dict(model="slim", clip=0.5, updates_per_epoch=4, cycle=2, patience=100, seed=3)
    fit(data, TrainConfig(epochs=4, **base), tmp_path / "full", log=quiet)
    # "killed" after 2 epochs, then the same command again with 4 epochs resumes
    fit(data, TrainConfig(epochs=2, **base), tmp_path / "part", log=quiet)
    r = fit(data, TrainConfig(epochs=4, **base), tmp_path / "part", log=quiet)
    assert [h["epoch"] for h in r["history"]] == [1, 2, 3, 4]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=False)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_same_weights(tmp_path):
    data = toy_data()
    cfg = TrainConfig(model="slim", clip=0.5, epochs=2, updates_per_epoch=4, patience=100)
    fit(data, cfg, tmp_path / "a", log=quiet)
    fit(data, cfg, tmp_path / "b", log=quiet)
    a, b = (load_checkpoint(tmp_path / d / "model.pt")["state"] for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_weight_decay_shrinks_weights_and_label_smoothing_raises_the_loss(tmp_path):
    data = toy_data()
    base = dict(model="slim", clip=0.5, epochs=3, updates_per_epoch=4, patience=100, seed=1)
    runs = {name: fit(data, TrainConfig(**base, **kw), tmp_path / name, log=quiet)
            for name, kw in {"plain": {}, "wd": {"weight_decay": 0.5}, "ls": {"label_smoothing": 0.3}}.items()}
    norm = {n: sum(float(v.float().norm() ** 2) for k, v in load_checkpoint(tmp_path / n / "model.pt")["state"].items()
                   if k.endswith("weight")) for n in ("plain", "wd")}
    assert norm["wd"] < norm["plain"]
    # smoothed targets keep the loss away from 0: its floor is the smoothed target's entropy
    assert runs["ls"]["history"][-1]["train_loss"] > runs["plain"]["history"][-1]["train_loss"]
    assert load_checkpoint(tmp_path / "ls" / "model.pt")["config"]["label_smoothing"] == 0.3
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1)


def test_weight_average_is_what_is_validated_kept_and_resumed(tmp_path):
    data = toy_data()
    base = dict(model="slim", clip=0.5, updates_per_epoch=4, cycle=2, patience=100, seed=2, ema=0.9)
    r = fit(data, TrainConfig(epochs=3, **base), tmp_path / "full", log=quiet)
    last = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    averaged = {k[len("module."):]: v for k, v in last["ema"].items() if k.startswith("module.")}
    assert averaged.keys() == last["model"].keys()
    assert any(not torch.equal(averaged[k], last["model"][k]) for k in averaged)  # an average, not the weights
    ck = load_checkpoint(tmp_path / "full" / "model.pt")
    assert ck["config"]["ema"] == 0.9
    # the checkpoint kept is the averaged model whose validation accuracy was recorded
    assert evaluate_clips(build_from_checkpoint(ck), data.val, CLASSES)["accuracy"] == pytest.approx(
        r["best_val_accuracy"])
    fit(data, TrainConfig(epochs=1, **base), tmp_path / "part", log=quiet)
    fit(data, TrainConfig(epochs=3, **base), tmp_path / "part", log=quiet)
    again = torch.load(tmp_path / "part" / "last.pt", weights_only=False)["ema"]
    assert all(torch.equal(again[k], last["ema"][k]) for k in again)
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_gmm_fit_through_trainer(tmp_path):
    data = toy_data(MFCC_DELTAS)
    r = fit(data, TrainConfig(model="gmm", clip=0.5, gmm_components=2, gmm_frames=2000), tmp_path / "g", log=quiet)
    assert r["best_val_accuracy"] > 0.6
    model = build_from_checkpoint(load_checkpoint(tmp_path / "g" / "model.pt"))
    assert evaluate_clips(model, data.val, CLASSES)["accuracy"] == pytest.approx(r["best_val_accuracy"])


def test_checkpoint_errors(tmp_path):
    data = toy_data()
    fit(data, TrainConfig(model="slim", clip=0.5, epochs=1, updates_per_epoch=2), tmp_path / "r", log=quiet)
    good = (tmp_path / "r" / "model.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt"):
        load_checkpoint(tmp_path / "trunc.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a sonotype checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    ck = load_checkpoint(tmp_path / "r" / "model.pt")
    ck["arch"], ck["kwargs"] = "wide", {**ck["kwargs"]}
    with pytest.raises(CheckpointError, match="do not fit"):
        build_from_checkpoint(ck)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_CFG = dict(model="slim", clip=0.5, epochs=2, updates_per_epoch=4, device="cpu")


def _ddp_worker(rank, world, port, out, q):
    import sonotype.train.loop as loop
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    runs, start_run = [], loop.start_run

    def keep(*a, **k):  # the replica this rank trains
        got = start_run(*a, **k)
        runs.append(got[0])
        return got
    loop.start_run = keep
    r = fit(toy_data(), TrainConfig(**DDP_CFG), out, log=quiet)
    import torch.distributed as dist
    dist.barrier()
    weights = {k: v.detach().cpu().numpy().copy() for k, v in runs[0].model.state_dict().items()}
    q.put((rank, weights, r["batch"], len(r["history"])))
    dist.destroy_process_group()


def test_ddp_two_cpu_processes_gloo(tmp_path):
    import sonotype.train.loop as loop
    mp = torch.multiprocessing.get_context("spawn")
    q = mp.Queue()
    port = _free_port()
    procs = [mp.Process(target=_ddp_worker, args=(r, 2, port, str(tmp_path / "ddp"), q)) for r in range(2)]
    for p in procs:
        p.start()
    got = {}
    for _ in range(2):
        rank, weights, batch, epochs = q.get(timeout=240)
        got[rank] = weights
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert got[0].keys() == got[1].keys()
    for k in got[0]:  # the replicas stay identical: gradients are averaged across ranks
        np.testing.assert_array_equal(got[0][k], got[1][k], err_msg=k)
    saved = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)["model"]
    for k, v in saved.items():  # rank 0 wrote the trained replica
        np.testing.assert_array_equal(v.numpy(), got[0][k], err_msg=k)
    # beside a one-process run of the same config: same schedule, same layout, both moved from the start
    single = fit(toy_data(), TrainConfig(**DDP_CFG), tmp_path / "one", log=quiet)
    assert (batch, epochs) == (single["batch"], len(single["history"])) == (batch, 2)
    start = loop.start_run(toy_data(), TrainConfig(**DDP_CFG), tmp_path / "start", False, quiet, None)
    start = start[0].model.state_dict()
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=False)["model"]
    for name in ("ddp", "one"):
        w = got[0] if name == "ddp" else {k: v.numpy() for k, v in one.items()}
        assert {k: v.shape for k, v in w.items()} == {k: tuple(v.shape) for k, v in start.items()}
        assert any(not np.array_equal(w[k], start[k].numpy()) for k in w if "weight" in k), name


def test_accuracy_ties_go_to_lower_validation_loss(tmp_path, monkeypatch):
    import sonotype.train.loop as loop
    losses = iter([0.5, 0.3, 0.4, 0.3])
    monkeypatch.setattr(loop, "evaluate_clips", lambda *a, **k: {"accuracy": 1.0, "loss": next(losses)})
    cfg = TrainConfig(model="slim", clip=0.5, epochs=4, updates_per_epoch=2, patience=100)
    r = fit(toy_data(), cfg, tmp_path / "r", log=quiet)
    assert r["best_epoch"] == 2 and load_checkpoint(tmp_path / "r" / "model.pt")["metrics"]["epoch"] == 2


def test_keep_last_saves_the_final_weights_without_early_stopping(tmp_path, monkeypatch):
    import sonotype.train.loop as loop
    accs = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.8])  # best at epoch 1, then worse: "best" stops after 2 stale epochs
    monkeypatch.setattr(loop, "evaluate_clips", lambda *a, **k: {"accuracy": next(accs), "loss": 1.0})
    base = dict(model="slim", clip=0.5, epochs=4, updates_per_epoch=2, patience=2, seed=4, ema=0.9)
    best = fit(toy_data(), TrainConfig(**base), tmp_path / "best", log=quiet)
    assert len(best["history"]) == 3 and best["kept_epoch"] == 1
    assert load_checkpoint(tmp_path / "best" / "model.pt")["metrics"]["epoch"] == 1
    accs = iter([0.9, 0.5, 0.4, 0.3, 0.8])  # four epochs, then one validation of the weights kept
    last = fit(toy_data(), TrainConfig(keep="last", **base), tmp_path / "last", log=quiet)
    assert len(last["history"]) == 4 and last["kept_epoch"] == 4 and last["best_epoch"] == 1
    ck = load_checkpoint(tmp_path / "last" / "model.pt")
    assert ck["metrics"]["epoch"] == 4 and ck["metrics"]["val"]["accuracy"] == 0.8 and ck["config"]["keep"] == "last"
    final = torch.load(tmp_path / "last" / "last.pt", weights_only=False)["ema"]
    assert all(torch.equal(final["module." + k], v) for k, v in ck["state"].items())  # the final average
    with pytest.raises(ValueError, match="keep"):
        TrainConfig(keep="first")


def test_a_run_resumed_after_an_early_stop_stays_stopped(tmp_path, monkeypatch):
    import sonotype.train.loop as loop
    monkeypatch.setattr(loop, "evaluate_clips", lambda *a, **k: {"accuracy": 0.5, "loss": 1.0})
    cfg = TrainConfig(model="slim", clip=0.5, epochs=6, updates_per_epoch=2, patience=2)
    first = fit(toy_data(), cfg, tmp_path / "r", log=quiet)
    assert len(first["history"]) == 3  # epoch 1 best, stopped after 2 epochs without a better one
    before = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["model"]
    # the same command again (or with more epochs) trains nothing more, as an uninterrupted run would
    again = fit(toy_data(), TrainConfig(**{**cfg.to_dict(), "distill": None, "epochs": 9}), tmp_path / "r", log=quiet)
    assert len(again["history"]) == 3
    after = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    # a larger patience lets it go on
    more = fit(toy_data(), TrainConfig(**{**cfg.to_dict(), "distill": None, "patience": 5}), tmp_path / "r", log=quiet)
    assert len(more["history"]) == 6


def test_class_factors_scale_the_soft_loss_of_each_class():
    from sonotype.train import DistillConfig
    from sonotype.train.loop import soft_class_factors
    torch.manual_seed(2)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    w = torch.tensor([1.0, 0.5, 3.0])
    T = 3.0
    kl = (torch.softmax(t / T, -1) * (torch.log_softmax(t / T, -1) - torch.log_softmax(s / T, -1))).sum(-1)
    mask = soft_class_factors(DistillConfig("t.pt", soft_classes=["speech", "music"]), ["music", "noise", "speech"], "cpu")
    assert mask.tolist() == [1.0, 0.0, 1.0]
    keep = (y != 1).float()  # class 1 (noise) loses its soft part; normalised over the whole batch
    want = float((kl * w[y] * keep).sum() / w[y].sum()) * T * T
    assert float(distillation_loss(s, t, y, T, 1.0, w, weighted=True, class_factor=mask)) == pytest.approx(want, rel=1e-5)
    # every class kept: the loss without a mask; the label part is untouched
    assert float(distillation_loss(s, t, y, T, 0.6, w, weighted=True, class_factor=torch.ones(3))) == pytest.approx(
        float(distillation_loss(s, t, y, T, 0.6, w, weighted=True)), rel=1e-6)
    assert soft_class_factors(DistillConfig("t.pt"), ["music"], "cpu") is None
    twice = soft_class_factors(DistillConfig("t.pt", soft_classes={"noise": 2.0, "music": 1.0}), ["music", "noise", "speech"],
                            "cpu")
    assert twice.tolist() == [1.0, 2.0, 0.0]
    want = float((kl * w[y] * twice[y]).sum() / w[y].sum()) * T * T
    assert float(distillation_loss(s, t, y, T, 1.0, w, weighted=True, class_factor=twice)) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="speach"):
        soft_class_factors(DistillConfig("t.pt", soft_classes=["speach"]), ["music", "noise", "speech"], "cpu")
