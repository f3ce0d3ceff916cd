"""sonotype.data: corpus readers, splits, feature cache, featurize, clip datasets."""
from __future__ import annotations

import csv
import importlib
import os
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sonotype.data import (SPLITS, ClipDataset, Corpus, CorpusError, FeatureCache, Item, Job, clip_length,
                           featurize, make_split, open_corpus, read_folders, read_gtzan_genres, read_gtzan_ms,
                           read_manifest, read_musan, read_split, split_items, write_split)
from sonotype.features import MFCC, add_deltas
from sonotype.preprocess import PreprocessParams

# the package re-exports the function ``featurize``, which shadows the module attribute
fz = importlib.import_module("sonotype.data.featurize")


def _labels(c):
    return Counter(i.label for i in c.items)


# ------------------------------------------------------------------ readers
def test_read_musan(corpora):
    for c in (read_musan(corpora.musan), open_corpus(f"musan:{corpora.musan}"), open_corpus(str(corpora.musan))):
        assert c.kind == "musan"
        assert _labels(c) == corpora.musan_counts
        assert c.classes == ["speech", "music", "noise"]
        assert [i.path for i in c.items] == sorted(i.path for i in c.items)
        it = next(i for i in c.items if i.path.endswith("speech-us-gov-0001.wav"))
        assert it == Item(str(corpora.musan / "speech" / "us-gov" / "speech-us-gov-0001.wav"), "speech",
                          "speech/us-gov/speech-us-gov-0001", "us-gov")
        assert {i.source for i in c.items} == {"librivox", "us-gov", "fma", "jamendo", "free-sound", "sound-bible"}
        assert len({i.group for i in c.items}) == len(c)  # each file its own group
        assert all(Path(i.path).is_file() and i.path.endswith(".wav") for i in c.items)


def test_read_minimusan_manifest_groups(corpora):
    for c in (read_musan(corpora.minimusan), open_corpus(f"musan:{corpora.minimusan}"),
              open_corpus(str(corpora.minimusan))):
        assert c.kind == "musan" and c.root == str(corpora.minimusan)
        want = {str(corpora.minimusan / r[0]): (r[1], r[3], r[2]) for r in corpora.minimusan_rows}
        assert {i.path: (i.label, i.group, i.source) for i in c.items} == want
        assert Counter(i.group for i in c.items)["ls-103"] == 2


def test_read_real_minimusan_if_present():
    root = Path("/work/shared/data/minimusan")
    if not (root / "manifest.csv").is_file():
        pytest.skip("no minimusan here")
    c = open_corpus(str(root))
    assert c.kind == "musan" and set(c.classes) == {"speech", "music", "noise"}
    assert all(Path(i.path).is_file() for i in c.items)


def test_read_gtzan_ms(corpora):
    base = corpora.gtzan_ms
    for c in (read_gtzan_ms(base), read_gtzan_ms(base / "music_speech"), open_corpus(f"gtzan-ms:{base}"),
              open_corpus(str(base)), open_corpus(str(base / "music_speech"))):
        assert c.kind == "gtzan-ms"
        got = defaultdict(set)
        for i in c.items:
            got[i.label].add(i.group)
            assert i.source == "gtzan-ms" and i.group == Path(i.path).stem
        assert dict(got) == {k: set(v) for k, v in corpora.gtzan_ms_names.items()}
        assert c.classes == ["speech", "music"]


def test_read_gtzan_genres(corpora):
    base = corpora.gtzan_genres
    for c in (read_gtzan_genres(base), read_gtzan_genres(base / "genres"), open_corpus(f"gtzan-genres:{base}"),
              open_corpus(str(base))):
        assert c.kind == "gtzan-genres"
        assert _labels(c) == {g: 2 for g in corpora.genres}
        assert c.classes == sorted(corpora.genres)
        it = next(i for i in c.items if i.path.endswith("jazz.00001.au"))
        assert (it.label, it.group, it.source) == ("jazz", "jazz.00001", "gtzan")


def test_read_folders(corpora):
    guessed = open_corpus(str(corpora.folders))  # speech/music/noise folders look like MUSAN
    assert _labels(guessed) == corpora.folders_counts
    for c in (read_folders(corpora.folders), open_corpus(f"folders:{corpora.folders}")):
        assert c.kind == "folders"
        assert _labels(c) == corpora.folders_counts  # nested found; hidden folder, .txt ignored
        it = next(i for i in c.items if "nested" in i.path)
        assert (it.label, it.group, it.source) == ("music", "music/nested/music0", "music")
        assert len({i.group for i in c.items}) == len(c)


