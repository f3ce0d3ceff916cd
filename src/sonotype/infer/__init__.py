"""Inference: classification (and segmentation) from checkpoints; output formats."""
from .classify import BUNDLED, DEFAULT_MODEL, Classifier, Result, bundled_path, resolve_model

__all__ = ["BUNDLED", "DEFAULT_MODEL", "Classifier", "Result", "bundled_path", "resolve_model"]
