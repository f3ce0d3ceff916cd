"""The paper's and our experiments as functions, on top of train / evaluate / infer.

Modules: ``parts`` (corpus → splits), ``training`` and ``evaluation`` (one model), ``clips`` and
``holdout`` (the paper's tables), ``sources`` (source-fold cross-validation), ``audit`` (label
audit), ``distill`` and ``teacher`` (distillation), ``finetune``, ``genre`` (the genre CNN;
``songs`` cuts songs into clips, ``genre_eval`` scores songs).
"""
from .audit import audit_labels
from .clips import reproduce_clips
from .distill import reproduce_distill
from .evaluation import evaluate_model
from .finetune import finetune_model
from .holdout import reproduce_holdout
from .parts import load_parts
from .sources import RECIPES, reproduce_sources, source_folds
from .training import train_model

__all__ = ["RECIPES", "audit_labels", "evaluate_model", "finetune_model", "load_parts", "reproduce_clips",
           "reproduce_distill", "reproduce_holdout", "reproduce_sources", "source_folds", "train_model"]
