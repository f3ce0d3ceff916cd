"""Experiments built on train / evaluate: source-fold cross-validation and the label audit."""
from .audit import audit_labels
from .sources import RECIPES, reproduce_sources, source_folds

__all__ = ["RECIPES", "audit_labels", "reproduce_sources", "source_folds"]
