"""Build the feature cache for every file of a corpus once, in parallel: log-mel (training) and MFCC (val / test) of the wide model.

Usage: python scripts/prewarm_cache.py KIND:PATH WORKERS (before scripts/parallel_cv.sh; $SONOTYPE_CACHE names the cache)
"""
import sys, time
from sonotype.data import open_corpus, FeatureCache, MelAugmentParams
from sonotype.experiments.training import model_features
from sonotype.preprocess import PreprocessParams
from sonotype.train import make_datasets
t = time.time()
c = open_corpus(sys.argv[1])
params = model_features("wide", 2)
make_datasets({"train": c.items, "val": c.items}, params, PreprocessParams(), 2.0, cache=FeatureCache(),
              mel_aug=MelAugmentParams(), workers=int(sys.argv[2]))
print(f"prewarm: {len(c.items)} files in {time.time() - t:.0f} s", flush=True)
