"""Corpora, splits, feature cache and clip datasets.

The clip datasets (torch) load on first use; scipy and librosa are imported by the functions that
use them. Both need the ``sonotype[train]`` extra; the rest imports with numpy alone.
"""
from .augment import AugmentParams, augment
from .cache import FeatureCache, default_cache_dir, file_digest
from .corpora import (AUDIO_EXTENSIONS, KINDS, Corpus, CorpusError, Item, exclude, open_corpus, read_exclusions,
                      read_folders, read_gtzan_genres, read_gtzan_ms, read_manifest, read_musan)
from .featurize import Job, featurize, file_features
from .framing import clip_length, clip_starts, fit_length
from .melaug import MelAugmentParams
from .splits import SPLITS, make_split, read_split, split_items, write_split

__all__ = ["AUDIO_EXTENSIONS", "AugmentParams", "ClipDataset", "Corpus", "CorpusError", "FeatureCache",
           "Item", "Job", "KINDS", "MelAugmentParams", "MelClipDataset", "SPLITS",
           "augment", "clip_length", "clip_starts", "default_cache_dir", "exclude", "read_exclusions",
           "featurize", "file_digest", "file_features", "fit_length", "make_split", "open_corpus",
           "read_folders", "read_gtzan_genres", "read_gtzan_ms", "read_manifest", "read_musan",
           "read_split", "split_items", "write_split"]


def __getattr__(name):
    """The clip datasets (torch), imported when first asked for (PEP 562)."""
    if name in ("ClipDataset", "MelClipDataset"):
        from . import clips
        return getattr(clips, name)
    raise AttributeError(f"module 'sonotype.data' has no attribute {name!r}")
