"""Features of corpus files: audio → (augment) → preprocess → features, cached, in parallel."""
from __future__ import annotations

import os
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..audio import AudioError, load
from ..features import FeatureParams, extract
from ..features.extract import FRONT_END
from ..preprocess import PreprocessParams, apply
from .augment import AugmentParams, augment
from .cache import FeatureCache


@dataclass(frozen=True)
class Job:
    path: str
    label: str
    variant: int = 0  # 0 clean, >0 augmented copy number


def _static(params: FeatureParams) -> FeatureParams:
    # deltas are added per clip, so one cache entry serves every MFCC model
    return params.with_(deltas=0) if params.kind == "mfcc" else params


def _noise_pool(paths, sr):
    def pick(rng):
        return load(paths[int(rng.integers(len(paths)))], sr=sr)
    return pick if paths else None


def file_features(job: Job, params: FeatureParams, prep: PreprocessParams, cache: FeatureCache,
                  aug: AugmentParams | None = None, noise_paths=(), seed: int = 0) -> np.ndarray:
    """Static features (channels, frames) of one file, from the cache when possible."""
    p = _static(params)
    parts = {"features": p.to_dict(), "prep": prep.to_dict(), "front_end": FRONT_END}
    if job.variant:
        parts.update(aug=aug.to_dict(), variant=job.variant, seed=seed, label=job.label,
                     noise=len(noise_paths))
    key = cache.key(job.path, **parts)
    F = cache.get(key)
    if F is None:
        y = load(job.path, sr=p.sr)
        if job.variant:
            rng = np.random.default_rng([seed, job.variant, zlib.crc32(job.path.encode())])
            y = augment(y, p.sr, job.label, aug, rng, _noise_pool(list(noise_paths), p.sr))
        y = apply(y, p.sr, prep)
        F = extract(y, p)
        cache.put(key, F)
    return F


def _work(args):
    job, params, prep, cache_root, aug, noise, seed = args
    try:
        return file_features(job, params, prep, FeatureCache(cache_root), aug, noise, seed), None
    except (AudioError, ValueError) as err:
        return None, str(err)


def featurize(jobs, params: FeatureParams, prep: PreprocessParams, cache: FeatureCache,
              aug: AugmentParams | None = None, noise_paths=(), seed: int = 0,
              workers: int | None = None, desc: str = "features"):
    """Features for many files in parallel processes.

    Returns
    -------
    list
        One array per job, ``None`` where the file failed (a warning names it).
    """
    workers = workers or os.cpu_count() or 1
    root = False if cache.root is None else cache.root
    args = [(j, params, prep, root, aug, tuple(noise_paths), seed) for j in jobs]
    out = []
    bar = tqdm(total=len(args), desc=desc, unit="file", disable=None)
    if workers <= 1:
        results = map(_work, args)
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_work, args, chunksize=4)
    for F, err in results:
        if err:
            warnings.warn(f"skipped {err}", stacklevel=2)
        out.append(F)
        bar.update(1)
    bar.close()
    if workers > 1:
        pool.shutdown()
    return out
