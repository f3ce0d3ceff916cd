"""Shared fixtures: synthetic signals, an audio-file writer and tiny corpus trees in real layouts."""
from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from sonotype.bench import segment as synth

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".au": "AU", ".mp3": "MP3"}
DEFAULT_SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "AU": "PCM_16", "MP3": "MPEG_LAYER_III"}


# --------------------------------------------------------------------------- signals
def tone(dur: float, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(dur * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak(y: np.ndarray, peak: float) -> np.ndarray:
    m = np.max(np.abs(y)) if y.size else 0.0
    return (y * (peak / m) if m > 0 else y).astype(np.float32)


def speech_like(dur: float, sr: int = 16000, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Amplitude-modulated harmonic tone: gliding f0 ~110-190 Hz, ~4 Hz 'syllables'."""
    return _peak(synth.speech_like(int(round(dur * sr)), np.random.default_rng(seed), sr), peak)


def music_like(dur: float, sr: int = 16000, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Chords of harmonic notes changing every 0.5 s."""
    return _peak(synth.music_like(int(round(dur * sr)), np.random.default_rng(seed), sr), peak)


def noise_like(dur: float, sr: int = 16000, seed: int = 0, peak: float = 0.5) -> np.ndarray:
    """Band-pass filtered white noise."""
    return _peak(synth.noise_like(int(round(dur * sr)), np.random.default_rng(seed), sr), peak)


SIGNALS = {"speech": speech_like, "music": music_like, "noise": noise_like}


def write_audio(path, y=None, sr: int = 16000, channels: int = 1, subtype: str | None = None,
                fmt: str | None = None, dur: float = 1.0, kind: str = "tone", seed: int = 0) -> Path:
    """Write ``y`` (or a generated ``kind`` signal of ``dur`` s) to ``path``.

    ``y`` may be 1-D (copied to every channel) or (frames, channels).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if y is None:
        y = tone(dur, sr) if kind == "tone" else SIGNALS[kind](dur, sr, seed)
    y = np.asarray(y, np.float32)
    if y.ndim == 1 and channels > 1:
        y = np.tile(y[:, None], (1, channels))
    fmt = fmt or FORMATS[path.suffix.lower()]
    sf.write(str(path), y, sr, format=fmt, subtype=subtype or DEFAULT_SUBTYPES[fmt])
    return path


@pytest.fixture
def signals():
    """Signal generators: tone, speech_like, music_like, noise_like."""
    return SimpleNamespace(tone=tone, speech_like=speech_like, music_like=music_like,
                           noise_like=noise_like, by_label=SIGNALS)


@pytest.fixture
def make_audio(tmp_path):
    """``make_audio(name, y=None, sr=16000, channels=1, subtype=None, ...)`` -> path under tmp_path."""
    def make(name, *args, **kwargs):
        return write_audio(tmp_path / name, *args, **kwargs)
    return make


# --------------------------------------------------------------------------- corpora
def _file(path, label, sr, seed, dur=None, subtype=None):
    dur = dur if dur is not None else 0.5 + (seed % 4) * 0.5  # 0.5 .. 2 s
    return write_audio(path, sr=sr, kind=label, dur=dur, seed=seed, subtype=subtype)


def build_corpora(root: Path) -> SimpleNamespace:
    """Tiny corpora in their exact real layouts under ``root``."""
    root = Path(root)
    seed = 0
    ns = SimpleNamespace(root=root)

    # MUSAN: musan/{speech,music,noise}/<subset>/<label>-<subset>-NNNN.wav (+ ANNOTATIONS, LICENSE, README)
    musan = root / "musan"
    subsets = {"speech": ("librivox", "us-gov"), "music": ("fma", "jamendo"), "noise": ("free-sound", "sound-bible")}
    for label, subs in subsets.items():
        for sub in subs:
            d = musan / label / sub
            for k in range(2):
                seed += 1
                _file(d / f"{label}-{sub}-{k:04d}.wav", label, 16000, seed)
            (d / "ANNOTATIONS").write_text("file\tinfo\n")
            (d / "LICENSE").write_text("licence text\n")
    (musan / "README").write_text("MUSAN corpus\n")
    ns.musan = musan
    ns.musan_counts = {"speech": 4, "music": 4, "noise": 4}

    # minimusan: MUSAN layout of OGG files plus manifest.csv (path,category,source,group,license,...)
    mini = root / "minimusan"
    rows = []
    spec = [("speech", "librispeech", ["ls-103", "ls-103", "ls-1034"]),
            ("music", "fma", ["fma-1", "fma-2", "fma-2"]),
            ("noise", "freesound", ["fs-7", "fs-8", "fs-9"])]
    for label, source, groups in spec:
        for k, g in enumerate(groups):
            seed += 1
            rel = f"{label}/{source}/{g}-{k:04d}.ogg"
            _file(mini / rel, label, 16000, seed, dur=1.0)
            rows.append([rel, label, source, g, "CC BY 4.0", "1.000", "16000"])
    with open(mini / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "category", "source", "group", "license", "duration_s", "orig_sample_rate"])
        w.writerows(rows)
    (mini / "README.md").write_text("minimusan\n")
    ns.minimusan = mini
    ns.minimusan_rows = rows

    # GTZAN music/speech: <parent>/music_speech/{music_wav,speech_wav}/*.wav, 22050 Hz
    gms = root / "gtzan_ms"
    names = {"music": ["bagpipe", "ballad", "blues"], "speech": ["comedy", "conversion", "dialogue"]}
    for label, stems in names.items():
        for stem in stems:
            seed += 1
            _file(gms / "music_speech" / f"{label}_wav" / f"{stem}.wav", label, 22050, seed)
    (gms / "music_speech" / "music_speech.mf").write_text("music_wav/bagpipe.wav\tmusic\n")
    ns.gtzan_ms = gms
    ns.gtzan_ms_names = names

    # GTZAN genres: <parent>/genres/<genre>/<genre>.000NN.au, 22050 Hz AU
    gg = root / "gtzan_genres"
    genres = ["blues", "classical", "jazz"]
    for g in genres:
        for k in range(2):
            seed += 1
            _file(gg / "genres" / g / f"{g}.{k:05d}.au", "music", 22050, seed, dur=1.0)
    (gg / "genres" / "input.mf").write_text("genres/blues/blues.00000.au\tblues\n")
    ns.gtzan_genres = gg
    ns.genres = genres

    # folder per class, with a nested folder, a hidden folder and a non-audio file
    fo = root / "folders"
    for label, n in (("speech", 2), ("music", 3), ("noise", 2)):
        for k in range(n):
            seed += 1
            sub = "nested/" if k == 0 and label == "music" else ""
            _file(fo / label / f"{sub}{label}{k}.wav", label, 16000, seed)
    (fo / "music" / "notes.txt").write_text("not audio\n")
    (fo / ".hidden").mkdir()
    write_audio(fo / ".hidden" / "x.wav", sr=16000, dur=0.5)
    ns.folders = fo
    ns.folders_counts = {"speech": 2, "music": 3, "noise": 2}

    # manifest CSV with relative and absolute paths, label column, groups and sources
    man = root / "manifest"
    mrows = []
    for label, source, groups in [("speech", "a", ["s1", "s1", "s2"]), ("music", "b", ["m1", "m2"]),
                                  ("noise", "c", ["n1", "n2"])]:
        for k, g in enumerate(groups):
            seed += 1
            p = _file(man / "audio" / f"{label}{k}.flac", label, 16000, seed, dur=0.5)
            mrows.append([str(p) if k == 0 else f"audio/{p.name}", label, g, source])
    with open(man / "list.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group", "source"])
        w.writerows(mrows)
    ns.manifest = man / "list.csv"
    ns.manifest_rows = mrows
    return ns


@pytest.fixture(scope="session")
def corpora(tmp_path_factory):
    """Read-only tiny corpora (MUSAN, minimusan, GTZAN music/speech, GTZAN genres, folders, manifest)."""
    return build_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep feature / ONNX caches of the tests out of the user's ~/.cache."""
    import os
    old = os.environ.get("SONOTYPE_CACHE")
    os.environ["SONOTYPE_CACHE"] = str(tmp_path_factory.mktemp("sonotype-cache"))
    yield
    if old is None:
        os.environ.pop("SONOTYPE_CACHE", None)
    else:
        os.environ["SONOTYPE_CACHE"] = old


@pytest.fixture(scope="session")
def ck(tmp_path_factory):
    """An untrained slim SwishNet checkpoint (MFCC, speech/music/noise), for command tests."""
    import torch

    from sonotype.features import MFCC
    from sonotype.models import SwishNet
    from sonotype.preprocess import PreprocessParams
    from sonotype.train import save_checkpoint
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_checkpoint(path, arch="slim", kwargs={"n_in": 20, "n_classes": 3}, model=SwishNet(20, 3), features=MFCC,
                    prep=PreprocessParams(), classes=["speech", "music", "noise"], clip=1.0,
                    mean=np.zeros(20), std=np.full(20, 50.0))
    return path


@pytest.fixture
def one_thread():
    """Tiny models on a shared machine: one torch thread is faster and steadier."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
