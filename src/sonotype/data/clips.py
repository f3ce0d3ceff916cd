"""Fixed-length clips (50 % overlap) over per-file feature matrices."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..features import FeatureParams, add_deltas
from .framing import clip_length, clip_starts, fit_length  # noqa: F401 (re-exported)
from .melaug import augment_clip, mel_centres, mel_to_mfcc


class ClipDataset(Dataset):
    """Clips of ``length`` frames with hop ``hop`` (default: half a clip) over feature matrices.

    Parameters
    ----------
    feats : list of numpy.ndarray
        Static features ``(channels, frames)`` per file (``None`` entries are skipped).
    labels : list of int
        Class index per file.
    length, hop : int
        Clip length and hop in frames.
    deltas : int
        Δ / ΔΔ stacked per clip (0, 1, 2).
    sources : list of str or None
        Source per file (for source-balanced sampling).
    mean, std : numpy.ndarray or None
        Per-channel standardisation applied to each clip.
    """

    def __init__(self, feats, labels, length: int, hop: int | None = None, deltas: int = 0,
                 mean=None, std=None, min_fraction: float = 0.25, sources=None):
        self.sources = list(sources) if sources is not None else [""] * len(labels)
        self.length, self.hop, self.deltas = length, hop or max(1, length // 2), deltas
        self.feats = [None if F is None else fit_length(F, length) for F in feats]
        self.labels = list(labels)
        self.index = [(i, s) for i, F in enumerate(feats) if F is not None
                      for s in clip_starts(F.shape[1], length, self.hop, min_fraction)]
        self.set_standardisation(mean, std)

    def set_standardisation(self, mean, std) -> None:
        """Per-channel mean and std subtracted / divided from every clip."""
        self.mean = None if mean is None else np.asarray(mean, np.float32).reshape(-1, 1)
        self.std = None if std is None else np.asarray(std, np.float32).reshape(-1, 1)
        self._arrays = None

    def __len__(self) -> int:
        return len(self.index)

    def raw(self, k: int) -> np.ndarray:
        """Clip ``k`` as stored (before deltas and standardisation)."""
        i, s = self.index[k]
        return self.feats[i][:, s:s + self.length]

    def features(self, stored: np.ndarray) -> np.ndarray:
        """Model input (before standardisation) of a stored clip."""
        return add_deltas(stored, self.deltas)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x.astype(np.float32, copy=False)

    def clip(self, k: int) -> np.ndarray:
        return self.standardise(self.features(self.raw(k)))

    def __getitem__(self, k: int):
        return torch.from_numpy(np.ascontiguousarray(self.clip(k))), self.labels[self.index[k][0]]

    def arrays(self):
        """All clips stacked: ``(X (n, channels, frames) float32, y (n,) int64)``, built once."""
        if getattr(self, "_arrays", None) is None or len(self._arrays[0]) != len(self):
            X = np.stack([self.clip(k) for k in range(len(self))]) if len(self) else np.zeros((0, 0, self.length), np.float32)
            self._arrays = (X, self.clip_labels())
        return self._arrays

    def clip_labels(self) -> np.ndarray:
        return np.array([self.labels[i] for i, _ in self.index], dtype=np.int64)

    def file_of(self, k: int) -> int:
        return self.index[k][0]

    def source_weights(self, power=1.0) -> np.ndarray:
        """Per-clip sampling weights, each class keeping its share of the clips.

        Within a class, a source with ``n`` clips is drawn in proportion to ``n ** (1 - power)``:
        ``power=1`` gives every (class, source) the same share, ``0.5`` the square root of its size,
        ``0`` leaves the class as it is. ``power`` is one float, or a mapping from class index to
        power (classes not in it: 0).
        """
        y = self.clip_labels()
        src = np.array([self.sources[i] for i, _ in self.index], dtype=object)
        w = np.zeros(len(y))
        for c in np.unique(y):
            m = y == c
            _, inv, counts = np.unique(src[m], return_inverse=True, return_counts=True)
            p = power.get(int(c), 0.0) if isinstance(power, dict) else power
            share = counts ** (1.0 - p)
            w[m] = share[inv] / (counts[inv] * share.sum()) * m.sum()
        return w / w.sum()

    def stats(self, max_clips: int = 5000, seed: int = 0):
        """Per-channel mean and std over (a sample of) the clips."""
        if not self.index:
            raise ValueError("no clips to compute statistics from")
        rng = np.random.default_rng(seed)
        ks = rng.choice(len(self), size=min(max_clips, len(self)), replace=False)
        saved = (self.mean, self.std)
        self.mean = None
        X = np.concatenate([self.clip(int(k)) for k in sorted(ks)], axis=1)
        self.mean, self.std = saved
        return X.mean(1), np.maximum(X.std(1), 1e-3)


class MelClipDataset(ClipDataset):
    """Clips over dB log-mel matrices whose model input is MFCC (+ Δ, ΔΔ), computed per clip.

    :meth:`clip` gives the clean input, equal to a :class:`ClipDataset` over the MFCCs of
    the same files; :meth:`batch` draws a fresh :class:`~sonotype.data.melaug.MelAugmentParams`
    chain per clip (backgrounds come from this dataset's own clips).

    Parameters
    ----------
    mels : list of numpy.ndarray
        dB log-mel ``(bands, frames)`` per file (``None`` entries are skipped).
    labels : list of int
        Class index per file; ``classes`` names them.
    n_mfcc, deltas : int
        Cepstra kept and Δ / ΔΔ stacked, as in the model's feature parameters.
    aug : MelAugmentParams or None
        The augmentation :meth:`batch` draws (None: clean batches).
    """

    def __init__(self, mels, labels, length: int, classes, n_mfcc: int = 20, deltas: int = 0, aug=None,
                 sr: int = 16000, **kwargs):
        super().__init__(mels, labels, length, deltas=deltas, **kwargs)
        self.classes, self.n_mfcc, self.aug = list(classes), n_mfcc, aug
        self.centres = mel_centres(mels[next(i for i, F in enumerate(mels) if F is not None)].shape[0], sr)
        names = np.array(self.classes)[self.clip_labels()] if len(self) else np.array([])
        self._by_class = {c: np.flatnonzero(names == c) for c in self.classes}

    def features(self, stored: np.ndarray) -> np.ndarray:
        return mel_to_mfcc(stored, self.n_mfcc, self.deltas)

    def _background(self, kinds, rng):
        pool = [self._by_class[c] for c in kinds if len(self._by_class.get(c, ()))]
        if not pool:
            return None
        ks = pool[int(rng.integers(len(pool)))]
        return self.raw(int(ks[rng.integers(len(ks))]))

    def batch(self, ks, rng: np.random.Generator) -> np.ndarray:
        """Standardised model inputs ``(len(ks), channels, frames)`` of clips ``ks``, augmented."""
        out = []
        for k in ks:
            L = self.raw(int(k))
            if self.aug is not None:
                label = self.classes[self.labels[self.index[int(k)][0]]]
                L = augment_clip(L, label, rng, self.aug, self._background, self.centres)
            out.append(self.standardise(self.features(L)))
        return np.stack(out)
