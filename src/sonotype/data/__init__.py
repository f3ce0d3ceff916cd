"""Corpora, splits, feature cache and clip datasets."""
from .augment import AugmentParams, augment
from .cache import FeatureCache, default_cache_dir, file_digest
from .clips import ClipDataset, MelClipDataset, clip_length, clip_starts, fit_length
from .corpora import (AUDIO_EXTENSIONS, KINDS, Corpus, CorpusError, Item, exclude, open_corpus, read_exclusions,
                      read_folders, read_gtzan_genres, read_gtzan_ms, read_manifest, read_musan)
from .melaug import MelAugmentParams
from .featurize import Job, featurize, file_features
from .splits import SPLITS, make_split, read_split, split_items, write_split

__all__ = ["AUDIO_EXTENSIONS", "AugmentParams", "ClipDataset", "Corpus", "CorpusError", "FeatureCache",
           "Item", "Job", "KINDS", "MelAugmentParams", "MelClipDataset", "SPLITS",
           "augment", "clip_length", "clip_starts", "default_cache_dir", "exclude", "read_exclusions",
           "featurize", "file_digest", "file_features", "fit_length", "make_split", "open_corpus",
           "read_folders", "read_gtzan_genres", "read_gtzan_ms", "read_manifest", "read_musan",
           "read_split", "split_items", "write_split"]
