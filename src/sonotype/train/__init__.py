"""Training loop, schedules, distillation loss and checkpoints.

:class:`TrainConfig` imports without torch (the command line reads its defaults); the rest is
loaded on first use and needs the ``sonotype[train]`` extra.
"""
from .config import DistillConfig, TrainConfig

__all__ = ["FORMAT", "CheckpointError", "ClipData", "DistillConfig", "TrainConfig", "build_from_checkpoint",
           "distillation_loss", "evaluate_clips", "features_for", "features_of", "fit", "load_checkpoint",
           "make_datasets", "optimiser_step", "prep_of", "record_epoch", "save_checkpoint", "save_model",
           "seed_everything", "sgdr"]


def __getattr__(name):
    """The torch names, imported when first asked for (PEP 562)."""
    if name in ("FORMAT", "CheckpointError", "build_from_checkpoint", "features_of", "load_checkpoint", "prep_of",
                "save_checkpoint"):
        from .. import checkpoint
        return getattr(checkpoint, name)
    if name in ("ClipData", "features_for", "make_datasets"):
        from . import data
        return getattr(data, name)
    if name == "distillation_loss":
        from .distill import distillation_loss
        return distillation_loss
    if name in ("evaluate_clips", "fit", "optimiser_step", "record_epoch", "save_model", "seed_everything"):
        from . import loop
        return getattr(loop, name)
    if name == "sgdr":
        from .schedule import sgdr
        return sgdr
    raise AttributeError(f"module 'sonotype.train' has no attribute {name!r}")
