"""Experiments as importable functions (kept for the README's API; they live in :mod:`sonotype.experiments`).

>>> from sonotype.experiment import train_model, evaluate_model   # doctest: +SKIP
"""
from .atomic import write_json, write_npy, write_text  # noqa: F401 (part of this module's API)
from .experiments.clips import reproduce_clips
from .experiments.evaluation import clip_dataset, evaluate_model, source_recall, write_file_predictions
from .experiments.holdout import reproduce_holdout
from .experiments.parts import load_parts
from .experiments.training import TEMPERATURES, train_model

__all__ = ["TEMPERATURES", "clip_dataset", "evaluate_model", "load_parts", "reproduce_clips", "reproduce_holdout",
           "source_recall", "train_model", "write_file_predictions", "write_json", "write_npy", "write_text"]
