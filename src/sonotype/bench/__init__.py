"""Benchmarks: model size and batch-1 latency (torch and onnxruntime)."""
from .models import (
    DEFAULT_MODELS,
    PAPER_KEYS,
    bench_models,
    environment,
    table_markdown,
)

__all__ = ["DEFAULT_MODELS", "PAPER_KEYS", "bench_models", "environment", "table_markdown"]
