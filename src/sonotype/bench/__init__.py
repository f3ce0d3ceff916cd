"""Benchmarks: model size and batch-1 latency (torch and onnxruntime), segmentation throughput,
start-up time, memory and install size of the core against the torch path.

``bench.models`` needs torch (the ``sonotype[train]`` extra) and loads on first use;
``bench.segment`` and ``bench.startup`` run on the core install.
"""
__all__ = ["DEFAULT_MODELS", "PAPER_KEYS", "bench_models", "environment", "table_markdown"]


def __getattr__(name):
    """The names of :mod:`.models` (torch), imported when first asked for (PEP 562)."""
    if name in __all__:
        from . import models
        return getattr(models, name)
    raise AttributeError(f"module 'sonotype.bench' has no attribute {name!r}")
