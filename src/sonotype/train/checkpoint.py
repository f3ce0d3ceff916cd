"""The checkpoint format lives in :mod:`sonotype.checkpoint`; these names stay importable here."""
from ..checkpoint import (FORMAT, CheckpointError, atomic_save, build_from_checkpoint, features_of,  # noqa: F401
                          load_checkpoint, model_state, prep_of, save_checkpoint)
