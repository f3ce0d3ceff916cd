"""Source-fold cross-validation, log-mel augmentation, per-source scores and the label audit."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sonotype.cli.main import main
from sonotype.data import ClipDataset, Corpus, Item, MelAugmentParams, MelClipDataset
from sonotype.data.melaug import (augment_clip, band_curve, mel_centres, mix_band_stats, mix_power, room_tail,
                                  warp_bands)
from sonotype.experiments import audit_labels, source_folds
from sonotype.experiments.sources import DEPLOYED, RECIPES, fold_split
from sonotype.features import FeatureParams, extract

CLASSES = ["speech", "music", "noise"]


# ------------------------------------------------------------------ folds
def test_source_folds_balance_hours_and_are_seeded():
    rng = np.random.default_rng(1)
    hours = {(label, f"{label}-{k}"): float(h) for label in CLASSES for k, h in enumerate(rng.uniform(0.1, 2, 9))}
    hours[("music", "big")] = 5.0
    a = source_folds(hours, 3, seed=0)
    assert set(a) == set(hours) and set(a.values()) == {0, 1, 2}
    assert a == source_folds(hours, 3, seed=0)
    for label in CLASSES:
        load = np.zeros(3)
        for key, f in a.items():
            if key[0] == label:
                load[f] += hours[key]
        biggest = max(h for key, h in hours.items() if key[0] == label)
        assert load.max() - load.min() <= biggest + 1e-9  # greedy largest-first bound
    assert sum(a[k] == a[("music", "big")] for k in a if k[0] == "music") < 9  # the big source is not alone with all
    with pytest.raises(ValueError, match="2 folds"):
        source_folds(hours, 1)


def test_fold_split_tests_exactly_the_fold_and_keeps_groups_whole():
    items = [Item(f"/d/{l}/{s}/{g}-{k}.wav", l, f"{l}-{s}-{g}", s)
             for l in CLASSES for s in ("a", "b", "c") for g in range(4) for k in range(2)]
    c = Corpus("manifest", "/d", items)
    folds = source_folds({(i.label, i.source): 1.0 for i in items}, 3, seed=2)
    assign = fold_split(c, folds, 1)
    assert {i.path for i in items if assign[i.path] == "test"} == {i.path for i in items if folds[(i.label, i.source)] == 1}
    groups = {}
    for i in items:
        groups.setdefault(i.group, set()).add(assign[i.path])
    assert all(len(s) == 1 for s in groups.values())
    assert {"train", "val"} <= set(assign.values())


def test_fold_split_by_source_validates_on_sources_it_does_not_train_on():
    """rel30-valsrc: validation holds whole sources of the training folds, none of them trained on."""
    items = [Item(f"/d/{l}/{s}/{g}-{k}.wav", l, f"{l}-{s}-{g}", s)
             for l in CLASSES for s in "abcdefghij" for g in range(3) for k in range(2)]
    c = Corpus("manifest", "/d", items)
    folds = source_folds({(i.label, i.source): 1.0 for i in items}, 5, seed=2)
    assign = fold_split(c, folds, 0, by_source=True)
    split_of = {}
    for i in items:
        split_of.setdefault((i.label, i.source), set()).add(assign[i.path])
    assert all(len(v) == 1 for v in split_of.values())  # a source is on one side only
    val = {k for k, v in split_of.items() if v == {"val"}}
    assert {label for label, _ in val} == set(CLASSES)  # every class validated on a source of its own
    assert RECIPES["rel30-valsrc"]["val_by_source"] and "val_by_source" not in RECIPES[DEPLOYED]


# ------------------------------------------------------------------ log-mel augmentation
def test_mel_dataset_clean_clips_equal_the_mfcc_front_end(signals):
    y = np.concatenate([signals.speech_like(3.0, seed=1), signals.music_like(2.0, seed=2)])
    mfcc = extract(y, FeatureParams())
    mel = extract(y, FeatureParams(kind="logmel", n_mels=32))
    a = ClipDataset([mfcc], [0], 100, deltas=2)
    b = MelClipDataset([mel], [0], 100, CLASSES, n_mfcc=20, deltas=2)
    assert len(a) == len(b) > 3
    for k in range(len(a)):
        np.testing.assert_allclose(b.clip(k), a.clip(k), atol=1e-3)
    np.testing.assert_allclose(b.batch(range(len(b)), np.random.default_rng(0)), a.arrays()[0], atol=1e-3)


def test_mix_power_reaches_the_snr():
    rng = np.random.default_rng(0)
    L, B = rng.normal(-30, 5, (32, 100)), rng.normal(-40, 5, (32, 100))
    M = mix_power(L, B, 10.0)
    added = (10 ** (M / 10)).sum() - (10 ** (L / 10)).sum()
    assert 10 * np.log10((10 ** (L / 10)).sum() / added) == pytest.approx(10.0, abs=1e-6)


def test_room_tail_is_causal_and_decays():
    quiet = np.full((4, 200), -100.0)
    L = quiet.copy()
    L[:, 100] = 0.0  # an impulse at frame 100
    R = room_tail(L, rt60=0.5, drr_db=0.0)
    np.testing.assert_allclose(R[:, :100], room_tail(quiet, 0.5, 0.0)[:, :100])  # nothing before the onset changes
    assert R[0, 100] == pytest.approx(0.0, abs=1e-3)
    tail = R[0, 101:160]
    assert tail[0] > -30 and np.all(np.diff(tail) < 0)
    assert tail[50] == pytest.approx(tail[0] - 60 * 0.5 / 0.5, abs=1.0)  # 60 dB per RT60: 50 frames = 0.5 s


def test_band_curve_telephone_cuts_high_bands():
    centres = mel_centres(32)
    cuts = [band_curve(centres, np.random.default_rng(s)) for s in range(40)]
    for g in cuts:
        assert g.max() <= 0 and g.min() >= -60
    assert any(g[centres > 5000].max() <= -20 and g[np.argmin(np.abs(centres - 1000))] == 0 for g in cuts)


def test_augment_clip_is_seeded_and_never_mixes_into_noise():
    L = np.random.default_rng(0).normal(-30, 5, (32, 200)).astype(np.float32)
    p = MelAugmentParams(mix=1.0)
    asked = []

    def background(kinds, rng):
        asked.append(kinds)
        return L[::-1].copy()
    a = augment_clip(L, "speech", np.random.default_rng(5), p, background, mel_centres(32))
    b = augment_clip(L, "speech", np.random.default_rng(5), p, background, mel_centres(32))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, L)
    assert asked == [("noise", "music"), ("noise", "music")]
    augment_clip(L, "noise", np.random.default_rng(5), p, background, mel_centres(32))
    assert len(asked) == 2


def _recording(clip):
    """A ``background(kinds, rng)`` that returns ``clip`` and the list of the ``kinds`` it was asked for."""
    asked = []

    def background(kinds, rng):
        asked.append(kinds)
        return clip.copy()
    return background, asked


def _only(**on) -> MelAugmentParams:
    """Every augmentation off but ``on``."""
    return MelAugmentParams(**{"mix": 0.0, "eq": 0, "band": 0, "reverb": 0, "gain_db": 0, "time_masks": 0,
                               "freq_masks": 0, **on})


def test_within_class_mixup_asks_for_the_clip_s_own_class_only():
    L = np.random.default_rng(1).normal(-30, 5, (32, 100)).astype(np.float32)
    background, asked = _recording(L[:, ::-1])
    out = augment_clip(L, "noise", np.random.default_rng(0), _only(mixup=1.0), background, mel_centres(32))
    assert asked == [("noise",)]
    assert np.all(out >= L - 1e-4)  # adding power never lowers a cell
    assert not np.allclose(out, L)


def test_default_recipe_draws_are_unchanged_by_the_new_options():
    L = np.random.default_rng(2).normal(-30, 5, (32, 100)).astype(np.float32)
    bg = lambda kinds, rng: L[::-1].copy()  # noqa: E731
    a = augment_clip(L, "speech", np.random.default_rng(3), MelAugmentParams(), bg, mel_centres(32))
    b = augment_clip(L, "speech", np.random.default_rng(3), MelAugmentParams(mixup=0.0, warp=0.0), bg,
                     mel_centres(32))
    np.testing.assert_array_equal(a, b)


def test_freq_mixstyle_takes_the_other_clip_s_band_statistics():
    rng = np.random.default_rng(4)
    L = (rng.normal(0, 5, (32, 200)) - 40 + np.linspace(0, 20, 32)[:, None]).astype(np.float32)
    B = rng.normal(-60, 10, (32, 120)).astype(np.float32)
    out = mix_band_stats(L, B, 0.0)
    np.testing.assert_allclose(out.mean(1), B.mean(1), atol=1e-3)
    np.testing.assert_allclose(out.std(1), B.std(1), rtol=1e-3)
    np.testing.assert_allclose(mix_band_stats(L, B, 1.0), L, atol=1e-4)
    half = mix_band_stats(L, B, 0.5)
    np.testing.assert_allclose(half.mean(1), (L.mean(1) + B.mean(1)) / 2, atol=1e-3)
    # the shape of each band over time is kept: only its level and spread move
    assert np.corrcoef(half[7], L[7])[0, 1] > 0.999


@pytest.mark.parametrize("pool, asked_for", [("any", ("speech", "music", "noise")), ("same", ("music",))])
def test_freq_mixstyle_draws_from_its_pool(pool, asked_for):
    L = np.random.default_rng(1).normal(-30, 5, (32, 100)).astype(np.float32)
    background, asked = _recording(L[::-1])
    out = augment_clip(L, "music", np.random.default_rng(0), _only(mixstyle=1.0, mixstyle_pool=pool), background,
                       mel_centres(32))
    assert asked == [asked_for]
    assert not np.allclose(out, L)


def test_noise_mix_adds_noise_under_noise_only():
    L = np.random.default_rng(1).normal(-30, 5, (32, 100)).astype(np.float32)
    background, asked = _recording(L[:, ::-1])
    p = _only(noise_mix=1.0)
    out = augment_clip(L, "noise", np.random.default_rng(0), p, background, mel_centres(32))
    assert asked == [("noise",)] and np.all(out >= L - 1e-4) and not np.allclose(out, L)
    for label in ("speech", "music"):
        np.testing.assert_array_equal(augment_clip(L, label, np.random.default_rng(0), p, background, mel_centres(32)),
                                      augment_clip(L, label, np.random.default_rng(0), _only(), background,
                                                   mel_centres(32)))
    assert asked == [("noise",)]


def test_warp_bands_moves_a_peak_up_or_down():
    L = np.full((32, 4), -60.0, np.float32)
    L[10] = 0.0
    assert int(np.argmax(warp_bands(L, 1.2)[:, 0])) == 12
    assert int(np.argmax(warp_bands(L, 0.8)[:, 0])) == 8
    np.testing.assert_array_equal(warp_bands(L, 1.0), L)


def test_source_weights_give_each_source_an_equal_share():
    feats = [np.zeros((20, n), np.float32) for n in (1000, 100, 100, 300)]
    ds = ClipDataset(feats, [0, 0, 1, 1], 50, sources=["big", "small", "x", "y"])
    w = ds.source_weights()
    src = np.array([ds.sources[ds.file_of(k)] for k in range(len(ds))])
    share = {s: w[src == s].sum() for s in set(src)}
    assert share["big"] == pytest.approx(share["small"])
    assert share["x"] == pytest.approx(share["y"])
    assert w.sum() == pytest.approx(1.0)
    half = ds.source_weights(0.5)  # square-root shares: 39 clips of "big" against 3 of "small"
    big, small = half[src == "big"].sum(), half[src == "small"].sum()
    assert (src == "big").sum() == 39 and (src == "small").sum() == 3
    assert big / small == pytest.approx(np.sqrt(39 / 3))
    assert half[ds.clip_labels() == 0].sum() == pytest.approx(w[ds.clip_labels() == 0].sum())  # class shares kept


def test_noise_source_balance_evens_out_only_the_noise_sources():
    from sonotype.train.loop import balance_power
    feats = [np.zeros((20, n), np.float32) for n in (1000, 100, 100, 300)]
    ds = ClipDataset(feats, [0, 0, 1, 1], 50, sources=["big", "small", "x", "y"])
    w = ds.source_weights(balance_power("noise-source", ["speech", "noise"]))
    src = np.array([ds.sources[ds.file_of(k)] for k in range(len(ds))])
    share = {s: w[src == s].sum() for s in set(src)}
    assert share["x"] == pytest.approx(share["y"])  # noise: evened out
    assert share["big"] / share["small"] == pytest.approx(39 / 3)  # speech: as drawn naturally
    assert balance_power("noise-source", ["speech", "music"]) == {}


def test_cli_balance_choices_are_the_training_loop_s():
    from sonotype.cli.main import build_parser
    from sonotype.train.loop import BALANCE
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    balance = next(a for a in train._actions if a.dest == "balance")
    assert tuple(balance.choices) == ("none", *BALANCE)


# ------------------------------------------------------------------ audit
def test_audit_ranks_a_mislabelled_file_first(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k in range(60):
        label = CLASSES[k % 3]
        p = np.full(3, 0.05)
        p[k % 3] = 0.9
        p = p + rng.uniform(0, 0.02, 3)
        rows.append([f"/d/{k}.wav", label, "src", "4", *(p / p.sum())])
    rows[6][4:] = [0.01, 0.98, 0.01]  # a "speech" file every model hears as music
    with open(tmp_path / "oof.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "source", "clips", "p_speech", "p_music", "p_noise"])
        w.writerows(rows)
    ranked = audit_labels(tmp_path / "oof.csv", tmp_path / "audit", top=5)
    assert ranked[0]["path"] == "/d/6.wav" and ranked[0]["predicted"] == "music" and ranked[0]["flagged"]
    assert sum(r["flagged"] for r in ranked) < 5
    page = (tmp_path / "audit" / "audit.html").read_text()
    assert page.count("<audio") == 5 and "6.wav" in page


# ------------------------------------------------------------------ end to end
def test_reproduce_sources_and_audit_cli(tmp_path, capsys, corpora):
    out = tmp_path / "cv"
    base = ["--folds", "2", "--model", "slim", "--clip", "0.5", "--epochs", "1", "--epoch-clips", "16",
            "--updates", "2", "--workers", "1", "--cache", str(tmp_path / "c")]
    argv = ["reproduce", "sources", "--corpus", f"musan:{corpora.musan}", "--out", str(out),
            "--recipes", "paper,deployed"] + base
    import torch
    before = torch.get_num_threads()
    try:
        assert main(argv + ["--only", "0", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1  # parallel processes: one torch thread each
    finally:
        torch.set_num_threads(before)
    assert not (out / "sources.md").exists()
    assert main(argv) == 0
    text = capsys.readouterr().out
    for src in ("librivox", "us-gov", "fma", "jamendo", "free-sound", "sound-bible"):
        assert f"| {src} |" in text
    assert "macro mean over sources" in text and "paper %" in text and f"{DEPLOYED} (deployed) %" in text
    summary = json.loads((out / "sources.json").read_text())
    s = summary["paper"]
    assert s["macro_source_mean"] == pytest.approx(np.mean([v["accuracy"] for v in s["sources"].values()]))
    folds = {r["fold"] for r in json.loads((out / "folds.json").read_text())}
    assert folds == {0, 1}
    with open(out / "paper" / "oof.csv", newline="") as f:
        oof = list(csv.DictReader(f))
    assert len({r["path"] for r in oof}) == len(oof) >= 6  # every file once, out of fold
    m = json.loads((out / "paper" / "fold0" / "test" / "metrics.json").read_text())
    assert set(m["sources"]) and all(0 <= v["accuracy"] <= 1 for v in m["sources"].values())
    table = (out / "paper" / "fold0" / "test" / "table.md").read_text()
    assert "Accuracy by source" in table and all(f"| {s} |" in table for s in m["sources"])
    ck = json.loads((out / DEPLOYED / "fold0" / "train.json").read_text())
    assert ck["history"] and (ck["augment"] is None) == ("augment" not in RECIPES[DEPLOYED])
    assert main(["data", "audit", f"musan:{corpora.musan}", "--out", str(tmp_path / "a"), "--from", str(out),
                 "--recipe", "deployed", "--top", "3"]) == 0
    assert "flagged by confident learning" in capsys.readouterr().out
    assert (tmp_path / "a" / "audit.html").read_text().count("<audio") == 3
    assert main(["data", "audit", f"musan:{corpora.musan}", "--out", str(tmp_path / "b"), "--from", str(out),
                 "--recipe", "waveform"]) == 2
    assert "no out-of-fold predictions" in capsys.readouterr().err


def test_exclusion_list_leaves_files_out_of_every_split(tmp_path, corpora):
    from sonotype.data import CorpusError, exclude, open_corpus
    from sonotype.experiment import load_parts
    c = open_corpus(f"musan:{corpora.musan}")
    victim = c.items[3]
    rel = victim.path[len(str(corpora.musan)) + 1:]
    lst = tmp_path / "exclude.csv"
    lst.write_text(f"# suspects from the label audit\npath,reason\n{rel},sounds like music\nnot/there.wav,other corpus\n")
    kept, n = exclude(c, lst)
    assert n == 1 and victim not in kept.items and len(kept.items) == len(c.items) - 1
    said = []
    _, parts = load_parts(f"musan:{corpora.musan}", exclude_list=lst, log=said.append)
    assert victim.path not in {i.path for its in parts.values() for i in its}
    assert said == [f"left out 1 files listed in {lst}"]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,why\nx.wav,y\n")
    with pytest.raises(CorpusError, match="'path' column"):
        exclude(c, bad)
    with pytest.raises(CorpusError, match="not found"):
        exclude(c, tmp_path / "missing.csv")


def _mel_data(seed=0):
    from sonotype.features import MFCC
    from sonotype.preprocess import PreprocessParams
    from sonotype.train.data import ClipData
    rng = np.random.default_rng(seed)
    mels, labels = [], []
    for f in range(18):
        L = rng.normal(-40, 3, (32, 240)).astype(np.float32)
        L[4 + 8 * (f % 3): 8 + 8 * (f % 3)] += 20  # each class loud in its own bands
        mels.append(L)
        labels.append(f % 3)
    sources = [f"s{f % 6}" for f in range(18)]
    train = MelClipDataset(mels[:12], labels[:12], 50, CLASSES, deltas=0, aug=MelAugmentParams(), sources=sources[:12])
    val = MelClipDataset(mels[12:], labels[12:], 50, CLASSES, deltas=0)
    mean, std = train.stats()
    for ds in (train, val):
        ds.set_standardisation(mean, std)
    return ClipData(CLASSES, MFCC, PreprocessParams(), 0.5, mean, std, train, val, None, {})


def test_fit_with_fresh_augmentation_is_seeded_and_resumes(tmp_path):
    import torch
    from sonotype.train import TrainConfig, fit
    base = dict(model="slim", clip=0.5, updates_per_epoch=3, cycle=2, patience=100, seed=1, balance="source",
                epoch_clips=24)
    quiet = lambda *a, **k: None
    fit(_mel_data(), TrainConfig(epochs=3, **base), tmp_path / "a", log=quiet)
    fit(_mel_data(), TrainConfig(epochs=1, **base), tmp_path / "b", log=quiet)  # killed after one epoch
    r = fit(_mel_data(), TrainConfig(epochs=3, **base), tmp_path / "b", log=quiet)
    assert len(r["history"]) == 3
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    again = fit(_mel_data(), TrainConfig(epochs=3, **base), tmp_path / "b", log=quiet)  # nothing left to train
    assert again["seconds"] == r["seconds"] > 0  # training time counts every resumed session, not the last
    with pytest.raises(ValueError, match="balance"):
        fit(_mel_data(), TrainConfig(epochs=1, **{**base, "balance": "speaker"}), tmp_path / "c", log=quiet)


def test_cli_lists_every_recipe_and_the_deployed_one():
    from sonotype.cli.source_commands import EPILOG, RECIPE_NAMES
    assert set(RECIPE_NAMES) == set(RECIPES)
    assert f"recipe: {DEPLOYED})" in EPILOG


def test_distillation_recipe_learns_from_the_same_fold_s_teacher(tmp_path, capsys, corpora):
    base = ["--corpus", f"musan:{corpora.musan}", "--folds", "2", "--model", "slim", "--clip", "0.5", "--epochs", "1",
            "--epoch-clips", "16", "--updates", "2", "--workers", "1", "--cache", str(tmp_path / "c"), "--only", "0"]
    teachers = tmp_path / "teachers"
    assert main(["reproduce", "sources", "--out", str(teachers), "--recipes", "paper"] + base) == 0
    student = ["reproduce", "sources", "--recipes", "rel30-distill", "--temperature", "2"] + base
    assert main(student + ["--out", str(tmp_path / "s"), "--teacher-cv", str(teachers / "paper")]) == 0
    r = json.loads((tmp_path / "s" / "rel30-distill" / "fold0" / "train.json").read_text())
    assert r["distill"]["teacher"] == str(teachers / "paper" / "fold0" / "model.pt") and r["distill"]["temperature"] == 2
    assert r["augment"] is not None  # the deployed recipe's augmentation, log-mel per batch included
    capsys.readouterr()
    # teachers dealt into other folds (another seed) would have heard the student's test sources
    assert main(student + ["--out", str(tmp_path / "t"), "--teacher-cv", str(teachers / "paper"), "--seed", "3"]) == 2
    assert "other folds" in capsys.readouterr().err
    assert main(student + ["--out", str(tmp_path / "u")]) == 2
    assert "--teacher-cv" in capsys.readouterr().err
    # a recipe carries its T and alpha (rel30-ema-distill: 4 and 0.5); --alpha overrides the recipe's
    own = ["reproduce", "sources", "--recipes", "rel30-ema-distill", "--teacher-cv", str(teachers / "paper")] + base
    assert main(own + ["--out", str(tmp_path / "v")]) == 0
    assert main(own + ["--out", str(tmp_path / "w"), "--alpha", "0.25"]) == 0
    v, w = (json.loads((tmp_path / d / "rel30-ema-distill" / "fold0" / "train.json").read_text())["distill"]
            for d in "vw")
    assert (v["temperature"], v["alpha"]) == (4, 0.5) and (w["temperature"], w["alpha"]) == (4, 0.25)
    assert v["weighted"] and not v["trusted"]
    assert RECIPES["rel30-ema-distill-trust"] == {**RECIPES["rel30-ema-distill"], "trusted_soft": True}
    trust = ["reproduce", "sources", "--recipes", "rel30-ema-distill-trust", "--teacher-cv", str(teachers / "paper")]
    assert main(trust + base + ["--out", str(tmp_path / "x")]) == 0
    x = json.loads((tmp_path / "x" / "rel30-ema-distill-trust" / "fold0" / "train.json").read_text())["distill"]
    assert x["trusted"] and x["weighted"] and (x["temperature"], x["alpha"]) == (4, 0.5)
    sm = ["reproduce", "sources", "--recipes", "rel30-ema-distill-sm", "--teacher-cv", str(teachers / "paper")]
    assert main(sm + base + ["--out", str(tmp_path / "y")]) == 0
    y = json.loads((tmp_path / "y" / "rel30-ema-distill-sm" / "fold0" / "train.json").read_text())["distill"]
    assert y["soft_classes"] == ["speech", "music"] and y["weighted"] and not y["trusted"] and y["alpha"] == 0.5