def test_read_manifest(corpora):
    for c in (read_manifest(corpora.manifest), open_corpus(f"manifest:{corpora.manifest}"),
              open_corpus(str(corpora.manifest))):
        assert c.kind == "manifest"
        assert all(Path(i.path).is_absolute() and Path(i.path).is_file() for i in c.items)
        got = sorted((Path(i.path).name, i.label, i.group, i.source) for i in c.items)
        want = sorted((Path(r[0]).name, r[1], r[2], r[3]) for r in corpora.manifest_rows)
        assert got == want


def test_manifest_optional_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,category\nx/a.wav,speech\nb.wav,music\n")
    c = read_manifest(p)
    assert [(i.label, i.group, i.source) for i in c.items] == [("music", "b", ""), ("speech", "a", "")]
    assert c.items[1].path == str(tmp_path / "x" / "a.wav")


@pytest.mark.parametrize("kind,reader", [("musan", read_musan), ("gtzan-ms", read_gtzan_ms),
                                         ("gtzan-genres", read_gtzan_genres), ("folders", read_folders)])
def test_reader_errors(tmp_path, kind, reader):
    missing = tmp_path / "missing"
    for call in (lambda: reader(missing), lambda: open_corpus(f"{kind}:{missing}"), lambda: open_corpus(str(missing))):
        with pytest.raises(CorpusError, match=str(missing)):
            call()
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CorpusError, match=str(f)):
        reader(f)
    empty = tmp_path / "empty"
    (empty / "speech" / "sub").mkdir(parents=True)
    (empty / "music_wav").mkdir()
    (empty / "speech" / "sub" / "README").write_text("no audio")
    with pytest.raises(CorpusError, match=str(empty)):
        reader(empty)


def test_musan_without_class_folders(tmp_path, make_audio):
    make_audio("other/x.wav")
    with pytest.raises(CorpusError, match="MUSAN"):
        read_musan(tmp_path)


def test_manifest_errors(tmp_path):
    with pytest.raises(CorpusError, match=str(tmp_path / "none.csv")):
        read_manifest(tmp_path / "none.csv")
    p = tmp_path / "bad.csv"
    p.write_text("file,label\na.wav,speech\n")
    with pytest.raises(CorpusError, match=f"{p}.*path"):
        read_manifest(p)
    p.write_text("path,group\na.wav,g\n")
    with pytest.raises(CorpusError, match=f"{p}.*label"):
        open_corpus(str(p))
    p.write_text("path,label\n")
    with pytest.raises(CorpusError, match=f"{tmp_path}.*no audio"):
        read_manifest(p)


# ------------------------------------------------------------------ splits
def _items(counts: dict, group_size=1, cross_class=False):
    items = []
    for label, n in counts.items():
        for k in range(n):
            g = f"g{k // group_size}" if cross_class else f"{label}-g{k // group_size}"
            items.append(Item(f"/d/{label}/{k:04d}.wav", label, g, f"src{k % 3}"))
    return items


def _split_counts(items, assign):
    c = Counter((i.label, assign[i.path]) for i in items)
    return c


@settings(max_examples=60, deadline=None)
@given(counts=st.dictionaries(st.sampled_from(["speech", "music", "noise", "jazz"]), st.integers(1, 60), min_size=1),
       seed=st.integers(0, 2**31 - 1),
       ratios=st.sampled_from([(0.65, 0.10, 0.25), (0.5, 0.25, 0.25), (0.8, 0.2, 0.0), (1 / 3, 1 / 3, 1 / 3)]))
def test_split_ratios_within_one_file(counts, seed, ratios):
    items = _items(counts)
    assign = split_items(items, ratios, seed)
    assert set(assign) == {i.path for i in items}
    assert set(assign.values()) <= set(SPLITS)
    c = _split_counts(items, assign)
    for label, n in counts.items():
        for k, s in enumerate(SPLITS):
            assert abs(c[(label, s)] - ratios[k] * n) <= 1.0 + 1e-9, (label, s, c[(label, s)], ratios[k] * n)


