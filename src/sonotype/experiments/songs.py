"""Songs as clips for the genre CNN: clip cutting, STFT features, song-level decisions, checkpoints.

Every song becomes ``n_clips`` (10) clips of 44,544 samples (4.04 s, 173 non-centred STFT
frames) at 11,025 Hz, evenly spaced over the song (first clip at the start, last at the
end; a song shorter than one clip is zero-padded to one clip). A song's genre is the
argmax of the mean of its clips' class probabilities.
"""
from __future__ import annotations

import numpy as np
import torch

from ..audio import AudioError, load
from ..checkpoint import build_from_checkpoint, features_of, load_checkpoint, save_checkpoint
from ..features import STFT, FeatureParams, extract
from ..models.genre_cnn import GENRE_CLIP_SAMPLES, GENRE_FRAMES
from ..preprocess import PreprocessParams

N_CLIPS = 10
ARCH = "genre_cnn"
SMALL_NOTE = ("NOTE: {n} songs ({per} per genre at least) cannot train or measure a genre classifier; "
              "this run only shows that the mechanics work. Use the full GTZAN (100 songs per genre).")


def say(log, msg):
    """``log(msg)`` unless ``log`` is None."""
    if log:
        log(msg)


def clip_starts(n_samples: int, clip_samples: int = GENRE_CLIP_SAMPLES, n_clips: int = N_CLIPS) -> list:
    """Start samples of ``n_clips`` evenly spaced clips (all 0 when the song is shorter than a clip)."""
    span = max(0, int(n_samples) - int(clip_samples))
    return [int(round(s)) for s in np.linspace(0, span, int(n_clips))]


def song_clips(y: np.ndarray, n_clips: int = N_CLIPS, clip_samples: int = GENRE_CLIP_SAMPLES) -> np.ndarray:
    """``(n_clips, clip_samples)`` evenly spaced clips of a song (zero-padded when short)."""
    y = np.asarray(y, np.float32)
    if len(y) < clip_samples:
        y = np.pad(y, (0, clip_samples - len(y)))
    return np.stack([y[s:s + clip_samples] for s in clip_starts(len(y), clip_samples, n_clips)])


def song_features(path, params: FeatureParams = STFT, n_clips: int = N_CLIPS,
                  clip_samples: int = GENRE_CLIP_SAMPLES) -> np.ndarray:
    """STFT magnitudes ``(n_clips, 257, 173)`` of one song file (read at ``params.sr``)."""
    y = load(path, sr=params.sr)
    return np.stack([extract(c, params) for c in song_clips(y, n_clips, clip_samples)]).astype(np.float32)


def small_corpus_note(items) -> str | None:
    """The mechanics-demo note when there are fewer than 10 songs in some genre, else None."""
    counts = {}
    for it in items:
        counts[it.label] = counts.get(it.label, 0) + 1
    per = min(counts.values()) if counts else 0
    return SMALL_NOTE.format(n=len(items), per=per) if per < 10 else None


def featurise_songs(items, classes, n_clips, log=None) -> tuple:
    """Clips of every readable song: (features ``(clips, 257, 173)``, class per clip, song index per clip).

    Unreadable songs are skipped (and logged).
    """
    X, y, song = [], [], []
    for i, it in enumerate(items):
        try:
            f = song_features(it.path, STFT, n_clips)
        except AudioError as err:
            say(log, f"skipping {err}")
            continue
        X.append(f)
        y += [classes.index(it.label)] * len(f)
        song += [i] * len(f)
    if not X:
        return np.zeros((0, STFT.n_channels, GENRE_FRAMES), np.float32), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(X), np.asarray(y), np.asarray(song)


@torch.no_grad()
def song_proba(model, X, batch_size=16) -> np.ndarray:
    """Class probabilities ``(clips, classes)`` of ``model`` (eval mode) on clips ``X``."""
    model.eval()
    out = [torch.softmax(model(torch.from_numpy(X[i:i + batch_size])), -1).numpy()
           for i in range(0, len(X), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.config["n_classes"]), np.float32)


def song_decisions(P: np.ndarray, song: np.ndarray) -> tuple:
    """(song indices, mean clip probability per song ``(songs, classes)``)."""
    ids = sorted(set(song.tolist()))
    return ids, np.stack([P[song == s].mean(0) for s in ids]) if ids else np.zeros((0, P.shape[1]))


def save_checkpoint_genre(path, model, kwargs, classes, config, metrics) -> Path:
    """Standard sonotype checkpoint: arch ``genre_cnn``, features = STFT preset, no preprocessing."""
    return save_checkpoint(path, arch=ARCH, kwargs=kwargs, model=model, features=STFT,
                           prep=PreprocessParams(remove_silence=False, equalise=False),
                           classes=classes, clip=GENRE_CLIP_SAMPLES / STFT.sr, config=config, metrics=metrics)


def load_genre(checkpoint) -> tuple:
    """(checkpoint dict, model, feature parameters) of a genre CNN checkpoint; ValueError for another arch."""
    ck = load_checkpoint(checkpoint)
    if ck["arch"] != ARCH:
        raise ValueError(f"{checkpoint}: not a genre CNN checkpoint (arch {ck['arch']!r})")
    return ck, build_from_checkpoint(ck), features_of(ck)


