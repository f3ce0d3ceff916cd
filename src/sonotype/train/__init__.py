"""Training loop, schedules, distillation loss and checkpoints."""
from ..checkpoint import (FORMAT, CheckpointError, build_from_checkpoint, features_of, load_checkpoint,
                         prep_of, save_checkpoint)
from .data import ClipData, features_for, make_datasets
from .distill import distillation_loss
from .loop import (DistillConfig, TrainConfig, evaluate_clips, fit, optimiser_step, record_epoch, save_model,
                   seed_everything)
from .schedule import sgdr

__all__ = ["FORMAT", "CheckpointError", "ClipData", "DistillConfig", "TrainConfig", "build_from_checkpoint",
           "distillation_loss", "evaluate_clips", "features_for", "features_of", "fit", "load_checkpoint",
           "make_datasets", "optimiser_step", "prep_of", "record_epoch", "save_checkpoint", "save_model",
           "seed_everything", "sgdr"]