@settings(max_examples=40, deadline=None)
@given(counts=st.dictionaries(st.sampled_from(["speech", "music", "noise"]), st.integers(1, 40), min_size=1),
       group_size=st.integers(2, 7), cross=st.booleans(), seed=st.integers(0, 10**6))
def test_split_groups_never_straddle(counts, group_size, cross, seed):
    items = _items(counts, group_size, cross)
    assign = split_items(items, seed=seed)
    by_group = defaultdict(set)
    for i in items:
        by_group[i.group].add(assign[i.path])
    assert all(len(s) == 1 for s in by_group.values())
    assert set(assign) == {i.path for i in items}


def test_split_seeded():
    items = _items({"speech": 30, "music": 30, "noise": 30})
    a = split_items(items, seed=7)
    assert split_items(list(reversed(items)), seed=7) == a
    assert split_items(items, seed=7) == a
    assert any(split_items(items, seed=s) != a for s in (8, 9, 10))
    with pytest.raises(ValueError):
        split_items(items, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError):
        split_items(items, (0.5, 0.5))


def test_write_read_split_roundtrip(tmp_path, corpora):
    c = open_corpus(str(corpora.minimusan))
    parts, assign = make_split(c, seed=3)
    assert sorted(i.path for p in parts.values() for i in p) == sorted(i.path for i in c.items)
    out = write_split(tmp_path / "s" / "split.csv", c, assign)
    assert [p.name for p in out.parent.iterdir()] == ["split.csv"]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "group", "source", "split"]
    back = read_split(out)
    assert {s: sorted(v, key=lambda i: i.path) for s, v in back.items()} == \
        {s: sorted(v, key=lambda i: i.path) for s, v in parts.items()}
    with pytest.raises(CorpusError, match="not found"):
        read_split(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label,group,source,split\na.wav,speech,g,,training\n")
    with pytest.raises(CorpusError, match="training"):
        read_split(bad)


def test_make_split_holdout_source():
    items = _items({"speech": 12, "music": 12, "noise": 12}, group_size=2)
    c = Corpus("manifest", "/d", sorted(items, key=lambda i: i.path))
    parts, assign = make_split(c, seed=1, holdout_source="src1")
    assert {i.path for i in parts["test"]} == {i.path for i in items if i.source == "src1"}
    assert all(i.source != "src1" for s in ("train", "val") for i in parts[s])
    assert sum(len(v) for v in parts.values()) == len(items)
    assert len(parts["train"]) > len(parts["val"]) > 0
    with pytest.raises(CorpusError, match="nope"):
        make_split(c, holdout_source="nope")


# ------------------------------------------------------------------ clips
@pytest.mark.parametrize("seconds,length", [(0.5, 50), (1.0, 100), (2.0, 200)])
def test_clip_counts_with_half_overlap(seconds, length):
    assert clip_length(seconds, MFCC) == length
    rng = np.random.default_rng(0)
    quarter = -(-length // 4)
    n_frames = [length * 3 + 7, length, length - 1, quarter, quarter - 1, 0]
    feats = [rng.standard_normal((20, n)).astype(np.float32) for n in n_frames] + [None]
    ds = ClipDataset(feats, [0, 1, 2, 0, 1, 2, 0], length)
    hop = length // 2
    per_file = Counter(ds.file_of(k) for k in range(len(ds)))
    assert per_file[0] == (length * 3 + 7 - length) // hop + 1 == 5
    assert per_file[1] == 1 and per_file[2] == 1 and per_file[3] == 1
    assert per_file[4] == 0 and per_file[5] == 0 and per_file[6] == 0
    assert len(ds) == 8
    for k in range(len(ds)):
        x, lab = ds[k]
        assert isinstance(x, torch.Tensor) and x.shape == (20, length) and x.dtype == torch.float32
        assert lab == [0, 1, 2, 0, 1, 2, 0][ds.file_of(k)]
    # clip k of file 0 starts at k * hop
    np.testing.assert_array_equal(ds.clip(2), feats[0][:, 2 * hop: 2 * hop + length])
    # short files are looped to length
    short = next(k for k in range(len(ds)) if ds.file_of(k) == 3)
    F = feats[3]
    np.testing.assert_array_equal(ds.clip(short), np.tile(F, (1, -(-length // F.shape[1])))[:, :length])
    X, y = ds.arrays()
    assert X.shape == (8, 20, length) and y.dtype == np.int64 and list(y) == list(ds.clip_labels())
    with pytest.raises(ValueError):
        clip_length(0, MFCC)


@pytest.mark.parametrize("deltas", [0, 1, 2])
def test_clip_deltas_and_standardisation(deltas):
    rng = np.random.default_rng(deltas)
    feats = [rng.standard_normal((20, 230)).astype(np.float32) * 3 + 5 for _ in range(3)]
    ds = ClipDataset(feats, [0, 1, 2], 100, deltas=deltas)
    x = ds.clip(1)
    i, s = ds.index[1]
    assert x.shape == (20 * (1 + deltas), 100)
    np.testing.assert_allclose(x, add_deltas(feats[i][:, s:s + 100], deltas), atol=1e-6)
    mean, std = ds.stats()
    assert mean.shape == std.shape == (20 * (1 + deltas),)
    ds.set_standardisation(mean, std)
    X, _ = ds.arrays()
    flat = X.transpose(1, 0, 2).reshape(X.shape[1], -1)
    np.testing.assert_allclose(flat.mean(1), 0, atol=1e-4)
    np.testing.assert_allclose(flat.std(1), 1, atol=1e-3)
    np.testing.assert_allclose(ds.clip(1), (x - mean[:, None]) / std[:, None], atol=1e-5)


# ------------------------------------------------------------------ cache + featurize
@pytest.fixture
def counted_extract(monkeypatch):
    calls = []
    real = fz.extract

    def extract(y, params):
        calls.append(params)
        return real(y, params)
    monkeypatch.setattr(fz, "extract", extract)
    return calls


def _jobs(tmp_path, make_audio, n=3):
    return [Job(str(make_audio(f"f{k}.wav", kind=lab, dur=1.0 + 0.25 * k, seed=k)), lab)
            for k, lab in enumerate(["speech", "music", "noise"][:n])]


def test_featurize_uses_cache(tmp_path, make_audio, counted_extract):
    jobs = _jobs(tmp_path, make_audio)
    cache = FeatureCache(tmp_path / "cache")
    prep = PreprocessParams()
    first = featurize(jobs, MFCC, prep, cache, workers=1)
    assert len(counted_extract) == 3
    assert all(F is not None and F.shape[0] == 20 and F.shape[1] > 0 for F in first)
    second = featurize(jobs, MFCC, prep, cache, workers=1)
    assert len(counted_extract) == 3  # all hits
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # deltas are added per clip: the static entry serves an MFCC+deltas model too
    featurize(jobs, MFCC.with_(deltas=2), prep, cache, workers=1)
    assert len(counted_extract) == 3
    # changed feature or preprocessing parameters miss
    featurize(jobs[:1], MFCC.with_(n_mels=40), prep, cache, workers=1)
    assert len(counted_extract) == 4
    featurize(jobs[:1], MFCC, PreprocessParams(target_db=-25), cache, workers=1)
    assert len(counted_extract) == 5
    # changed file content misses
    make_audio("f1.wav", kind="music", dur=1.6, seed=99)
    third = featurize(jobs, MFCC, prep, cache, workers=1)
    assert len(counted_extract) == 6
    assert third[1].shape != first[1].shape or not np.array_equal(third[1], first[1])
    # caching disabled: always computed
    featurize(jobs[:1], MFCC, prep, FeatureCache(False), workers=1)
    featurize(jobs[:1], MFCC, prep, FeatureCache(False), workers=1)
    assert len(counted_extract) == 8


def test_file_digest_same_size_rewrite(tmp_path, make_audio):
    """Same-length content rewritten in place must change the cache key."""
    p = make_audio("a.wav", kind="noise", dur=0.5, seed=1)
    k1 = FeatureCache.key(p, a=1)
    make_audio("a.wav", kind="noise", dur=0.5, seed=2)
    assert FeatureCache.key(p, a=1) != k1


def test_featurize_bad_file_warns_and_others_succeed(tmp_path, make_audio):
    jobs = _jobs(tmp_path, make_audio, n=2)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all\n" * 10)
    jobs.insert(1, Job(str(bad), "noise"))
    with pytest.warns(UserWarning, match="bad.wav"):
        out = featurize(jobs, MFCC, PreprocessParams(), FeatureCache(tmp_path / "c"), workers=1)
    assert out[1] is None
    assert out[0] is not None and out[2] is not None
    # the damaged cache entry is recomputed, not fatal
    cache = FeatureCache(tmp_path / "c2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        featurize(jobs[:1], MFCC, PreprocessParams(), cache, workers=1)
    for f in (tmp_path / "c2").rglob("*.npy"):
        f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="is damaged .*rebuilding it"):
        again = featurize(jobs[:1], MFCC, PreprocessParams(), cache, workers=1)
    np.testing.assert_array_equal(again[0], out[0])


def test_featurize_augmented_variant_is_deterministic(tmp_path, make_audio):
    from sonotype.data import AugmentParams
    jobs = _jobs(tmp_path, make_audio, n=2)
    aug = AugmentParams(noise=1.0, gain=1.0, telephone=0.0, codec=0.0, reverb=0.0)
    noise = [jobs[1].path]
    v = [Job(j.path, j.label, variant=1) for j in jobs[:1]]
    a = featurize(v, MFCC, PreprocessParams(), FeatureCache(False), aug=aug, noise_paths=noise, seed=5, workers=1)
    b = featurize(v, MFCC, PreprocessParams(), FeatureCache(False), aug=aug, noise_paths=noise, seed=5, workers=1)
    clean = featurize(jobs[:1], MFCC, PreprocessParams(), FeatureCache(False), workers=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape != clean[0].shape or not np.allclose(a[0], clean[0])


# ------------------------------------------------------------------ pruning the feature cache
def _entry(root, key, nbytes, age_days, now):
    f = root / key[:2] / f"{key}.npy"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(b"\0" * nbytes)
    os.utime(f, (now - age_days * 86400, now - age_days * 86400))
    return f


def test_prune_cache_removes_old_entries_then_the_oldest_and_nothing_else(tmp_path):
    from sonotype.data.cache import cache_entries, prune_cache
    now = 2_000_000_000.0
    keys = [f"{c}" * 40 for c in "abcd"]
    files = [_entry(tmp_path, k, 1000, age, now) for k, age in zip(keys, (40, 20, 10, 1))]
    foreign = tmp_path / "aa" / "notes.txt"
    foreign.write_text("not an entry")
    (tmp_path / "zz.npy").write_bytes(b"\0" * 5000)  # not in a two-letter folder
    (tmp_path / "dd" / ("d" * 39 + "e.npy")).symlink_to(files[2])  # a link, even to an entry: not one
    assert [e[0] for e in cache_entries(tmp_path)] == files  # oldest first, only the entries

    dry = prune_cache(tmp_path, older_than_s=15 * 86400, now=now, dry_run=True)
    assert dry == {"removed_files": 2, "removed_bytes": 2000, "kept_files": 2, "kept_bytes": 2000}
    assert all(f.exists() for f in files)
    assert prune_cache(tmp_path, older_than_s=15 * 86400, now=now)["removed_files"] == 2
    assert [f.exists() for f in files] == [False, False, True, True]
    r = prune_cache(tmp_path, max_bytes=1500, now=now)  # the oldest left goes until <= 1500 bytes
    assert r == {"removed_files": 1, "removed_bytes": 1000, "kept_files": 1, "kept_bytes": 1000}
    assert files[3].exists() and foreign.exists() and (tmp_path / "zz.npy").exists()
    assert prune_cache(tmp_path / "missing", max_bytes=0)["removed_files"] == 0
    with pytest.raises(ValueError, match="max_bytes"):
        prune_cache(tmp_path, max_bytes=float("nan"))


def test_prune_cache_command(tmp_path, capsys):
    from sonotype.cli.main import main
    now = __import__("time").time()
    old = _entry(tmp_path, "e" * 40, 2000, 30, now)
    new = _entry(tmp_path, "f" * 40, 2000, 0, now)
    assert main(["data", "prune-cache", "--cache", str(tmp_path)]) == 0
    assert "removed 0 entries" in capsys.readouterr().out and old.exists()
    assert main(["data", "prune-cache", "--cache", str(tmp_path), "--older-than", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path}: removed 1 entries") and "1 entries (0.00 GB) kept" in out
    assert not old.exists() and new.exists()
